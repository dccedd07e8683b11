"""Quarter-hour prices of a local day, built from whatever rows a price source gives.

A source gives *market rows*: ``time_start``/``time_end`` (UTC) and some of
``market_pln_kwh`` (energy price, the tariff is added), ``rce_pln_kwh`` (export
price for the sell rule), ``buy_pln_kwh``/``sell_pln_kwh`` (final prices, used
as they are). Rows may be quarter-hourly or hourly (older days); each quarter
hour of the day takes the row that covers it. DST days have 92 or 100 quarter
hours; negative prices are kept.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from goodwe_pipeline.common.days import day_window
from goodwe_pipeline.prices.tariffs import Tariff

QUARTER = pd.Timedelta(minutes=15)
ROW_COLUMNS = (
    "time_start",
    "time_end",
    "market_pln_kwh",
    "rce_pln_kwh",
    "buy_pln_kwh",
    "sell_pln_kwh",
)
PRICE_COLUMNS = (
    "time_start",
    "time_end",
    "zone",
    "buy_pln_kwh",
    "sell_pln_kwh",
    "source",
    "market_pln_kwh",
    "tariff",
    "partition_date",
)
MAX_PLAUSIBLE_PLN_KWH = 50.0
"""Beyond any day-ahead price cap: a larger "per kWh" number was given in PLN/MWh."""


class PriceSourceError(RuntimeError):
    """Prices could not be had; the message says why, for the owner.

    ``transient`` errors (not yet published, API down) are worth retrying.
    """

    transient = False


class PricesNotPublishedError(PriceSourceError):
    """The day's prices are not published yet (day-ahead prices come early afternoon)."""

    transient = True


class PriceSourceUnavailableError(PriceSourceError):
    """The price service did not answer properly (down, timeout, error status)."""

    transient = True


class PriceDataError(PriceSourceError):
    """The source answered with data that cannot be used; retrying will not help."""


class PricesIncompleteError(PriceDataError):
    """The source does not cover every quarter hour of a day."""


def quarter_hours(day: date, tz: str) -> pd.DatetimeIndex:
    """UTC starts of the quarter hours of a local day (92, 96 or 100 of them)."""
    start, end = day_window(day, tz)
    return pd.date_range(start, end, freq=QUARTER, inclusive="left").as_unit("us")


def localize_wall_times(naive: pd.Series, tz: str) -> pd.Series:
    """Local wall-clock times without offset to UTC.

    The autumn DST hour occurs twice: the first occurrence of a wall time is
    taken as summer time and the second as winter time (rows in time order).
    A wall time that does not exist (spring DST gap) raises ``PriceDataError``.
    """
    times = pd.to_datetime(naive, format="ISO8601")
    first = times.groupby(times).cumcount().to_numpy() == 0
    try:
        local = times.dt.tz_localize(tz, ambiguous=first, nonexistent="raise")
    except ValueError as exc:
        raise PriceDataError(f"local time cannot be placed in {tz}: {exc}") from None
    return local.dt.tz_convert("UTC").astype("datetime64[us, UTC]")


def market_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Coerce a source's rows to ``ROW_COLUMNS`` (absent price columns become NaN)."""
    out = pd.DataFrame(index=frame.index)
    for name in ("time_start", "time_end"):
        out[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[us, UTC]")
    for name in ROW_COLUMNS[2:]:
        out[name] = frame[name].astype("float64") if name in frame else np.nan
    return out.sort_values("time_start", kind="stable").reset_index(drop=True)


def align(rows: pd.DataFrame, grid: pd.DatetimeIndex) -> pd.DataFrame:
    """The row covering each quarter-hour start of ``grid`` (NaN prices where none does).

    Rows with the same ``time_start`` keep the last one; an hourly row covers
    its four quarter hours.
    """
    rows = market_rows(rows).drop_duplicates("time_start", keep="last")
    left = pd.DataFrame({"time_start": grid.as_unit("us")})
    merged = pd.merge_asof(left, rows, on="time_start", direction="backward")
    uncovered = ~(merged["time_start"] < merged["time_end"]).to_numpy(dtype=bool)
    merged.loc[uncovered, list(ROW_COLUMNS[2:])] = np.nan
    merged["time_end"] = merged["time_start"] + QUARTER
    return merged[list(ROW_COLUMNS)]


def day_prices(
    rows: pd.DataFrame,
    day: date,
    tz: str,
    tariff: Tariff,
    source: str,
) -> pd.DataFrame:
    """The day's quarter-hour prices (``PRICE_COLUMNS``), or ``PricesIncompleteError``.

    Rows with the same ``time_start`` keep the last one. Buy prices come from
    ``buy_pln_kwh`` where given, else market + tariff; sell prices from
    ``sell_pln_kwh`` where given, else the tariff's sell rule.
    """
    grid = quarter_hours(day, tz)
    rows = market_rows(rows)
    _check_units(rows, source)
    merged = align(rows, grid)
    complete = merged["buy_pln_kwh"].notna() | merged["market_pln_kwh"].notna()
    if not bool(complete.all()):
        missing = grid[~complete.to_numpy()]
        first = missing[0].tz_convert(tz)
        raise PricesIncompleteError(
            f"{source} prices for {day.isoformat()} cover {int(complete.sum())} of "
            f"{len(grid)} quarter hours: {len(missing)} missing, the first at "
            f"{first:%H:%M} local time"
        )
    local = grid.tz_convert(tz)
    market = merged["market_pln_kwh"].to_numpy(dtype="float64")
    computed_buy, zone = tariff.buy_price(market, local)
    given_buy = merged["buy_pln_kwh"].to_numpy(dtype="float64")
    buy = np.where(np.isnan(given_buy), computed_buy, given_buy)
    given_sell = merged["sell_pln_kwh"].to_numpy(dtype="float64")
    computed_sell = tariff.sell_price(market, merged["rce_pln_kwh"].to_numpy(dtype="float64"))
    sell = np.where(np.isnan(given_sell), computed_sell, given_sell)
    if np.isnan(sell).any():
        raise PricesIncompleteError(
            f"{source} prices for {day.isoformat()}: {int(np.isnan(sell).sum())} quarter hours "
            "have a final buy price but neither a market, RCE nor sell price to derive the "
            "sell price from (add a sell column or use the sell rule `fixed`)"
        )
    return pd.DataFrame(
        {
            "time_start": grid,
            "time_end": grid + QUARTER,
            "zone": pd.Series(zone, dtype=object),
            "buy_pln_kwh": buy,
            "sell_pln_kwh": sell,
            "source": source,
            "market_pln_kwh": market,
            "tariff": tariff.label,
            "partition_date": day,
        }
    )[list(PRICE_COLUMNS)]


def _check_units(rows: pd.DataFrame, source: str) -> None:
    for name in ("market_pln_kwh", "rce_pln_kwh", "buy_pln_kwh", "sell_pln_kwh"):
        values = rows[name].abs()
        if bool((values > MAX_PLAUSIBLE_PLN_KWH).any()):
            raise PriceDataError(
                f"{source}: {name} up to {float(values.max()):.1f} PLN/kWh is implausible: "
                "was a PLN/MWh price given as PLN/kWh?"
            )


def days_summary(prices: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Per day: quarter hours, min/mean/max buy, mean sell and the cheapest local hour."""
    if prices.empty:
        return pd.DataFrame(
            columns=["day", "quarters", "buy_min", "buy_mean", "buy_max", "sell_mean", "cheapest"]
        )
    frame = prices.copy()
    frame["local"] = pd.to_datetime(frame["time_start"], utc=True).dt.tz_convert(tz)
    rows = []
    for day, group in frame.groupby("partition_date", sort=True):
        cheapest = group.loc[group["buy_pln_kwh"].idxmin(), "local"]
        rows.append(
            {
                "day": str(day),
                "quarters": len(group),
                "buy_min": round(float(group["buy_pln_kwh"].min()), 4),
                "buy_mean": round(float(group["buy_pln_kwh"].mean()), 4),
                "buy_max": round(float(group["buy_pln_kwh"].max()), 4),
                "sell_mean": round(float(group["sell_pln_kwh"].mean()), 4),
                "cheapest": f"{cheapest:%H:%M}",
            }
        )
    return pd.DataFrame(rows)
