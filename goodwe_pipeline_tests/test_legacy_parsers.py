"""Legacy parsing: formats, timestamps (DST), mapping, the snapshot chain, and never crashing."""

from __future__ import annotations

import gzip
import json
import math
import sqlite3
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goodwe_pipeline.demo.legacy_files import DATABASE, LegacyFolder
from goodwe_pipeline.history import decisions
from goodwe_pipeline.history.decode import split_array
from goodwe_pipeline.history.files import Unusable
from goodwe_pipeline.history.formats import DECISION_FORMATS, READING_FORMATS, Format, detect
from goodwe_pipeline.history.mapping import map_record, to_number
from goodwe_pipeline.history.optimiser_db import open_database, rows_between
from goodwe_pipeline.history.raw_writer import readings_frame
from goodwe_pipeline.history.readers import read_readings, read_snapshot_file
from goodwe_pipeline.history.records import read_records
from goodwe_pipeline.history.snapshots import SnapshotChain
from goodwe_pipeline.history.stats import DailyStats, compare, read_daily_stats
from goodwe_pipeline.history.timestamps import Known, LocalClock, from_us, parse_stamp, to_us
from goodwe_pipeline.readings import FIELD_NAMES, normalize
from goodwe_pipeline_tests.legacy_corpus import SERIAL, flat, nested, reading_at

TZ = "Europe/Warsaw"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
FIELD = {name: i for i, name in enumerate(FIELD_NAMES)}
FILE_READING_FORMATS = [f for f in READING_FORMATS if f is not Format.OPTIMISER_DB]
FILE_DECISION_FORMATS = [f for f in DECISION_FORMATS if f is not Format.OPTIMISER_DB]


def clock(**kwargs) -> LocalClock:
    return LocalClock(TZ, now=NOW, **kwargs)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


truth = reading_at


def times(result) -> list[datetime]:
    """Every valid reading's time: parsed ones and those repeated from the previous snapshot."""
    return sorted(
        [from_us(u) for _, u, _ in result.readings] + [from_us(u) for u in result.repeats]
    )


# -- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt", "moment"),
    [
        (
            "current_data_20250918_230344.json",
            Format.CURRENT_DATA,
            datetime(2025, 9, 18, 23, 3, 44),
        ),
        (
            "historical_data_20250918_230344.json",
            Format.HISTORICAL_DATA,
            datetime(2025, 9, 18, 23, 3, 44),
        ),
        ("energy_data_2025-09-18.json", Format.ENERGY_DATA_DAILY, datetime(2025, 9, 18)),
        (
            "energy_data_20250918_230344.json.gz",
            Format.ENERGY_DATA_SNAPSHOT,
            datetime(2025, 9, 18, 23, 3, 44),
        ),
        (
            "energy_data_20250918_230344.json",
            Format.ENERGY_DATA_SNAPSHOT,
            datetime(2025, 9, 18, 23, 3, 44),
        ),
        ("coordinator_state_20250918.json", Format.COORDINATOR_STATE_LOG, datetime(2025, 9, 18)),
        (
            "coordinator_state_20250918_230344.json",
            Format.COORDINATOR_STATE,
            datetime(2025, 9, 18, 23, 3, 44),
        ),
        ("goodwe_energy.db", Format.OPTIMISER_DB, None),
        ("daily_stats_20250918.json", Format.DAILY_STATS, datetime(2025, 9, 18)),
        (
            "charging_decision_20250918_230344.json",
            Format.CHARGING_DECISION,
            datetime(2025, 9, 18, 23, 3, 44),
        ),
        ("charging_decision_20250918.json", Format.CHARGING_DECISION_LOG, datetime(2025, 9, 18)),
        (
            "battery_selling_decision_20250918_230344.json",
            Format.SELLING_DECISION,
            datetime(2025, 9, 18, 23, 3, 44),
        ),
        ("session_records.json", Format.SELLING_SESSIONS, None),
        ("daily_plan_20250918.json", Format.DAILY_PLAN, datetime(2025, 9, 18)),
        ("current_data_20251399_250000.json", Format.CURRENT_DATA, None),
    ],
)
def test_detects_every_format_from_its_name(name, fmt, moment):
    detected = detect(name)
    assert detected is not None
    assert detected.format is fmt
    assert detected.name_time == moment


@pytest.mark.parametrize(
    "name", ["current_data.json", "notes.txt", "daily_summaries.json", "energy_data_2025-09-18.csv"]
)
def test_ignores_other_files(name):
    assert detect(name) is None


# -- timestamps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-09-18T23:03:44.123456", datetime(2025, 9, 18, 23, 3, 44, 123456)),
        ("2025-09-18 23:03:44.123456", datetime(2025, 9, 18, 23, 3, 44, 123456)),
        ("2025-09-18T23:03:44", datetime(2025, 9, 18, 23, 3, 44)),
        ("2025-09-18T21:03:44Z", datetime(2025, 9, 18, 21, 3, 44, tzinfo=UTC)),
    ],
)
def test_parses_the_optimisers_timestamp_forms(text, expected):
    assert parse_stamp(text) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "no timestamp"),
        (12345, "not text"),
        ("2025-09-18", "no time of day"),
        ("yesterday noon", "unparseable"),
    ],
)
def test_rejects_unusable_timestamps_with_a_reason(value, reason):
    result = parse_stamp(value)
    assert isinstance(result, str) and reason in result


def test_converts_ordinary_local_times_and_explicit_offsets():
    resolved = clock().resolve(
        ["2025-07-01T14:00:00", "2025-12-01 14:00:00", "2025-07-01T14:00:00+00:00"]
    )
    assert [from_us(u) for u, *_ in resolved] == [
        utc("2025-07-01T12:00:00"),
        utc("2025-12-01T13:00:00"),
        utc("2025-07-01T14:00:00"),
    ]


def test_repeated_autumn_hour_is_split_where_the_clock_steps_back():
    stamps = [
        "2025-10-26T01:50:00",
        "2025-10-26T02:20:00",
        "2025-10-26T02:50:00",
        "2025-10-26T02:10:00",
        "2025-10-26T02:40:00",
        "2025-10-26T03:00:00",
    ]
    c = clock()
    resolved = c.resolve(stamps)
    assert [from_us(u) for u, *_ in resolved] == [
        utc("2025-10-25T23:50:00"),
        utc("2025-10-26T00:20:00"),
        utc("2025-10-26T00:50:00"),
        utc("2025-10-26T01:10:00"),
        utc("2025-10-26T01:40:00"),
        utc("2025-10-26T02:00:00"),
    ]
    assert [fold for *_, fold in resolved] == [None, 0, 0, 1, 1, None]
    assert c.stats["ambiguous_ordered"] == 4
    assert c.stats["ambiguous_guessed"] == 0


def test_repeated_hour_run_takes_its_occurrence_from_its_neighbours():
    before = clock().resolve(["2025-10-26T01:55:00", "2025-10-26T02:30:00"])
    assert from_us(before[1][0]) == utc("2025-10-26T00:30:00")
    after = clock().resolve(["2025-10-26T02:30:00", "2025-10-26T02:45:00", "2025-10-26T03:05:00"])
    assert [from_us(u) for u, *_ in after[:2]] == [
        utc("2025-10-26T01:30:00"),
        utc("2025-10-26T01:45:00"),
    ]


def test_isolated_repeated_hour_time_uses_file_mtime_else_first_occurrence():
    second = to_us(utc("2025-10-26T01:30:05"))
    c = clock()
    assert from_us(c.resolve_one("2025-10-26T02:30:00", hint_us=second)[0]) == utc(
        "2025-10-26T01:30:00"
    )
    assert c.stats["ambiguous_mtime"] == 1
    far = to_us(utc("2026-01-01T00:00:00"))
    assert from_us(c.resolve_one("2025-10-26T02:31:00", hint_us=far)[0]) == utc(
        "2025-10-26T00:31:00"
    )
    assert from_us(c.resolve_one("2025-10-26T02:32:00")[0]) == utc("2025-10-26T00:32:00")
    assert c.stats["ambiguous_guessed"] == 2


def test_repeated_hour_time_resolved_in_one_file_is_reused_for_a_lone_copy():
    c = clock()
    c.resolve(["2025-10-26T02:50:00", "2025-10-26T02:20:00.5"])
    assert from_us(c.resolve_one("2025-10-26T02:20:00.5")[0]) == utc("2025-10-26T01:20:00.5")
    assert c.stats["ambiguous_known"] == 1


def test_known_context_drives_the_repeated_hour():
    c = clock()
    first = c.resolve(["2025-10-26T02:50:00", "2025-10-26T02:05:00"])
    context = [Known(datetime(2025, 10, 26, 2, 5), first[1][0], None, 1)]
    resolved = c.resolve([*context, "2025-10-26T02:15:00"])
    assert from_us(resolved[1][0]) == utc("2025-10-26T01:15:00")


def test_spring_gap_is_rejected_by_default_and_shifted_on_request():
    utc_us, reason = clock().resolve_one("2025-03-30T02:30:00")
    assert utc_us is None and "does not exist" in reason and "DST gap" in reason
    c = clock(nonexistent="shift_forward")
    utc_us, reason = c.resolve_one("2025-03-30T02:30:00")
    assert reason is None and from_us(utc_us) == utc("2025-03-30T01:30:00")
    assert c.stats["nonexistent_shifted"] == 1
    with pytest.raises(ValueError, match="nonexistent"):
        LocalClock(TZ, nonexistent="drop")


@pytest.mark.parametrize(
    ("stamp", "reason"),
    [
        ("1970-01-01T01:00:00", "before 2010"),
        ("2000-01-01T00:00:00", "before 2010"),
        ("2026-01-02T00:00:00", "future"),
    ],
)
def test_rejects_clock_not_set_and_future_times(stamp, reason):
    assert reason in clock().resolve_one(stamp)[1]


# -- mapping -------------------------------------------------------------------------------


def test_maps_the_nested_reading_onto_canonical_fields():
    values, device, reason = map_record(nested(truth("2025-09-18T12:00:00")))
    assert reason is None and device == SERIAL
    expected = {
        "pv_power_w": 1000.0, "pv1_power_w": 500.0, "pv2_power_w": 500.0, "battery_power_w": -300.0,
        "battery_soc_pct": 55.0, "battery_temperature_c": 23.0, "battery_voltage_v": 52.1,
        "battery_current_a": -5.7, "grid_power_w": 0.0, "load_power_w": 700.0, "grid_voltage_v": 230.0,
        "pv_energy_today_kwh": 3.2, "load_energy_today_kwh": 4.1, "grid_import_total_kwh": 2000.0,
        "grid_export_total_kwh": 1000.0,
    }  # fmt: skip
    for name, number in expected.items():
        assert values[FIELD[name]] == number, name
    for name in (
        "load_energy_total_kwh",
        "grid_import_today_kwh",
        "grid_export_today_kwh",
        "battery_soh_pct",
    ):
        assert math.isnan(values[FIELD[name]]), name


def test_unknown_power_is_missing_never_the_zero_of_its_kw_copy():
    reading = nested(truth("2025-09-18T12:00:00"), unknown_pv=True)
    assert reading["photovoltaic"]["current_power_kw"] == 0.0
    values, _, reason = map_record(reading)
    assert reason is None
    assert math.isnan(values[FIELD["pv_power_w"]])


def test_text_numbers_null_and_wrong_types():
    reading = nested(truth("2025-09-18T12:00:00"), text_soc=True)
    reading["grid"]["power_w"] = " -1234.5 "
    reading["battery"]["voltage"] = None
    reading["battery"]["power_w"] = [1, 2]
    reading["battery"]["temperature"] = True
    values, _, reason = map_record(reading)
    assert reason is None
    assert values[FIELD["battery_soc_pct"]] == 55.0
    assert values[FIELD["grid_power_w"]] == -1234.5
    for name in ("battery_voltage_v", "battery_power_w", "battery_temperature_c"):
        assert math.isnan(values[FIELD[name]])


@pytest.mark.parametrize(
    "value", ["Unknown", "unknown", "", None, "abc", "nan", "inf", True, [], {}, float("inf")]
)
def test_to_number_treats_non_numbers_as_missing(value):
    assert math.isnan(to_number(value))


def test_maps_flat_records_of_every_schema_version():
    values, device, reason = map_record(flat(truth("2025-09-18T12:00:00")))
    assert reason is None and device is None
    assert values[FIELD["grid_frequency_hz"]] == 50.0
    assert values[FIELD["grid_import_total_kwh"]] == 2000.0
    assert math.isnan(values[FIELD["pv_energy_total_kwh"]])


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"timestamp": "x", "battery_soc": 250}, "SOC 250"),
        ({"timestamp": "x", "battery_soc": -1}, "SOC -1"),
        ({"timestamp": "x", "battery_soc": "Unknown", "pv_power": None}, "no numeric values"),
        ([1, 2], "not an object"),
        ("reading", "not an object"),
    ],
)
def test_rejects_impossible_or_empty_records(record, reason):
    values, _, why = map_record(record)
    assert why is not None and reason in why


def test_serial_unknown_gives_no_device():
    reading = nested(truth("2025-09-18T12:00:00"), serial="Unknown")
    reading["inverter"]["inverter_serial"] = "Unknown"
    assert map_record(reading)[1] is None
    reading["inverter"]["inverter_serial"] = "SN-ALIAS"
    assert map_record(reading)[1] == "SN-ALIAS"


# -- files ---------------------------------------------------------------------------------


def snapshot(stamps: list[str], **kwargs) -> bytes:
    return json.dumps(
        [nested(truth(s), **kwargs) for s in stamps], indent=2, ensure_ascii=False
    ).encode()


def test_split_array_finds_top_level_elements_only():
    doc = [{"a": [{"b": 1}, {"c": "x\\n  {"}], "t": i} for i in range(3)]
    elements, closed, starts = split_array(json.dumps(doc, indent=2).encode())
    assert closed and len(elements) == 3 and len(starts) == 3
    assert [json.loads(e) for e in elements] == doc
    assert split_array(json.dumps(doc).encode()) is None


def test_truncated_snapshot_keeps_its_complete_readings():
    stamps = [f"2025-09-18T12:{m:02d}:00" for m in range(10)]
    data = snapshot(stamps)
    result = read_readings(Format.HISTORICAL_DATA, data[: int(len(data) * 0.75)], clock())
    assert result.error is None
    assert result.valid == 7 and result.rejected == 1
    assert "cut short" in next(iter(result.rejections))


def test_snapshot_chain_reuses_repeated_elements_and_matches_a_plain_parse():
    stamps = [f"2025-09-18T{10 + m // 60:02d}:{m % 60:02d}:00.{m:06d}" for m in range(40)]
    files = [snapshot(stamps[i : i + 12]) for i in range(0, 29, 4)]
    chain = SnapshotChain()
    seen: dict[int, tuple] = {}
    for data in files:
        chained = read_readings(Format.HISTORICAL_DATA, data, clock(), chain=chain)
        plain = read_readings(Format.HISTORICAL_DATA, data, clock())
        assert times(chained) == times(plain)
        assert (chained.first_us, chained.last_us, chained.records, chained.valid) == (
            plain.first_us,
            plain.last_us,
            plain.records,
            plain.valid,
        )
        assert all(u in seen for u in chained.repeats), "a repeat was read before"
        for _, u, values in chained.readings:
            seen[u] = tuple(map(str, values))
        for _, u, values in plain.readings:
            assert seen[u] == tuple(map(str, values))
    assert chain.reused == 8 * (len(files) - 1)


def _on_disk(folder: Path, files: list[bytes]) -> list[Path]:
    legacy = LegacyFolder(folder, TZ)
    return [
        folder / legacy.historical_data(data, datetime(2025, 9, 18, 0, 0, number))
        for number, data in enumerate(files)
    ]


def _stamps(count: int) -> list[str]:
    return [f"2025-09-18T{10 + m // 60:02d}:{m % 60:02d}:00" for m in range(count)]


def _same(result, plain) -> None:
    assert times(result) == times(plain)
    assert (result.records, result.valid, result.rejected, result.first_us, result.last_us) == (
        plain.records,
        plain.valid,
        plain.rejected,
        plain.first_us,
        plain.last_us,
    )


def test_snapshot_files_on_disk_read_like_plain_parsing(tmp_path):
    stamps = _stamps(40)
    files = [snapshot(stamps[i : i + 12]) for i in range(0, 29, 4)]
    chain = SnapshotChain()
    for path, data in zip(_on_disk(tmp_path, files), files, strict=True):
        _same(
            read_snapshot_file(path, clock(), chain),
            read_readings(Format.HISTORICAL_DATA, data, clock()),
        )
    assert chain.reused == 8 * (len(files) - 1)


def _soc_value_at(data: bytes, stamp: str) -> int:
    """Offset of the SOC value of the element with ``stamp``."""
    element = data.index(b'"timestamp": "' + stamp.encode())
    return data.index(b'"soc_percent": ', element) + len(b'"soc_percent": ')


def _second_after_first(folder: Path, first: bytes, second: bytes) -> tuple[object, SnapshotChain]:
    """``second`` read from disk through the chain, right after ``first``."""
    paths = _on_disk(folder, [first, second])
    chain = SnapshotChain()
    read_snapshot_file(paths[0], clock(), chain)
    return read_snapshot_file(paths[1], clock(), chain), chain


def test_a_continuing_snapshot_is_read_at_its_two_ends_only(tmp_path):
    """The repeated middle of a continuing snapshot is taken from the previous file without
    reading it: a same-length change there (it would need an in-place edit) is not seen."""
    stamps = _stamps(20)
    first, second = snapshot(stamps[:12]), snapshot(stamps[4:16])
    soc = _soc_value_at(second, stamps[8])
    edited = second[:soc] + b"9" + second[soc + 1 :]
    assert len(edited) == len(second) and edited != second
    result, chain = _second_after_first(tmp_path, first, edited)
    assert chain.reused == 8
    _same(result, read_readings(Format.HISTORICAL_DATA, second, clock()))


@pytest.mark.parametrize(
    "change",
    ["drop a middle element", "longer middle value", "cut inside the repeated part", "gzip"],
)
def test_a_snapshot_that_does_not_line_up_is_parsed_whole(tmp_path, change):
    stamps = _stamps(20)
    first, second = snapshot(stamps[:12]), snapshot(stamps[4:16])
    if change == "drop a middle element":
        second = snapshot(stamps[4:8] + stamps[9:16])
    elif change == "longer middle value":
        soc = _soc_value_at(second, stamps[8])
        second = second[:soc] + b"1" + second[soc:]
    elif change == "cut inside the repeated part":
        second = second[: len(second) // 2]
    else:
        second = gzip.compress(second)
    result, chain = _second_after_first(tmp_path, first, second)
    assert chain.reused == 0
    _same(result, read_readings(Format.HISTORICAL_DATA, second, clock()))
    if change == "cut inside the repeated part":
        assert result.rejected == 1 and "cut short" in next(iter(result.rejections))


def test_snapshot_chain_carries_the_repeated_hour_across_files():
    seq = ["02:40:00", "02:50:00", "02:00:00.5", "02:10:00", "02:20:00", "02:30:00"]
    stamps = [f"2025-10-26T{s}" for s in seq]
    chain, c = SnapshotChain(), clock()
    read_readings(Format.HISTORICAL_DATA, snapshot(stamps[:4]), c, chain=chain)
    second = read_readings(Format.HISTORICAL_DATA, snapshot(stamps[2:]), c, chain=chain)
    assert chain.reused == 2
    assert sorted(times(second)) == [
        utc("2025-10-26T01:00:00.5"),
        utc("2025-10-26T01:10:00"),
        utc("2025-10-26T01:20:00"),
        utc("2025-10-26T01:30:00"),
    ]


def test_a_guessed_repeated_hour_is_not_carried_into_the_next_file():
    """A file wholly inside the repeated hour can only guess (first occurrence); the next one,
    reaching past 03:00, shows by its order that it was the second occurrence."""
    first = [f"2025-10-26T{s}" for s in ("02:20:00.1", "02:30:00.1", "02:40:00.1")]
    second = [f"2025-10-26T{s}" for s in ("02:30:00.1", "02:40:00.1", "02:50:00.1", "03:00:00.1")]
    chain, c = SnapshotChain(), clock()
    read_readings(Format.HISTORICAL_DATA, snapshot(first), c, chain=chain)
    result = read_readings(Format.HISTORICAL_DATA, snapshot(second), c, chain=chain)
    assert chain.reused == 0
    _same(result, read_readings(Format.HISTORICAL_DATA, snapshot(second), clock()))
    assert times(result) == [
        utc(f"2025-10-26T{s}") for s in ("01:30:00.1", "01:40:00.1", "01:50:00.1", "02:00:00.1")
    ]


def test_a_snapshot_repeating_the_previous_one_whole_is_a_file_of_repeats(tmp_path):
    """Its readings are all repeats: the file is fine, and counted under its device."""
    data = snapshot(_stamps(12))
    result, chain = _second_after_first(tmp_path, data, data)
    plain = read_readings(Format.HISTORICAL_DATA, data, clock())
    assert chain.reused == 12 and len(result.repeats) == 12
    _same(result, plain)
    assert result.reason() is None and result.devices == plain.devices


def test_zero_bytes_after_a_snapshot_lose_no_reading(tmp_path):
    """What a crash can leave at the end of a file (the chained read sees them at the tail)."""
    stamps = _stamps(20)
    first, second = snapshot(stamps[:12]), snapshot(stamps[4:16]) + b"\x00" * 8
    result, chain = _second_after_first(tmp_path, first, second)
    assert chain.reused == 8
    plain = read_readings(Format.HISTORICAL_DATA, second, clock())
    _same(result, plain)
    assert plain.valid == 12 and plain.reason() is None


def test_coordinator_state_lines():
    reading = nested(truth("2025-09-18T12:00:00"))
    lines = [
        json.dumps({"timestamp": "2025-09-18T11:59:00", "state": "starting", "current_data": {}}),
        json.dumps({"timestamp": "2025-09-18T12:00:01", "current_data": reading}),
        "{not json",
        json.dumps({"timestamp": "2025-09-18T12:01:01", "current_data": "oops"}),
        json.dumps(
            {
                "timestamp": "2025-09-18T12:02:01",
                "current_data": nested(truth("2025-09-18T12:02:00")),
            }
        )[:50],
    ]
    result = read_readings(Format.COORDINATOR_STATE_LOG, "\n".join(lines).encode(), clock())
    assert result.valid == 1 and result.records == 4
    reasons = " | ".join(result.rejections)
    assert "line 3" in reasons and "current_data is text" in reasons and "cut short" in reasons


def test_coordinator_shutdown_snapshot_and_its_empty_variant():
    reading = nested(truth("2025-09-18T12:00:00"))
    state = {"timestamp": "2025-09-18 12:00:30.5", "state": "stopped", "current_data": reading}
    result = read_readings(
        Format.COORDINATOR_STATE, json.dumps(state, default=str).encode(), clock()
    )
    assert times(result) == [utc("2025-09-18T10:00:00")]
    empty = read_readings(
        Format.COORDINATOR_STATE, json.dumps({**state, "current_data": {}}).encode(), clock()
    )
    assert "current_data is empty" in empty.error


def test_roadmap_gzip_files_and_broken_gzip():
    body = json.dumps(nested(truth("2025-09-18T12:00:00"))).encode()
    assert read_readings(Format.ENERGY_DATA_SNAPSHOT, gzip.compress(body), clock()).valid == 1
    broken = read_readings(Format.ENERGY_DATA_SNAPSHOT, b"\x1f\x8b\x08junk", clock())
    assert broken.error.startswith("invalid gzip")
    cut = read_readings(Format.ENERGY_DATA_SNAPSHOT, gzip.compress(body)[:40], clock())
    assert cut.error.startswith("invalid gzip")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"  \n ", "empty file"),
        (b"\x00\x01\x02\xff" * 50, "binary"),
        (b'{"timestamp": "2025-09-18T12:00:00", "battery": {', "truncated JSON"),
        (b'{"timestamp": "20', "truncated JSON"),
        (b"[1, 2,, 3]", "invalid JSON at line 1"),
        (b"42", "found a number"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_broken_files_are_rejected_with_a_reason(data, reason):
    result = read_readings(Format.CURRENT_DATA, data, clock())
    assert result.error is not None and reason in result.error
    assert result.reason() == result.error


def test_size_limit():
    result = read_readings(Format.CURRENT_DATA, b"{" + b" " * 2000 + b"}", clock(), limit=1000)
    assert "exceeds" in result.error


def test_flat_array_with_bad_records():
    records = [
        flat(truth("2025-09-18T12:00:00")),
        42,
        {**flat(truth("2025-09-18T12:10:00")), "timestamp": 5},
    ]
    result = read_readings(
        Format.ENERGY_DATA_DAILY, json.dumps(records, indent=2).encode(), clock()
    )
    assert result.valid == 1 and result.rejected == 2
    assert "2 record(s) rejected" in result.reason()


def test_records_from_the_database_rows():
    rows = [
        flat(truth("2025-09-18T12:00:00")),
        {"timestamp": "1970-01-01T00:00:00", "battery_soc": 5},
    ]
    result = read_records(Format.OPTIMISER_DB, rows, clock())
    assert result.valid == 1 and "before 2010" in next(iter(result.rejections))


def test_frame_matches_readings_normalize():
    merged = {
        (device, 1_760_000_000_000_000 + i * 600_000_123): [
            float(i) if j % 3 else math.nan for j in range(len(FIELD_NAMES))
        ]
        for i in range(5)
        for device in ("B", "A")
    }
    built = readings_frame(merged)
    keys = list(merged)
    plain = pd.DataFrame(np.array([merged[k] for k in keys]), columns=list(FIELD_NAMES))
    plain.insert(0, "source", "legacy")
    plain.insert(0, "device_id", [k[0] for k in keys])
    plain.insert(0, "time", pd.to_datetime([k[1] for k in keys], unit="us", utc=True))
    pd.testing.assert_frame_equal(built, normalize(plain))


# -- the optimiser's database --------------------------------------------------------------


def make_db(root: Path, *, wal: bool) -> Path:
    database = LegacyFolder(root, TZ).database("2025-10-01T00:00:00", wal=wal)
    database.readings(
        [
            {"timestamp": stamp, "battery_soc": 50}
            for stamp in (
                "2025-10-26T02:50:00",
                "2025-10-26T02:10:00",
                "2025-10-25T12:00:00",
                "2025-10-28T00:00:00",
            )
        ]
    )
    database.close()
    return root / DATABASE


@pytest.mark.parametrize("wal", [True, False])
def test_database_is_opened_without_creating_any_file(tmp_path, wal):
    path = make_db(tmp_path, wal=wal)
    before = {p.name: p.read_bytes() for p in path.parent.iterdir()}
    with open_database(path) as connection:
        rows = rows_between(
            connection, "energy_data", "timestamp", date(2025, 10, 26), date(2025, 10, 26)
        )
        with pytest.raises(sqlite3.OperationalError):
            connection.execute("INSERT INTO energy_data (timestamp, battery_soc) VALUES ('x', 1)")
    assert [r["timestamp"] for r in rows] == [
        "2025-10-26T02:50:00",
        "2025-10-26T02:10:00",
        "2025-10-25T12:00:00",
    ]
    assert {p.name: p.read_bytes() for p in path.parent.iterdir()} == before


def test_not_a_database(tmp_path):
    path = tmp_path / LegacyFolder(tmp_path, TZ).database_file(b"hello")
    with pytest.raises(Unusable, match="not an SQLite database"), open_database(path):
        pass


# -- decisions and daily stats -------------------------------------------------------------


def scope(**kwargs) -> decisions.Scope:
    return decisions.Scope(clock(), date(2025, 9, 1), date(2025, 9, 30), **kwargs)


def test_charging_decision_variants():
    a = {"timestamp": "2025-09-18T01:00:05", "action": "charge", "current_price": 0.42,
         "energy_kwh": 4.5, "reason": "cheap", "confidence": 0.8, "battery_soc": "35"}  # fmt: skip
    rows = decisions.read_decision_file(Format.CHARGING_DECISION, json.dumps(a).encode(), scope())
    [row] = rows.decisions
    assert row["decision_time"] == utc("2025-09-17T23:00:05")
    assert (row["action"], row["price_pln_kwh"], row["battery_soc"], row["kind"]) == (
        "charge",
        0.42,
        35.0,
        "charging",
    )
    assert row["partition_date"] == date(2025, 9, 18)
    b = {"action": "charge", "start_time": "2025-09-18T02:00:00", "pv_contribution_kwh": 1.0,
         "grid_contribution_kwh": 5.0}  # fmt: skip
    rows = decisions.read_decision_file(Format.CHARGING_DECISION, json.dumps(b).encode(), scope())
    assert rows.decisions[0]["energy_kwh"] == 6.0
    again = decisions.read_decision_file(Format.CHARGING_DECISION, json.dumps(b).encode(), scope())
    assert again.decisions[0]["decision_id"] == rows.decisions[0]["decision_id"]


def test_selling_decision_takes_its_time_from_the_file_name():
    record = {
        "decision": "sell",
        "reasoning": ["high price", "SOC 85"],
        "expected_revenue_pln": 3.2,
    }
    name = datetime(2025, 9, 18, 19, 0, 0)
    rows = decisions.read_decision_file(
        Format.SELLING_DECISION, json.dumps(record).encode(), scope(name_time=name)
    )
    [row] = rows.decisions
    assert row["decision_time"] == utc("2025-09-18T17:00:00")
    assert row["reason"] == "high price; SOC 85" and row["kind"] == "selling"


def test_daily_plan_sessions():
    plan = {"date": "2025-09-18", "sessions": [
        {"session_id": "20250918_1", "start_time": "02:00", "end_time": "04:00", "target_energy_kwh": 6,
         "status": "completed", "priority": 1},
        {"start_time": "2025-09-18T13:00:00", "target_energy_kwh": "Unknown"},
        "junk",
    ]}  # fmt: skip
    rows = decisions.read_decision_file(Format.DAILY_PLAN, json.dumps(plan).encode(), scope())
    first, second = rows.planned
    assert first["start_time"] == utc("2025-09-18T00:00:00") and first["priority"] == "1"
    assert second["session_id"] == "20250918_2" and second["target_energy_kwh"] is None
    assert rows.rejected == 1


def test_decision_files_outside_the_scope_days_give_no_rows():
    record = {"timestamp": "2025-10-18T01:00:05", "action": "wait"}
    rows = decisions.read_decision_file(
        Format.CHARGING_DECISION, json.dumps(record).encode(), scope()
    )
    assert rows.decisions == [] and rows.records == 1 and rows.rejected == 0


def test_daily_stats_comparison():
    stats = read_daily_stats(
        json.dumps(
            {"pv_production": {"total_kwh": 10.0}, "house_consumption": {"total_kwh": "Unknown"}}
        ).encode()
    )
    [row] = compare(stats, {"pv": 10.4, "load": 5.0})
    assert row["quantity"] == "pv" and row["ok"] is True
    [row] = compare(stats, {"pv": 12.0, "load": 5.0})
    assert row["ok"] is False
    assert isinstance(read_daily_stats(b"[1"), str)


# -- never crash ---------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=25,
)
KEYS = ["timestamp", "battery", "photovoltaic", "grid", "house_consumption", "system", "current_data",
        "battery_soc", "pv_power", "soc_percent", "power_w", "inverter_serial", "sessions", "date",
        "start_time", "action", "decision"]  # fmt: skip
READINGISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.sampled_from(
        ["Unknown", "2025-10-26T02:30:00", "2025-03-30T02:30:00", "1970-01-01T00:00:00", "12.5", ""]
    ),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=8)
    ),
    max_leaves=30,
)
FUZZ_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
"""Hypothesis runs of the parsers: 60 examples each, no per-example deadline on a busy machine."""


def _consistent(result) -> None:
    if result.error is not None:
        assert isinstance(result.error, str) and result.error
        assert result.readings == []
    assert result.records == result.valid + result.rejected
    for _device, utc_us, values in result.readings:
        assert isinstance(utc_us, int) and len(values) == len(FIELD_NAMES)


@FUZZ_SETTINGS
@given(data=st.binary(max_size=400), fmt=st.sampled_from(FILE_READING_FORMATS))
def test_reading_parsers_never_raise_on_arbitrary_bytes(data, fmt):
    _consistent(read_readings(fmt, data, clock(), chain=SnapshotChain()))


@FUZZ_SETTINGS
@given(
    document=READINGISH | JSON,
    fmt=st.sampled_from(FILE_READING_FORMATS),
    indent=st.sampled_from([None, 2]),
)
def test_reading_parsers_never_raise_on_arbitrary_json(document, fmt, indent):
    data = json.dumps(document, indent=indent).encode()
    _consistent(read_readings(fmt, data, clock(), chain=SnapshotChain()))
    _consistent(read_readings(fmt, data[: len(data) // 2], clock(), chain=SnapshotChain()))


@FUZZ_SETTINGS
@given(records=st.lists(READINGISH, max_size=6))
def test_database_rows_never_raise(records):
    rows = [r for r in records if isinstance(r, dict)]
    _consistent(read_records(Format.OPTIMISER_DB, rows, clock()))


@FUZZ_SETTINGS
@given(
    document=READINGISH | JSON | st.binary(max_size=200), fmt=st.sampled_from(FILE_DECISION_FORMATS)
)
def test_decision_parsers_never_raise(document, fmt):
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    rows = decisions.read_decision_file(fmt, data, scope(name_time=datetime(2025, 9, 18, 1)))
    assert rows.error is None or rows.rows == 0
    for row in rows.decisions:
        json.dumps(row["details"], allow_nan=False)


@FUZZ_SETTINGS
@given(
    stamps=st.lists(
        st.one_of(st.text(max_size=30), st.integers(), st.none(), st.datetimes().map(str)),
        max_size=8,
    )
)
def test_clock_never_raises_and_decides_each_item(stamps):
    for utc_us, reason, _, _ in clock().resolve(stamps):
        assert (utc_us is None) != (reason is None)


@FUZZ_SETTINGS
@given(data=st.binary(max_size=200) | JSON.map(lambda d: json.dumps(d).encode()))
def test_daily_stats_never_raise(data):
    assert isinstance(read_daily_stats(data), str | DailyStats)


@FUZZ_SETTINGS
@given(
    minutes=st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=30, unique=True),
    window=st.integers(min_value=1, max_value=12),
    step=st.integers(min_value=1, max_value=6),
)
def test_snapshot_chain_equals_plain_parsing(minutes, window, step):
    base = datetime(2025, 9, 18, 1, 0)
    stamps = [(base + timedelta(minutes=m)).isoformat() for m in sorted(minutes)]
    files = [snapshot(stamps[max(0, i - window) : i]) for i in range(1, len(stamps) + 1, step)]
    chain, disk_chain, c1, c2, c3 = SnapshotChain(), SnapshotChain(), clock(), clock(), clock()
    with tempfile.TemporaryDirectory() as folder:
        paths = _on_disk(Path(folder), files)
        for data, path in zip(files, paths, strict=True):
            chained = read_readings(Format.HISTORICAL_DATA, data, c1, chain=chain)
            plain = read_readings(Format.HISTORICAL_DATA, data, c2)
            from_disk = read_snapshot_file(path, c3, disk_chain)
            assert times(chained) == times(plain) == times(from_disk)
            assert (chained.records, chained.first_us, chained.last_us) == (
                plain.records,
                plain.first_us,
                plain.last_us,
            )
            _same(from_disk, plain)
