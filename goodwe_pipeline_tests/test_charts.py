"""The charts on known days: the data behind every drawn series, the axis ranges, the size.

Each day is built from synthetic readings through the same report and session code the
assets run, then drawn; the assertions read the drawn artists back (their x/y data and the
axes' limits), not pixels.
"""

from __future__ import annotations

from datetime import date, timedelta

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle

from goodwe_pipeline.charts.day import day_figure, day_series
from goodwe_pipeline.charts.prices import price_series, prices_figure, zone_spans
from goodwe_pipeline.charts.render import MAX_CHART_BYTES, png_bytes
from goodwe_pipeline.charts.sessions import session_bars, sessions_figure
from goodwe_pipeline.charts.trends import trend_bars, trends_figure
from goodwe_pipeline.common import days
from goodwe_pipeline.reports.daily import daily_energy
from goodwe_pipeline.sessions.detection import detect_sessions, planned_vs_actual
from goodwe_pipeline_tests.session_days import TZ, Segment, at, next_day, quarter_prices, readings

NORMAL = date(2025, 6, 10)
SHORT = date(2025, 3, 30)
"""23 hours: clocks go forward at 02:00."""
LONG = date(2025, 10, 26)
"""25 hours: clocks go back at 03:00."""


def artists(figure, gid: str) -> list:
    return figure.findobj(lambda a: a.get_gid() == gid)


def line(figure, gid: str):
    (found,) = artists(figure, gid)
    return found


def bar_rectangles(figure, gid: str) -> list[Rectangle]:
    return [a for a in artists(figure, gid) if isinstance(a, Rectangle)]


def heights(figure, gid: str) -> list[float]:
    return [r.get_height() for r in bar_rectangles(figure, gid)]


def hours_of(ax) -> float:
    left, right = ax.get_xlim()
    return (right - left) * 24.0


def slot_of(series, moment) -> int:
    return int(np.flatnonzero(series.slots == pd.Timestamp(moment).tz_convert("UTC"))[0])


def build_day(day: date, segments, *, prices=True, battery=True, gaps=()):
    start, end = days.day_window(day, TZ)
    frame = readings(start, end, segments, cadence_s=30.0, gaps=gaps)
    if not battery:
        frame["battery_soc_pct"] = np.nan
    price_rows = (
        quarter_prices(start, end, buy=0.8, sell=0.3) if prices else quarter_prices(start, start)
    )
    result = daily_energy(frame, price_rows, [day], TZ)
    found = detect_sessions(frame, price_rows, tz=TZ, data_end=end)
    soc = pd.Series(frame["battery_soc_pct"].to_numpy(), index=pd.DatetimeIndex(frame["time"]))
    row = result.days.iloc[0].to_dict()
    series = day_series(result.quarters, soc, found, row, day, TZ)
    return series, day_figure(series), found, row


def charge_and_sun(day: date) -> list[Segment]:
    return [
        Segment(at(day, "01:00"), at(day, "02:00"), battery_w=-2000.0),
        Segment(at(day, "11:00"), at(day, "13:00"), battery_w=0.0, grid_w=3000.0, pv_w=3000.0),
    ]


def test_a_normal_day_draws_each_flow_soc_price_and_session():
    series, figure, found, row = build_day(NORMAL, charge_and_sun(NORMAL))
    assert len(series.slots) == 96
    top = line(figure, "pv_kw").axes
    assert hours_of(top) == pytest.approx(24.0)
    pv = line(figure, "pv_kw").get_ydata()
    battery = line(figure, "battery_kw").get_ydata()
    bought = line(figure, "grid_import_kw").get_ydata()
    sold = line(figure, "grid_export_kw").get_ydata()
    noon = slot_of(series, at(NORMAL, "12:00"))
    night = slot_of(series, at(NORMAL, "01:30"))
    assert pv[noon] == pytest.approx(3.0) and sold[noon] == pytest.approx(3.0)
    assert battery[night] == pytest.approx(-2.0) and bought[night] == pytest.approx(2.0)
    assert pv[slot_of(series, at(NORMAL, "20:00"))] == pytest.approx(0.0)
    # The areas are the day's kWh in the title: kW x 0.25 h summed.
    assert np.nansum(pv) / 4 == pytest.approx(row["pv_kwh"], rel=1e-6)
    assert "solar 6.0" in figure.texts[0].get_text()
    soc = line(figure, "soc_pct")
    assert soc.axes.get_ylim() == (0.0, 100.0)
    assert np.nanmax(soc.get_ydata()) > np.nanmin(soc.get_ydata())
    price = line(figure, "buy_pln_kwh").get_ydata()
    assert np.allclose(price, 0.8)
    assert len(found) == 1
    assert len(artists(figure, "session_charge")) == 2  # shaded on both panels
    x = line(figure, "pv_kw").get_xdata()
    assert mdates.num2date(x[0]) == days.day_window(NORMAL, TZ)[0]
    assert len(png_bytes(figure)) <= MAX_CHART_BYTES


@pytest.mark.parametrize(("day", "hours"), [(SHORT, 23), (LONG, 25)])
def test_dst_days_are_drawn_as_long_as_they_were(day, hours):
    series, figure, _, row = build_day(day, charge_and_sun(day))
    assert len(series.slots) == hours * 4
    assert hours_of(line(figure, "pv_kw").axes) == pytest.approx(hours)
    assert len(line(figure, "pv_kw").get_ydata()) == hours * 4
    assert np.nansum(line(figure, "pv_kw").get_ydata()) / 4 == pytest.approx(row["pv_kwh"])
    labels = [t.get_text() for t in line(figure, "buy_pln_kwh").axes.get_xticklabels()]
    assert labels[0] == "00:00"
    assert len(png_bytes(figure)) <= MAX_CHART_BYTES


def test_a_day_without_battery_draws_no_charge_level_and_a_flat_battery():
    sun = [Segment(at(NORMAL, "11:00"), at(NORMAL, "13:00"), 0.0, grid_w=3000.0, pv_w=3000.0)]
    series, figure, found, _ = build_day(NORMAL, sun, battery=False)
    assert artists(figure, "soc_pct") == []
    assert np.allclose(line(figure, "battery_kw").get_ydata(), 0.0)
    assert found.empty and artists(figure, "session_charge") == []
    assert any("no battery readings" in t.get_text() for t in figure.findobj(_is_text))


def test_a_day_without_prices_draws_no_price_and_unknown_money():
    _, figure, _, row = build_day(NORMAL, charge_and_sun(NORMAL), prices=False)
    assert np.isnan(line(figure, "buy_pln_kwh").get_ydata()).all()
    assert np.isnan(row["net_cost_pln"])
    assert "net cost ? PLN" in figure.texts[0].get_text()
    assert any("no prices" in t.get_text() for t in figure.findobj(_is_text))
    assert len(png_bytes(figure)) <= MAX_CHART_BYTES


def test_a_gap_in_the_readings_is_drawn_as_a_gap():
    gap = (at(NORMAL, "15:00"), at(NORMAL, "17:00"))
    series, figure, _, _ = build_day(NORMAL, charge_and_sun(NORMAL), gaps=[gap])
    soc = line(figure, "soc_pct").get_ydata()
    inside = slot_of(series, at(NORMAL, "16:00"))
    assert np.isnan(soc[inside])
    assert not np.isnan(soc[slot_of(series, at(NORMAL, "14:00"))])


def _is_text(artist) -> bool:
    return hasattr(artist, "get_text") and callable(artist.get_text)


def test_sessions_chart_stacks_grid_and_panels_and_shows_plans():
    start, end = days.day_window(NORMAL, TZ)
    frame = readings(
        start,
        end,
        [
            Segment(at(NORMAL, "01:00"), at(NORMAL, "02:00"), battery_w=-2000.0),
            Segment(at(NORMAL, "11:00"), at(NORMAL, "12:00"), -1000.0, grid_w=0.0, pv_w=1000.0),
            Segment(at(NORMAL, "19:00"), at(NORMAL, "20:00"), battery_w=1500.0),
        ],
        cadence_s=30.0,
    )
    prices = quarter_prices(start, end, buy=0.8, sell=0.3)
    found = detect_sessions(frame, prices, tz=TZ, data_end=end)
    plans = pd.DataFrame(
        {
            "session_id": ["p1"],
            "start_time": [pd.Timestamp(at(NORMAL, "00:30"))],
            "end_time": [pd.Timestamp(at(NORMAL, "02:30"))],
            "target_energy_kwh": [1.0],
            "estimated_cost_pln": [0.5],
            "status": ["completed"],
        }
    )
    comparison = planned_vs_actual(plans, found)
    assert comparison.iloc[0]["why_different"] == (
        "took 2.0x the planned energy; paid 1.6x the planned price per kWh"
    )
    bars = session_bars(found, comparison, NORMAL, TZ)
    figure = sessions_figure(bars)
    grid = heights(figure, "grid_kwh")
    pv = heights(figure, "pv_kwh")
    given = heights(figure, "discharge_kwh")
    planned = heights(figure, "planned_kwh")
    assert grid == pytest.approx([2.0, 0.0]) and pv == pytest.approx([0.0, 1.0])
    assert given == pytest.approx([1.5]) and planned == pytest.approx([1.0])
    assert bars.bars["label"].tolist() == [
        "01:00–02:00\ncharge",
        "11:00–12:00\ncharge",
        "19:00–20:00\ndischarge",
        "00:30–02:30\nplan",
    ]
    prices_drawn = line(figure, "price_pln_kwh").get_ydata()
    assert prices_drawn[0] == pytest.approx(0.8) and prices_drawn[1] == pytest.approx(0.3)
    assert len(png_bytes(figure)) <= MAX_CHART_BYTES


def test_a_day_without_sessions_says_so():
    start, end = days.day_window(NORMAL, TZ)
    empty = detect_sessions(readings(start, end, cadence_s=60.0), None, tz=TZ, data_end=end)
    figure = sessions_figure(
        session_bars(empty, planned_vs_actual(pd.DataFrame(), empty), NORMAL, TZ)
    )
    assert any("no battery sessions" in t.get_text() for t in figure.findobj(_is_text))


@pytest.mark.parametrize(("day", "quarters"), [(NORMAL, 96), (SHORT, 92), (LONG, 100)])
def test_prices_chart_follows_each_quarter_and_shades_zones(day, quarters):
    start, end = days.day_window(day, TZ)
    rows = quarter_prices(start, end, buy=0.9, sell=0.25)
    local_hour = rows["time_start"].dt.tz_convert(TZ).dt.hour
    rows["zone"] = np.where((local_hour >= 13) & (local_hour < 15), "off-peak", "peak")
    rows.loc[local_hour == 13, "buy_pln_kwh"] = -0.1
    series = price_series(rows, day, TZ)
    figure = prices_figure(series)
    buy = line(figure, "buy_pln_kwh").get_ydata()
    assert len(buy) == quarters
    assert (buy < 0).sum() == 4
    assert np.allclose(line(figure, "sell_pln_kwh").get_ydata(), 0.25)
    assert hours_of(line(figure, "buy_pln_kwh").axes) == pytest.approx(quarters / 4)
    spans = zone_spans(series)
    assert [z for z, _, _ in spans] == ["peak", "off-peak", "peak"]
    assert spans[1][2] - spans[1][1] == pd.Timedelta(hours=2)
    assert len(artists(figure, "zone_off-peak")) == 1
    assert len(png_bytes(figure)) <= MAX_CHART_BYTES


def test_prices_chart_of_a_day_without_prices():
    figure = prices_figure(price_series(pd.DataFrame(), NORMAL, TZ))
    assert np.isnan(line(figure, "buy_pln_kwh").get_ydata()).all()
    assert "no prices" in figure.texts[0].get_text()


def test_hourly_prices_fill_their_four_quarters():
    start, end = days.day_window(NORMAL, TZ)
    hours = pd.date_range(start, end, freq="1h", inclusive="left")
    rows = pd.DataFrame(
        {
            "time_start": hours,
            "time_end": hours + pd.Timedelta(hours=1),
            "buy_pln_kwh": np.arange(24, dtype=float),
            "sell_pln_kwh": 0.1,
        }
    )
    buy = price_series(rows, NORMAL, TZ).prices["buy_pln_kwh"].to_numpy()
    assert buy[:8].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]


def test_trends_chart_draws_30_and_90_days_with_gaps_empty():
    end = date(2025, 10, 31)
    calendar = [end - timedelta(days=i) for i in range(60)]
    daily = pd.DataFrame(
        {
            "day": calendar * 2,
            "device_id": ["A"] * 60 + ["B"] * 60,
            "pv_kwh": [10.0] * 120,
            "load_kwh": [8.0] * 120,
            "grid_import_kwh": [3.0] * 120,
            "grid_export_kwh": [5.0] * 120,
            "savings_pln": [2.0] * 120,
        }
    )
    daily = daily[daily["day"] != end - timedelta(days=3)]
    series = trend_bars(daily, end)
    figure = trends_figure(series)
    pv30 = heights(figure, "30d_pv_kwh")
    assert len(pv30) == 30
    assert pv30[-1] == pytest.approx(20.0)  # two devices summed
    assert np.isnan(pv30[-4])
    pv90 = heights(figure, "90d_pv_kwh")
    assert len(pv90) == 90 and np.isnan(pv90[0]) and pv90[-1] == pytest.approx(20.0)
    savings = line(figure, "90d_savings_pln").get_ydata()
    assert savings[-1] == pytest.approx(4.0) and np.isnan(savings[:30]).all()
    bars_axis = bar_rectangles(figure, "90d_pv_kwh")[0].axes
    assert bars_axis.get_xlim() == pytest.approx((-0.5, 89.5))
    assert "59 days with reports" in bars_axis.get_title()
    assert len(png_bytes(figure)) <= MAX_CHART_BYTES


def test_chart_sizes_stay_within_budget_with_next_day_sessions():
    """A session running past midnight is shaded up to the day's end, not beyond."""
    segments = [Segment(at(NORMAL, "23:00"), at(next_day(NORMAL), "01:00"), battery_w=-2000.0)]
    series, figure, _, _ = build_day(NORMAL, segments)
    assert hours_of(line(figure, "pv_kw").axes) == pytest.approx(24.0)
    assert len(png_bytes(figure)) <= MAX_CHART_BYTES
