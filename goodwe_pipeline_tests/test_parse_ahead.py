"""Files parsed ahead by a worker process read exactly as when parsed in the migration's
own process, and a worker that dies costs nothing but time."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from goodwe_pipeline.history.formats import Format
from goodwe_pipeline.history.index import FileEntry, FolderIndex
from goodwe_pipeline.history.parse_ahead import (
    MAX_FILE_BYTES,
    STANDALONE_FORMATS,
    ParseAhead,
    parse_standalone,
    task_of,
)
from goodwe_pipeline.history.settings import DEFAULT_MAX_FILE_BYTES
from goodwe_pipeline.history.timestamps import LocalClock
from goodwe_pipeline_tests.legacy_corpus import write_corpus

TZ = "Europe/Warsaw"


@pytest.fixture(scope="module")
def entries(tmp_path_factory) -> list[FileEntry]:
    """The standalone files of the 30-day corpus (autumn hour, broken files, every format)."""
    root = tmp_path_factory.mktemp("ahead") / "optimiser"
    write_corpus(root)
    index = FolderIndex.scan(root)
    chosen = [e for e in index.entries if e.format in STANDALONE_FORMATS and not e.skipped]
    for entry in chosen:
        assert entry.stat()
    return chosen


def _same(readings) -> str:
    """A comparable form (NaN values compare unequal, their text does not)."""
    return repr(vars(readings))


def _taken_or_parsed(ahead: ParseAhead, entry: FileEntry, clock: LocalClock):
    """What the migration does: the worker's readings, else its own parse, in turn."""
    readings = ahead.take(entry)
    if readings is None:
        return parse_standalone(task_of(entry), clock, DEFAULT_MAX_FILE_BYTES), False
    return readings, True


def _inline(entries: list[FileEntry]) -> tuple[list[str], dict[str, int]]:
    clock = LocalClock(TZ)
    parsed = [_same(parse_standalone(task_of(e), clock, DEFAULT_MAX_FILE_BYTES)) for e in entries]
    return parsed, dict(clock.stats)


def test_the_worker_parses_every_file_as_this_process_would(entries) -> None:
    assert {e.format for e in entries} >= {
        Format.CURRENT_DATA,
        Format.ENERGY_DATA_SNAPSHOT,
        Format.ENERGY_DATA_DAILY,
        Format.COORDINATOR_STATE_LOG,
    }
    expected, expected_stats = _inline(entries)
    assert expected_stats.get("ambiguous_ordered") or expected_stats.get("ambiguous_known")
    clock = LocalClock(TZ)
    with ParseAhead(entries, clock, DEFAULT_MAX_FILE_BYTES, workers=1, batch_files=7) as ahead:
        assert ahead.pool is not None
        taken = [_taken_or_parsed(ahead, e, clock) for e in entries]
    assert [_same(readings) for readings, _ in taken] == expected
    assert dict(clock.stats) == expected_stats
    here = [e.path for e, (_, by_worker) in zip(entries, taken, strict=True) if not by_worker]
    assert 0 < len(here) < len(entries) / 10, "only repeated-hour files are parsed here"
    assert all("20251026" in path or "2025-10-26" in path for path in here), here


def test_a_file_it_was_not_given_is_left_to_the_caller(entries) -> None:
    given, other = entries[:20], entries[20]
    with ParseAhead(
        given, LocalClock(TZ), DEFAULT_MAX_FILE_BYTES, workers=1, batch_files=3, min_files=0
    ) as ahead:
        assert ahead.take(other) is None
        assert ahead.take(given[10]) is not None
        assert ahead.take(given[10]) is None, "each file is handed over once"


def test_a_large_file_is_left_to_the_caller(entries) -> None:
    large = dataclasses.replace(entries[3], size=MAX_FILE_BYTES + 1)
    given = [*entries[:3], large, *entries[4:10]]
    with ParseAhead(
        given, LocalClock(TZ), DEFAULT_MAX_FILE_BYTES, workers=1, batch_files=2, min_files=0
    ) as ahead:
        assert ahead.take(large) is None
        assert ahead.take(entries[4]) is not None


def test_few_files_start_no_worker(entries) -> None:
    with ParseAhead(entries[:5], LocalClock(TZ), DEFAULT_MAX_FILE_BYTES, workers=1) as ahead:
        assert ahead.pool is None
        assert ahead.take(entries[0]) is None


def test_a_killed_worker_leaves_the_rest_to_the_caller(entries) -> None:
    expected, expected_stats = _inline(entries)
    clock = LocalClock(TZ)
    told: list[str] = []
    got = []
    with ParseAhead(
        entries, clock, DEFAULT_MAX_FILE_BYTES, workers=1, batch_files=5, log=told.append
    ) as ahead:
        got.append(_taken_or_parsed(ahead, entries[0], clock)[0])
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGKILL)
        got.extend(_taken_or_parsed(ahead, entry, clock)[0] for entry in entries[1:])
        assert ahead.pool is None
    assert [_same(g) for g in got] == expected
    assert dict(clock.stats) == expected_stats
    assert told and "the parsing worker stopped" in told[0]


def test_a_file_gone_before_the_worker_reads_it_is_reported(tmp_path: Path, entries) -> None:
    copies = []
    for number, entry in enumerate(entries[:12]):
        target = tmp_path / f"{number}_{Path(entry.absolute).name}"
        target.write_bytes(Path(entry.absolute).read_bytes())
        copies.append(dataclasses.replace(entry, absolute=str(target), path=target.name))
    os.remove(copies[-1].absolute)
    with ParseAhead(
        copies, LocalClock(TZ), DEFAULT_MAX_FILE_BYTES, workers=1, batch_files=4, min_files=0
    ) as ahead:
        last = ahead.take(copies[-1])
    assert last is not None and last.error.startswith("cannot read the file")
