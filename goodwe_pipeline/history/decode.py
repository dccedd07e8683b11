"""A legacy file's bytes to its raw records: gunzipped, size-bounded, parsed, salvaged.

Nothing here raises on bad input except ``Unusable`` with the reason (truncated, empty,
binary, wrong types); ``parse_or_reason`` is the one place that turns a failed parse into
the reason ``migration_files`` shows, for readings and decisions alike.

``historical_data_*`` snapshots are written with ``json.dump(indent=2)``, whose layout lets
the top-level array elements be sliced out without parsing (no JSON string may contain a
raw newline, so ``"\\n  {"`` only ever starts an element): ``split_array`` does that, for the
snapshot chain and to recover the complete records of a file cut short by a crash.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from goodwe_pipeline.history.files import Unusable, size_limit_reason
from goodwe_pipeline.history.formats import Format

T = TypeVar("T")

DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_JSON_VALUES = 8_000_000
"""At most this many JSON values are parsed from one file (counted, before parsing, as its
commas: every value but the last of each array or object is followed by one). Parsed, a value
costs 40-200 bytes, so this and the file-size limit bound the memory one file can take; see
``docs/migration.md`` for the figures."""


GZIP_WINDOW = 31
"""``wbits`` of a gzip-wrapped deflate stream (header and CRC checked by zlib)."""


def decompress(data: bytes, limit: int) -> bytes:
    """The gunzipped content of every member of ``data`` (as ``gzip`` reads them, zero
    padding between members allowed), refusing more than ``limit`` bytes of it.

    ``zlib`` directly: ``gzip.GzipFile`` adds about 0.3 ms of Python per file, which is most
    of the cost of the many small gzipped files of the storage roadmap."""
    parts: list[bytes] = []
    size = 0
    rest = data
    try:
        while rest:
            stream = zlib.decompressobj(GZIP_WINDOW)
            part = stream.decompress(rest, limit + 1 - size)
            parts.append(part)
            size += len(part)
            if size > limit:
                break
            if not stream.eof:
                raise Unusable(
                    "invalid gzip: Compressed file ended before the end-of-stream marker was reached"
                )
            rest = stream.unused_data.lstrip(b"\x00")
            if rest and not rest.startswith(b"\x1f\x8b"):
                raise Unusable("invalid gzip: Not a gzipped file (trailing data after a member)")
    except zlib.error as exc:
        raise Unusable(f"invalid gzip: {_first_line(exc)}") from None
    if size > limit:
        raise Unusable(f"gzip content exceeds the {limit // (1024 * 1024)} MiB limit")
    return parts[0] if len(parts) == 1 else b"".join(parts)


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


ARRAY_HEAD = re.compile(rb"\s*\[\r?\n([ \t]+)\{")


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
        head = ARRAY_HEAD.match(data)
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


@dataclass
class RawRecord:
    stamp: object
    payload: Any = None
    error: str | None = None


def document_records(fmt: Format, text: bytes) -> list[RawRecord]:
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
        return [RawRecord(document.get("timestamp"), document)]
    if isinstance(document, list):
        return [
            RawRecord(item.get("timestamp"), item) if type(item) is dict else _not_object(item)
            for item in document
        ]
    raise Unusable(f"expected an object or a list of objects, found {_kind(document)}")


_NOT_OBJECT: dict[str, RawRecord] = {}


def _not_object(item: Any) -> RawRecord:
    """The rejected record for an array element that is no object: one shared instance per
    kind, so an array of millions of plain numbers costs no more than the parsed array."""
    kind = _kind(item)
    raw = _NOT_OBJECT.get(kind)
    if raw is None:
        raw = _NOT_OBJECT[kind] = RawRecord(None, error=f"record is {kind}, not an object")
    return raw


def _salvage(elements: list[bytes], closed: bool) -> list[RawRecord]:
    raws = []
    for index, element in enumerate(elements):
        try:
            item = load_json(element)
        except Unusable as exc:
            last = index == len(elements) - 1
            reason = (
                "truncated record (the file was cut short)" if last and not closed else str(exc)
            )
            raws.append(RawRecord(None, error=reason))
            continue
        raws.append(RawRecord(stamp_of(item), item))
    if not any(r.error is None for r in raws):
        raise Unusable(raws[0].error if raws else "empty array")
    return raws


def json_lines_records(text: bytes) -> list[RawRecord]:
    raws: list[RawRecord] = []
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
            raws.append(RawRecord(None, error=reason))
            continue
        parsed += 1
        record = _state_record(state, number)
        if record is not None:
            raws.append(record)
    if not parsed and first_error:
        raise Unusable(first_error)
    return raws


def _state_record(state: Any, line: int | None) -> RawRecord | None:
    """The reading in a coordinator state object (``current_data``), if any."""
    where = f"line {line}: " if line else ""
    if not isinstance(state, dict):
        return RawRecord(None, error=f"{where}state is {_kind(state)}, not an object")
    data = state.get("current_data")
    if data is None or data == {}:
        return None
    if not isinstance(data, dict):
        return RawRecord(None, error=f"{where}current_data is {_kind(data)}, not an object")
    stamp = data.get("timestamp") if data.get("timestamp") is not None else state.get("timestamp")
    return RawRecord(stamp, data)


def stamp_of(item: Any) -> object:
    return item.get("timestamp") if isinstance(item, dict) else None


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "a boolean", type(None): "null"}
    return names.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )
