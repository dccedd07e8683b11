"""The what-if on the demo's history: migrated legacy readings, CSV prices, sessions, the
daily report, then ``tariff_comparison`` and ``tariff_advice``, whose advice the stored rows
back up."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from goodwe_pipeline.common.settings import WarehouseSettings
from goodwe_pipeline.defs.history.assets import legacy_readings
from goodwe_pipeline.defs.history.resources import LegacyResource
from goodwe_pipeline.defs.prices.assets import electricity_prices
from goodwe_pipeline.defs.prices.resources import PricesResource
from goodwe_pipeline.defs.reports.assets import daily_energy_report
from goodwe_pipeline.defs.reports.resources import ReportsResource
from goodwe_pipeline.defs.reports.tariff_advice import tariff_advice
from goodwe_pipeline.defs.reports.tariff_comparison import tariff_comparison
from goodwe_pipeline.defs.reports.whatif_resources import TariffCatalogueResource
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource
from goodwe_pipeline.defs.sessions.assets import battery_sessions
from goodwe_pipeline.defs.sessions.resources import SessionsResource
from goodwe_pipeline.demo.history import write_demo_history
from goodwe_pipeline.warehouse import Warehouse

TZ = "Europe/Warsaw"
END = date(2025, 10, 31)
DST_DAY = date(2025, 10, 26)


def test_advice_on_the_demo_history_names_the_cheapest_offer_and_the_battery_value(
    tmp_path: Path,
) -> None:
    manifest = write_demo_history(tmp_path / "demo", end=END, days_count=8, tz=TZ)
    data_dir = tmp_path / "store"
    resources = {
        "raw_store": RawStoreResource(data_dir=str(data_dir)),
        "warehouse": WarehouseResource(data_dir=str(data_dir)),
        "legacy": LegacyResource(legacy_dir=manifest.legacy_dir, timezone=TZ),
        "prices": PricesResource(source=f"csv:{manifest.price_csv}", timezone=TZ),
        "reports": ReportsResource(),
        "sessions": SessionsResource(),
        "tariff_catalogue": TariffCatalogueResource(),
    }
    tags = {
        "dagster/asset_partition_range_start": manifest.first_day,
        "dagster/asset_partition_range_end": manifest.last_day,
    }
    instance = dg.DagsterInstance.ephemeral()
    for assets in (
        [electricity_prices],
        [legacy_readings, battery_sessions, daily_energy_report, tariff_comparison, tariff_advice],
    ):
        result = dg.materialize(assets, instance=instance, resources=resources, tags=tags)
        assert result.success

    with Warehouse.from_settings(WarehouseSettings(data_dir=data_dir)) as wh:
        rows = wh.read_frame("SELECT * FROM tariff_comparison")
        daily = wh.read_frame("SELECT day, net_cost_pln FROM daily_energy")
        advice = wh.read_frame(
            "SELECT report_data FROM analytics_reports "
            "WHERE report_type = 'tariff_advice' AND report_date = :d",
            {"d": END},
        )["report_data"].iloc[0]
    rows["day"] = pd.to_datetime(rows["day"]).dt.date
    assert DST_DAY in set(rows["day"])
    assert set(rows.loc[rows["day"] == DST_DAY, "quarters"]) == {100}

    measured = rows[(rows["offer"] == "current") & (rows["scenario"] == "as_measured")]
    costs = daily.assign(day=pd.to_datetime(daily["day"]).dt.date).set_index("day")
    for day, cost in zip(measured["day"], measured["energy_cost_pln"], strict=True):
        assert cost == pytest.approx(costs.at[day, "net_cost_pln"], abs=0.01)

    window = advice["windows"]["30d"]
    full = rows.groupby("day").size()
    compared = full[full == 6 * 3].index
    assert window["days"] == len(compared) >= 6
    used = rows[rows["day"].isin(compared)]
    totals = used.pivot_table(
        index="offer", columns="scenario", values="total_cost_pln", aggfunc="sum"
    )
    assert window["cheapest_best_battery"] == totals["best_battery"].idxmin()
    assert window["cheapest_as_measured"] == totals["as_measured"].idxmin()
    best = window["cheapest_best_battery"]
    value = totals.at[best, "without_battery"] - totals.at[best, "best_battery"]
    assert window["offers"][best]["battery_value_pln"] == pytest.approx(value, abs=0.01)
    assert value > 0
    assert (totals["best_battery"] <= totals["without_battery"] + 1e-6).all()
    assert best in advice["summary"] and f"{value:.0f} PLN" in advice["summary"]
