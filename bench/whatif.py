"""What-if benchmark: a year of 10-second readings priced under 5 offers in 3 cases.

Setup (not timed): the year of ``bench/derive.py`` (one device, 2025 in Europe/Warsaw, a
reading every 10 s: 3.15 M rows) and its quarter-hour prices, with the market price the
default tariff's buy price implies (so the dynamic offer can be priced).

Timed, in the same process, best of ``--rounds``:

- baseline: ``reports.daily_energy`` over the year (what ``daily_energy_report`` computes);
- what-if: ``whatif.quarter_hours.measured_days`` + ``whatif.costs.compare`` over the year
  for 5 offers of the built-in catalogue (the current one, G11, G12, G12w and the dynamic
  one) in the 3 cases: 1,825 day-offers, each with the battery run best by a linear
  programme (the day's 5 offers solved as one block-diagonal programme: 365 HiGHS runs).

Targets: what-if <= 5 s, and what-if <= 2 x baseline.

``--assets`` also times the two assets as a 365-day backfill does (one single-run
``dg.materialize`` each, Parquet readings and SQLite warehouse in a temporary data dir,
battery sessions derived first so the battery limits are learned): ``daily_energy_report``
against ``tariff_comparison`` with the same 5 offers. Reading the year from the store,
writing the rows and Dagster's recording of 365 partitions are then part of both.

Run: ``.venv/bin/python bench/whatif.py [--rounds 3] [--assets]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from goodwe_pipeline.common.settings import WarehouseSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from derive import FIRST, LAST, TZ, year_of_prices, year_of_readings  # noqa: E402

OFFERS = ["G11", "G12", "G12w", "dynamic-G12w"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--assets", action="store_true", help="also time the two assets")
    args = parser.parse_args()

    from goodwe_pipeline.common import days
    from goodwe_pipeline.prices.tariffs import load_tariff
    from goodwe_pipeline.readings import normalize
    from goodwe_pipeline.reports.daily import daily_energy
    from goodwe_pipeline.whatif.battery import DEFAULT_LIMITS
    from goodwe_pipeline.whatif.catalogue import load_catalogue
    from goodwe_pipeline.whatif.costs import compare
    from goodwe_pipeline.whatif.quarter_hours import measured_days

    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    started = time.perf_counter()
    readings = normalize(year_of_readings())
    tariff = load_tariff(None)
    prices = year_of_prices()
    prices["market_pln_kwh"] = prices["buy_pln_kwh"] / (1 + tariff.vat) - 0.0892 - 0.32
    prices["zone"] = "all-day"
    catalogue = load_catalogue(None, tariff).select(OFFERS)
    run_days = list(days.iter_days(FIRST, LAST))
    print(f"setup: {len(readings):,} readings in {time.perf_counter() - started:.1f} s")
    print(f"offers: {', '.join(catalogue.names)}")

    baselines, whatifs = [], []
    for round_number in range(1, args.rounds + 1):
        t0 = time.perf_counter()
        daily_energy(readings, prices, run_days, TZ)
        baseline = time.perf_counter() - t0
        t0 = time.perf_counter()
        measured = measured_days(readings, prices, run_days, TZ)
        limits = {device: DEFAULT_LIMITS for device in measured.days["device_id"].unique()}
        result = compare(measured, catalogue, tariff, limits)
        whatif = time.perf_counter() - t0
        baselines.append(baseline)
        whatifs.append(whatif)
        print(
            f"round {round_number}: daily_energy {baseline:.2f} s, what-if {whatif:.2f} s "
            f"({len(result.rows)} rows, {len(result.skipped)} skipped), "
            f"ratio {whatif / baseline:.2f}, load average {os.getloadavg()[0]:.2f}"
        )
    baseline, whatif = min(baselines), min(whatifs)
    print(f"baseline (daily_energy, a year)        {baseline:.2f} s")
    print(f"what-if (5 offers x 3 cases, a year)   {whatif:.2f} s   target <= 5 s")
    print(f"ratio                                  {whatif / baseline:.2f}     target <= 2.0")
    if args.assets:
        workdir = Path(tempfile.mkdtemp(prefix="goodwe_bench_whatif_"))
        try:
            time_assets(readings, prices, args.rounds, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


def time_assets(readings, prices, rounds: int, workdir: Path) -> None:
    os.environ["GOODWE_DATA_DIR"] = str(workdir)
    os.environ["GOODWE_TIMEZONE"] = TZ
    os.environ["GOODWE_HISTORY_START"] = "2024-01-01"
    import dagster as dg

    from goodwe_pipeline.defs.reports.assets import daily_energy_report
    from goodwe_pipeline.defs.reports.resources import ReportsResource
    from goodwe_pipeline.defs.reports.tariff_comparison import tariff_comparison
    from goodwe_pipeline.defs.reports.whatif_resources import TariffCatalogueResource
    from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource
    from goodwe_pipeline.defs.sessions.assets import battery_sessions
    from goodwe_pipeline.defs.sessions.resources import SessionsResource
    from goodwe_pipeline.raw_store.parquet import ParquetRawStore
    from goodwe_pipeline.warehouse import Warehouse
    from goodwe_pipeline.whatif.catalogue import DEFAULT_CATALOGUE

    ParquetRawStore(workdir / "raw").write(readings)
    stored = prices.assign(
        source="bench", partition_date=prices["time_start"].dt.tz_convert(TZ).dt.date
    )
    with Warehouse.from_settings(WarehouseSettings(data_dir=workdir)) as warehouse:
        warehouse.upsert("electricity_prices", stored)
    catalogue = workdir / "catalogue.yaml"
    text = DEFAULT_CATALOGUE.read_text(encoding="utf-8")
    kept = (
        text.split("  - name: G13")[0]
        + "  - name: dynamic-G12w"
        + text.split("  - name: dynamic-G12w")[1]
    )
    catalogue.write_text(kept, encoding="utf-8")
    resources = {
        "raw_store": RawStoreResource(data_dir=str(workdir)),
        "warehouse": WarehouseResource(data_dir=str(workdir)),
        "reports": ReportsResource(),
        "sessions": SessionsResource(),
        "tariff_catalogue": TariffCatalogueResource(catalogue_file=str(catalogue)),
    }
    tags = {
        "dagster/asset_partition_range_start": FIRST.isoformat(),
        "dagster/asset_partition_range_end": LAST.isoformat(),
    }
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

    def materialize(asset) -> float:
        t0 = time.perf_counter()
        result = dg.materialize(
            [asset],
            instance=dg.DagsterInstance.ephemeral(),
            resources=resources,
            tags=tags,
            run_config=quiet,
        )
        assert result.success
        return time.perf_counter() - t0

    started = time.perf_counter()
    materialize(battery_sessions)
    print(
        f"assets setup: readings, prices and battery sessions in {time.perf_counter() - started:.1f} s"
    )
    reports, comparisons = [], []
    for round_number in range(1, rounds + 1):
        reports.append(materialize(daily_energy_report))
        comparisons.append(materialize(tariff_comparison))
        print(
            f"assets round {round_number}: daily_energy_report {reports[-1]:.2f} s, "
            f"tariff_comparison {comparisons[-1]:.2f} s, ratio {comparisons[-1] / reports[-1]:.2f}"
        )
    with Warehouse.from_settings(WarehouseSettings(data_dir=workdir)) as warehouse:
        count = warehouse.read_frame("SELECT COUNT(*) AS n FROM tariff_comparison")["n"].iloc[0]
    print(f"tariff_comparison rows: {count}")
    print(f"asset daily_energy_report (365 partitions, one run)  {min(reports):.2f} s")
    print(f"asset tariff_comparison (5 offers x 3 cases)          {min(comparisons):.2f} s")
    print(
        f"asset ratio                                           {min(comparisons) / min(reports):.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
