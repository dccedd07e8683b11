"""A few days of the demo's history, migrated and reported into a Dagster instance, the way a
new user's single-run backfill leaves them: for the browser test and the docs' screenshots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from goodwe_pipeline.defs.history.assets import legacy_decisions, legacy_readings
from goodwe_pipeline.defs.history.resources import LegacyResource
from goodwe_pipeline.defs.prices.assets import electricity_prices
from goodwe_pipeline.defs.prices.resources import PricesResource
from goodwe_pipeline.defs.reports.assets import daily_energy_report, energy_trends
from goodwe_pipeline.defs.reports.resources import ReportsResource
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource
from goodwe_pipeline.defs.sessions.assets import battery_sessions
from goodwe_pipeline.defs.sessions.resources import SessionsResource
from goodwe_pipeline.demo.history import Manifest, write_demo_history

TZ = "Europe/Warsaw"
END = date(2025, 10, 27)
"""The days end here and hold the 25-hour day of 26 October."""
DAYS = 4


@dataclass(frozen=True)
class UiDays:
    manifest: Manifest
    data_dir: Path
    first: date
    last: date


def backfill_demo_days(
    root: Path,
    instance: dg.DagsterInstance,
    days: int = DAYS,
    warehouse_url: str | None = None,
) -> UiDays:
    """Write the demo history, then materialize every daily asset over its days in one run
    each (prices first: their partitions differ), as a single-run backfill does. The
    warehouse is SQLite in the data dir unless ``warehouse_url`` names another."""
    manifest = write_demo_history(root / "demo", end=END, days_count=days, tz=TZ)
    data_dir = root / "data"
    resources = {
        "raw_store": RawStoreResource(data_dir=str(data_dir)),
        "warehouse": WarehouseResource(data_dir=str(data_dir), url=warehouse_url),
        "reports": ReportsResource(),
        "sessions": SessionsResource(),
        "prices": PricesResource(source=f"csv:{manifest.price_csv}"),
        "legacy": LegacyResource(legacy_dir=manifest.legacy_dir, timezone=TZ),
    }
    first = END - timedelta(days=days - 1)
    tags = {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": END.isoformat(),
    }
    for assets in (
        [electricity_prices],
        [legacy_readings, legacy_decisions, battery_sessions, daily_energy_report, energy_trends],
    ):
        result = dg.materialize(assets, instance=instance, resources=resources, tags=tags)
        if not result.success:
            raise RuntimeError(f"materializing {[a.key for a in assets]} failed")
    return UiDays(manifest, data_dir, first, END)
