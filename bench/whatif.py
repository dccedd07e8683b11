"""What-if benchmark: a year of 10-second readings priced under 5 offers in 3 cases.

Setup (not timed): the year of ``bench/derive.py`` (one device, 2025 in Europe/Warsaw, a
reading every 10 s: 3.15 M rows) and its quarter-hour prices, with the market price the
default tariff's buy price implies (so the dynamic offer can be priced).

Timed, in the same process, best of ``--rounds``:

- baseline: ``reports.daily_energy`` over the year (what ``daily_energy_report`` computes);
- what-if: ``whatif.quarter_hours.measured_days`` + ``whatif.costs.compare`` over the year
  for 5 offers of the built-in catalogue (the current one, G11, G12, G12w and the dynamic
  one) in the 3 cases: 1,825 day-offers, each with one battery linear programme.

Targets: what-if <= 5 s, and what-if <= 2 x baseline.

Run: ``.venv/bin/python bench/whatif.py [--rounds 3]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from derive import FIRST, LAST, TZ, year_of_prices, year_of_readings  # noqa: E402

OFFERS = ["G11", "G12", "G12w", "dynamic-G12w"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from goodwe_pipeline import days
    from goodwe_pipeline.readings import normalize
    from goodwe_pipeline.reports import daily_energy
    from goodwe_pipeline.tariffs import load_tariff
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
            f"ratio {whatif / baseline:.2f}"
        )
    baseline, whatif = min(baselines), min(whatifs)
    print(f"baseline (daily_energy, a year)        {baseline:.2f} s")
    print(f"what-if (5 offers x 3 cases, a year)   {whatif:.2f} s   target <= 5 s")
    print(f"ratio                                  {whatif / baseline:.2f}     target <= 2.0")
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
