"""Warehouse tables (SQLAlchemy Core), identical on PostgreSQL and SQLite.

The Alembic migrations under ``migrations/`` create exactly these tables;
``NATURAL_KEYS`` names the columns each upsert conflicts on.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData()


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both backends.

    PostgreSQL stores ``timestamptz``; SQLite has no zone, so values are stored
    as naive UTC and given back tz-aware.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} written to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            return utc_from_text(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_from_text(value: str) -> datetime:
    """A stored time's text as a tz-aware UTC datetime (naive text is UTC). Stored text has
    no offset: given ``+00:00``, one parse makes it aware (``replace`` costs as much again)."""
    try:
        parsed = datetime.fromisoformat(f"{value}+00:00")
    except ValueError:
        parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _float(name: str) -> sa.Column:
    return sa.Column(name, sa.Float, nullable=True)


electricity_prices = sa.Table(
    "electricity_prices",
    metadata,
    sa.Column("time_start", UTCDateTime, primary_key=True),
    sa.Column("time_end", UTCDateTime, nullable=False),
    sa.Column("zone", sa.Text, nullable=False),
    sa.Column("buy_pln_kwh", sa.Float, nullable=False),
    sa.Column("sell_pln_kwh", sa.Float, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    _float("market_pln_kwh"),
    sa.Column("tariff", sa.Text, nullable=True),
    sa.Column("partition_date", sa.Date, nullable=False, index=True),
)

battery_sessions = sa.Table(
    "battery_sessions",
    metadata,
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("device_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("start_time", UTCDateTime, nullable=False),
    sa.Column("end_time", UTCDateTime, nullable=False),
    _float("duration_s"),
    _float("soc_start"),
    _float("soc_end"),
    _float("energy_kwh"),
    _float("grid_energy_kwh"),
    _float("pv_energy_kwh"),
    _float("avg_price_pln_kwh"),
    _float("cost_pln"),
    _float("value_pln"),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False, index=True),
    sa.Column("energy_source", sa.Text, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=True),
    sa.CheckConstraint("kind IN ('charge', 'discharge')", name="ck_battery_sessions_kind"),
    sa.CheckConstraint("status IN ('completed', 'open')", name="ck_battery_sessions_status"),
)

daily_energy = sa.Table(
    "daily_energy",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("device_id", sa.Text, primary_key=True),
    *(
        _float(name)
        for name in (
            "pv_kwh",
            "load_kwh",
            "grid_import_kwh",
            "grid_export_kwh",
            "battery_charge_kwh",
            "battery_discharge_kwh",
            "self_consumption_pct",
            "self_sufficiency_pct",
            "soc_min",
            "soc_max",
            "peak_pv_w",
            "peak_load_w",
            "import_cost_pln",
            "export_revenue_pln",
            "net_cost_pln",
            "baseline_cost_pln",
            "savings_pln",
            "coverage_pct",
        )
    ),
    sa.Column("energy_source", sa.Text, nullable=True),
    _float("balance_error_pct"),
    sa.Column("config_version", sa.Text, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=True),
)

analytics_reports = sa.Table(
    "analytics_reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("report_type", sa.Text, nullable=False),
    sa.Column("report_date", sa.Date, nullable=False),
    sa.Column("device_id", sa.Text, nullable=False),
    sa.Column("report_data", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint(
        "report_type", "report_date", "device_id", name="uq_analytics_reports_type_date_device"
    ),
)

legacy_decisions = sa.Table(
    "legacy_decisions",
    metadata,
    sa.Column("decision_id", sa.Text, primary_key=True),
    sa.Column("device_id", sa.Text, nullable=True),
    sa.Column("decision_time", UTCDateTime, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    _float("price_pln_kwh"),
    _float("battery_soc"),
    _float("energy_kwh"),
    _float("estimated_cost_pln"),
    _float("estimated_savings_pln"),
    _float("expected_revenue_pln"),
    _float("confidence"),
    sa.Column("details", JSONType, nullable=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("source_file", sa.Text, nullable=True),
    sa.Column("partition_date", sa.Date, nullable=False, index=True),
)

legacy_planned_sessions = sa.Table(
    "legacy_planned_sessions",
    metadata,
    sa.Column("plan_date", sa.Date, primary_key=True),
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("start_time", UTCDateTime, nullable=True),
    sa.Column("end_time", UTCDateTime, nullable=True),
    _float("duration_hours"),
    _float("target_energy_kwh"),
    _float("target_soc"),
    sa.Column("status", sa.Text, nullable=True),
    sa.Column("priority", sa.Text, nullable=True),
    _float("estimated_cost_pln"),
    _float("estimated_savings_pln"),
    _float("avg_price_pln_kwh"),
    _float("actual_energy_kwh"),
    _float("actual_cost_pln"),
    sa.Column("details", JSONType, nullable=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("source_file", sa.Text, nullable=True),
)

legacy_selling_sessions = sa.Table(
    "legacy_selling_sessions",
    metadata,
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("start_time", UTCDateTime, nullable=True),
    sa.Column("end_time", UTCDateTime, nullable=True),
    _float("start_soc"),
    _float("end_soc"),
    _float("energy_sold_kwh"),
    _float("average_price_pln"),
    _float("revenue_pln"),
    _float("selling_power_w"),
    _float("duration_hours"),
    sa.Column("status", sa.Text, nullable=True),
    sa.Column("risk_level", sa.Text, nullable=True),
    sa.Column("safety_checks_passed", sa.Boolean, nullable=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("source_file", sa.Text, nullable=True),
    sa.Column("partition_date", sa.Date, nullable=True, index=True),
)

migration_files = sa.Table(
    "migration_files",
    metadata,
    sa.Column("path", sa.Text, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mtime", sa.Float, nullable=False),
    sa.Column("format", sa.Text, nullable=False),
    sa.Column("device_id", sa.Text, nullable=True),
    sa.Column("first_time", UTCDateTime, nullable=True),
    sa.Column("last_time", UTCDateTime, nullable=True),
    sa.Column("records", sa.Integer, nullable=True),
    sa.Column("valid_records", sa.Integer, nullable=True),
    sa.Column("rejected_records", sa.Integer, nullable=True),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("indexed_at", UTCDateTime, nullable=False),
    sa.Column("migrated_at", UTCDateTime, nullable=True),
    sa.CheckConstraint(
        "outcome IN ('indexed', 'migrated', 'duplicate', 'rejected')",
        name="ck_migration_files_outcome",
    ),
)

system_configs = sa.Table(
    "system_configs",
    metadata,
    sa.Column("config_name", sa.Text, primary_key=True),
    sa.Column("version", sa.Text, primary_key=True),
    sa.Column("config_data", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

storage_health = sa.Table(
    "storage_health",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", UTCDateTime, nullable=False, index=True),
    sa.Column("component", sa.Text, nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    _float("latency_ms"),
    sa.Column("detail", sa.Text, nullable=True),
)

tariff_comparison = sa.Table(
    "tariff_comparison",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("device_id", sa.Text, primary_key=True),
    sa.Column("offer", sa.Text, primary_key=True),
    sa.Column("scenario", sa.Text, primary_key=True),
    sa.Column("current", sa.Boolean, nullable=False),
    sa.Column("quarters", sa.Integer, nullable=False),
    *(
        _float(name)
        for name in (
            "bought_kwh",
            "sold_kwh",
            "import_cost_pln",
            "export_revenue_pln",
            "energy_cost_pln",
            "fixed_fees_pln",
            "total_cost_pln",
            "battery_charge_kwh",
            "battery_discharge_kwh",
            "level_start_kwh",
            "level_end_kwh",
        )
    ),
    sa.Column("zones", JSONType, nullable=False),
    sa.Column("offer_version", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=True),
    sa.CheckConstraint(
        "scenario IN ('as_measured', 'without_battery', 'best_battery')",
        name="ck_tariff_comparison_scenario",
    ),
)
"""The what-if: each day, device, tariff offer and case (``scenario``: CASE is an SQL
keyword), with energy bought and sold per zone in ``zones``."""

NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "electricity_prices": ("time_start",),
    "battery_sessions": ("session_id",),
    "daily_energy": ("day", "device_id"),
    "analytics_reports": ("report_type", "report_date", "device_id"),
    "legacy_decisions": ("decision_id",),
    "legacy_planned_sessions": ("plan_date", "session_id"),
    "legacy_selling_sessions": ("session_id",),
    "migration_files": ("path",),
    "system_configs": ("config_name", "version"),
    "tariff_comparison": ("day", "device_id", "offer", "scenario"),
}

CHARGING_SESSIONS_VIEW = """
CREATE VIEW charging_sessions AS
SELECT session_id,
       start_time,
       end_time,
       soc_start AS battery_soc_start,
       soc_end AS battery_soc_end,
       energy_kwh AS energy_charged_kwh,
       avg_price_pln_kwh AS average_price_pln,
       cost_pln AS total_cost_pln,
       status
FROM battery_sessions
WHERE kind = 'charge'
"""
