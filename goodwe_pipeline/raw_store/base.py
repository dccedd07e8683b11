"""The raw-store interface: where canonical readings live."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd


class StoreUnavailableError(RuntimeError):
    """The store could not be reached or refused the request.

    ``url`` never carries credentials, so the message is safe to log.
    """

    def __init__(self, url: str, reason: str):
        super().__init__(f"raw store at {url} is unavailable: {reason}")
        self.url = url
        self.reason = reason


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
        device_ids: list[str] | None = None,
    ) -> pd.DataFrame:
        """Readings with ``start <= time < end`` as a canonical frame, sorted by device, time."""

    @abc.abstractmethod
    def devices(self, start: datetime, end: datetime) -> list[str]:
        """Device ids with readings in ``[start, end)``."""

    @abc.abstractmethod
    def health(self) -> Health:
        """Whether the store answers, and how fast. Never raises."""
