"""The files the optimiser wrote: recognising them by name and reading their readings.

Every parser takes the file's bytes and returns a ``FileReadings``: the valid
readings, each rejected record with its reason, or a reason why the whole file
is unusable. Parsers never raise on bad input (truncated, empty, binary, wrong
types): a crash would stop a migration over one broken file.

``historical_data_*`` snapshots each hold the last 100 readings, so consecutive
files repeat ~95 % of each other. They are written with ``json.dump(indent=2)``,
whose layout lets the top-level array elements be sliced out without parsing
(no JSON string may contain a raw newline, so ``"\\n  {"`` only ever starts an
element). ``SnapshotChain`` keeps the previous snapshot of the run with the
outcome of each element; the run of elements a file repeats byte for byte is not
parsed again. The same slicing recovers the complete readings of a file cut
short by a crash.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

import orjson

from goodwe_pipeline.history.files import Unusable, open_regular, size_limit_reason
from goodwe_pipeline.history.mapping import map_record
from goodwe_pipeline.history.timestamps import Known, LocalClock

T = TypeVar("T")

DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_JSON_VALUES = 8_000_000
"""At most this many JSON values are parsed from one file (counted, before parsing, as its
commas: every value but the last of each array or object is followed by one). Parsed, a value
costs 40-200 bytes, so this and the file-size limit bound the memory one file can take; see
``docs/migration.md`` for the figures."""


class Format(StrEnum):
    HISTORICAL_DATA = "historical_data"
    COORDINATOR_STATE_LOG = "coordinator_state_log"
    ENERGY_DATA_DAILY = "energy_data_daily"
    OPTIMISER_DB = "optimiser_db"
    CURRENT_DATA = "current_data"
    ENERGY_DATA_SNAPSHOT = "energy_data_snapshot"
    COORDINATOR_STATE = "coordinator_state"
    DAILY_STATS = "daily_stats"
    CHARGING_DECISION = "charging_decision"
    CHARGING_DECISION_LOG = "charging_decision_log"
    SELLING_DECISION = "battery_selling_decision"
    SELLING_SESSIONS = "selling_session_records"
    DAILY_PLAN = "daily_plan"


READING_FORMATS: tuple[Format, ...] = (
    Format.HISTORICAL_DATA,
    Format.COORDINATOR_STATE_LOG,
    Format.ENERGY_DATA_DAILY,
    Format.OPTIMISER_DB,
    Format.CURRENT_DATA,
    Format.ENERGY_DATA_SNAPSHOT,
    Format.COORDINATOR_STATE,
)
"""In processing order: files whose readings come in sequences (DST context) and
with the most fields first; a reading repeated later only fills missing fields."""

DECISION_FORMATS: tuple[Format, ...] = (
    Format.CHARGING_DECISION,
    Format.CHARGING_DECISION_LOG,
    Format.SELLING_DECISION,
    Format.SELLING_SESSIONS,
    Format.DAILY_PLAN,
    Format.OPTIMISER_DB,
)

SINGLE_READING_FORMATS = frozenset(
    {Format.CURRENT_DATA, Format.ENERGY_DATA_SNAPSHOT, Format.COORDINATOR_STATE}
)

_STAMP = r"(?P<date>\d{8})_(?P<time>\d{6})"
_PATTERNS: tuple[tuple[Format, re.Pattern[str]], ...] = (
    (Format.HISTORICAL_DATA, re.compile(rf"historical_data_{_STAMP}\.json")),
    (Format.CURRENT_DATA, re.compile(rf"current_data_{_STAMP}\.json")),
    (Format.ENERGY_DATA_DAILY, re.compile(r"energy_data_(?P<iso>\d{4}-\d{2}-\d{2})\.json")),
    (Format.ENERGY_DATA_SNAPSHOT, re.compile(rf"energy_data_{_STAMP}\.json(?:\.gz)?")),
    (Format.COORDINATOR_STATE_LOG, re.compile(r"coordinator_state_(?P<date>\d{8})\.json")),
    (Format.COORDINATOR_STATE, re.compile(rf"coordinator_state_{_STAMP}\.json")),
    (Format.OPTIMISER_DB, re.compile(r"goodwe_energy\.db")),
    (Format.DAILY_STATS, re.compile(r"daily_stats_(?P<date>\d{8})\.json")),
    (Format.CHARGING_DECISION, re.compile(rf"charging_decision_{_STAMP}\.json")),
    (Format.CHARGING_DECISION_LOG, re.compile(r"charging_decision_(?P<date>\d{8})\.json")),
    (Format.SELLING_DECISION, re.compile(rf"battery_selling_decision_{_STAMP}\.json")),
    (Format.SELLING_SESSIONS, re.compile(r"session_records\.json")),
    (Format.DAILY_PLAN, re.compile(r"daily_plan_(?P<date>\d{8})\.json")),
)


@dataclass(frozen=True)
class Detected:
    format: Format
    name_time: datetime | None
    """Local wall-clock time in the file name (midnight for date-only names); None if absent or invalid."""


def detect(name: str) -> Detected | None:
    """The legacy format of a file, from its base name; None for anything else."""
    for fmt, pattern in _PATTERNS:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        groups = match.groupdict()
        text = groups.get("iso") or groups.get("date")
        moment = None
        if text:
            d = text.replace("-", "") + (groups.get("time") or "000000")
            try:
                moment = datetime(
                    int(d[:4]), int(d[4:6]), int(d[6:8]), int(d[8:10]), int(d[10:12]), int(d[12:])
                )
            except ValueError:
                moment = None
        return Detected(fmt, moment)
    return None


# -- bytes to JSON -------------------------------------------------------------------------


def decompress(data: bytes, limit: int) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            out = stream.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise Unusable(f"invalid gzip: {_first_line(exc)}") from None
    if len(out) > limit:
        raise Unusable(f"gzip content exceeds the {limit // (1024 * 1024)} MiB limit")
    return out


def file_text(data: bytes, *, limit: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """The JSON bytes of a file: gunzipped when gzip, refusing empty or oversized content
    (more than ``limit`` bytes, or more than ``MAX_JSON_VALUES`` values) before parsing."""
    if len(data) > limit:
        raise Unusable(size_limit_reason(len(data), limit))
    if data[:2] == b"\x1f\x8b":
        data = decompress(data, limit)
    if not data or data.isspace():
        raise Unusable("empty file")
    values = data.count(b",") + 1
    if values > MAX_JSON_VALUES:
        raise Unusable(
            f"file holds about {values:,} JSON values, more than the {MAX_JSON_VALUES:,} "
            "one file may hold (the memory bound of a migration)"
        )
    return data


def load_json(data: bytes) -> Any:
    """The parsed document, else ``Unusable`` with the reason.

    ``orjson`` reads the valid documents (3-4x faster); whatever it refuses goes to
    the standard library, which also accepts ``NaN``/``Infinity`` (as ``json.dump``
    writes them) and integers beyond 64 bits, and explains what is wrong.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(data)
    except RecursionError:
        raise Unusable("JSON nested too deeply") from None
    except UnicodeDecodeError:
        raise Unusable("not JSON: binary data (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise Unusable(json_failure(data, exc)) from None
    except ValueError as exc:
        raise Unusable(f"invalid JSON: {_first_line(exc)}") from None


def out_of_memory(data: bytes) -> str:
    return (
        f"not enough memory to read this file of {len(data) / 1e6:.1f} MB "
        "(lower the file-size limit or give the migration more memory)"
    )


def parse_or_reason(data: bytes, parse: Callable[[], T]) -> tuple[T | None, str | None]:
    """``(parse(), None)``, or ``(None, why the file cannot be read)``: bad input never raises,
    and running out of memory is reported as such, not as a JSON problem."""
    try:
        return parse(), None
    except Unusable as exc:
        return None, str(exc)
    except RecursionError:
        return None, "JSON nested too deeply"
    except MemoryError:
        return None, out_of_memory(data)


def json_failure(data: bytes, exc: json.JSONDecodeError) -> str:
    head = data[:512]
    if b"\x00" in head or sum(b < 9 or 13 < b < 32 for b in head) > 4:
        return "not JSON: binary data"
    if exc.pos >= len(exc.doc.rstrip()) - 1 or exc.msg.startswith("Unterminated string"):
        return f"truncated JSON: the text ends mid-document after {len(data)} bytes"
    return f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


_ARRAY_HEAD = re.compile(rb"\s*\[\r?\n([ \t]+)\{")


_BLANK = b" \t\r\n\x00"
"""What may follow a document: whitespace, and the zero bytes a crash can leave at a file's end."""


def split_array(
    data: bytes, offset: int | None = None, indent: bytes | None = None
) -> tuple[list[bytes], bool, list[int]] | None:
    """Top-level elements of an indented JSON array of objects, without parsing them.

    Returns ``(elements, closed, starts)``: ``closed`` says the array's ``]`` was
    found (False: the file was cut short and the last element may be incomplete).
    None when the text is not laid out by ``json.dump(indent=N)``. With
    ``offset``/``indent``, splitting continues after an element ending at ``offset``.
    """
    if offset is None or indent is None:
        head = _ARRAY_HEAD.match(data)
        if head is None:
            return None
        indent = head.group(1)
        first = head.end() - 1
    else:
        rest = re.compile(rb"\s*,\r?\n" + re.escape(indent) + rb"\{").match(data, offset)
        if rest is None:
            closed = data[offset:].strip(_BLANK) == b"]"
            return ([], True, []) if closed else None
        first = rest.end() - 1
    marker = b"\n" + indent + b"{"
    skip = len(marker) - 1
    starts = [first]
    position = data.find(marker, first)
    while position != -1:
        starts.append(position + skip)
        position = data.find(marker, position + skip)
    elements = [
        data[s : e - skip].rstrip(b" \t\r\n,") for s, e in zip(starts[:-1], starts[1:], strict=True)
    ]
    tail = data[starts[-1] :].rstrip(_BLANK)
    closed = tail.endswith(b"]")
    if closed:
        tail = tail[:-1].rstrip()
    elements.append(tail)
    return elements, closed, starts


# -- readings ------------------------------------------------------------------------------

Outcome = tuple[str | None, int | None, str | None, Known, list[float] | None]
"""Per array element: (device, utc_us or None, rejection reason or None, its resolved time,
the mapped values)."""


@dataclass
class Snapshot:
    """A ``historical_data`` file as the next one in the chain needs it."""

    indent: bytes
    separator: bytes | None
    """The bytes between two elements (``b",\\n  "``); None for a single element."""
    elements: list[bytes]
    """Each complete element's bytes (a repeated element is the previous file's object)."""
    outcomes: list[Outcome]
    times: list[int | None]
    """Per element: its UTC time, None when it was rejected."""
    ambiguous: list[int]
    """Positions of elements in a repeated autumn hour (context for the DST rules)."""

    def position(self, element: bytes) -> int | None:
        """Where ``element`` first occurs among the elements, if it does (a file usually starts
        a few elements in, and unequal elements differ in their first bytes)."""
        for index, known in enumerate(self.elements):
            if known == element:
                return index
        return None


@dataclass
class Block:
    """Elements a snapshot repeats from the previous one: outcomes reused, not parsed."""

    elements: list[bytes]
    outcomes: list[Outcome]
    times: list[int | None]
    ambiguous: list[int]

    def guesses_a_fold(self, clock: LocalClock) -> bool:
        """Whether a repeated-hour time here was only guessed (from the file's mtime, or as the
        first occurrence): the order in the next file may tell otherwise, as a plain parse of it
        would find, so that file is parsed whole."""
        return any(
            known.utc_us is not None and clock.known_folds.get(known.naive) != known.fold
            for known in (self.outcomes[position][3] for position in self.ambiguous)
        )

    def context(self) -> list[Known]:
        """What the DST rules need of these earlier elements: the first clear time (they are in
        time order), those in a repeated hour, and the last."""
        picked = {position: self.outcomes[position][3] for position in self.ambiguous}
        for position, known in enumerate(o[3] for o in self.outcomes):
            if known.utc_us is not None and known.fold is None:
                picked[position] = known
                break
        if self.outcomes:
            picked[len(self.outcomes) - 1] = self.outcomes[-1][3]
        return [picked[p] for p in sorted(picked)]


class SnapshotChain:
    """The previous ``historical_data`` snapshot of the run, to skip what the next one repeats.

    The optimiser keeps its last 100 readings in memory and dumps them every 5
    minutes, so each file is the previous one minus its oldest elements plus the
    new ones. A file continues the previous one when its first element is
    byte-identical to one of the previous file's elements, its separators are the
    same, and at the offset where the rest of the previous file would end, its
    bytes hold the previous file's last element followed by a separator or the
    closing ``]``. Then only those two ends of the file are read: the
    elements in between are the previous file's (same bytes, same total length),
    their outcomes are reused and their readings counted as repeats. Anything
    else (another layout, a file cut short inside the repeated part, a gzip file)
    is read and parsed whole.
    """

    def __init__(self) -> None:
        self.previous: Snapshot | None = None
        self.reused = 0

    def continuation(self, head: bytes, first: int, indent: bytes) -> tuple[int, int] | None:
        """``(index k of the previous file's element the file starts with, byte length of the
        previous file's elements k.. laid out in this file)``; None when it does not continue."""
        prev = self.previous
        if prev is None or prev.indent != indent:
            return None
        opening = _first_element(head, first, indent)
        if opening is None:
            return None
        element, separator = opening
        if prev.separator is not None and separator != prev.separator:
            return None
        index = prev.position(element)
        if index is None:
            return None
        repeated = prev.elements[index:]
        length = sum(map(len, repeated)) + len(separator) * (len(repeated) - 1)
        return index, length

    def block(self, index: int) -> Block:
        prev = self.previous
        ambiguous = [p - index for p in prev.ambiguous if p >= index]
        return Block(prev.elements[index:], prev.outcomes[index:], prev.times[index:], ambiguous)


class Source:
    """A file's bytes, read only where they are needed: a head, a range, or all of them."""

    def __init__(self, data: bytes | None = None, fd: int | None = None, size: int = 0):
        self._data = data
        self._fd = fd
        self.size = len(data) if data is not None else size

    def range(self, start: int, end: int) -> bytes:
        if self._data is not None:
            return self._data[start:end]
        parts = []
        while start < end:
            part = os.pread(self._fd, min(end - start, 1 << 30), start)
            if not part:
                break
            parts.append(part)
            start += len(part)
        return b"".join(parts)

    def all(self) -> bytes:
        if self._data is None:
            self._data = self.range(0, self.size)
        return self._data


SNAPSHOT_HEAD_BYTES = 16 * 1024
"""Read from the start of a snapshot to find its first element (about 1.5 kB)."""


@dataclass
class FileReadings:
    """What one file holds. ``readings`` rows are ``(device or None, utc_us, values)``."""

    format: Format
    records: int = 0
    readings: list[tuple[str | None, int, list[float]]] = field(default_factory=list)
    rejections: Counter[str] = field(default_factory=Counter)
    error: str | None = None
    devices: Counter[str] = field(default_factory=Counter)
    first_us: int | None = None
    last_us: int | None = None
    repeats: list[int] = field(default_factory=list)
    """Sorted UTC times of valid elements repeated from the previous snapshot (their readings
    were taken from that file)."""

    released: int | None = None
    """Valid readings before ``release()`` dropped them."""
    uncertain: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Readings (by index in ``readings``) in a repeated autumn hour whose occurrence the file
    does not prove: their two candidate instants. The migration places them by lifetime
    counters or rejects them (``drop``)."""
    dropped: int = 0

    @property
    def valid(self) -> int:
        if self.released is not None:
            return self.released
        return len(self.readings) + len(self.repeats) - self.dropped

    def drop(self, reason: str) -> None:
        """Reject a reading after parsing (one the migration could not place)."""
        self.dropped += 1
        self.rejections[reason] += 1

    def release(self) -> None:
        """Free the readings once every day they belong to is done; counts stay."""
        self.released = self.valid
        self.readings = []
        self.repeats = []
        self.uncertain = {}

    @property
    def rejected(self) -> int:
        return sum(self.rejections.values())

    def reason(self) -> str | None:
        return file_reason(self.error, self.rejections, bool(self.valid), "readings")


def file_reason(
    error: str | None, rejections: Counter[str], kept_any: bool, what: str
) -> str | None:
    """Why a file is (partly) unusable, as ``migration_files`` shows it: the file-level error,
    else a summary of its rejected records, else "no <what> in the file" when nothing was kept."""
    if error:
        return error
    if not rejections:
        return None if kept_any else f"no {what} in the file"
    top = ", ".join(f"{reason} ({n})" for reason, n in rejections.most_common(3))
    more = len(rejections) - 3
    return f"{sum(rejections.values())} record(s) rejected: {top}" + (
        f" and {more} more" if more > 0 else ""
    )


@dataclass
class _Raw:
    stamp: object
    payload: Any = None
    error: str | None = None


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

    def records() -> list[_Raw] | None:
        """The file's raw records; None when the snapshot chain read the file itself."""
        text = file_text(data, limit=limit)
        if fmt is Format.HISTORICAL_DATA and chain is not None:
            if _read_snapshot(Source(data=text), clock, chain, result, hint_us) is not None:
                return None
            chain.previous = None
        if fmt is Format.COORDINATOR_STATE_LOG:
            return _json_lines(text)
        return _document_records(fmt, text)

    raws, reason = parse_or_reason(data, records)
    if reason is not None:
        result.error = reason
        return result
    if raws is None:
        return result
    records_to_readings(raws, clock, result, hint_us=hint_us)
    return result


def read_records(fmt: Format, records: list[Mapping[str, Any]], clock: LocalClock) -> FileReadings:
    """Readings from flat records already loaded (the optimiser's SQLite ``energy_data`` rows)."""
    result = FileReadings(fmt)
    records_to_readings([_Raw(r.get("timestamp"), r) for r in records], clock, result)
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
        fd = open_regular(path)
    except Unusable as exc:
        result.error = str(exc)
        return result
    try:
        source = Source(fd=fd, size=os.fstat(fd).st_size)
        if source.size > limit:
            result.error = size_limit_reason(source.size, limit)
            return result
        if source.size > 0 and _read_snapshot(source, clock, chain, result, hint_us):
            return result
        data = source.range(0, limit + 1)
    except OSError as exc:
        result.error = f"cannot read the file: {exc.strerror or exc}"
        return result
    finally:
        os.close(fd)
    chain.previous = None
    return read_readings(Format.HISTORICAL_DATA, data, clock, hint_us=hint_us, limit=limit)


def _read_snapshot(
    source: Source,
    clock: LocalClock,
    chain: SnapshotChain,
    result: FileReadings,
    hint_us: int | None,
) -> Snapshot | None:
    """A historical snapshot through the chain; None (``result`` untouched) when its layout
    needs the generic path."""
    head = source.range(0, SNAPSHOT_HEAD_BYTES)
    match = _ARRAY_HEAD.match(head)
    if match is None:
        return None
    indent = match.group(1)
    first = match.end() - 1
    found = chain.continuation(head, first, indent)
    block = Block([], [], [], [])
    if found is not None:
        index, length = found
        block = chain.block(index)
        last = block.elements[-1]
        start = first + length - len(last)
        text = source.range(start, source.size)
        if (
            start + len(last) > source.size
            or not text.startswith(last)
            or block.guesses_a_fold(clock)
        ):
            found = None
            block = Block([], [], [], [])
        else:
            rest = split_array(text, len(last), indent)
    if found is None:
        text = source.all()
        rest = split_array(text)
    if rest is None:
        return None
    elements, closed, _ = rest
    raws: list[_Raw] = []
    for position, element in enumerate(elements):
        try:
            item = load_json(element)
        except Unusable:
            if position < len(elements) - 1 or closed:
                return None
            raws.append(_Raw(None, error="truncated record (the file was cut short)"))
            continue
        raws.append(_Raw(_stamp_of(item), item))
    if found is not None:
        chain.reused += len(block.outcomes)
    outcomes = records_to_readings(raws, clock, result, context=block.context(), hint_us=hint_us)
    _add_block(result, block)
    complete = [i for i, raw in enumerate(raws) if raw.error is None]
    new = [outcomes[i] for i in complete]
    opening = _first_element(head if found is not None else text, first, indent)
    snapshot = Snapshot(
        indent=indent,
        separator=opening[1] if opening else None,
        elements=block.elements + [elements[i] for i in complete],
        outcomes=block.outcomes + new,
        times=block.times + [o[1] for o in new],
        ambiguous=block.ambiguous
        + [len(block.outcomes) + i for i, o in enumerate(new) if o[3].fold is not None],
    )
    if snapshot.outcomes:
        chain.previous = snapshot
    return snapshot


def _first_element(text: bytes, first: int, indent: bytes) -> tuple[bytes, bytes] | None:
    """The first element of an indented array (starting at ``first``) and the bytes
    ``json.dump`` put between it and the second; None without a second element in ``text``."""
    marker = text.find(b"\n" + indent + b"{", first)
    if marker == -1:
        return None
    element = text[first:marker].rstrip(b" \t\r\n,")
    return element, text[first + len(element) : marker + 1 + len(indent)]


def _add_block(result: FileReadings, block: Block) -> None:
    if not block.outcomes:
        return
    result.records += len(block.outcomes)
    times = [t for t in block.times if t is not None]
    for position in [i for i, t in enumerate(block.times) if t is None]:
        result.rejections[block.outcomes[position][2]] += 1
    if not times:
        return
    times.sort()
    result.repeats = times
    for device, utc_us, *_ in block.outcomes:
        if device and utc_us is not None:
            result.devices[device] += 1
    if result.first_us is None or times[0] < result.first_us:
        result.first_us = times[0]
    if result.last_us is None or times[-1] > result.last_us:
        result.last_us = times[-1]


def _document_records(fmt: Format, text: bytes) -> list[_Raw]:
    try:
        document = load_json(text)
    except Unusable:
        split = split_array(text)
        if split is None:
            raise
        return _salvage(split[0], split[1])
    if fmt is Format.COORDINATOR_STATE:
        if not isinstance(document, dict):
            raise Unusable(f"expected an object, found {_kind(document)}")
        record = _state_record(document, None)
        if record is None:
            raise Unusable("no reading in the saved state (current_data is empty)")
        return [record]
    if isinstance(document, dict):
        return [_Raw(document.get("timestamp"), document)]
    if isinstance(document, list):
        return [
            _Raw(item.get("timestamp"), item) if type(item) is dict else _not_object(item)
            for item in document
        ]
    raise Unusable(f"expected an object or a list of objects, found {_kind(document)}")


_NOT_OBJECT: dict[str, _Raw] = {}


def _not_object(item: Any) -> _Raw:
    """The rejected record for an array element that is no object: one shared instance per
    kind, so an array of millions of plain numbers costs no more than the parsed array."""
    kind = _kind(item)
    raw = _NOT_OBJECT.get(kind)
    if raw is None:
        raw = _NOT_OBJECT[kind] = _Raw(None, error=f"record is {kind}, not an object")
    return raw


def _salvage(elements: list[bytes], closed: bool) -> list[_Raw]:
    raws = []
    for index, element in enumerate(elements):
        try:
            item = load_json(element)
        except Unusable as exc:
            last = index == len(elements) - 1
            reason = (
                "truncated record (the file was cut short)" if last and not closed else str(exc)
            )
            raws.append(_Raw(None, error=reason))
            continue
        raws.append(_Raw(_stamp_of(item), item))
    if not any(r.error is None for r in raws):
        raise Unusable(raws[0].error if raws else "empty array")
    return raws


def _json_lines(text: bytes) -> list[_Raw]:
    raws: list[_Raw] = []
    lines = text.splitlines()
    parsed = 0
    first_error: str | None = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            state = load_json(line)
        except Unusable as exc:
            last = number == len(lines) and not text.endswith(b"\n")
            reason = "truncated line (the file was cut short)" if last else f"line {number}: {exc}"
            first_error = first_error or str(exc)
            raws.append(_Raw(None, error=reason))
            continue
        parsed += 1
        record = _state_record(state, number)
        if record is not None:
            raws.append(record)
    if not parsed and first_error:
        raise Unusable(first_error)
    return raws


def _state_record(state: Any, line: int | None) -> _Raw | None:
    """The reading in a coordinator state object (``current_data``), if any."""
    where = f"line {line}: " if line else ""
    if not isinstance(state, dict):
        return _Raw(None, error=f"{where}state is {_kind(state)}, not an object")
    data = state.get("current_data")
    if data is None or data == {}:
        return None
    if not isinstance(data, dict):
        return _Raw(None, error=f"{where}current_data is {_kind(data)}, not an object")
    stamp = data.get("timestamp") if data.get("timestamp") is not None else state.get("timestamp")
    return _Raw(stamp, data)


def _stamp_of(item: Any) -> object:
    return item.get("timestamp") if isinstance(item, dict) else None


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "a boolean", type(None): "null"}
    return names.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


_REJECTED_OUTCOMES: dict[str, Outcome] = {}


def _rejected_outcome(reason: str) -> Outcome:
    """The outcome of a record rejected before its time was read (one per reason, shared)."""
    outcome = _REJECTED_OUTCOMES.get(reason)
    if outcome is None:
        outcome = (None, None, reason, Known(None, None, reason), None)
        if len(_REJECTED_OUTCOMES) < 1000:
            _REJECTED_OUTCOMES[reason] = outcome
    return outcome


def records_to_readings(
    raws: list[_Raw],
    clock: LocalClock,
    result: FileReadings,
    *,
    context: list[Known] | None = None,
    hint_us: int | None = None,
) -> list[Outcome]:
    """Resolve timestamps (one sequence, for the DST rules), map and validate each record.

    ``context`` holds earlier elements already resolved (from the snapshot chain).
    Returns one outcome per raw record.
    """
    lead = context or []
    usable = [raw for raw in raws if raw.error is None]
    placed, uncertain = clock.resolve_placed(
        [*lead, *(raw.stamp for raw in usable)], hint_us=hint_us
    )
    resolved = iter(placed[len(lead) :])
    readings = result.readings
    rejections = result.rejections
    devices = result.devices
    outcomes: list[Outcome] = []
    first, last = result.first_us, result.last_us
    position = len(lead) - 1
    for raw in raws:
        result.records += 1
        if raw.error is not None:
            rejections[raw.error] += 1
            outcomes.append(_rejected_outcome(raw.error))
            continue
        position += 1
        utc_us, reason, naive, fold = next(resolved)
        device = values = None
        if reason is None:
            values, device, reason = map_record(raw.payload)
            if reason is None:
                if position in uncertain:
                    result.uncertain[len(readings)] = uncertain[position]
                readings.append((device, utc_us, values))
        outcomes.append(
            (
                device,
                None if reason else utc_us,
                reason,
                Known(naive, None if reason else utc_us, reason, fold),
                None if reason else values,
            )
        )
        if reason is not None:
            rejections[reason] += 1
            continue
        if device:
            devices[device] += 1
        if first is None or utc_us < first:
            first = utc_us
        if last is None or utc_us > last:
            last = utc_us
    result.first_us, result.last_us = first, last
    return outcomes
