"""One contract for the warehouse, run against the real PostgreSQL and a SQLite file.

Each PostgreSQL test gets its own fresh database, so tests never see each
other's rows or migrations.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from goodwe_pipeline.common.settings import WarehouseSettings
from goodwe_pipeline.warehouse import Warehouse, WarehouseUnavailableError, migrate, schema
from goodwe_pipeline.warehouse.reads import (
    read_migration_files,
    read_priced_quarter_starts,
    read_reports,
)
from goodwe_pipeline.warehouse.rows import coerce_rows
from goodwe_pipeline.warehouse.store import config_version
from goodwe_pipeline_tests.servers import (
    free_port,
)
from goodwe_pipeline_tests.together import run_together

T0 = datetime(2025, 10, 5, 22, 0, tzinfo=UTC)
DAY = date(2025, 10, 6)


@pytest.fixture
def warehouse(warehouse_url) -> Iterator[Warehouse]:
    wh = Warehouse(warehouse_url)
    yield wh
    wh.dispose()


def _session(session_id: str, *, kind="charge", day=DAY, start=T0, **extra) -> dict:
    return {
        "session_id": session_id,
        "device_id": "9010KETU000001",
        "kind": kind,
        "start_time": start,
        "end_time": start + timedelta(hours=1),
        "soc_start": 20.0,
        "soc_end": 80.0,
        "energy_kwh": 6.0,
        "avg_price_pln_kwh": 0.42,
        "cost_pln": 2.52,
        "status": "completed",
        "partition_date": day,
        **extra,
    }


def _count(wh: Warehouse, table: str) -> int:
    return int(
        wh.read_frame(sa.select(sa.func.count()).select_from(schema.metadata.tables[table])).iat[
            0, 0
        ]
    )


def test_migrations_from_empty_create_the_schema_without_drift(warehouse):
    assert warehouse.revision() is None
    assert warehouse.migrate()[-1] == migrate.head_revision()
    engine = warehouse.engine
    inspector = sa.inspect(engine)
    assert set(schema.metadata.tables) <= set(inspector.get_table_names())
    assert "charging_sessions" in inspector.get_view_names()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, schema.metadata)
    assert diff == [], f"migrations and schema.py differ: {diff}"
    assert warehouse.revision() == migrate.head_revision()


def test_second_start_runs_no_statement_that_changes_the_schema(warehouse_url):
    first = Warehouse(warehouse_url)
    assert first.migrate() == ["0001", "0002"]
    first.dispose()

    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        second = Warehouse(warehouse_url)
        assert second.migrate() == []
        assert second.migrate() == []
        assert second.revision() == migrate.head_revision()
        second.dispose()
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)
    changes = [
        s
        for s in statements
        if s.lstrip().upper().startswith(("CREATE", "ALTER", "DROP", "INSERT", "UPDATE"))
    ]
    assert statements and changes == []


def test_downgrade_removes_everything_and_upgrade_restores_it(warehouse):
    warehouse.migrate()
    config = migrate.alembic_config()
    with warehouse.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    inspector = sa.inspect(warehouse.engine)
    assert set(inspector.get_table_names()) & set(schema.metadata.tables) == set()
    assert inspector.get_view_names() == []
    with warehouse.engine.begin() as connection:
        assert migrate.upgrade(connection) == ["0001", "0002"]
    assert set(schema.metadata.tables) <= set(sa.inspect(warehouse.engine).get_table_names())


def test_upsert_is_idempotent_and_updated_values_win(warehouse):
    rows = pd.DataFrame(
        {
            "day": [DAY, DAY, DAY + timedelta(days=1)],
            "device_id": ["A", "B", "A"],
            "pv_kwh": np.array([10.5, np.nan, 12.0]),
            "savings_pln": [1.0, 2.0, 3.0],
            "energy_source": ["counters", None, "integrated"],
            "updated_at": pd.to_datetime([T0, T0, T0], utc=True),
        }
    )
    assert warehouse.upsert("daily_energy", rows) == 3
    assert warehouse.upsert("daily_energy", rows) == 3
    assert _count(warehouse, "daily_energy") == 3

    changed = rows.iloc[[0]].assign(pv_kwh=11.25, savings_pln=np.float32(4.5))
    assert warehouse.upsert("daily_energy", changed) == 1
    stored = warehouse.read_frame(
        "SELECT day, device_id, pv_kwh, savings_pln, energy_source, updated_at "
        "FROM daily_energy ORDER BY day, device_id"
    )
    assert len(stored) == 3
    assert stored.loc[0, "pv_kwh"] == 11.25 and stored.loc[0, "savings_pln"] == 4.5
    assert math.isnan(stored.loc[1, "pv_kwh"]) and pd.isna(stored.loc[1, "energy_source"])
    assert list(stored["day"]) == [DAY, DAY, DAY + timedelta(days=1)]
    assert (stored["updated_at"] == pd.Timestamp(T0)).all()


def test_upsert_keeps_the_last_of_repeated_keys_and_handles_large_inputs(warehouse):
    start = datetime(2024, 1, 1, tzinfo=UTC)
    prices = [
        {
            "time_start": start + timedelta(minutes=15 * i),
            "time_end": start + timedelta(minutes=15 * (i + 1)),
            "zone": "PL",
            "buy_pln_kwh": 0.5 + i / 10_000,
            "sell_pln_kwh": 0.2,
            "source": "pse",
            "partition_date": (start + timedelta(minutes=15 * i)).date(),
        }
        for i in range(9_000)
    ]
    repeated = dict(prices[0], buy_pln_kwh=9.99)
    assert warehouse.upsert("electricity_prices", [*prices, repeated]) == 9_000
    assert _count(warehouse, "electricity_prices") == 9_000
    first = warehouse.read_frame(
        "SELECT buy_pln_kwh FROM electricity_prices WHERE time_start = :t", {"t": start}
    )
    assert first["buy_pln_kwh"].tolist() == [9.99]


def _driver_rows(wh: Warehouse, table: sa.Table, key: str) -> dict:
    """Every row of ``table`` as the driver gives it (untyped: text on SQLite), by ``key``."""
    names = list(table.c.keys())
    statement = sa.select(*(sa.column(name) for name in names)).select_from(table)
    with wh.engine.connect() as connection:
        return {row[key]: row for row in connection.execute(statement).mappings()}


def test_upsert_and_insert_store_what_binding_each_value_stores(warehouse):
    """Writes bind a column at a time; what they store is what SQLAlchemy binding each value
    of each row stores: NULLs, NaN, aware datetimes of other zones, JSON, booleans, dates."""
    warsaw = ZoneInfo("Europe/Warsaw")
    decisions = [
        {
            "decision_id": "a",
            "decision_time": datetime(2025, 10, 26, 2, 30, tzinfo=warsaw, fold=1),
            "kind": "charge",
            "price_pln_kwh": np.float64(0.5),
            "details": {"x": float("nan"), "n": np.int64(3), "t": "ąę"},
            "source": "file",
            "partition_date": DAY,
        },
        {
            "decision_id": "b",
            "decision_time": pd.Timestamp("2025-06-01 12:00:00.000001", tz="UTC"),
            "kind": "sell",
            "action": None,
            "price_pln_kwh": float("nan"),
            "details": None,
            "source": "file",
            "partition_date": pd.Timestamp("2025-06-01"),
        },
        {
            "decision_id": "c",
            "decision_time": "2025-01-01T00:00:00+01:00",
            "kind": "charge",
            "details": [1, None, {"k": []}],
            "source": "db",
            "partition_date": "2025-01-01",
        },
    ]
    selling = [
        {"session_id": "s", "safety_checks_passed": True, "source": "x", "end_time": T0},
        {"session_id": "t", "safety_checks_passed": False, "source": "x", "end_time": None},
    ]
    for name, data, key in (
        ("legacy_decisions", decisions, "decision_id"),
        ("legacy_selling_sessions", selling, "session_id"),
    ):
        table = schema.metadata.tables[name]
        assert warehouse.upsert(name, data) == len(data)
        with warehouse.engine.begin() as connection:
            for row in coerce_rows(table, data):
                connection.execute(sa.insert(table), [dict(row, **{key: f"sa-{row[key]}"})])
        stored = _driver_rows(warehouse, table, key)
        typed = warehouse.read_frame(sa.select(table).order_by(table.c[key]))
        by_key = {row[key]: row.drop(key) for _, row in typed.iterrows()}
        for row in data:
            ours, theirs = stored[row[key]], stored[f"sa-{row[key]}"]
            assert {**ours, key: None} == {**theirs, key: None}
            assert [type(v) for v in ours.values()] == [type(v) for v in theirs.values()]
            pd.testing.assert_series_equal(
                by_key[row[key]], by_key[f"sa-{row[key]}"], check_names=False
            )
    assert warehouse.insert("storage_health", [{"time": T0, "component": "d", "ok": True}]) == 1
    with warehouse.engine.begin() as connection:
        connection.execute(
            sa.insert(schema.storage_health), [{"time": T0, "component": "e", "ok": True}]
        )
    health = _driver_rows(warehouse, schema.storage_health, "component")
    assert (health["d"]["time"], health["d"]["ok"]) == (health["e"]["time"], health["e"]["ok"])


def test_migration_files_read_back_as_a_typed_select_gives_them(warehouse_url):
    """``read_migration_files`` decodes untyped columns itself: the same values and types as
    SQLAlchemy's typed SELECT, NULLs included, also from a server whose session time zone
    is not UTC."""
    if warehouse_url.startswith("postgresql"):
        warehouse_url = f"{warehouse_url}?options=-c%20timezone%3DEurope/Warsaw"
    warehouse = Warehouse(warehouse_url)
    entry = {
        "path": "out/a.json",
        "size": 2**40,
        "mtime": 1_700_000_000.123456,
        "format": "current_data",
        "device_id": "9010KETU000001",
        "first_time": datetime(2025, 3, 30, 1, 59, 59, 999_999, tzinfo=UTC),
        "last_time": datetime(2025, 3, 30, 3, 0, tzinfo=ZoneInfo("Europe/Warsaw")),
        "records": 5,
        "valid_records": 4,
        "rejected_records": 1,
        "outcome": "migrated",
        "reason": None,
        "indexed_at": T0,
        "migrated_at": T0,
    }
    empty = dict.fromkeys(
        ("device_id", "first_time", "last_time", "records", "valid_records"), None
    )
    bare = {**entry, **empty, "path": "out/b.json", "outcome": "rejected", "reason": "not JSON"}
    warehouse.upsert("migration_files", [entry, bare, {**bare, "path": "out/c.json", "mtime": 0.0}])
    table = schema.migration_files
    with warehouse.engine.connect() as connection:
        typed = {r.path: dict(r._mapping) for r in connection.execute(sa.select(table))}
    read = read_migration_files(warehouse, ["out/a.json", "out/b.json", "out/c.json", "out/d"])
    assert read == typed
    for path, row in typed.items():
        assert {k: type(v) for k, v in read[path].items()} == {k: type(v) for k, v in row.items()}
    assert read["out/a.json"]["last_time"] == datetime(2025, 3, 30, 1, tzinfo=UTC)
    assert read["out/a.json"]["last_time"].tzinfo is UTC
    warehouse.dispose()


def test_text_in_a_time_column_is_read_as_a_time_or_refused(warehouse):
    """Not guessed: pandas would read "now" as the current time and "" as missing."""
    stored = warehouse.read_frame("SELECT '2024-01-01 00:00:00.5' AS time_start")
    assert stored["time_start"].tolist() == [pd.Timestamp("2024-01-01 00:00:00.5", tz="UTC")]
    for text in ("now", ""):
        with pytest.raises(ValueError, match="isoformat"):
            warehouse.read_frame("SELECT :text AS time_start", {"text": text})


def test_json_columns_round_trip(warehouse):
    data = {
        "summary": {"pv_kwh": 21.5, "days": [1, 2, 3], "ok": True, "none": None},
        "notes": "Zużycie własne — 100 % ☀",
        "nested": [{"a": [{"b": "ąę"}]}, [], {}],
        "unknown": float("nan"),
        "count": np.int64(7),
    }
    row = {
        "report_type": "daily",
        "report_date": DAY,
        "device_id": "A",
        "report_data": data,
        "created_at": T0,
    }
    expected = {**data, "unknown": None, "count": 7}
    assert warehouse.upsert("analytics_reports", [row]) == 1
    table = schema.analytics_reports
    typed = warehouse.read_frame(sa.select(table.c.report_data))
    assert typed["report_data"].tolist() == [expected]
    textual = warehouse.read_frame("SELECT report_data FROM analytics_reports")
    assert textual["report_data"].tolist() == [expected]

    assert warehouse.upsert("analytics_reports", [dict(row, report_data={"v": 2})]) == 1
    assert warehouse.read_frame(sa.select(table.c.report_data))["report_data"].tolist() == [
        {"v": 2}
    ]
    assert _count(warehouse, "analytics_reports") == 1


def test_aware_datetimes_round_trip_as_utc_and_naive_ones_are_refused(warehouse):
    warsaw = datetime(2025, 10, 26, 2, 30, tzinfo=ZoneInfo("Europe/Warsaw"), fold=1)
    warehouse.upsert("battery_sessions", [_session("s1", start=warsaw)])
    for frame in (
        warehouse.read_frame(sa.select(schema.battery_sessions.c.start_time)),
        warehouse.read_frame("SELECT start_time FROM battery_sessions"),
    ):
        value = frame["start_time"].iloc[0]
        assert str(frame["start_time"].dt.tz) == "UTC"
        assert value == pd.Timestamp(warsaw) and value.hour == 1
    with pytest.raises(ValueError, match="naive"):
        warehouse.upsert("battery_sessions", [_session("s2", start=datetime(2025, 10, 5, 12))])
    assert _count(warehouse, "battery_sessions") == 1


def test_charging_sessions_view_keeps_the_roadmap_column_names(warehouse):
    warehouse.upsert(
        "battery_sessions",
        [_session("c1"), _session("d1", kind="discharge", soc_start=80.0, soc_end=30.0)],
    )
    view = warehouse.read_frame("SELECT * FROM charging_sessions")
    assert list(view.columns) == [
        "session_id",
        "start_time",
        "end_time",
        "battery_soc_start",
        "battery_soc_end",
        "energy_charged_kwh",
        "average_price_pln",
        "total_cost_pln",
        "status",
    ]
    assert view["session_id"].tolist() == ["c1"]
    assert view.loc[0, "battery_soc_end"] == 80.0 and view.loc[0, "total_cost_pln"] == 2.52
    assert view.loc[0, "start_time"] == pd.Timestamp(T0)


def test_replace_swaps_one_slice_atomically(warehouse):
    other_day = DAY + timedelta(days=1)
    warehouse.upsert("battery_sessions", [_session("a"), _session("b"), _session("c")])
    warehouse.upsert("battery_sessions", [_session("x", day=other_day)])

    assert (
        warehouse.replace(
            "battery_sessions", {"partition_date": DAY}, [_session("a"), _session("d")]
        )
        == 2
    )
    by_day = warehouse.read_frame(
        "SELECT session_id, partition_date FROM battery_sessions ORDER BY session_id"
    )
    assert by_day["session_id"].tolist() == ["a", "d", "x"]

    with pytest.raises(ValueError, match="outside the replaced slice"):
        warehouse.replace(
            "battery_sessions", {"partition_date": DAY}, [_session("e", day=other_day)]
        )
    with pytest.raises(sa.exc.IntegrityError):
        warehouse.replace("battery_sessions", {"partition_date": DAY}, [_session("x")])
    assert warehouse.read_frame("SELECT session_id FROM battery_sessions ORDER BY session_id")[
        "session_id"
    ].tolist() == ["a", "d", "x"]

    assert warehouse.replace("battery_sessions", {"partition_date": DAY.isoformat()}, []) == 0
    assert _count(warehouse, "battery_sessions") == 1


def _configs(wh: Warehouse) -> pd.DataFrame:
    return wh.read_frame(
        "SELECT config_name, version, config_data, created_at FROM system_configs "
        "ORDER BY config_name, created_at"
    )


def test_record_config_stores_each_configuration_once_under_its_content_hash(warehouse):
    config = {"vat": 0.23, "zones": {"peak": [7, 13], "off": []}, "name": "G12"}
    version = warehouse.record_config("tariff", config)
    assert version == config_version(config) and len(version) == 12
    stored = _configs(warehouse)
    assert stored[["config_name", "version"]].values.tolist() == [["tariff", version]]
    assert stored["config_data"].tolist() == [config]

    reordered = {"name": "G12", "zones": {"off": [], "peak": (7, 13)}, "vat": np.float64(0.23)}
    assert warehouse.record_config("tariff", reordered) == version
    assert _configs(warehouse)["created_at"].tolist() == stored["created_at"].tolist()

    changed = warehouse.record_config("tariff", {**config, "vat": 0.08})
    same_data_other_name = warehouse.record_config("pipeline", config)
    assert changed != version and same_data_other_name == version
    assert _configs(warehouse)[["config_name", "version"]].values.tolist() == [
        ["pipeline", version],
        ["tariff", version],
        ["tariff", changed],
    ]


def test_record_config_keeps_the_first_created_at(warehouse):
    config = {"rated_power_w": 5000.0}
    first_seen = T0 - timedelta(days=30)
    row = {
        "config_name": "pipeline",
        "version": config_version(config),
        "config_data": config,
        "created_at": first_seen,
    }
    warehouse.upsert("system_configs", [row])
    assert warehouse.record_config("pipeline", config) == row["version"]
    assert _configs(warehouse)["created_at"].tolist() == [pd.Timestamp(first_seen)]


def test_record_config_refuses_what_json_cannot_hold(warehouse):
    with pytest.raises(ValueError, match="not plain JSON data"):
        warehouse.record_config("pipeline", {"when": object()})
    with pytest.raises(ValueError, match="needs a configuration name"):
        warehouse.record_config("", {"a": 1})
    assert _count(warehouse, "system_configs") == 0


def test_bad_input_gets_a_clear_error_and_writes_nothing(warehouse):
    with pytest.raises(ValueError, match="unknown warehouse table"):
        warehouse.upsert("no_such_table", [{"a": 1}])
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['colour'\]"):
        warehouse.upsert("battery_sessions", [_session("a"), _session("b", colour="red")])
    with pytest.raises(ValueError, match="no value for key column"):
        warehouse.upsert("battery_sessions", [_session(None)])
    with pytest.raises(ValueError, match="no natural key"):
        warehouse.upsert("storage_health", [{"time": T0, "component": "disk", "ok": True}])
    assert _count(warehouse, "battery_sessions") == 0
    assert (
        warehouse.insert(
            "storage_health",
            [{"time": T0, "component": "disk", "ok": True, "latency_ms": np.float64(1.5)}],
        )
        == 1
    )
    assert warehouse.execute("DELETE FROM storage_health WHERE component = :c", {"c": "disk"}) == 1


def test_health_of_a_running_warehouse(warehouse):
    health = warehouse.health()
    assert health.ok and health.latency_ms >= 0
    assert warehouse.dialect in health.detail


def test_a_password_may_hold_an_unencoded_at_sign(postgres_url):
    """The user part ends at the URL's last ``@``, as for InfluxDB URLs."""
    url = sa.make_url(postgres_url)
    written = url.render_as_string(hide_password=False).replace(
        f"{url.username}@", f"{url.username}:p@ss@", 1
    )
    wh = Warehouse(written)
    try:
        assert wh.health().ok
        assert wh.url.count("@") == 1 and "p@ss" not in wh.url
    finally:
        wh.dispose()


def test_a_warehouse_that_is_down_raises_a_typed_error_without_the_password():
    port = free_port()
    secret = "s3cr3t-Pa55"
    wh = Warehouse(f"postgresql+psycopg2://goodwe:{secret}@127.0.0.1:{port}/goodwe")
    try:
        with pytest.raises(WarehouseUnavailableError) as caught:
            wh.upsert("battery_sessions", [_session("a")])
        message = str(caught.value)
        assert f"127.0.0.1:{port}" in message and "goodwe:***@" in message
        assert secret not in message and secret not in repr(caught.value.args)
        health = wh.health()
        assert not health.ok and secret not in health.detail
        assert secret not in wh.url and secret not in repr(wh)
    finally:
        wh.dispose()


def test_from_settings_defaults_to_sqlite_in_the_data_dir(tmp_path):
    wh = Warehouse.from_settings(WarehouseSettings(data_dir=tmp_path / "new" / "dir"))
    try:
        assert wh.dialect == "sqlite"
        assert wh.url.endswith(f"{tmp_path}/new/dir/warehouse.sqlite")
        assert wh.migrate() == ["0001", "0002"]
        assert (tmp_path / "new" / "dir" / "warehouse.sqlite").is_file()
    finally:
        wh.dispose()


_CONCURRENT_MIGRATION = textwrap.dedent(
    """
    import json, sys
    from goodwe_pipeline.warehouse import Warehouse
    from goodwe_pipeline_tests.together import wait_for_go

    wh = Warehouse(sys.argv[1])
    wait_for_go()
    print(json.dumps(wh.migrate()))
    wh.dispose()
    """
)


def test_concurrent_first_use_from_four_processes_migrates_once(warehouse_url, tmp_path):
    outputs = run_together(_CONCURRENT_MIGRATION, [warehouse_url], 4, tmp_path)
    outcomes = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    assert sorted(outcomes) == [[], [], [], ["0001", "0002"]]
    wh = Warehouse(warehouse_url)
    try:
        assert wh.revision() == migrate.head_revision()
        assert wh.read_frame("SELECT version_num FROM alembic_version")["version_num"].tolist() == [
            migrate.head_revision()
        ]
    finally:
        wh.dispose()


def test_a_driverless_postgresql_url_uses_the_installed_psycopg2(postgres_url):
    plain = sa.engine.make_url(postgres_url).set(drivername="postgresql")
    as_text = plain.render_as_string(hide_password=False)
    for url in (as_text, as_text.replace("postgresql://", "postgres://", 1)):
        wh = Warehouse(url)
        try:
            assert wh.url.startswith("postgresql+psycopg2://")
            assert wh.health().ok, wh.health().detail
        finally:
            wh.dispose()


def test_priced_quarter_starts_are_those_beginning_inside_the_window(warehouse):
    """What ``every_quarter_hour_priced`` reads: a row starting at the window's end, or
    before its start, is outside it."""
    quarter = timedelta(minutes=15)
    warehouse.upsert(
        "electricity_prices",
        [
            {
                "time_start": T0 + i * quarter,
                "time_end": T0 + (i + 1) * quarter,
                "zone": "PL",
                "buy_pln_kwh": 0.8,
                "sell_pln_kwh": 0.3,
                "source": "fixed",
                "partition_date": DAY,
            }
            for i in range(-1, 5)
        ],
    )
    starts = read_priced_quarter_starts(warehouse, T0, T0 + 4 * quarter)
    assert list(starts) == [pd.Timestamp(T0 + i * quarter) for i in range(4)]
    assert str(starts.dtype) == "datetime64[us, UTC]"


def test_reports_are_read_by_type_and_days(warehouse):
    """``read_reports`` serves the daily documents and the migration summaries alike."""

    def report(report_type: str, day: date, device: str) -> dict:
        return {
            "report_type": report_type,
            "report_date": day,
            "device_id": device,
            "report_data": {"day": day.isoformat(), "nested": [1, 2]},
            "created_at": T0,
        }

    later = DAY + timedelta(days=1)
    warehouse.upsert(
        "analytics_reports",
        [
            report("daily", DAY - timedelta(days=1), "A"),
            report("daily", DAY, "A"),
            report("daily", later, "B"),
            report("legacy_migration", DAY, "*"),
        ],
    )
    frame = read_reports(warehouse, "daily", DAY, later)
    assert sorted(zip(frame["report_date"], frame["device_id"], strict=True)) == [
        (DAY, "A"),
        (later, "B"),
    ]
    assert frame.loc[frame["device_id"] == "A", "report_data"].item() == {
        "day": DAY.isoformat(),
        "nested": [1, 2],
    }
    summaries = read_reports(warehouse, "legacy_migration", DAY, DAY)
    assert summaries["device_id"].tolist() == ["*"]
