"""Per-partition truth: after a single-run backfill each day's materialization holds that
day's own figures beside the run's, and only the last days of a long run carry charts.

The run goes through ``dg.materialize`` with the range tags a backfill sets, on a real
(temporary, SQLite-backed) Dagster instance; the answers are read back from the
instance's event log, as the UI reads them.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from goodwe_pipeline.defs.day_events import CHART_DAYS
from goodwe_pipeline.defs.prices.assets import electricity_prices
from goodwe_pipeline.defs.prices.resources import PricesResource
from goodwe_pipeline.defs.reports.assets import daily_energy_report, energy_trends
from goodwe_pipeline.defs.reports.resources import ReportsResource
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource
from goodwe_pipeline.defs.sessions.assets import battery_sessions
from goodwe_pipeline.defs.sessions.resources import SessionsResource
from goodwe_pipeline.raw_store.parquet import ParquetRawStore
from goodwe_pipeline.reports.daily import daily_energy
from goodwe_pipeline_tests.synthetic_days import constant, make_readings, sine_pv, window

TZ = "Europe/Warsaw"
FIRST = date(2025, 6, 1)
DAYS = 9
LAST = FIRST + timedelta(days=DAYS - 1)
DEVICE = "SN-DAYS"


def _write_days(data_dir: Path) -> pd.DataFrame:
    """Each day its own sun (peak 1.0, 1.5, 2.0 ... kW), so every day's figures differ."""
    frames = []
    for i in range(DAYS):
        day = FIRST + timedelta(days=i)
        frames.append(
            make_readings(
                day,
                day,
                TZ,
                cadence_s=60,
                device_id=DEVICE,
                pv=sine_pv(1000 + 500 * i),
                load=constant(400),
                battery=window(-2000, 2, 3),
                soc=lambda h: 30 + np.clip(h - 2, 0, 1) * 20,
                lifetime_counters=False,
                include_end=False,
            )
        )
    readings = pd.concat(frames, ignore_index=True)
    ParquetRawStore(data_dir / "raw").write(readings)
    return readings


def _latest_by_partition(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, dict]:
    records = instance.fetch_materializations(key, limit=1000).records
    latest: dict[str, dict] = {}
    for record in sorted(records, key=lambda r: r.storage_id):
        latest[record.partition_key] = record.asset_materialization.metadata
    return latest


def test_a_single_run_backfill_stores_each_days_own_figures(tmp_path) -> None:
    data_dir = Path(os.environ["GOODWE_DATA_DIR"])
    readings = _write_days(data_dir)
    resources = {
        "raw_store": RawStoreResource(data_dir=str(data_dir)),
        "warehouse": WarehouseResource(data_dir=str(data_dir)),
        "reports": ReportsResource(),
        "sessions": SessionsResource(),
        "prices": PricesResource(source="fixed:0.6"),
    }
    tags = {
        "dagster/asset_partition_range_start": FIRST.isoformat(),
        "dagster/asset_partition_range_end": LAST.isoformat(),
    }
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        for assets in (
            [electricity_prices],
            [battery_sessions, daily_energy_report, energy_trends],
        ):
            result = dg.materialize(assets, instance=instance, resources=resources, tags=tags)
            assert result.success
        report = _latest_by_partition(instance, daily_energy_report.key)
        sessions = _latest_by_partition(instance, battery_sessions.key)
        prices = _latest_by_partition(instance, electricity_prices.key)
        trends = _latest_by_partition(instance, energy_trends.key)
        every = instance.fetch_materializations(daily_energy_report.key, limit=1000).records

    days = [(FIRST + timedelta(days=i)).isoformat() for i in range(DAYS)]
    assert sorted(report) == days
    prices_frame = pd.DataFrame(
        {
            "time_start": pd.date_range(
                pd.Timestamp(FIRST, tz=TZ), periods=DAYS * 96 + 8, freq="15min"
            ).tz_convert("UTC"),
        }
    )
    prices_frame["time_end"] = prices_frame["time_start"] + pd.Timedelta(minutes=15)
    prices_frame["buy_pln_kwh"] = np.nan
    prices_frame["sell_pln_kwh"] = np.nan
    expected = daily_energy(
        readings, prices_frame, [FIRST + timedelta(days=i) for i in range(DAYS)], TZ
    ).days
    pv = [report[d]["pv_kwh"].value for d in days]
    assert pv == pytest.approx(expected["pv_kwh"].round(3).tolist())
    assert len(set(pv)) == DAYS  # each day its own, never the run's total
    assert [report[d]["load_kwh"].value for d in days] == pytest.approx([9.6] * DAYS, abs=0.01)
    charted = [d for d in days if "chart" in report[d]]
    assert charted == days[-CHART_DAYS:]
    assert report[days[-1]]["chart"].value.startswith("![")

    # One materialization per day, as any backfill of those days: the run's facts and the
    # day's own figures on the same event.
    assert len(every) == DAYS
    assert all(report[d]["run_days"].value == DAYS for d in days)

    assert all(sessions[d]["charged_kwh"].value == pytest.approx(2.0) for d in days)
    assert all(sessions[d]["sessions"].value == 1 for d in days)
    assert all(prices[d]["buy_mean_pln_kwh"].value > 0.6 for d in days)
    assert [d for d in days if "chart" in prices[d]] == days[-CHART_DAYS:]
    means = [trends[d]["7d_production_kwh_per_day"].value for d in days]
    assert means == sorted(means) and len(set(means)) == DAYS
    assert "chart" in trends[days[-1]] and "chart" not in trends[days[-2]]
