"""The what-if of a range of days as the stores hold it: the one path that the
``tariff_comparison`` asset and the ``whatif`` command share.

It reads what ``whatif.history.what_if`` needs (the readings ``daily_energy_report`` reads for
the same days, the quarter-hour prices with their market price and zone, the battery sessions
up to the last day) and hands it over; the what-if itself touches no store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from goodwe_pipeline.prices.tariffs import Tariff
from goodwe_pipeline.raw_store.base import RawStore
from goodwe_pipeline.reports.daily import READING_FIELDS
from goodwe_pipeline.reports.quality import Limits
from goodwe_pipeline.warehouse import Warehouse
from goodwe_pipeline.warehouse.reads import read_prices, read_sessions_until
from goodwe_pipeline.whatif.catalogue import Catalogue
from goodwe_pipeline.whatif.history import WhatIf, spans, what_if


def what_if_from_stores(
    raw_store: RawStore,
    warehouse: Warehouse,
    days: Sequence[date],
    tz: str,
    catalogue: Catalogue,
    owner: Tariff,
    *,
    now: datetime,
    limits: Limits | None = None,
    gap_factor: float = 2.0,
) -> WhatIf:
    readings_span, prices_span = spans(days, tz, now)
    return what_if(
        raw_store.read(*readings_span, fields=READING_FIELDS),
        read_prices(warehouse, *prices_span),
        read_sessions_until(warehouse, days[-1]),
        days,
        tz,
        catalogue,
        owner,
        now=now,
        limits=limits,
        gap_factor=gap_factor,
    )
