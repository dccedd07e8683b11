"""Decide weeks of the optimiser's history, in every format it left on disk (docs/migration.md lists
them), and write it through ``demo.legacy_files``.

The days are split between three versions of the optimiser, as on a real
install that was upgraded twice:

1. the standalone collector: ``current_data_*`` every 5 minutes and
   ``historical_data_*`` snapshots of the last 100 readings every hour, charging
   decisions (variant a), ``daily_stats_*``;
2. the coordinator: ``coordinator_state_YYYYMMDD.json`` JSON Lines (a state per
   poll), ``coordinator_state_*_HHMMSS.json`` on shutdown, daily plans, selling
   decisions, and from half-way on ``energy_data_YYYY-MM-DD.json`` flat arrays;
3. the SQLite version: ``data/goodwe_energy.db`` (``energy_data`` schema 4,
   charging and selling sessions, coordinator decisions), flat daily arrays,
   hourly ``energy_data_*.json[.gz]`` snapshots, charging decisions (variant b).

Timestamps are local wall-clock time without offset; missing sensors read
``"Unknown"``; grid power is + export, battery power + discharge. Three files are
broken as on a real disk (truncated JSON, empty, invalid gzip); every reading they
held is also in another file. ``manifest.json`` (beside the optimiser's folder)
says what was written and what a migration must find.
"""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from goodwe_pipeline.common import days, settings
from goodwe_pipeline.demo import records
from goodwe_pipeline.demo.legacy_files import (
    SCHEMA_VERSION,
    LegacyFolder,
    OptimiserDatabase,
    array_element,
    gzipped_json,
    json_array,
)
from goodwe_pipeline.demo.optimiser import (
    Day,
    Sample,
    Session,
    SimulationConfig,
    simulate,
)
from goodwe_pipeline.demo.prices import quarter_hour_prices, write_price_csv
from goodwe_pipeline.emulator import DEFAULT_MODEL, DEFAULT_SERIAL, HouseholdConfig

LEGACY_FOLDER = "optimiser"
PRICE_FILE = "prices.csv"
MANIFEST_FILE = "manifest.json"
PARTIAL_FOLDER = ".demo-data.partial"
"""Written here first and moved into place when complete: an interrupted run leaves no half history."""
DEFAULT_DAYS = 30
DEFAULT_SEED = 7
SNAPSHOT_READINGS = 100
CURRENT_EVERY_MIN = 5


def default_end(tz: str, now: datetime | None = None) -> date:
    """Yesterday in ``tz``: legacy files cannot hold readings from the future."""
    return days.local_date(now or datetime.now(UTC), tz) - timedelta(days=1)


@dataclass
class Manifest:
    """What the demo history holds; ``expected_readings`` is what a migration must land."""

    first_day: str
    last_day: str
    timezone: str
    seed: int
    device_id: str
    model: str
    legacy_dir: str
    price_csv: str
    price_days: list[str]
    readings_per_day: dict[str, int]
    files: dict[str, int]
    broken_files: list[dict[str, str]]
    rejected_records: int
    charging_decisions: int
    selling_decisions: int
    coordinator_decision_rows: int
    unplaceable_decision_rows: int
    """Rows of the optimiser's database stamped in the repeated autumn hour: the table keeps a
    local time without anything telling which occurrence it was, so the migration rejects them."""
    planned_sessions: int
    selling_sessions: int
    charging_session_rows: int
    daily_stats: dict[str, dict[str, Any]]
    lifetime_kwh_end: dict[str, float]
    soc_end_pct: float
    outages: list[dict[str, str]]
    """Spans (local times) with no reading: the dongle offline, the optimiser restarting."""
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def expected_readings(self) -> int:
        return sum(self.readings_per_day.values())

    @property
    def expected_decisions(self) -> int:
        """Decision rows the migration keeps: every one written but the unplaceable."""
        return (
            self.charging_decisions
            + self.selling_decisions
            + self.coordinator_decision_rows
            - self.unplaceable_decision_rows
        )

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        data = json.loads(Path(path).read_text())
        data.pop("expected_readings", None)
        return cls(**data)


def read_manifest(directory: Path) -> Manifest | None:
    """The manifest of demo data already written in ``directory``, if any."""
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        return Manifest.load(path)
    except (ValueError, TypeError, KeyError):
        return None


# -- the writer ----------------------------------------------------------------------------


def _iso(local: datetime | None) -> str | None:
    return local.isoformat() if local is not None else None


def _after(local: datetime, seconds: float = 0.4) -> datetime:
    return local + timedelta(seconds=seconds)


@dataclass
class _Version:
    """Where a day's files go: which optimiser version ran it."""

    era: int
    flat_arrays: bool


def _repeated_local_time(local: datetime, zone: ZoneInfo) -> bool:
    """Whether a wall-clock time happens twice (the autumn hour): its two folds differ."""
    naive = local.replace(tzinfo=None)
    return (
        naive.replace(tzinfo=zone, fold=0).utcoffset()
        != naive.replace(tzinfo=zone, fold=1).utcoffset()
    )


class HistoryWriter:
    """Writes the days of a simulation into the optimiser's folder layout."""

    def __init__(
        self, root: Path, tz: str, serial: str, model: str, seed: int, eras: tuple[int, int, int]
    ):
        self.folder = LegacyFolder(root, tz)
        self.tz = tz
        self.serial = serial
        self.model = model
        self.seed = seed
        self.era_starts = eras
        self.snapshot: deque[str] = deque(maxlen=SNAPSHOT_READINGS)
        self.last_sample: Sample | None = None
        self.broken: list[dict[str, str]] = []
        self.rejected_records = 0
        self.decisions = Counter()
        self.sales: list[Session] = []
        self.planned = 0
        self.charging_rows = 0
        self.db: OptimiserDatabase | None = None
        self.day_index = 0
        self.uptime_start: datetime | None = None
        self.decision_count = 0
        self.broken_gzip_done = False

    # -- layout by version --

    def version_of(self, index: int) -> _Version:
        _, second, third = self.era_starts
        era = 1 if index < second else 2 if index < third else 3
        return _Version(era=era, flat_arrays=index >= (second + third) // 2)

    def write_day(self, day: Day, restarts: list[datetime]) -> None:
        version = self.version_of(self.day_index)
        if version.era == 1:
            self._collector_day(day)
        else:
            if self.version_of(self.day_index - 1).era == 1 and self.day_index > 0:
                self._collector_shutdown()
            self._coordinator_day(day, version, restarts)
        self._decisions(day, version.era)
        self._stats(day)
        self.day_index += 1

    # -- version 1: the standalone collector --

    def _collector_day(self, day: Day) -> None:
        index_in_era = self.day_index
        for sample in day.samples:
            reading = records.nested_reading(sample, 1, self.serial, self.model, self.seed)
            self.snapshot.append(array_element(reading))
            local = sample.local
            if local.minute % CURRENT_EVERY_MIN == 0:
                text = json.dumps(reading, indent=2)
                broken = self._broken_current(index_in_era, local)
                if broken == "truncated":
                    text = text[: len(text) * 3 // 5]
                elif broken == "empty":
                    text = ""
                name = self.folder.current_data(text, local, _after(local))
                if broken:
                    reason = "truncated JSON" if broken == "truncated" else "empty file"
                    self.broken.append({"path": name, "problem": reason})
            if local.minute == 0:
                self._write_snapshot(local)
            self.last_sample = sample

    def _broken_current(self, index: int, local: datetime) -> str | None:
        if index == 1 and (local.hour, local.minute) == (10, 5):
            return "truncated"
        if index == min(4, self.era_starts[1] - 1) and (local.hour, local.minute) == (14, 10):
            return "empty"
        return None

    def _write_snapshot(self, local: datetime) -> None:
        written = _after(local, 1)
        self.folder.historical_data(json_array(self.snapshot), written, written)

    def _collector_shutdown(self) -> None:
        if self.last_sample is not None and self.snapshot:
            self._write_snapshot(_after(self.last_sample.local, 20))

    # -- versions 2 and 3: the coordinator --

    def _coordinator_day(self, day: Day, version: _Version, restarts: list[datetime]) -> None:
        lines: list[str] = []
        flat: list[str] = []
        rows: list[dict] = []
        first_era2_day = self.version_of(self.day_index - 1).era == 1 if self.day_index else True
        for position, sample in enumerate(day.samples):
            if self.uptime_start is None:
                self.uptime_start = sample.utc
            for restart in list(restarts):
                if restart <= sample.utc:
                    self._shutdown_snapshot()
                    restarts.remove(restart)
                    self.uptime_start = sample.utc
            if version.era == 2:
                reading = records.nested_reading(sample, 2, self.serial, self.model, self.seed)
                state = {
                    "timestamp": str(sample.local),
                    "state": {"charge": "charging", "sell": "selling"}.get(
                        sample.forced, "monitoring"
                    ),
                    "uptime_seconds": round((sample.utc - self.uptime_start).total_seconds(), 1),
                    "current_data": reading,
                    "performance_metrics": {
                        "poll_duration_s": 0.8,
                        "decisions_made": self.decision_count,
                    },
                    "decision_count": self.decision_count,
                }
                lines.append(json.dumps(state, default=str))
                if first_era2_day and position == 3:
                    lines.append(self._unset_clock_state(sample))
            else:
                record = records.flat_record(sample, SCHEMA_VERSION, self.seed)
                rows.append(record)
                if sample.local.minute == 30:
                    self._roadmap_snapshot(sample)
            if version.flat_arrays:
                schema = SCHEMA_VERSION if version.era == 3 else 3
                flat.append(array_element(records.flat_record(sample, schema, self.seed)))
            self.last_sample = sample
        if lines:
            self.folder.coordinator_log(day.day, lines, _after(day.samples[-1].local))
        if flat:
            self.folder.daily_array(day.day, json_array(flat), _after(day.samples[-1].local, 30))
        if rows:
            self._db_readings(rows)

    def _unset_clock_state(self, sample: Sample) -> str:
        """A state logged right after a reboot, before the clock was set: rejected by a migration."""
        reading = records.nested_reading(sample, 2, self.serial, self.model, self.seed)
        stamp = datetime(1970, 1, 1, 1, 0, 42, 512345)
        reading["timestamp"] = stamp.isoformat()
        reading["system"]["last_update"] = stamp.isoformat()
        reading["date"], reading["time"] = "1970-01-01", "01:00:42"
        self.rejected_records += 1
        state = {
            "timestamp": str(stamp),
            "state": "starting",
            "uptime_seconds": 3.2,
            "current_data": reading,
            "performance_metrics": {},
            "decision_count": 0,
        }
        return json.dumps(state, default=str)

    def _shutdown_snapshot(self) -> None:
        """``coordinator_state_*_HHMMSS.json``: the state saved when the optimiser stopped."""
        last = self.last_sample
        if last is None:
            return
        local = _after(last.local, 15)
        state = {
            "timestamp": local.isoformat(),
            "state": "stopped",
            "uptime_seconds": round(
                (last.utc - (self.uptime_start or last.utc)).total_seconds(), 1
            ),
            "current_data": records.nested_reading(last, 2, self.serial, self.model, self.seed),
            "performance_metrics": {"poll_duration_s": 0.8, "decisions_made": self.decision_count},
            "decision_count": self.decision_count,
        }
        self.folder.coordinator_snapshot(state, local, local)

    def _roadmap_snapshot(self, sample: Sample) -> None:
        """The storage roadmap's one-reading files, every hour, half of them gzipped."""
        reading = records.nested_reading(sample, 2, self.serial, self.model, self.seed)
        local = sample.local
        written = _after(local, 1)
        if local.hour % 2 and not self.broken_gzip_done and local.hour == 13:
            junk = random.Random(self.seed)
            valid = gzipped_json(reading)
            data = valid[:10] + bytes(junk.randrange(256) for _ in range(200))
            name = self.folder.energy_snapshot(data, written, written, gzipped=True)
            self.broken.append({"path": name, "problem": "invalid gzip"})
            self.broken_gzip_done = True
        else:
            self.folder.energy_snapshot(reading, written, written, gzipped=bool(local.hour % 2))

    # -- the optimiser's SQLite database --

    def _database(self) -> OptimiserDatabase:
        if self.db is None:
            applied = str(self.last_sample.local if self.last_sample else "")
            self.db = self.folder.database(applied)
        return self.db

    def _db_readings(self, rows: list[dict]) -> None:
        stored = [{**r, "timestamp": str(datetime.fromisoformat(r["timestamp"]))} for r in rows]
        self._database().readings(stored, on_conflict="IGNORE")

    # -- decisions, plans, sessions --

    def _decisions(self, day: Day, era: int) -> None:
        for decision in day.decisions:
            self.decision_count += 1
            if decision.kind == "charging":
                payload = records.charging_a(decision) if era < 3 else records.charging_b(decision)
                self.folder.charging_decision(payload, decision.local, _after(decision.local))
                self.decisions["charging"] += 1
            elif era >= 2:
                self.folder.selling_decision(
                    records.selling(decision), decision.local, _after(decision.local)
                )
                self.decisions["selling"] += 1
            else:
                continue
            if era == 3:
                self._database().decision(
                    {
                        "timestamp": str(decision.local),
                        "decision_type": decision.kind,
                        "action": decision.action,
                        "reason": decision.reason,
                        "parameters": json.dumps(records.parameters(decision)),
                        "source_module": "master_coordinator",
                    }
                )
                self.decisions["coordinator_rows"] += 1
                if _repeated_local_time(decision.local, self.folder.zone):
                    self.decisions["unplaceable_rows"] += 1
        if era >= 2:
            self._daily_plan(day)
            self.sales.extend(day.sales)
        if era == 3:
            self._db_sessions(day)

    def _daily_plan(self, day: Day) -> None:
        sessions = day.plan
        document = {
            "date": day.day.isoformat(),
            "total_sessions": len(sessions),
            "total_duration_hours": round(sum(records.hours(s) for s in sessions), 2),
            "total_estimated_energy_kwh": round(sum(s.target_energy_kwh for s in sessions), 2),
            "total_estimated_cost_pln": round(sum(s.estimated_cost_pln for s in sessions), 2),
            "total_estimated_savings_pln": round(sum(s.estimated_savings_pln for s in sessions), 2),
            "sessions": [
                {
                    "session_id": s.session_id,
                    "start_time": s.start_local.isoformat(),
                    "end_time": s.end_local.isoformat(),
                    "duration_hours": round(records.hours(s), 2),
                    "target_energy_kwh": s.target_energy_kwh,
                    "status": s.status,
                    "priority": "high" if s.session_id.endswith("_1") else "medium",
                    "estimated_cost_pln": s.estimated_cost_pln,
                    "estimated_savings_pln": s.estimated_savings_pln,
                    "created_at": day.plan_created.isoformat(),
                    "started_at": _iso(s.started_local),
                    "completed_at": _iso(s.completed_local),
                    "actual_energy_kwh": s.actual_energy_kwh,
                    "actual_cost_pln": s.actual_cost_pln,
                }
                for s in sessions
            ],
            "created_at": day.plan_created.isoformat(),
            "status": "completed" if sessions else "no_sessions",
        }
        updated = max([day.plan_created, *(s.completed_local or s.start_local for s in sessions)])
        self.folder.daily_plan(day.day, document, _after(updated))
        self.planned += len(sessions)

    def _db_sessions(self, day: Day) -> None:
        db = self._database()
        for s in day.plan:
            if s.status != "completed":
                continue
            db.charging_session(
                {
                    "session_id": s.session_id,
                    "start_time": str(s.started_local),
                    "end_time": str(s.completed_local),
                    "target_soc": 85.0,
                    "energy_kwh": None,
                    "cost_pln": None,
                    "status": "completed",
                    "avg_price": None,
                }
            )
            self.charging_rows += 1
        for s in day.sales:
            db.selling_session(
                {
                    "session_id": s.session_id,
                    "start_time": str(s.started_local),
                    "end_time": str(s.completed_local),
                    "energy_sold_kwh": s.actual_energy_kwh,
                    "revenue_pln": s.actual_cost_pln,
                    "avg_price": s.avg_price_pln_kwh,
                    "status": s.status,
                }
            )
        db.commit()

    def _stats(self, day: Day) -> None:
        written = datetime.combine(day.day + timedelta(days=1), datetime.min.time()).replace(
            minute=5, second=3
        )
        self.folder.daily_stats(day.day, day.stats, written)

    def finish(self) -> None:
        if self.version_of(self.day_index - 1).era == 1:
            self._collector_shutdown()
        if self.sales:
            sold = [records.sale_record(s) for s in self.sales]
            last = max(s.completed_local or s.start_local for s in self.sales)
            self.folder.selling_records(sold, _after(last))
        if self.db is not None:
            last_written = _after(self.last_sample.local) if self.last_sample else None
            self.db.close(last_written)
            self.db = None


# -- entry point ---------------------------------------------------------------------------


def _outages(
    first: date, n: int, eras: tuple[int, int, int], tz: str
) -> tuple[list[tuple[datetime, datetime]], list[datetime]]:
    """A dongle outage and two optimiser restarts in the coordinator's days (UTC spans)."""
    zone = ZoneInfo(tz)
    second, third = eras[1], eras[2]
    spans: list[tuple[datetime, datetime]] = []
    restarts: list[datetime] = []

    def at(index: int, hour: int, minute: int) -> datetime:
        day = first + timedelta(days=index)
        return (
            datetime.combine(day, datetime.min.time())
            .replace(hour=hour, minute=minute, tzinfo=zone)
            .astimezone(UTC)
        )

    if third - second >= 1:
        outage = at(second + (third - second) // 2, 13, 20)
        spans.append((outage, outage + timedelta(minutes=45)))
        for index, (hour, minute) in (
            (second + min(2, third - second - 1), (9, 15)),
            (min(second + 6, n - 1), (21, 40)),
        ):
            moment = at(index, hour, minute)
            spans.append((moment, moment + timedelta(minutes=3)))
            restarts.append(moment)
    return spans, restarts


def _local_text(moment: datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).isoformat(timespec="minutes")


def write_demo_history(
    directory: Path,
    *,
    end: date | None = None,
    days_count: int = DEFAULT_DAYS,
    seed: int = DEFAULT_SEED,
    tz: str | None = None,
    serial: str = DEFAULT_SERIAL,
    model: str = DEFAULT_MODEL,
) -> Manifest:
    """Write ``days_count`` days ending ``end`` (default yesterday) of optimiser history under
    ``directory/optimiser``, prices for those days and the two after under ``directory/prices.csv``,
    and ``directory/manifest.json`` (written last). Refuses an ``end`` of today or later."""
    tz = tz or settings.timezone()
    end = end or default_end(tz)
    if end >= days.local_date(datetime.now(UTC), tz):
        raise ValueError(
            f"--end {end} is not in the past: legacy history ends yesterday at the latest"
        )
    if days_count < 3:
        raise ValueError("--days must be at least 3 (one day per optimiser version)")
    directory = Path(directory)
    final_root = directory / LEGACY_FOLDER
    if final_root.exists() and any(final_root.iterdir()):
        raise FileExistsError(
            f"{final_root} already holds files: remove it first or pick another --dir"
        )
    partial = directory / PARTIAL_FOLDER
    if partial.exists():
        shutil.rmtree(partial)
    root = partial / LEGACY_FOLDER
    first = end - timedelta(days=days_count - 1)
    eras = (0, days_count // 3, 2 * days_count // 3)
    prices = quarter_hour_prices(first, end + timedelta(days=2), tz, seed)
    write_price_csv(prices, partial / PRICE_FILE, tz)
    spans, restarts = _outages(first, days_count, eras, tz)
    household = HouseholdConfig(timezone=tz, seed=seed, soc_start_pct=40.0)
    config = SimulationConfig(
        first=first, last=end, tz=tz, seed=seed, household=household, outages=tuple(spans)
    )
    writer = HistoryWriter(root, tz, serial, model, seed, eras)
    readings: dict[str, int] = {}
    stats: dict[str, dict] = {}
    lifetime: dict[str, float] = {}
    soc_end = 0.0
    for day in simulate(config, prices):
        writer.write_day(day, restarts)
        readings[day.day.isoformat()] = len(day.samples)
        stats[day.day.isoformat()] = day.stats
        if day.samples:
            last = day.samples[-1].values
            lifetime = {
                "pv": last["e_total"],
                "load": last["e_load_total"],
                "import": last["e_total_imp"],
                "export": last["e_total_exp"],
                "charge": last["e_bat_charge_total"],
                "discharge": last["e_bat_discharge_total"],
            }
            soc_end = float(last["battery_soc"])
    writer.finish()
    manifest = Manifest(
        first_day=first.isoformat(),
        last_day=end.isoformat(),
        timezone=tz,
        seed=seed,
        device_id=serial,
        model=model,
        legacy_dir=str(final_root.resolve()),
        price_csv=str((directory / PRICE_FILE).resolve()),
        price_days=[d.isoformat() for d in days.iter_days(first, end + timedelta(days=2))],
        readings_per_day=readings,
        files=dict(sorted(writer.folder.counts.items())),
        broken_files=writer.broken,
        rejected_records=writer.rejected_records,
        charging_decisions=writer.decisions["charging"],
        selling_decisions=writer.decisions["selling"],
        coordinator_decision_rows=writer.decisions["coordinator_rows"],
        unplaceable_decision_rows=writer.decisions["unplaceable_rows"],
        planned_sessions=writer.planned,
        selling_sessions=len({s.session_id for s in writer.sales}),
        charging_session_rows=writer.charging_rows,
        daily_stats=stats,
        lifetime_kwh_end={k: round(v, 3) for k, v in lifetime.items()},
        soc_end_pct=soc_end,
        outages=[{"from": _local_text(a, tz), "to": _local_text(b, tz)} for a, b in sorted(spans)],
    )
    if final_root.exists():
        final_root.rmdir()
    root.rename(final_root)
    (partial / PRICE_FILE).replace(directory / PRICE_FILE)
    partial.rmdir()
    (directory / MANIFEST_FILE).write_text(manifest.to_json())
    return manifest
