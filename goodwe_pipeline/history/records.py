"""Raw records to readings: one time sequence resolved for the DST rules, each record
mapped and validated, and what the file held counted (``FileReadings``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from goodwe_pipeline.history.decode import RawRecord
from goodwe_pipeline.history.formats import Format
from goodwe_pipeline.history.mapping import map_record
from goodwe_pipeline.history.timestamps import Known, LocalClock

Outcome = tuple[str | None, int | None, str | None, Known, list[float] | None]
"""Per array element: (device, utc_us or None, rejection reason or None, its resolved time,
the mapped values)."""


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
    drop_reasons: Counter[str] = field(default_factory=Counter)
    """Why each of the ``dropped`` readings was rejected (they are in ``rejections`` too)."""

    @property
    def valid(self) -> int:
        if self.released is not None:
            return self.released
        return len(self.readings) + len(self.repeats) - self.dropped

    def drop(self, reason: str) -> None:
        """Reject a reading after parsing (one the migration could not place)."""
        self.dropped += 1
        self.rejections[reason] += 1
        self.drop_reasons[reason] += 1

    def absorb_drops(self, reasons: Counter[str]) -> None:
        """Count readings of this file that another process's days rejected (``drop``)."""
        count = sum(reasons.values())
        self.dropped += count
        self.rejections.update(reasons)
        self.drop_reasons.update(reasons)
        if self.released is not None:
            self.released -= count

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


def read_records(fmt: Format, records: list[Mapping[str, Any]], clock: LocalClock) -> FileReadings:
    """Readings from flat records already loaded (the optimiser's SQLite ``energy_data`` rows)."""
    result = FileReadings(fmt)
    records_to_readings([RawRecord(r.get("timestamp"), r) for r in records], clock, result)
    return result


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
    raws: list[RawRecord],
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
