"""Legacy wall-clock timestamps to UTC.

The optimiser stamped everything with ``datetime.now()``: local time, no
offset. Converting with the configured zone is exact except twice a year.

**Autumn: the repeated hour** (02:00-03:00 in Europe/Warsaw happens twice).
A time in it is resolved by the first rule that applies:

1. *Order in the file.* Legacy files are written in time order. When the wall
   clock steps back inside the repeated hour, what follows is the second
   occurrence (standard time) and what came before it the first. A run of
   repeated-hour times preceded in the file by an earlier time is the first
   occurrence; one followed only by later times is the second.
2. *Another file.* The same wall-clock time already resolved by rule 1 in
   another file (a ``current_data`` file holds the same reading as the
   ``historical_data`` snapshot written with it).
3. *The file's modification time*, for files whose times all fall in the
   repeated hour (single-reading files): the occurrence closest to it, if
   within 20 minutes (copies that lost their mtime fall through).
4. Otherwise the first occurrence (summer time); counted as ``ambiguous_guessed``.

Only some of these placements are *proven* by the file (``unproven``): a single
step back of the wall clock within the file's repeated-hour times (rule 1 with
the step seen), or the file's modification time (rule 3). Records may be
missing from any file, so the rest ("preceded/followed by a clear time", rule 2,
rule 4) is provisional: the migration places such a reading by its lifetime
counters among the proven readings, or rejects it (``placement``). This is
what keeps a source that cannot hold both occurrences (the optimiser's SQLite
table keyed by local time text, written with ``INSERT OR REPLACE``, which keeps
the second) from being read as the first.

**Spring: the skipped hour** (02:00-03:00 does not exist). Such a time can only
come from a clock that was wrong. ``nonexistent="reject"`` (the default) rejects
the reading with a reason; ``"shift_forward"`` reads it with the offset in
force before the gap, i.e. 02:30 becomes 03:30 summer time (counted as
``nonexistent_shifted``). Both keep distinct readings distinct.

Times with an explicit offset (``...+02:00``, ``Z``) are used as written.
Times before 2010 (a clock that was never set: 1970, 2000) or later than now
are rejected.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

NONEXISTENT_POLICIES = ("reject", "shift_forward")
EARLIEST_PLAUSIBLE = datetime(2010, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(minutes=15)
MTIME_MATCH = timedelta(minutes=20)
_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    return (moment - _EPOCH_UTC) // _US


def from_us(us: int) -> datetime:
    return _EPOCH_UTC + timedelta(microseconds=us)


def _utc_text(utc_us: int) -> str:
    """``YYYY-MM-DD HH:MM UTC``, also for instants beyond what ``datetime`` holds."""
    try:
        return f"{from_us(utc_us):%Y-%m-%d %H:%M} UTC"
    except OverflowError:
        return "before year 1 UTC" if utc_us < 0 else "after year 9999 UTC"


def parse_stamp(value: object) -> datetime | str:
    """A legacy timestamp as a datetime (naive = local wall clock), or why it is not one."""
    if isinstance(value, datetime):
        return value
    if value is None:
        return "no timestamp"
    if not isinstance(value, str):
        return f"timestamp is {type(value).__name__}, not text"
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return f"unparseable timestamp {_show(value)}"
    if len(text) <= 10:
        return f"timestamp {_show(value)} has no time of day"
    return moment


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class Known:
    """A time already resolved elsewhere (e.g. a byte-identical element of an earlier file)."""

    naive: datetime | None
    utc_us: int | None
    reason: str | None = None
    fold: int | None = None
    """0/1 when ``naive`` falls in a repeated hour, else None."""


_UNSET = object()
_AMBIGUOUS = "ambiguous"
_GAP = "gap"


class LocalClock:
    """Converts legacy local times of one zone to UTC microseconds, with the DST rules above.

    One instance serves a whole migration run: it remembers repeated-hour times
    resolved from order (rule 2) and counts how each was decided in ``stats``.
    """

    def __init__(self, tz: str, *, nonexistent: str = "reject", now: datetime | None = None):
        if nonexistent not in NONEXISTENT_POLICIES:
            raise ValueError(
                f"nonexistent must be one of {NONEXISTENT_POLICIES}, not {nonexistent!r}"
            )
        self.tz = tz
        self.zone = ZoneInfo(tz)
        self.nonexistent = nonexistent
        moment = now or datetime.now(UTC)
        self.min_us = to_us(EARLIEST_PLAUSIBLE)
        self.max_us = to_us(moment + FUTURE_TOLERANCE)
        self.known_folds: dict[datetime, int] = {}
        self.stats: Counter[str] = Counter()
        self._hours: dict[tuple[int, int, int, int], int | None] = {}

    def classify(self, naive: datetime) -> tuple[str | None, int, int]:
        """``(None|'ambiguous'|'gap', utc_us with fold 0, utc_us with fold 1)``."""
        base = (naive - _EPOCH) // _US
        hour = (naive.year, naive.month, naive.day, naive.hour)
        offset = self._hours.get(hour, _UNSET)
        if offset is _UNSET:
            offset = self._hour_offset(naive)
            self._hours[hour] = offset
        if offset is not None:
            return None, base - offset, base - offset
        off0 = naive.replace(tzinfo=self.zone).utcoffset()
        off1 = naive.replace(tzinfo=self.zone, fold=1).utcoffset()
        us0 = base - off0 // _US
        if off0 == off1:
            return None, us0, us0
        us1 = base - off1 // _US
        return (_AMBIGUOUS if off0 > off1 else _GAP), us0, us1

    def _hour_offset(self, naive: datetime) -> int | None:
        """The UTC offset (us) of a whole local hour, or None if it may change within it."""
        start = naive.replace(minute=0, second=0, microsecond=0)
        end = start.replace(minute=59, second=59, microsecond=999999)
        offsets = {
            moment.replace(tzinfo=self.zone, fold=fold).utcoffset()
            for moment in (start, end)
            for fold in (0, 1)
        }
        return offsets.pop() // _US if len(offsets) == 1 else None

    def plausible(self, utc_us: int) -> str | None:
        if utc_us < self.min_us:
            return f"timestamp {_utc_text(utc_us)} is before 2010 (clock not set)"
        if utc_us > self.max_us:
            return f"timestamp {_utc_text(utc_us)} is in the future"
        return None

    def resolve(
        self, stamps: Sequence[object], *, hint_us: int | None = None
    ) -> list[tuple[int | None, str | None, datetime | None, int | None]]:
        """Resolve the timestamps of one file, in file order.

        Each item is a raw legacy value or a ``Known`` time. Returns per item
        ``(utc_us, rejection_reason, naive_local_time, fold)``: exactly one of the
        first two is set; ``fold`` is 0/1 for a time in the repeated hour.
        """
        return self.resolve_placed(stamps, hint_us=hint_us)[0]

    def resolve_placed(
        self, stamps: Sequence[object], *, hint_us: int | None = None
    ) -> tuple[
        list[tuple[int | None, str | None, datetime | None, int | None]],
        dict[int, tuple[int, int]],
    ]:
        """``resolve``, and the positions whose occurrence in a repeated hour the file does not
        prove (see ``unproven``), each with its two candidate instants ``(us0, us1)``."""
        n = len(stamps)
        utc: list[int | None] = [None] * n
        reasons: list[str | None] = [None] * n
        naives: list[datetime | None] = [None] * n
        ambiguous: list[tuple[int, datetime, int, int]] = []
        known_fold: dict[int, int] = {}
        for i, stamp in enumerate(stamps):
            if isinstance(stamp, Known):
                naives[i] = stamp.naive
                if stamp.utc_us is None:
                    reasons[i] = stamp.reason or "rejected"
                    continue
                utc[i] = stamp.utc_us
                if stamp.fold is not None and stamp.naive is not None:
                    _, us0, us1 = self.classify(stamp.naive)
                    known_fold[i] = stamp.fold
                    ambiguous.append((i, stamp.naive, us0, us1))
                continue
            parsed = parse_stamp(stamp)
            if isinstance(parsed, str):
                reasons[i] = parsed
                continue
            try:
                if parsed.tzinfo is not None:
                    utc[i] = to_us(parsed)
                    continue
                kind, us0, us1 = self.classify(parsed)
            except OverflowError:
                reasons[i] = f"timestamp {_show(stamp)} is out of range"
                continue
            naives[i] = parsed
            if kind is None:
                utc[i] = us0
            elif kind == _GAP:
                if self.nonexistent == "reject":
                    self.stats["nonexistent_rejected"] += 1
                    reasons[i] = (
                        f"local time {parsed.isoformat()} does not exist in {self.tz} "
                        "(spring DST gap)"
                    )
                else:
                    self.stats["nonexistent_shifted"] += 1
                    utc[i] = us0
            else:
                ambiguous.append((i, parsed, us0, us1))
        folds: list[int | None] = [None] * n
        uncertain: dict[int, tuple[int, int]] = {}
        if ambiguous:
            by_mtime = self._resolve_ambiguous(ambiguous, known_fold, naives, utc, hint_us)
            uncertain = unproven(ambiguous, known_fold, by_mtime, utc)
            for i, _, us0, _ in ambiguous:
                folds[i] = 0 if utc[i] == us0 else 1
        for i in range(n):
            if utc[i] is not None and reasons[i] is None:
                reason = self.plausible(utc[i])
                if reason:
                    reasons[i] = reason
                    utc[i] = None
        return list(zip(utc, reasons, naives, folds, strict=True)), uncertain

    def _resolve_ambiguous(
        self,
        items: list[tuple[int, datetime, int, int]],
        known_fold: dict[int, int],
        naives: list[datetime | None],
        utc: list[int | None],
        hint_us: int | None,
    ) -> set[int]:
        """Place each repeated-hour time by rules 1-4 (in ``utc``); returns the positions
        placed by the file's modification time (rule 3)."""
        by_position = {i: (naive, us0, us1) for i, naive, us0, us1 in items}
        clear = [
            naive if naive is not None and i not in by_position and utc[i] is not None else None
            for i, naive in enumerate(naives)
        ]
        latest_after: list[datetime | None] = [None] * (len(clear) + 1)
        for i in range(len(clear) - 1, -1, -1):
            later, here = latest_after[i + 1], clear[i]
            latest_after[i] = (
                here if later is None or (here is not None and here > later) else later
            )
        phase: dict[object, int] = {}
        last: dict[object, datetime] = {}
        pending: dict[object, list[int]] = {}
        folds: dict[int, int] = {}
        by_mtime: set[int] = set()
        earliest: datetime | None = None
        for i, naive in enumerate(naives):
            if naive is None:
                continue
            if i not in by_position:
                if clear[i] is not None and (earliest is None or naive < earliest):
                    earliest = naive
                continue
            day = naive.date()
            if i in known_fold:
                fold = known_fold[i]
                for j in pending.pop(day, []):
                    folds[j] = 0 if fold == 0 or by_position[j][0] > naive else 1
                phase[day] = fold
                last[day] = naive
                continue
            current = phase.get(day)
            if day in last and naive < last[day]:
                for j in pending.pop(day, []):
                    folds[j] = 0
                current = 1
            elif current is None and earliest is not None and earliest < naive:
                current = 0
            last[day] = naive
            if current is None:
                pending.setdefault(day, []).append(i)
            else:
                phase[day] = current
                folds[i] = current
        for i, fold in folds.items():
            naive, us0, us1 = by_position[i]
            utc[i] = us1 if fold else us0
            self.known_folds[naive] = fold
            self.stats["ambiguous_ordered"] += 1
        for positions in pending.values():
            tail = by_position[positions[-1]]
            after = latest_after[positions[-1] + 1]
            if after is not None and after > tail[0]:
                for i in positions:
                    naive, _, us1 = by_position[i]
                    utc[i] = us1
                    self.known_folds[naive] = 1
                    self.stats["ambiguous_ordered"] += 1
                continue
            run_fold = self._hint_fold(tail, hint_us)
            for i in positions:
                naive, us0, us1 = by_position[i]
                fold = self.known_folds.get(naive)
                if fold is not None:
                    self.stats["ambiguous_known"] += 1
                elif run_fold is not None:
                    fold = run_fold
                    by_mtime.add(i)
                    self.stats["ambiguous_mtime"] += 1
                else:
                    fold = 0
                    self.stats["ambiguous_guessed"] += 1
                utc[i] = us1 if fold else us0
        return by_mtime

    @staticmethod
    def _hint_fold(item: tuple[datetime, int, int], hint_us: int | None) -> int | None:
        if hint_us is None:
            return None
        _, us0, us1 = item
        d0, d1 = abs(hint_us - us0), abs(hint_us - us1)
        best, distance = (0, d0) if d0 <= d1 else (1, d1)
        return best if distance <= MTIME_MATCH // _US else None

    def resolve_one(
        self, stamp: object, *, hint_us: int | None = None
    ) -> tuple[int | None, str | None]:
        utc_us, reason, _, _ = self.resolve([stamp], hint_us=hint_us)[0]
        return utc_us, reason

    def day_of(self, utc_us: int):
        """The local calendar date of a UTC instant."""
        return from_us(utc_us).astimezone(self.zone).date()


def unproven(
    items: list[tuple[int, datetime, int, int]],
    known_fold: dict[int, int],
    by_mtime: set[int],
    utc: list[int | None],
) -> dict[int, tuple[int, int]]:
    """The repeated-hour times whose occurrence the file itself does not prove.

    A file in time order proves the occurrence of its repeated-hour times of a day only
    where the wall clock steps back exactly once among them: what comes before the step
    is the first occurrence, what follows it the second (within either occurrence times
    only rise). Without a step any record may be missing, so a run of such times may be
    the first occurrence, the second, or both (02:10 first, then 02:40 second). The rules
    "preceded / followed by a clear time", "another file" and the guess are then only
    provisional: the migration checks them against lifetime counters or rejects the
    reading. A placement from the file's modification time (a reading is written just
    before its single-reading file) stands. Returns ``{position: (us0, us1)}``.
    """
    by_day: dict[object, list[tuple[int, datetime, int, int]]] = {}
    for item in items:
        by_day.setdefault(item[1].date(), []).append(item)
    uncertain: dict[int, tuple[int, int]] = {}
    for run in by_day.values():
        steps = [k for k in range(1, len(run)) if run[k][1] < run[k - 1][1]]
        if len(steps) == 1:
            for k, (i, _, us0, us1) in enumerate(run):
                if i not in known_fold:
                    utc[i] = us0 if k < steps[0] else us1
            continue
        for i, _, us0, us1 in run:
            if i not in known_fold and i not in by_mtime:
                uncertain[i] = (us0, us1)
    return uncertain
