"""Initial warehouse: prices, battery sessions, daily energy, reports, legacy data, health.

Revision ID: 0001
Revises:
Create Date: 2025-11-26

Tables are spelled out here rather than taken from ``schema.metadata`` so this
revision stays what it was when later revisions change the schema.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

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


def _floats(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.Float, nullable=True) for name in names]


def upgrade() -> None:
    op.create_table(
        "electricity_prices",
        sa.Column("time_start", UTC_DATETIME, primary_key=True),
        sa.Column("time_end", UTC_DATETIME, nullable=False),
        sa.Column("zone", sa.Text, nullable=False),
        sa.Column("buy_pln_kwh", sa.Float, nullable=False),
        sa.Column("sell_pln_kwh", sa.Float, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("market_pln_kwh", sa.Float, nullable=True),
        sa.Column("tariff", sa.Text, nullable=True),
        sa.Column("partition_date", sa.Date, nullable=False),
    )
    op.create_index(
        "ix_electricity_prices_partition_date", "electricity_prices", ["partition_date"]
    )

    op.create_table(
        "battery_sessions",
        sa.Column("session_id", sa.Text, primary_key=True),
        sa.Column("device_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("start_time", UTC_DATETIME, nullable=False),
        sa.Column("end_time", UTC_DATETIME, nullable=False),
        *_floats(
            "duration_s",
            "soc_start",
            "soc_end",
            "energy_kwh",
            "grid_energy_kwh",
            "pv_energy_kwh",
            "avg_price_pln_kwh",
            "cost_pln",
            "value_pln",
        ),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("partition_date", sa.Date, nullable=False),
        sa.Column("energy_source", sa.Text, nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=True),
        sa.CheckConstraint("kind IN ('charge', 'discharge')", name="ck_battery_sessions_kind"),
        sa.CheckConstraint("status IN ('completed', 'open')", name="ck_battery_sessions_status"),
    )
    op.create_index("ix_battery_sessions_partition_date", "battery_sessions", ["partition_date"])

    op.create_table(
        "daily_energy",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("device_id", sa.Text, primary_key=True),
        *_floats(
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
        ),
        sa.Column("energy_source", sa.Text, nullable=True),
        sa.Column("balance_error_pct", sa.Float, nullable=True),
        sa.Column("config_version", sa.Text, nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=True),
    )

    op.create_table(
        "analytics_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("report_type", sa.Text, nullable=False),
        sa.Column("report_date", sa.Date, nullable=False),
        sa.Column("device_id", sa.Text, nullable=False),
        sa.Column("report_data", JSON, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.UniqueConstraint(
            "report_type", "report_date", "device_id", name="uq_analytics_reports_type_date_device"
        ),
    )

    op.create_table(
        "legacy_decisions",
        sa.Column("decision_id", sa.Text, primary_key=True),
        sa.Column("device_id", sa.Text, nullable=True),
        sa.Column("decision_time", UTC_DATETIME, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        *_floats(
            "price_pln_kwh",
            "battery_soc",
            "energy_kwh",
            "estimated_cost_pln",
            "estimated_savings_pln",
            "expected_revenue_pln",
            "confidence",
        ),
        sa.Column("details", JSON, nullable=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("source_file", sa.Text, nullable=True),
        sa.Column("partition_date", sa.Date, nullable=False),
    )
    op.create_index("ix_legacy_decisions_partition_date", "legacy_decisions", ["partition_date"])

    op.create_table(
        "legacy_planned_sessions",
        sa.Column("plan_date", sa.Date, primary_key=True),
        sa.Column("session_id", sa.Text, primary_key=True),
        sa.Column("start_time", UTC_DATETIME, nullable=True),
        sa.Column("end_time", UTC_DATETIME, nullable=True),
        *_floats("duration_hours", "target_energy_kwh", "target_soc"),
        sa.Column("status", sa.Text, nullable=True),
        sa.Column("priority", sa.Text, nullable=True),
        *_floats(
            "estimated_cost_pln",
            "estimated_savings_pln",
            "avg_price_pln_kwh",
            "actual_energy_kwh",
            "actual_cost_pln",
        ),
        sa.Column("details", JSON, nullable=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("source_file", sa.Text, nullable=True),
    )

    op.create_table(
        "legacy_selling_sessions",
        sa.Column("session_id", sa.Text, primary_key=True),
        sa.Column("start_time", UTC_DATETIME, nullable=True),
        sa.Column("end_time", UTC_DATETIME, nullable=True),
        *_floats(
            "start_soc",
            "end_soc",
            "energy_sold_kwh",
            "average_price_pln",
            "revenue_pln",
            "selling_power_w",
            "duration_hours",
        ),
        sa.Column("status", sa.Text, nullable=True),
        sa.Column("risk_level", sa.Text, nullable=True),
        sa.Column("safety_checks_passed", sa.Boolean, nullable=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("source_file", sa.Text, nullable=True),
        sa.Column("partition_date", sa.Date, nullable=True),
    )
    op.create_index(
        "ix_legacy_selling_sessions_partition_date", "legacy_selling_sessions", ["partition_date"]
    )

    op.create_table(
        "migration_files",
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime", sa.Float, nullable=False),
        sa.Column("format", sa.Text, nullable=False),
        sa.Column("device_id", sa.Text, nullable=True),
        sa.Column("first_time", UTC_DATETIME, nullable=True),
        sa.Column("last_time", UTC_DATETIME, nullable=True),
        sa.Column("records", sa.Integer, nullable=True),
        sa.Column("valid_records", sa.Integer, nullable=True),
        sa.Column("rejected_records", sa.Integer, nullable=True),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("indexed_at", UTC_DATETIME, nullable=False),
        sa.Column("migrated_at", UTC_DATETIME, nullable=True),
        sa.CheckConstraint(
            "outcome IN ('indexed', 'migrated', 'duplicate', 'rejected')",
            name="ck_migration_files_outcome",
        ),
    )

    op.create_table(
        "system_configs",
        sa.Column("config_name", sa.Text, primary_key=True),
        sa.Column("version", sa.Text, primary_key=True),
        sa.Column("config_data", JSON, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
    )

    op.create_table(
        "storage_health",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("time", UTC_DATETIME, nullable=False),
        sa.Column("component", sa.Text, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_storage_health_time", "storage_health", ["time"])

    op.execute(CHARGING_SESSIONS_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS charging_sessions")
    op.drop_index("ix_storage_health_time", table_name="storage_health")
    op.drop_table("storage_health")
    op.drop_table("system_configs")
    op.drop_table("migration_files")
    op.drop_index("ix_legacy_selling_sessions_partition_date", table_name="legacy_selling_sessions")
    op.drop_table("legacy_selling_sessions")
    op.drop_table("legacy_planned_sessions")
    op.drop_index("ix_legacy_decisions_partition_date", table_name="legacy_decisions")
    op.drop_table("legacy_decisions")
    op.drop_table("analytics_reports")
    op.drop_table("daily_energy")
    op.drop_index("ix_battery_sessions_partition_date", table_name="battery_sessions")
    op.drop_table("battery_sessions")
    op.drop_index("ix_electricity_prices_partition_date", table_name="electricity_prices")
    op.drop_table("electricity_prices")
