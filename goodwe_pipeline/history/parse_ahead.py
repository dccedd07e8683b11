"""Parsing the files that stand alone in a second process, ahead of the days that need them.

Most of a migration's time is parsing files, and most files can be parsed on their own:
every reading format except ``historical_data`` (each snapshot is read against the one
before it, ``SnapshotChain``) and the SQLite database (read by the range). A run knows
in advance, from the index, which of those files each day needs and in which order, so a
forked worker parses them in that order while this process reads the snapshot chain,
merges days and writes them. On a machine with two cores the two halves overlap.

Bounded: at most ``WINDOW`` batches of files are parsed and not yet used, so a year's
backfill holds no more parsed files than a few days' worth. A worker that dies or fails
is not fatal: every file it did not deliver is parsed here, as without a worker, so a
file's outcome never depends on which process parsed it.
"""

from __future__ import annotations

import copy
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from goodwe_pipeline.history.files import Unusable, read_regular, size_limit_reason
from goodwe_pipeline.history.formats import SINGLE_READING_FORMATS, Format
from goodwe_pipeline.history.index import FileEntry
from goodwe_pipeline.history.readers import read_readings
from goodwe_pipeline.history.records import FileReadings
from goodwe_pipeline.history.timestamps import LocalClock

BATCH_FILES = 256
"""Files per task sent to the worker: large enough that sending costs little per file."""
WINDOW = 8
"""Batches parsed ahead of the one in use."""
MIN_FILES = 2 * BATCH_FILES
"""Below this, starting a worker costs more than it saves."""
MAX_FILE_BYTES = 4_000_000
"""Larger files are parsed here: their readings would cost more to send back than to parse,
and would be held twice (sent and received) at once."""
STANDALONE_FORMATS = frozenset(
    f for f in Format if f not in (Format.HISTORICAL_DATA, Format.OPTIMISER_DB)
)

FileTask = tuple[str, Format, int | None, int | None]
"""What parsing a file needs: its absolute path, format, size and mtime (microseconds)."""


def parse_standalone(task: FileTask, clock: LocalClock, max_bytes: int) -> FileReadings:
    """The readings of one file of a ``STANDALONE_FORMATS`` format."""
    absolute, fmt, size, mtime_us = task
    if size is not None and size > max_bytes:
        result = FileReadings(fmt)
        result.error = size_limit_reason(size, max_bytes)
        return result
    try:
        data = read_regular(absolute, max_bytes)
    except Unusable as exc:
        result = FileReadings(fmt)
        result.error = str(exc)
        return result
    hint = mtime_us if fmt in SINGLE_READING_FORMATS else None
    return read_readings(fmt, data, clock, hint_us=hint, limit=max_bytes)


def task_of(entry: FileEntry) -> FileTask:
    return entry.absolute, entry.format, entry.size, entry.mtime_us


def _for_worker(entry: FileEntry) -> bool:
    return (
        entry.format in STANDALONE_FORMATS
        and entry.size is not None
        and entry.size <= MAX_FILE_BYTES
    )


def _parse_batch(
    tasks: list[FileTask], clock: LocalClock, max_bytes: int
) -> tuple[list[FileReadings | None], Counter[str]]:
    """In the worker: the batch's readings, and what its placing of times counted.

    A file with a time in the autumn's repeated hour comes back as None: where such a time
    lies may depend on files read before it in the run (``LocalClock.known_folds``), so the
    migration's own process parses it, in its turn."""
    results: list[FileReadings | None] = []
    for task in tasks:
        counted, placed = clock.stats.copy(), clock.repeated_hour_resolutions
        readings = parse_standalone(task, clock, max_bytes)
        if clock.repeated_hour_resolutions != placed:
            clock.stats, readings = counted, None
        results.append(readings)
    return results, clock.stats


def worker_count() -> int:
    """One worker where there is a second core and ``fork`` (Linux): the worker starts as a
    copy of this process, with nothing to import or load."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 1 if (cores or 1) > 1 else 0


class ParseAhead:
    """Standalone files of ``order`` (first use first; repeats ignored) parsed by a worker.

    ``take(entry)`` returns the entry's readings, or ``None`` for a file the worker did not
    parse (not given, in the repeated hour, or the worker stopped): the caller parses it. The clock's counts from the worker's parsing are added
    to ``clock.stats`` as batches are taken.
    """

    def __init__(
        self,
        order: Iterable[FileEntry],
        clock: LocalClock,
        max_bytes: int,
        *,
        workers: int | None = None,
        batch_files: int = BATCH_FILES,
        min_files: int = MIN_FILES,
        log: Callable[[str], None] | None = None,
    ):
        self.clock = clock
        self.max_bytes = max_bytes
        self.log = log
        entries = list({e.path: e for e in order if _for_worker(e)}.values())
        self.batches = [entries[i : i + batch_files] for i in range(0, len(entries), batch_files)]
        self.batch_of = {e.path: n for n, batch in enumerate(self.batches) for e in batch}
        self.futures: dict[int, Future] = {}
        self.ready: dict[str, FileReadings] = {}
        self.submitted = 0
        count = worker_count() if workers is None else workers
        self.pool: ProcessPoolExecutor | None = None
        if count > 0 and len(entries) >= min_files:
            self.pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("fork"))
            self._submit_up_to(WINDOW - 1)

    def take(self, entry: FileEntry) -> FileReadings | None:
        readings = self.ready.pop(entry.path, None)
        if readings is not None or self.pool is None:
            return readings
        number = self.batch_of.get(entry.path)
        if number is None:
            return None
        self._submit_up_to(number + WINDOW - 1)
        future = self.futures.pop(number, None)
        if future is None:
            return None
        try:
            results, stats = future.result()
        except (BrokenProcessPool, OSError) as exc:
            self._stop(f"the parsing worker stopped ({type(exc).__name__}: {exc}); parsing here")
            return None
        self.clock.stats.update(stats)
        for done, readings in zip(self.batches[number], results, strict=True):
            if readings is not None:
                self.ready[done.path] = readings
        return self.ready.pop(entry.path, None)

    def _submit_up_to(self, last: int) -> None:
        assert self.pool is not None
        worker_clock = copy.copy(self.clock)
        worker_clock.stats = Counter()
        while self.submitted <= min(last, len(self.batches) - 1):
            tasks = [task_of(e) for e in self.batches[self.submitted]]
            try:
                future = self.pool.submit(_parse_batch, tasks, worker_clock, self.max_bytes)
            except (BrokenProcessPool, RuntimeError) as exc:
                self._stop(f"the parsing worker could not start ({exc}); parsing here")
                return
            self.futures[self.submitted] = future
            self.submitted += 1

    def _stop(self, why: str | None = None) -> None:
        if why and self.log:
            self.log(why)
        pool, self.pool = self.pool, None
        self.futures.clear()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self._stop()

    def __enter__(self) -> ParseAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
