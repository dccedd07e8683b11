"""The days a migration merged, written to the raw store on a background thread."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC
from typing import Any

import numpy as np
import pandas as pd

from goodwe_pipeline.history.day_merge import DaySummary
from goodwe_pipeline.raw_store.base import RawStore
from goodwe_pipeline.readings import COLUMNS, DEVICE_ID, FIELD_NAMES, SOURCE, SOURCE_LEGACY, TIME


def readings_frame(merged: dict[tuple[str, int], list[float]]) -> pd.DataFrame:
    """The canonical frame (``readings.empty_frame`` dtypes), sorted by device and time.

    Built column by column in one go: ``readings.normalize`` would give the same
    frame, but 10x slower on keys already known to be unique.
    """
    keys = sorted(merged)
    matrix = np.array([merged[k] for k in keys], dtype=np.float64).reshape(
        len(keys), len(FIELD_NAMES)
    )
    times = np.fromiter((k[1] for k in keys), dtype=np.int64, count=len(keys))
    columns: dict[str, Any] = {
        TIME: pd.Series(times.astype("datetime64[us]")).dt.tz_localize(UTC),
        DEVICE_ID: pd.Series([k[0] for k in keys], dtype=object),
        SOURCE: pd.Series([SOURCE_LEGACY] * len(keys), dtype=object),
    }
    for position, name in enumerate(FIELD_NAMES):
        columns[name] = matrix[:, position]
    return pd.DataFrame(columns, columns=list(COLUMNS))


class RawWriter:
    """Writes day frames to the store on one background thread, so parsing the next
    days overlaps the store's work. Days are gathered into writes of at least
    ``batch_rows`` rows (the store splits them into its own batches and keeps several
    in flight); at most one write is in flight."""

    def __init__(self, store: RawStore, batch_rows: int, timings: dict[str, float]):
        self.store = store
        self.batch_rows = batch_rows
        self.timings = timings
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="legacy-writer")
        self._gathered: list[tuple[pd.DataFrame, DaySummary]] = []
        self._rows = 0
        self._pending: (
            tuple[Future[tuple[int, set[str]]], list[tuple[pd.DataFrame, DaySummary]]] | None
        ) = None
        self.refused: dict[str, tuple[str, int]] = {}

    def _write(self, frame: pd.DataFrame) -> tuple[int, set[str]]:
        """Write ``frame``; when the store refuses it (``ValueError``, e.g. a device id it
        cannot keep), each device's readings are written alone and only a refused device's
        readings are left out (``refused``: device -> the store's reason, readings)."""
        start = time.perf_counter()
        refused: set[str] = set()
        try:
            written = int(self.store.write(frame))
        except ValueError:
            written = 0
            for device, readings in frame.groupby(DEVICE_ID, sort=False):
                try:
                    written += int(self.store.write(readings.reset_index(drop=True)))
                except ValueError as exc:
                    refused.add(device)
                    add_refused(self.refused, {device: (str(exc), len(readings))})
        self.timings["write"] += time.perf_counter() - start
        return written, refused

    def submit(self, frame: pd.DataFrame, summary: DaySummary) -> None:
        self._gathered.append((frame, summary))
        self._rows += len(frame)
        if self._rows >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        self.wait()
        if not self._gathered:
            return
        days, self._gathered, self._rows = self._gathered, [], 0
        frame = days[0][0] if len(days) == 1 else pd.concat([f for f, _ in days], ignore_index=True)
        self._pending = (self._pool.submit(self._write, frame), days)

    def wait(self) -> None:
        """Wait for the write in flight; the rows it acknowledged are credited day by day,
        in order (a shortfall, rows the store would not keep, goes to the last days)."""
        if self._pending is None:
            return
        future, days = self._pending
        self._pending = None
        start = time.perf_counter()
        acknowledged, refused = future.result()
        self.timings["write_wait"] += time.perf_counter() - start
        for frame, summary in days:
            kept = len(frame)
            if refused:
                devices = frame[DEVICE_ID]
                for device in refused.intersection(devices):
                    count = int((devices == device).sum())
                    summary.expected[device] -= count
                    summary.rejected_records += count
                    kept -= count
            summary.written = min(kept, acknowledged)
            acknowledged -= summary.written

    def close(self) -> None:
        try:
            self.flush()
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


def add_refused(refused: dict[str, tuple[str, int]], more: dict[str, tuple[str, int]]) -> None:
    """Add ``more`` (device -> the store's reason, readings refused) to ``refused``; a device
    already there keeps its first reason."""
    for device, (reason, count) in more.items():
        known_reason, known_count = refused.get(device, (reason, 0))
        refused[device] = (known_reason, known_count + count)
