"""The readings of one legacy file, from its bytes or (a snapshot) from disk."""

from __future__ import annotations

import os

from goodwe_pipeline.history.decode import (
    DEFAULT_MAX_FILE_BYTES,
    RawRecord,
    document_records,
    file_text,
    json_lines_records,
    parse_or_reason,
)
from goodwe_pipeline.history.files import Unusable, open_regular, size_limit_reason
from goodwe_pipeline.history.formats import Format
from goodwe_pipeline.history.records import FileReadings, records_to_readings
from goodwe_pipeline.history.snapshots import SnapshotChain, Source, read_snapshot
from goodwe_pipeline.history.timestamps import LocalClock


def read_readings(
    fmt: Format,
    data: bytes,
    clock: LocalClock,
    *,
    chain: SnapshotChain | None = None,
    hint_us: int | None = None,
    limit: int = DEFAULT_MAX_FILE_BYTES,
) -> FileReadings:
    """The readings of one legacy file (any reading format except the SQLite database)."""
    result = FileReadings(fmt)

    def records() -> list[RawRecord] | None:
        """The file's raw records; None when the snapshot chain read the file itself."""
        text = file_text(data, limit=limit)
        if fmt is Format.HISTORICAL_DATA and chain is not None:
            if read_snapshot(Source(data=text), clock, chain, result, hint_us) is not None:
                return None
            chain.previous = None
        if fmt is Format.COORDINATOR_STATE_LOG:
            return json_lines_records(text)
        return document_records(fmt, text)

    raws, reason = parse_or_reason(data, records)
    if reason is not None:
        result.error = reason
        return result
    if raws is None:
        return result
    records_to_readings(raws, clock, result, hint_us=hint_us)
    return result


def read_snapshot_file(
    path: str | os.PathLike[str],
    clock: LocalClock,
    chain: SnapshotChain,
    *,
    hint_us: int | None = None,
    limit: int = DEFAULT_MAX_FILE_BYTES,
) -> FileReadings:
    """``read_readings`` of a ``historical_data`` file on disk, reading only the ends of a
    file that continues the previous snapshot (``SnapshotChain``)."""
    result = FileReadings(Format.HISTORICAL_DATA)
    try:
        fd, size = open_regular(path)
    except Unusable as exc:
        result.error = str(exc)
        return result
    try:
        source = Source(fd=fd, size=size)
        if source.size > limit:
            result.error = size_limit_reason(source.size, limit)
            return result
        if source.size > 0 and read_snapshot(source, clock, chain, result, hint_us):
            return result
        data = source.range(0, limit + 1)
    except OSError as exc:
        result.error = f"cannot read the file: {exc.strerror or exc}"
        return result
    finally:
        os.close(fd)
    chain.previous = None
    return read_readings(Format.HISTORICAL_DATA, data, clock, hint_us=hint_us, limit=limit)
