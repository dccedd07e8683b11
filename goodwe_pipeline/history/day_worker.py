"""A second process for the later days of a long migration.

A migration's own work (listing, reading, parsing and merging files) is Python on one core; on
a machine with two, the other mostly idles (the raw store's server takes a fraction of it).
Forked once the folder's index is read, the worker starts as a copy of the run with nothing to
import or load: it migrates the later days, writing them through its own connection to the
raw store, while this process migrates the earlier ones, and it sends back only what the run
records (summaries and file outcomes). Writes are idempotent, so a worker that fails or dies
costs only time: the caller migrates its days itself.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Generic, TypeVar

from goodwe_pipeline.history.formats import Format

T = TypeVar("T")

FILE_COST_US = 100
"""Estimated microseconds to open, read, parse and account for one file, whatever its size."""
BYTE_COST_US = 0.04
"""Estimated microseconds per byte parsed (about 40 ms for a megabyte of readings)."""
CHAINED_BYTE_COST_US = 0.0015
"""Per byte of a ``historical_data`` snapshot: what it repeats from the one before is compared,
not parsed (``SnapshotChain``), so a byte costs a small fraction."""
MAIN_SHARE = 0.55
"""The share of the estimated work this process keeps: the worker's part costs it more than
the estimate (its own connections, sending its results back), and with an even split this
process waited 0.05–0.35 s for it at the end of a 30-day migration (0.03–0.05 s at 0.55)."""
MIN_WORKER_SECONDS = 0.5
"""Below this much estimated work, forking and gathering cost more than they save."""


def file_cost_us(size: int | None, fmt: Format) -> float:
    rate = CHAINED_BYTE_COST_US if fmt is Format.HISTORICAL_DATA else BYTE_COST_US
    return FILE_COST_US + rate * (size or 0)


def available() -> bool:
    """A worker helps where there is a second core, and ``fork`` (Linux) makes it a copy of
    this process; a daemonic process (one of a pool) may not start one."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    if multiprocessing.current_process().daemon:
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) > 1


def split_index(costs: Sequence[float], min_seconds: float = MIN_WORKER_SECONDS) -> int | None:
    """Where the worker's days start (``costs``: each day's estimated microseconds, in
    order): where this process's share comes closest to ``MAIN_SHARE``, or None when there
    is too little to share."""
    total = sum(costs)
    if len(costs) < 2 or total < min_seconds * 1e6:
        return None
    done, shares = 0.0, []
    for cost in costs[:-1]:
        done += cost
        shares.append(done / total)
    return 1 + min(range(len(shares)), key=lambda i: abs(shares[i] - MAIN_SHARE))


class DaysWorker(Generic[T]):
    """``work()`` run in a forked process; ``result()`` is its return value, or None and why
    it did not give one (it raised, or the process died)."""

    def __init__(self, work: Callable[[], T]):
        context = multiprocessing.get_context("fork")
        self._answers, answer = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_answer, args=(work, answer), name="migration-days", daemon=True
        )
        self._process.start()
        answer.close()

    def result(self) -> tuple[T | None, str | None]:
        try:
            status, payload = self._answers.recv()
        except (EOFError, OSError):
            status, payload = "failed", None
        finally:
            self._answers.close()
            self._process.join()
        if status == "ok":
            return payload, None
        return None, payload or f"the worker process ended with exit code {self._process.exitcode}"

    def close(self) -> None:
        """Stop the worker if it still runs (its caller failed first)."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._answers.close()


def _answer(work: Callable[[], object], answer: Connection) -> None:
    try:
        outcome: tuple[str, object] = ("ok", work())
    except Exception as exc:  # the caller migrates the days itself and logs why
        outcome = ("failed", f"{type(exc).__name__}: {exc}")
    answer.send(outcome)
    answer.close()
