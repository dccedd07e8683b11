"""Derivation benchmark: a year of 10-second readings into sessions and daily reports.

Setup (not timed): one device, 2025-01-01..2025-12-31 local (Europe/Warsaw), one reading
every 10 s (3.15 M rows: PV with the seasons, a house load, a battery that charges from
the grid at night and from PV at noon and discharges in the evening, lifetime counters)
written to the Parquet raw store in a temporary data dir; a year of quarter-hour prices
in the SQLite warehouse.

Timed, in the same process:

- floor: reading the year from the Parquet store into a DataFrame
  (``ParquetRawStore.read``);
- derive: one single-run ``dg.materialize`` of ``battery_sessions`` +
  ``daily_energy_report`` over the 365 partitions (the run's partition-range tags), as a
  365-day backfill does.

Target: derive <= 2 x floor. The derive run draws the charts a backfill draws (the last
``CHART_DAYS`` days of each asset); it is timed again with charts off
(``CHART_DAYS = 0``) and the ratio printed: the charts' share of the backfill
(target <= 1.10). On a loaded machine two whole runs differ by more than the charts
cost, so the time spent drawing (every ``day_events.chart`` call, timed inside the
run) is also printed as a share of the run. For scale, the same run of two assets that do nothing
(Dagster's own cost of recording 2 x 365 partition materializations) is timed too, and
the ratio is also given without it ((derive - no-op) / floor): the part the project's
code is responsible for. The assets read only the fields they use (``fields=``), so
each reads a fraction of the columns the floor reads.
``--with-checks`` also runs the readings checks and the
report checks in the same run (reported, not part of the target).

Run: ``.venv/bin/python bench/derive.py [--rounds 1] [--with-checks]``
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from goodwe_pipeline.common.settings import WarehouseSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TZ = "Europe/Warsaw"
FIRST = date(2025, 1, 1)
LAST = date(2025, 12, 31)
STEP_S = 10
DEVICE = "9010KETU23BENCH1"


def year_of_readings() -> pd.DataFrame:
    """3.15 M plausible readings; counters are running sums of the powers."""
    from goodwe_pipeline.common import days
    from goodwe_pipeline.readings import SOURCE_INVERTER

    start, end = days.range_window(FIRST, LAST, TZ)
    seconds = np.arange(start.timestamp(), end.timestamp(), STEP_S)
    times = pd.to_datetime(seconds, unit="s", utc=True)
    local = times.tz_convert(TZ)
    hours = ((local - local.normalize()).total_seconds() / 3600).to_numpy()
    day_of_year = local.day_of_year.to_numpy()
    rng = np.random.default_rng(7)
    season = 0.55 + 0.45 * np.cos((day_of_year - 172) / 365 * 2 * np.pi)
    daylight = 8 + 8 * season
    sunrise = 12 - daylight / 2
    sun = np.clip(np.sin((hours - sunrise) / daylight * np.pi), 0, None)
    clouds = np.clip(
        1 - 0.5 * rng.random(len(seconds) // 360 + 1).repeat(360)[: len(seconds)], 0, 1
    )
    pv = 8000 * season * sun * clouds
    load = 350 + 250 * np.sin(hours / 24 * 2 * np.pi) ** 2 + 1500 * ((hours >= 18) & (hours < 21))
    battery = np.zeros(len(seconds))
    battery[(hours >= 2) & (hours < 4)] = -2500.0
    battery[(hours >= 11) & (hours < 13)] = -np.minimum(pv, 3000)[(hours >= 11) & (hours < 13)]
    battery[(hours >= 18) & (hours < 21)] = 1800.0
    soc = 20 + 30 * np.clip((hours - 2) / 2, 0, 1) + 30 * np.clip((hours - 11) / 2, 0, 1)
    soc = soc - 60 * np.clip((hours - 18) / 3, 0, 1)
    grid = pv + battery - load
    frame = pd.DataFrame(
        {
            "time": times,
            "device_id": DEVICE,
            "source": SOURCE_INVERTER,
            "pv_power_w": pv,
            "load_power_w": load,
            "battery_power_w": battery,
            "grid_power_w": grid,
            "battery_soc_pct": soc,
            "battery_temperature_c": 25.0,
            "inverter_temperature_c": 35.0,
            "grid_voltage_v": 230.0 + rng.normal(0, 1, len(seconds)),
        }
    )
    for name, power in (
        ("pv_energy_total_kwh", pv),
        ("load_energy_total_kwh", load),
        ("grid_import_total_kwh", np.clip(-grid, 0, None)),
        ("grid_export_total_kwh", np.clip(grid, 0, None)),
        ("battery_charge_total_kwh", np.clip(-battery, 0, None)),
        ("battery_discharge_total_kwh", np.clip(battery, 0, None)),
    ):
        frame[name] = 5000 + np.round(np.cumsum(power * STEP_S) / 3.6e6, 1)
    return frame


def year_of_prices() -> pd.DataFrame:
    from goodwe_pipeline.common import days

    start, end = days.range_window(FIRST, LAST, TZ)
    starts = pd.date_range(start, end, freq="15min", inclusive="left")
    hours = starts.tz_convert(TZ).hour.to_numpy()
    buy = np.where(
        (hours >= 1) & (hours < 5), 0.55, np.where((hours >= 17) & (hours < 21), 1.35, 0.95)
    )
    return pd.DataFrame(
        {
            "time_start": starts,
            "time_end": starts + pd.Timedelta(minutes=15),
            "zone": "G11",
            "buy_pln_kwh": buy,
            "sell_pln_kwh": buy * 0.35,
            "source": "bench",
            "partition_date": starts.tz_convert(TZ).date,
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (floor and derive)")
    parser.add_argument("--with-checks", action="store_true", help="also run the checks")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="goodwe_bench_derive_"))
    try:
        return run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, workdir: Path) -> int:
    os.environ["GOODWE_DATA_DIR"] = str(workdir)
    os.environ["GOODWE_TIMEZONE"] = TZ
    os.environ["GOODWE_HISTORY_START"] = "2024-01-01"
    os.environ.pop("GOODWE_INFLUX_URL", None)
    os.environ.pop("GOODWE_WAREHOUSE_URL", None)

    import dagster as dg

    from goodwe_pipeline.common import days
    from goodwe_pipeline.defs import day_events
    from goodwe_pipeline.defs.reports.assets import daily_energy_report
    from goodwe_pipeline.defs.reports.checks import (
        counters_agree_with_integration,
        energy_balance_within_10_pct,
        readings_quality,
    )
    from goodwe_pipeline.defs.reports.resources import ReportsResource
    from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource
    from goodwe_pipeline.defs.sessions.assets import battery_sessions
    from goodwe_pipeline.defs.sessions.resources import SessionsResource
    from goodwe_pipeline.raw_store.parquet import ParquetRawStore
    from goodwe_pipeline.warehouse import Warehouse

    print(f"data dir {workdir}")
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    started = time.perf_counter()
    frame = year_of_readings()
    store = ParquetRawStore(workdir / "raw")
    store.write(frame)
    rows = len(frame)
    del frame
    with Warehouse.from_settings(WarehouseSettings(data_dir=workdir)) as warehouse:
        warehouse.upsert("electricity_prices", year_of_prices())
    gc.collect()
    print(f"setup: {rows:,} readings and a year of prices in {time.perf_counter() - started:.1f} s")

    resources = {
        "raw_store": RawStoreResource(data_dir=str(workdir)),
        "warehouse": WarehouseResource(data_dir=str(workdir)),
        "reports": ReportsResource(),
        "sessions": SessionsResource(),
    }
    assets = [battery_sessions, daily_energy_report]
    if args.with_checks:
        assets += [readings_quality, energy_balance_within_10_pct, counters_agree_with_integration]
    tags = {
        "dagster/asset_partition_range_start": FIRST.isoformat(),
        "dagster/asset_partition_range_end": LAST.isoformat(),
    }
    window = days.range_window(FIRST, LAST, TZ)
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

    @dg.asset(
        name="noop_a",
        partitions_def=daily_energy_report.partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def noop_a():
        return dg.MaterializeResult(metadata={"rows": 0})

    @dg.asset(
        name="noop_b",
        deps=[noop_a],
        partitions_def=daily_energy_report.partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def noop_b():
        return dg.MaterializeResult(metadata={"rows": 0})

    def materialize_assets() -> float:
        t0 = time.perf_counter()
        result = dg.materialize(
            assets,
            instance=dg.DagsterInstance.ephemeral(),
            resources=resources,
            tags=tags,
            run_config=quiet,
        )
        assert result.success
        return time.perf_counter() - t0

    charts_on = day_events.CHART_DAYS
    drawing: list[float] = []
    draw = day_events.chart

    def timed_chart(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return draw(*args, **kwargs)
        finally:
            drawing.append(time.perf_counter() - t0)

    day_events.chart = timed_chart
    shares = []
    floors, derives, overheads, plain = [], [], [], []
    for round_number in range(1, args.rounds + 1):
        gc.collect()
        t0 = time.perf_counter()
        year = store.read(*window)
        floor = time.perf_counter() - t0
        assert len(year) == rows, (len(year), rows)
        del year
        gc.collect()
        drawing.clear()
        derive = materialize_assets()
        shares.append(sum(drawing) / derive)
        print(f"charts drawn: {len(drawing)} in {sum(drawing):.2f} s ({shares[-1]:.1%} of the run)")
        gc.collect()
        day_events.CHART_DAYS = 0
        try:
            without_charts = materialize_assets()
        finally:
            day_events.CHART_DAYS = charts_on
        plain.append(without_charts)
        t0 = time.perf_counter()
        dg.materialize(
            [noop_a, noop_b], instance=dg.DagsterInstance.ephemeral(), tags=tags, run_config=quiet
        )
        overhead = time.perf_counter() - t0
        floors.append(floor)
        derives.append(derive)
        overheads.append(overhead)
        print(
            f"round {round_number}: floor (read the year from Parquet) {floor:.2f} s, "
            f"derive (battery_sessions + daily_energy_report, 365 partitions, one run) "
            f"{derive:.2f} s, ratio {derive / floor:.2f}; without charts {without_charts:.2f} s; "
            f"two no-op assets {overhead:.2f} s"
        )
    with Warehouse.from_settings(WarehouseSettings(data_dir=workdir)) as warehouse:
        sessions = int(warehouse.read_frame("SELECT COUNT(*) AS n FROM battery_sessions")["n"][0])
        reports = int(warehouse.read_frame("SELECT COUNT(*) AS n FROM daily_energy")["n"][0])
    floor, derive, overhead = min(floors), min(derives), min(overheads)
    print(f"derived {sessions} battery sessions and {reports} daily reports")
    print(f"floor  {floor:.2f} s")
    print(f"derive {derive:.2f} s")
    print(f"no-op  {overhead:.2f} s (Dagster recording 730 partition materializations)")
    ratios = sorted(d / f for d, f in zip(derives, floors, strict=True))
    checks = ", checks included" if args.with_checks else ""
    print(
        f"ratio  {derive / floor:.2f} (best derive / best floor; median of the rounds' ratios "
        f"{statistics.median(ratios):.2f}; target <= 2.0{checks})"
    )
    print(
        f"ratio without Dagster's recording cost: {(derive - overhead) / floor:.2f} "
        "((best derive - best no-op) / best floor)"
    )
    print(
        f"charts {min(derives) / min(plain):.3f} (best derive with the charts of the last "
        f"{charts_on} days / best derive without charts; median of the rounds' ratios "
        f"{statistics.median(d / p for d, p in zip(derives, plain, strict=True)):.3f}; "
        "target <= 1.10)"
    )
    print(f"charts' share of the run (drawing time timed inside it): best {min(shares):.1%}")
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
