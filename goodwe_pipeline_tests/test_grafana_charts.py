"""The compose stack's Grafana panels and the pipeline's charts show the same numbers for a day.

The demo's days are backfilled into a PostgreSQL warehouse set up as the stack sets it up;
each SQL panel query of the provisioned dashboard is expanded as Grafana expands it and run
as Grafana's read-only role over the day; the data behind the charts of that day is built
by the chart code from the same warehouse. (The InfluxDB panels read raw readings, which
the charts show as quarter-hour energies from the daily report; they are not compared.)
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from goodwe_pipeline.charts.prices import price_series
from goodwe_pipeline.charts.sessions import session_bars
from goodwe_pipeline.charts.trends import trend_bars
from goodwe_pipeline.common import days
from goodwe_pipeline.common.settings import WarehouseSettings
from goodwe_pipeline.sessions.detection import planned_vs_actual
from goodwe_pipeline.warehouse import Warehouse
from goodwe_pipeline.warehouse.reads import read_daily, read_prices, read_sessions
from goodwe_pipeline_tests.grafana_queries import (
    POSTGRES,
    TimeRange,
    expand_sql,
    panel_queries,
    stack_postgres,
)
from goodwe_pipeline_tests.ui_days import TZ, backfill_demo_days

DAY = date(2025, 10, 26)


def panel(title: str, reader_url: str, time_range: TimeRange, devices: list[str]) -> pd.DataFrame:
    (query,) = [q for q in panel_queries() if q.panel == title and q.datasource == POSTGRES]
    engine = sa.create_engine(reader_url)
    try:
        with engine.connect() as connection:
            return pd.read_sql_query(
                sa.text(expand_sql(query.text, time_range, devices)), connection
            )
    finally:
        engine.dispose()


def of_day(frame: pd.DataFrame) -> list[dict]:
    """The panel's row of ``DAY`` (a daily panel over a local day also shows the day before,
    as Grafana's UTC range starts on it)."""
    return frame[pd.to_datetime(frame["time"], utc=True).dt.date == DAY].to_dict("records")


def test_grafana_panels_and_charts_agree_on_a_day(tmp_path: Path) -> None:
    start, end = days.day_window(DAY, TZ)
    day_range = TimeRange(start, end, str(DAY))
    with stack_postgres() as databases:
        with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
            ui_days = backfill_demo_days(tmp_path, instance, warehouse_url=databases.warehouse_url)
        devices = [ui_days.manifest.device_id]
        with Warehouse.from_settings(
            WarehouseSettings(url=databases.warehouse_url, data_dir=tmp_path)
        ) as wh:
            prices = price_series(read_prices(wh, start, end), DAY, TZ)
            daily = read_daily(wh, ui_days.first, ui_days.last)
            sessions = read_sessions(wh, DAY, DAY)
            plans = wh.read_frame(
                "SELECT * FROM legacy_planned_sessions WHERE plan_date = :d", {"d": DAY}
            )
        price_panel = panel("Electricity prices", databases.reader_url, day_range, devices)
        energy_panel = panel("Daily energy", databases.reader_url, day_range, devices)
        savings_panel = panel("Savings over time", databases.reader_url, day_range, devices)
        sessions_panel = panel("Battery sessions", databases.reader_url, day_range, devices)

    # Prices: the panel's rows inside the day are the chart's quarter hours, 100 of them.
    in_day = price_panel[pd.to_datetime(price_panel["time"], utc=True) < pd.Timestamp(end)]
    assert len(in_day) == len(prices.slots) == 100
    assert in_day["Buy"].to_numpy() == pytest.approx(prices.prices["buy_pln_kwh"].to_numpy())
    assert in_day["Sell"].to_numpy() == pytest.approx(prices.prices["sell_pln_kwh"].to_numpy())

    # Daily energy and savings: the panel's row of the day is the trends chart's bar of the day.
    bars = trend_bars(daily, ui_days.last).panels[30].loc[DAY]
    (energy,) = of_day(energy_panel)
    for label, column in (
        ("PV", "pv_kwh"),
        ("Load", "load_kwh"),
        ("Grid import", "grid_import_kwh"),
        ("Grid export", "grid_export_kwh"),
    ):
        assert energy[label] == pytest.approx(bars[column]), label
    (saved,) = of_day(savings_panel)
    assert saved["Daily savings"] == pytest.approx(bars["savings_pln"])

    # Sessions: the panel's list is the sessions chart's bars, in the same order.
    chart = session_bars(sessions, planned_vs_actual(plans, sessions), DAY, TZ).bars
    actual = chart[chart["kind"] != "plan"]
    ordered = sessions_panel.sort_values("Start")
    assert ordered["Kind"].tolist() == actual["kind"].tolist()
    assert ordered["Energy kWh"].astype(float).to_numpy() == pytest.approx(
        np.round(actual["energy_kwh"].to_numpy(), 2)
    )
    assert len(actual) >= 2
