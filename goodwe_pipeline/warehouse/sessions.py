"""Writing the battery sessions of a run's days, so a re-run leaves exactly what it found."""

from __future__ import annotations

from datetime import date

import pandas as pd
import sqlalchemy as sa

from goodwe_pipeline.sessions.detection import stale_session_ids
from goodwe_pipeline.warehouse import schema
from goodwe_pipeline.warehouse.store import Warehouse


def store_sessions(
    warehouse: Warehouse, found: pd.DataFrame, first: date, last: date, with_data: set[date]
) -> None:
    """Upsert the sessions, then delete stored ones of the same days that no longer exist.

    Upserting before deleting means a reader never misses a session that still exists.
    """
    warehouse.upsert("battery_sessions", found)
    existing = warehouse.read_frame(
        'SELECT "session_id", "partition_date" FROM "battery_sessions" '
        'WHERE "partition_date" >= :first AND "partition_date" <= :last',
        {"first": first, "last": last},
    )
    stale = stale_session_ids(existing, set(found["session_id"]), with_data)
    if stale:
        table = schema.battery_sessions
        warehouse.execute(sa.delete(table).where(table.c.session_id.in_(stale)))
