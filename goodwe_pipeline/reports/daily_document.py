"""A day's report as an owner and the UI read it: the document stored in ``analytics_reports``
(figures, where each energy came from, data quality, the hourly profile) and the Markdown
summary of a run's days. The figures themselves are ``reports.daily``'s."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from goodwe_pipeline.readings import DEVICE_ID
from goodwe_pipeline.reports.daily import DAILY_ENERGY_COLUMNS, QUANTITIES, DailyEnergy

DAILY_REPORT = "daily"
"""``analytics_reports.report_type`` of a day's report document."""

HOURLY_COLUMNS: tuple[str, ...] = (
    *(q.column for q in QUANTITIES),
    "import_cost_pln",
    "export_revenue_pln",
    "buy_pln_kwh",
    "sell_pln_kwh",
)


def hourly_profile(quarters: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Quarter hours summed into local clock hours (prices: the mean of the quarters).

    One row per device, day and local hour, with ``start`` (local ISO 8601 with offset):
    the day's 23, 24 or 25 hours.
    """
    if quarters.empty:
        return pd.DataFrame(columns=[DEVICE_ID, "day", "start", *HOURLY_COLUMNS])
    local = quarters["time_start"].dt.tz_convert(tz)
    hour_start = quarters["time_start"] - pd.to_timedelta(local.dt.minute, unit="m")
    grouped = quarters.assign(hour=hour_start).groupby([DEVICE_ID, "day", "hour"], sort=True)
    energies = [c for c in HOURLY_COLUMNS if not c.endswith("_pln_kwh")]
    hours = grouped[energies].sum(min_count=1)
    hours[["buy_pln_kwh", "sell_pln_kwh"]] = grouped[["buy_pln_kwh", "sell_pln_kwh"]].mean()
    hours = hours.reset_index()
    hours["start"] = hours["hour"].dt.tz_convert(tz).map(pd.Timestamp.isoformat)
    return hours[[DEVICE_ID, "day", "start", *HOURLY_COLUMNS]]


def report_documents(result: DailyEnergy, tz: str) -> list[dict[str, Any]]:
    """The full report of each device and day as plain JSON, in ``result.days`` order.

    Each holds the figures, where each energy came from (counters or integration, with
    both totals), the day's data quality and the hourly profile as columns (``start``
    and one list per figure), compact enough for a year of reports in one run.
    """
    profile = hourly_profile(result.quarters, tz)
    rounded = profile[list(HOURLY_COLUMNS)].round(5).astype(object)
    rounded = rounded.where(rounded.notna(), None)
    by_key: dict[tuple[Any, Any], dict[str, list[Any]]] = {}
    if len(profile):
        keys = list(zip(profile[DEVICE_ID], profile["day"], strict=True))
        starts = profile["start"].tolist()
        columns = {c: rounded[c].tolist() for c in HOURLY_COLUMNS}
        bounds = [0] + [i for i in range(1, len(keys)) if keys[i] != keys[i - 1]] + [len(keys)]
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            by_key[keys[lo]] = {"start": starts[lo:hi], **{c: v[lo:hi] for c, v in columns.items()}}
    documents = []
    for record in result.days.to_dict("records"):
        figures = {name: _plain(record[name]) for name in DAILY_ENERGY_COLUMNS}
        figures["day"] = record["day"].isoformat()
        documents.append(
            {
                "figures": figures,
                "sources": {
                    q.name: {
                        "source": str(record[f"{q.name}_source"]),
                        "kwh": _plain(record[q.column]),
                        "integrated_kwh": _plain(record[f"{q.name}_integrated_kwh"]),
                        "counter_kwh": _plain(record[f"{q.name}_counter_kwh"]),
                    }
                    for q in QUANTITIES
                },
                "quality": {
                    "samples": int(record["samples"]),
                    "cadence_s": _plain(record["cadence_s"]),
                    "coverage_pct": _plain(record["coverage_pct"]),
                    "unpriced_quarters": int(record["unpriced_quarters"]),
                },
                "hours": by_key.get((record[DEVICE_ID], record["day"]), {}),
                "timezone": tz,
            }
        )
    return documents


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("day", "day"),
    (DEVICE_ID, "device"),
    ("pv_kwh", "PV kWh"),
    ("load_kwh", "load kWh"),
    ("grid_import_kwh", "import kWh"),
    ("grid_export_kwh", "export kWh"),
    ("battery_charge_kwh", "charged kWh"),
    ("battery_discharge_kwh", "discharged kWh"),
    ("net_cost_pln", "net cost PLN"),
    ("savings_pln", "saved PLN"),
    ("self_sufficiency_pct", "self-sufficiency %"),
    ("coverage_pct", "coverage %"),
    ("energy_source", "from"),
)


def summary_markdown(days: pd.DataFrame, *, max_rows: int = 31) -> str:
    """A Markdown table of the days' key figures, newest first, for the Dagster UI."""
    if days.empty:
        return "_No readings in these days._"
    shown = days.sort_values(["day", DEVICE_ID], ascending=[False, True]).head(max_rows)
    table = pd.DataFrame({label: shown[name].to_numpy() for name, label in SUMMARY_COLUMNS})
    text = table.to_markdown(index=False, floatfmt=".2f")
    if len(days) > max_rows:
        text += f"\n\n_{len(days) - max_rows} older rows not shown._"
    return text
