"""The raw-store interface: where canonical readings live."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from goodwe_pipeline import readings


class StoreUnavailableError(RuntimeError):
    """The store could not be reached or refused the request.

    ``url`` never carries credentials, so the message is safe to log.
    """

    def __init__(self, url: str, reason: str):
        super().__init__(f"raw store at {url} is unavailable: {reason}")
        self.url = url
        self.reason = reason


def field_selection(fields: Sequence[str] | None) -> tuple[str, ...]:
    """The fields a read returns, in canonical order (all of them for None).

    Raises ``ValueError`` for an empty selection or a name that is not a field.
    """
    if fields is None:
        return readings.FIELD_NAMES
    if isinstance(fields, str):
        fields = [fields]
    unknown = sorted(set(fields) - set(readings.FIELD_NAMES))
    if unknown:
        raise ValueError(f"not reading fields: {', '.join(map(repr, unknown))}")
    if not fields:
        raise ValueError("a read needs at least one field (None reads them all)")
    wanted = set(fields)
    return tuple(name for name in readings.FIELD_NAMES if name in wanted)


@dataclass(frozen=True)
class Health:
    ok: bool
    latency_ms: float
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)


class RawStore(abc.ABC):
    """One interface, two implementations (InfluxDB and Parquet).

    Writes are idempotent: the same (device_id, time) written again replaces
    the earlier values, it never adds a second row.
    """

    kind: str

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """Where the store lives, without credentials."""

    @abc.abstractmethod
    def write(self, readings: pd.DataFrame) -> int:
        """Write canonical readings; return the number of rows acknowledged.

        Raises ``StoreUnavailableError`` when nothing could be written.
        """

    @abc.abstractmethod
    def read(
        self,
        start: datetime,
        end: datetime,
        device_ids: Sequence[str] | None = None,
        fields: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Readings with ``start <= time < end`` as a canonical frame, sorted by device, time.

        ``device_ids``: only these devices (an empty list reads nothing).

        ``fields``: only these field columns, for a reader that needs a few of
        them over a long range (it reads and converts a fraction of the data).
        The frame then has ``time``, the tags and the requested fields, in
        canonical column order, and leaves out the readings in which none of
        the requested fields is known (InfluxDB has no point to return for
        them). ``None`` reads every field; a name that is not a field raises
        ``ValueError``.
        """

    @abc.abstractmethod
    def devices(self, start: datetime, end: datetime) -> list[str]:
        """Device ids with readings in ``[start, end)``."""

    def close(self) -> None:  # noqa: B027 - a hook: only network stores hold connections
        """Release connections (an HTTP session); the embedded store holds none."""

    def __enter__(self) -> RawStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abc.abstractmethod
    def health(self) -> Health:
        """Whether the store answers, and how fast. Never raises."""
