"""The what-if table: each day's cost per device, tariff offer and case.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "tariff_comparison",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("device_id", sa.Text, primary_key=True),
        sa.Column("offer", sa.Text, primary_key=True),
        sa.Column("scenario", sa.Text, primary_key=True),
        sa.Column("current", sa.Boolean, nullable=False),
        sa.Column("quarters", sa.Integer, nullable=False),
        *[
            sa.Column(name, sa.Float, nullable=True)
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
        ],
        sa.Column("zones", JSON, nullable=False),
        sa.Column("offer_version", sa.Text, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=True),
        sa.CheckConstraint(
            "scenario IN ('as_measured', 'without_battery', 'best_battery')",
            name="ck_tariff_comparison_scenario",
        ),
    )


def downgrade() -> None:
    op.drop_table("tariff_comparison")
