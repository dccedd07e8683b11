"""Battery sessions as Markdown tables for a person: one row per session, plans beside them."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

MAX_TABLE_ROWS = 50


def _local(times: pd.Series, tz: str, fmt: str) -> pd.Series:
    return pd.to_datetime(times, utc=True).dt.tz_convert(tz).dt.strftime(fmt)


def _rows_with_device(found: pd.DataFrame, tz: str) -> pd.DataFrame:
    ordered = found.sort_values("start_time", kind="stable")
    start = _local(ordered["start_time"], tz, "%H:%M")
    end_day = _local(ordered["end_time"], tz, "%m-%d")
    end = _local(ordered["end_time"], tz, "%H:%M")
    start_day = _local(ordered["start_time"], tz, "%m-%d")
    end = end.where(end_day == start_day, end_day + " " + end)
    charge = ordered["kind"] == "charge"
    money = ordered["cost_pln"].where(charge, ordered["value_pln"])
    return pd.DataFrame(
        {
            "device": ordered["device_id"],
            "start–end": start + "–" + end,
            "kind": ordered["kind"],
            "kWh": ordered["energy_kwh"].round(2),
            "charge %": [
                f"{a:.0f} → {b:.0f}" if np.isfinite(a) and np.isfinite(b) else "?"
                for a, b in zip(ordered["soc_start"], ordered["soc_end"], strict=True)
            ],
            "grid kWh": ordered["grid_energy_kwh"].where(charge).round(2),
            "panels kWh": ordered["pv_energy_kwh"].where(charge).round(2),
            "PLN/kWh": ordered["avg_price_pln_kwh"].round(3),
            "cost / value PLN": money.round(2),
            "status": ordered["status"],
        }
    )


def _without_a_lone_device(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns="device") if table["device"].nunique() <= 1 else table


def session_rows(found: pd.DataFrame, tz: str) -> pd.DataFrame:
    """One row per session, in start order: local start–end, kind, kWh, charge level
    before → after, kWh from the grid and from the panels, average price, cost (charge) or
    value (discharge), status. Times show the date when the session ends on another day;
    the device column only when there are several."""
    return _without_a_lone_device(_rows_with_device(found, tz))


def session_rows_by_day(found: pd.DataFrame, tz: str) -> dict[date, pd.DataFrame]:
    """``session_rows`` of each ``partition_date``'s sessions, formatted once for all of
    ``found`` (a backfill's year of days costs one pass, not one per day)."""
    found = found.reset_index(drop=True)
    table = _rows_with_device(found, tz)
    owners = found.loc[table.index, "partition_date"].to_numpy()
    return {day: _without_a_lone_device(rows) for day, rows in table.groupby(owners, sort=False)}


def plans_table(comparison: pd.DataFrame, tz: str) -> str:
    """The optimiser's plans beside what happened, with the reason when they differ."""
    shown = pd.DataFrame(
        {
            "plan": comparison["plan"],
            "window": _local(comparison["planned_start"], tz, "%H:%M")
            + "–"
            + _local(comparison["planned_end"], tz, "%H:%M"),
            "planned kWh": comparison["planned_kwh"].astype("float64").round(2),
            "planned PLN": comparison["planned_cost_pln"].astype("float64").round(2),
            "planned PLN/kWh": comparison["planned_pln_kwh"].astype("float64").round(3),
            "sessions": comparison["actual_sessions"],
            "taken kWh": comparison["actual_kwh"].astype("float64").round(2),
            "paid PLN": comparison["actual_cost_pln"].astype("float64").round(2),
            "paid PLN/kWh": comparison["actual_pln_kwh"].astype("float64").round(3),
            "why different": comparison["why_different"],
        }
    )
    return shown.astype(object).where(shown.notna(), None).to_markdown(index=False, missingval="–")
