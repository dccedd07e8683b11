"""``tariff_advice``: the cheapest offer and the battery's value over 30, 90 and 365 days."""

from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from goodwe_pipeline.charts.render import markdown_image
from goodwe_pipeline.charts.tariffs import advice_chart
from goodwe_pipeline.defs.partitions import daily_partitions, run_days
from goodwe_pipeline.defs.reports.tariff_comparison import tariff_comparison
from goodwe_pipeline.defs.reports.whatif_resources import TariffCatalogueResource
from goodwe_pipeline.defs.resources import WarehouseResource, warehouse_kind
from goodwe_pipeline.prices.tariffs import TariffError
from goodwe_pipeline.warehouse.reads import read_tariff_comparison
from goodwe_pipeline.whatif.advice import WINDOWS, advice_markdown, advise
from goodwe_pipeline.whatif.catalogue import CatalogueError

LONGEST = max(WINDOWS)


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="reports",
    kinds={warehouse_kind()},
    # Day to day, like energy_trends (defs/reports/assets.py), so a backfill runs the advice in
    # the same run as the comparisons it reads.
    deps=[tariff_comparison],
    description=(
        "Which offer of your catalogue would have been cheapest over the last 30, 90 and 365 "
        "days compared, as measured and with the battery run best; how much a year that "
        "differs from your current tariff; and what the battery is worth under each offer "
        "(cost without it minus cost with it run best). One plain sentence sums it up. "
        "Stored as `analytics_reports` rows `tariff_advice`."
    ),
)
def tariff_advice(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    tariff_catalogue: TariffCatalogueResource,
) -> dg.MaterializeResult:
    run = run_days(context)
    try:
        catalogue = tariff_catalogue.catalogue(tariff_catalogue.owner_tariff())
    except (TariffError, CatalogueError) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    first = run[0] - timedelta(days=LONGEST - 1)
    with warehouse.get_warehouse() as warehouse:
        rows = read_tariff_comparison(warehouse, first, run[-1])
        now = datetime.now(UTC)
        documents = [
            {**document, "created_at": now}
            for day in run
            for document in advise(rows, catalogue, day)
        ]
        warehouse.upsert("analytics_reports", documents)
    latest = [d for d in documents if d["report_date"] == run[-1]]
    metadata: dict[str, Any] = {"reports": len(documents), "latest_day": run[-1].isoformat()}
    if latest:
        summary = " ".join(
            f"{d['device_id']}: {d['report_data']['summary']}"
            if len(latest) > 1
            else d["report_data"]["summary"]
            for d in latest
        )
        metadata["summary"] = summary
        context.log.info(summary)
        data = latest[0]["report_data"]
        metadata["advice"] = dg.MetadataValue.md(advice_markdown(data))
        window = max(data["windows"].values(), key=lambda w: (w["days"], w["window_days"]))
        if window["days"]:
            metadata["cheapest_as_measured"] = window["cheapest_as_measured"]
            metadata["cheapest_best_battery"] = window["cheapest_best_battery"]
            metadata["saving_best_battery_pln"] = window["saving_best_battery_pln"]
            best = window["cheapest_best_battery"]
            metadata["battery_value_pln"] = window["offers"][best]["battery_value_pln"]
            metadata["chart"] = dg.MetadataValue.md(
                markdown_image(advice_chart(window), "yearly cost per offer")
            )
    return dg.MaterializeResult(metadata=metadata)
