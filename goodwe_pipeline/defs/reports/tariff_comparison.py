"""``tariff_comparison``: each day priced under every offer of the catalogue, in three cases."""

from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pandas as pd

from goodwe_pipeline.charts.render import markdown_image
from goodwe_pipeline.charts.tariffs import comparison_chart
from goodwe_pipeline.defs.partitions import daily_partitions, run_days
from goodwe_pipeline.defs.reports.assets import REPORT_DEPS
from goodwe_pipeline.defs.reports.resources import ReportsResource
from goodwe_pipeline.defs.reports.whatif_resources import TariffCatalogueResource
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource, warehouse_kind
from goodwe_pipeline.prices.tariffs import TariffError
from goodwe_pipeline.whatif.catalogue import CatalogueError
from goodwe_pipeline.whatif.from_stores import read_what_if_frames
from goodwe_pipeline.whatif.history import what_if

CONFIG_NAME = "tariff_catalogue"
MAX_SKIPPED_SHOWN = 31


def _skipped_table(skipped: list[tuple[str | None, Any, str]]) -> str:
    table = pd.DataFrame(
        [(str(d), dev or "(all)", reason) for dev, d, reason in skipped],
        columns=["day", "device", "reason"],
    ).drop_duplicates()
    return table.head(MAX_SKIPPED_SHOWN).to_markdown(index=False)


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="reports",
    kinds={warehouse_kind()},
    deps=[dg.AssetKey(name) for name in REPORT_DEPS],
    description=(
        "What each day would have cost under every offer of your tariff catalogue "
        "(`GOODWE_TARIFF_CATALOGUE`), in three cases: as measured (the grid import and "
        "export that really happened), without the battery (the same solar and house load, "
        "surplus exported, deficit imported) and with the battery run best for that offer's "
        "prices (a linear programme within the battery's capacity, power and efficiency "
        "learned from your own sessions, from the charge level at midnight and ending no "
        "lower). Energy bought and sold per zone and the cost in PLN, fees included. Days "
        "that are not over, lack readings or prices are skipped with the reason."
    ),
)
def tariff_comparison(
    context: dg.AssetExecutionContext,
    raw_store: RawStoreResource,
    warehouse: WarehouseResource,
    reports: ReportsResource,
    tariff_catalogue: TariffCatalogueResource,
) -> dg.MaterializeResult:
    run = run_days(context)
    tz = daily_partitions.timezone
    now = datetime.now(UTC)
    try:
        owner = tariff_catalogue.owner_tariff()
        catalogue = tariff_catalogue.catalogue(owner)
    except (TariffError, CatalogueError) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    with raw_store.get_store() as raw_store, warehouse.get_warehouse() as warehouse:
        found = what_if(
            *read_what_if_frames(raw_store, warehouse, run, tz, now),
            run,
            tz,
            catalogue,
            owner,
            now=now,
            limits=reports.limits(),
            gap_factor=reports.gap_factor,
        )
        version = warehouse.record_config(CONFIG_NAME, catalogue.config_data())
        warehouse.upsert("tariff_comparison", found.comparison.rows.assign(updated_at=now))
    result, limits = found.comparison, found.limits

    frame = result.rows
    if result.skipped:
        context.log.warning(
            f"{len(result.skipped)} day(s), offer(s) or case(s) skipped, e.g. "
            + "; ".join(f"{d} {dev or ''} {reason}" for dev, d, reason in result.skipped[:3])
        )
    metadata: dict[str, Any] = {
        "rows": len(frame),
        "days": len(run),
        "days_compared": int(frame["day"].nunique()) if len(frame) else 0,
        "skipped": len(result.skipped),
        "offers": dg.MetadataValue.json(catalogue.names),
        "current_offer": catalogue.current.name,
        "catalogue_version": version,
        "battery_limits": dg.MetadataValue.json({d: lim.as_dict() for d, lim in limits.items()}),
    }
    if result.skipped:
        metadata["skipped_days"] = dg.MetadataValue.md(_skipped_table(result.skipped))
    if len(frame):
        totals = frame.pivot_table(
            index="offer", columns="scenario", values="total_cost_pln", aggfunc="sum"
        ).round(2)
        metadata["cost_pln"] = dg.MetadataValue.md(totals.to_markdown())
        if frame["day"].nunique() == 1:
            for (offer, scenario), cost in totals.stack().items():
                metadata[f"cost_{offer}_{scenario}_pln"] = float(cost)
        title = f"Cost per offer, {run[0]}..{run[-1]} (fees included)"
        metadata["chart"] = dg.MetadataValue.md(
            markdown_image(comparison_chart(frame, title), "cost per offer and case")
        )
    return dg.MaterializeResult(metadata=metadata)
