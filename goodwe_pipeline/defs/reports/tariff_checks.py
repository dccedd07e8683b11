"""The check of ``tariff_comparison``: its figures agree with the daily report and with
themselves."""

import dagster as dg

from goodwe_pipeline.defs.partitions import checked_days
from goodwe_pipeline.defs.reports.assets import daily_energy_report
from goodwe_pipeline.defs.reports.tariff_comparison import tariff_comparison
from goodwe_pipeline.defs.resources import WarehouseResource
from goodwe_pipeline.warehouse.reads import read_daily, read_tariff_comparison
from goodwe_pipeline.whatif.costs import consistency_problems

MAX_TABLE_ROWS = 31


@dg.asset_check(
    asset=tariff_comparison,
    additional_deps=[daily_energy_report],
    description=(
        "The comparison agrees with the daily report and with itself: your current offer, "
        "as measured, costs what `daily_energy_report` says the day cost (within 0.01 PLN), "
        "and under every offer the battery run best costs no more than no battery. A "
        "disagreement means the two reports read different readings or prices (re-run both "
        "for the day) or the optimisation went wrong, so the advice must not be trusted."
    ),
)
def tariff_comparison_agrees_with_daily_report(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    first, last = checked_days(context)
    with warehouse.get_warehouse() as warehouse:
        rows = read_tariff_comparison(warehouse, first, last)
        daily = read_daily(warehouse, first, last, ["net_cost_pln"])
    problems = consistency_problems(rows, daily)
    metadata = {
        "days": first.isoformat() if first == last else f"{first}..{last}",
        "rows": len(rows),
        "problems": len(problems),
    }
    if len(problems):
        shown = problems.head(MAX_TABLE_ROWS).assign(day=lambda f: f["day"].map(str))
        metadata["details"] = dg.MetadataValue.md(shown.to_markdown(index=False))
    return dg.AssetCheckResult(
        passed=problems.empty, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata
    )
