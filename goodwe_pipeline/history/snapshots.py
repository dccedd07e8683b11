"""Consecutive ``historical_data`` snapshots: what a file repeats of the previous one is
not parsed again.

Each snapshot holds the last 100 readings, so consecutive files repeat ~95 % of each
other. ``SnapshotChain`` keeps the previous snapshot of the run with the outcome of each
element; the run of elements a file repeats byte for byte is not parsed again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from goodwe_pipeline.history.decode import ARRAY_HEAD, RawRecord, load_json, split_array, stamp_of
from goodwe_pipeline.history.files import Unusable
from goodwe_pipeline.history.records import FileReadings, Outcome, records_to_readings
from goodwe_pipeline.history.timestamps import Known, LocalClock


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


def read_snapshot(
    source: Source,
    clock: LocalClock,
    chain: SnapshotChain,
    result: FileReadings,
    hint_us: int | None,
) -> Snapshot | None:
    """A historical snapshot through the chain; None (``result`` untouched) when its layout
    needs the generic path."""
    head = source.range(0, SNAPSHOT_HEAD_BYTES)
    match = ARRAY_HEAD.match(head)
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
    raws: list[RawRecord] = []
    for position, element in enumerate(elements):
        try:
            item = load_json(element)
        except Unusable:
            if position < len(elements) - 1 or closed:
                return None
            raws.append(RawRecord(None, error="truncated record (the file was cut short)"))
            continue
        raws.append(RawRecord(stamp_of(item), item))
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
    if len(times) < len(block.times):
        for position in [i for i, t in enumerate(block.times) if t is None]:
            result.rejections[block.outcomes[position][2]] += 1
    if not times:
        return
    times.sort()
    result.repeats = times
    result.devices.update(
        [outcome[0] for outcome in block.outcomes if outcome[0] and outcome[1] is not None]
    )
    if result.first_us is None or times[0] < result.first_us:
        result.first_us = times[0]
    if result.last_us is None or times[-1] > result.last_us:
        result.last_us = times[-1]
