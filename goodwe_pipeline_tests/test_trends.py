"""Rolling trends of daily reports: totals, fitted slopes and the direction rule."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from goodwe_pipeline.reports.trends import fit_trend, trend_reports, trends_markdown, window_report

END = date(2025, 6, 30)


def _daily(values: dict[str, np.ndarray], *, device: str = "SN1", days: int = 90) -> pd.DataFrame:
    calendar = [END - timedelta(days=days - 1 - i) for i in range(days)]
    frame = pd.DataFrame({"day": calendar, "device_id": device})
    base = {
        "pv_kwh": np.full(days, 20.0),
        "load_kwh": np.full(days, 15.0),
        "grid_import_kwh": np.full(days, 5.0),
        "grid_export_kwh": np.full(days, 10.0),
        "savings_pln": np.full(days, 8.0),
        "import_cost_pln": np.full(days, 5.0),
    }
    base.update(values)
    for name, column in base.items():
        frame[name] = column
    return frame


def test_fit_recovers_a_known_line() -> None:
    x = np.arange(30)
    trend = fit_trend(x, 10 + 0.5 * x, 30)
    assert trend.slope == pytest.approx(0.5)
    assert trend.r2 == pytest.approx(1.0)
    assert trend.direction == "rising"
    assert trend.strength == "strong"
    assert trend.change_pct == pytest.approx(0.5 * 29 / (10 + 0.5 * 14.5) * 100)


def test_noise_without_slope_is_flat_and_weak() -> None:
    rng = np.random.default_rng(7)
    trend = fit_trend(np.arange(90), 20 + rng.normal(0, 3, 90), 90)
    assert trend.direction == "flat"
    assert abs(trend.t) < 2
    assert trend.strength == "weak"


def test_falling_line_with_noise() -> None:
    rng = np.random.default_rng(1)
    x = np.arange(90)
    trend = fit_trend(x, 30 - 0.2 * x + rng.normal(0, 1, 90), 90)
    assert trend.direction == "falling"
    assert trend.slope == pytest.approx(-0.2, abs=0.02)
    assert trend.t < -2


def test_too_few_days_is_insufficient() -> None:
    values = np.full(30, np.nan)
    values[:10] = np.arange(10)
    assert fit_trend(np.arange(30), values, 30).direction == "insufficient data"
    values[:16] = np.arange(16)
    assert fit_trend(np.arange(30), values, 30).direction == "rising"


def test_window_report_totals_and_missing_days() -> None:
    pv = 10 + 0.2 * np.arange(90)
    daily = _daily({"pv_kwh": pv})
    daily = daily.drop(index=[85]).reset_index(drop=True)  # one missing day in the last week
    report = window_report(daily, pd.DataFrame(), "SN1", END, 7)
    production = report["figures"]["production_kwh"]
    assert production["days"] == 6
    expected = pv[83:90].sum() - pv[85]
    assert production["total"] == pytest.approx(expected, abs=1e-3)
    assert production["trend"]["direction"] == "rising"
    assert production["trend"]["slope_per_day"] == pytest.approx(0.2, abs=1e-4)
    assert report["start"] == "2025-06-24" and report["end"] == "2025-06-30"


def test_charge_price_against_import_price() -> None:
    daily = _daily({"grid_import_kwh": np.full(90, 10.0), "import_cost_pln": np.full(90, 9.0)})
    sessions = pd.DataFrame(
        {
            "device_id": ["SN1", "SN1", "SN1", "OTHER"],
            "kind": ["charge", "charge", "discharge", "charge"],
            "partition_date": [END, END - timedelta(days=1), END, END],
            "energy_kwh": [4.0, 6.0, 5.0, 100.0],
            "cost_pln": [2.0, 3.4, 9.0, 100.0],
        }
    )
    report = window_report(daily, sessions, "SN1", END, 7)
    prices = report["figures"]["charge_vs_import_price"]
    assert prices["avg_charge_price_pln_kwh"] == pytest.approx(0.54)
    assert prices["avg_import_price_pln_kwh"] == pytest.approx(0.9)
    assert prices["charge_cheaper_by_pct"] == pytest.approx(40.0)
    assert prices["charge_energy_kwh"] == pytest.approx(10.0)


def test_trend_reports_rows_per_window_and_device() -> None:
    daily = pd.concat([_daily({}), _daily({}, device="SN2", days=5)], ignore_index=True)
    rows = trend_reports(daily, pd.DataFrame(), [END, END - timedelta(days=1)])
    types = {(r["report_type"], r["device_id"], r["report_date"]) for r in rows}
    assert ("trend_90d", "SN1", END) in types
    assert ("trend_7d", "SN2", END) in types
    assert len(rows) == 12
    json.dumps([r["report_data"] for r in rows], allow_nan=False)
    sn2 = next(r for r in rows if r["device_id"] == "SN2" and r["report_type"] == "trend_90d")
    assert sn2["report_data"]["figures"]["production_kwh"]["trend"]["direction"] == (
        "insufficient data"
    )
    assert "trend" in trends_markdown(rows[:3]).lower()
