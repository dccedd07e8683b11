"""``tariff_comparison`` and ``tariff_advice`` run by Dagster beside ``daily_energy_report``
on the same data: Parquet readings, SQLite or PostgreSQL warehouse."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from goodwe_pipeline.common.settings import WarehouseSettings
from goodwe_pipeline.defs.reports.assets import daily_energy_report
from goodwe_pipeline.defs.reports.resources import ReportsResource
from goodwe_pipeline.defs.reports.tariff_advice import tariff_advice
from goodwe_pipeline.defs.reports.tariff_checks import tariff_comparison_agrees_with_daily_report
from goodwe_pipeline.defs.reports.tariff_comparison import tariff_comparison
from goodwe_pipeline.defs.reports.whatif_resources import TariffCatalogueResource
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource
from goodwe_pipeline.defs.sessions.assets import battery_sessions
from goodwe_pipeline.defs.sessions.resources import SessionsResource
from goodwe_pipeline.raw_store.parquet import ParquetRawStore
from goodwe_pipeline.warehouse import Warehouse
from goodwe_pipeline_tests.test_whatif_costs import prices, readings

FIRST, LAST = date(2025, 6, 9), date(2025, 6, 10)
TAGS = {
    "dagster/asset_partition_range_start": FIRST.isoformat(),
    "dagster/asset_partition_range_end": LAST.isoformat(),
}
OFFERS = 6


def _count(wh: Warehouse, sql: str) -> int:
    return int(wh.read_frame(sql).iloc[0, 0])


def test_comparison_and_advice_match_the_daily_report_and_rerun_without_duplicates(
    warehouse_url,
) -> None:
    data_dir = Path(os.environ["GOODWE_DATA_DIR"])
    ParquetRawStore(data_dir / "raw").write(readings(lifetime_counters=True))
    wh = Warehouse.from_settings(WarehouseSettings(url=warehouse_url, data_dir=data_dir))
    price_frame = prices()
    price_frame["source"] = "fixed:test"
    price_frame["partition_date"] = price_frame["time_start"].dt.tz_convert("Europe/Warsaw").dt.date
    wh.upsert("electricity_prices", price_frame)
    resources = {
        "raw_store": RawStoreResource(data_dir=str(data_dir)),
        "warehouse": WarehouseResource(data_dir=str(data_dir), url=warehouse_url),
        "reports": ReportsResource(),
        "sessions": SessionsResource(),
        "tariff_catalogue": TariffCatalogueResource(),
    }
    assets = [
        battery_sessions,
        daily_energy_report,
        tariff_comparison,
        tariff_advice,
        tariff_comparison_agrees_with_daily_report,
    ]
    instance = dg.DagsterInstance.ephemeral()
    try:
        result = dg.materialize(assets, instance=instance, resources=resources, tags=TAGS)
        assert result.success
        (check,) = result.get_asset_check_evaluations()
        assert check.passed and check.metadata["rows"].value == 2 * OFFERS * 3
        rows = wh.read_frame("SELECT * FROM tariff_comparison ORDER BY day, offer, scenario")
        assert len(rows) == 2 * OFFERS * 3
        daily = wh.read_frame("SELECT day, net_cost_pln FROM daily_energy ORDER BY day")
        measured = rows[(rows["offer"] == "current") & (rows["scenario"] == "as_measured")]
        assert measured["energy_cost_pln"].to_numpy() == pytest.approx(
            daily["net_cost_pln"].to_numpy(), abs=0.01
        )
        assert measured["current"].tolist() == [True, True]
        assert isinstance(rows["zones"].iloc[0], dict)

        advice = wh.read_frame(
            "SELECT report_date, report_data FROM analytics_reports "
            "WHERE report_type = 'tariff_advice' ORDER BY report_date"
        )
        assert len(advice) == 2
        window = advice["report_data"].iloc[-1]["windows"]["30d"]
        best = rows[rows["scenario"] == "best_battery"].groupby("offer")["total_cost_pln"].sum()
        assert window["days"] == 2
        assert window["cheapest_best_battery"] == best.idxmin()
        assert window["offers"][best.idxmin()]["best_battery_pln"] == pytest.approx(
            best.min(), abs=0.01
        )
        events = {
            e.asset_key.to_user_string(): e.event_specific_data.materialization
            for e in result.get_asset_materialization_events()
        }
        summary = events["tariff_advice"].metadata["summary"].value
        assert summary == advice["report_data"].iloc[-1]["summary"]
        assert best.idxmin() in summary and "2 days" in summary
        assert "data:image/png;base64," in events["tariff_advice"].metadata["chart"].value
        comparison = events["tariff_comparison"].metadata
        assert "data:image/png;base64," in comparison["chart"].value
        limits = comparison["battery_limits"].value["SN-WHATIF"]
        assert set(limits["sources"]) >= {"capacity_kwh", "charge_kw", "efficiency"}

        again = dg.materialize(assets, instance=instance, resources=resources, tags=TAGS)
        assert again.success
        assert _count(wh, "SELECT COUNT(*) FROM tariff_comparison") == 2 * OFFERS * 3
        assert (
            _count(wh, "SELECT COUNT(*) FROM analytics_reports WHERE report_type = 'tariff_advice'")
            == 2
        )
    finally:
        wh.execute("DELETE FROM tariff_comparison")
        wh.execute("DELETE FROM analytics_reports")
        wh.execute("DELETE FROM daily_energy")
        wh.execute("DELETE FROM battery_sessions")
        wh.execute("DELETE FROM electricity_prices")
        wh.dispose()


def test_a_bad_catalogue_fails_the_run_with_its_reason(tmp_path) -> None:
    bad = tmp_path / "catalogue.yaml"
    bad.write_text("offers:\n  - {name: a, kind: pipeline}\n")
    data_dir = Path(os.environ["GOODWE_DATA_DIR"])
    result = dg.materialize(
        [tariff_comparison],
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            "raw_store": RawStoreResource(data_dir=str(data_dir)),
            "warehouse": WarehouseResource(data_dir=str(data_dir)),
            "reports": ReportsResource(),
            "tariff_catalogue": TariffCatalogueResource(catalogue_file=str(bad)),
        },
        partition_key=LAST.isoformat(),
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "exactly one offer must have" in failure.message


def test_a_day_without_readings_is_skipped_with_its_reason() -> None:
    data_dir = Path(os.environ["GOODWE_DATA_DIR"])
    result = dg.materialize(
        [tariff_comparison, tariff_advice],
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            "raw_store": RawStoreResource(data_dir=str(data_dir)),
            "warehouse": WarehouseResource(data_dir=str(data_dir)),
            "reports": ReportsResource(),
            "tariff_catalogue": TariffCatalogueResource(),
        },
        partition_key=LAST.isoformat(),
    )
    assert result.success
    metadata = {
        e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert metadata["tariff_comparison"]["rows"].value == 0
    assert "no readings" in metadata["tariff_comparison"]["skipped_days"].value
    assert metadata["tariff_advice"]["reports"].value == 0
