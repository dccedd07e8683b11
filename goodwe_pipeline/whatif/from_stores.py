"""What the what-if of a range of days reads from the two stores: the one read that the
``tariff_comparison`` asset and the ``whatif`` command share (``whatif.history.what_if``
itself touches no store)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import pandas as pd

from goodwe_pipeline.raw_store.base import RawStore
from goodwe_pipeline.reports.daily import READING_FIELDS
from goodwe_pipeline.warehouse import Warehouse
from goodwe_pipeline.warehouse.reads import read_prices, read_sessions_until
from goodwe_pipeline.whatif.history import spans


def read_what_if_frames(
    raw_store: RawStore, warehouse: Warehouse, days: Sequence[date], tz: str, now: datetime
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The readings ``daily_energy_report`` reads for ``days``, their quarter-hour prices
    (with market price and zone) and the battery sessions up to the last day: ``what_if``'s
    first three arguments."""
    readings_span, prices_span = spans(days, tz, now)
    return (
        raw_store.read(*readings_span, fields=READING_FIELDS),
        read_prices(warehouse, *prices_span),
        read_sessions_until(warehouse, days[-1]),
    )
