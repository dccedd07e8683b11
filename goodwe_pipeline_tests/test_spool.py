"""The spool: durable under SIGKILL, replayed into a real store exactly once, in order."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
from contextlib import closing
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from goodwe_pipeline import readings
from goodwe_pipeline.common.settings import RawStoreSettings
from goodwe_pipeline.ingest.spool import Spool, refused_for_content
from goodwe_pipeline.raw_store import StoreUnavailableError
from goodwe_pipeline.raw_store.influx import InfluxRawStore
from goodwe_pipeline.raw_store.parquet import ParquetRawStore
from goodwe_pipeline_tests.together import run_together

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DEVICES = ["GW0001", "GW 0002"]


def poll(seq: int, rows_per_device: int = 5) -> pd.DataFrame:
    """What one sensor tick would have written: ``rows_per_device`` readings per device."""
    times = pd.date_range(
        T0 + timedelta(minutes=seq), periods=rows_per_device, freq="10s", tz="UTC"
    )
    frames = []
    for i, device in enumerate(DEVICES):
        frame = pd.DataFrame({"time": times, "device_id": device, "source": "inverter"})
        frame["pv_power_w"] = float(seq)
        frame["battery_soc_pct"] = np.linspace(20, 80, rows_per_device) + i
        frame["grid_power_w"] = np.nan if seq % 2 else -100.0 * seq
        frames.append(frame)
    return readings.normalize(pd.concat(frames, ignore_index=True))


def add_undecodable_entry(spool: Spool) -> None:
    """An entry whose payload is not an Arrow stream, as a damaged disk could leave."""
    with closing(sqlite3.connect(spool.path)) as conn, conn:
        conn.execute(
            "INSERT INTO entries (created_at, rows, payload) VALUES (?, 5, ?)",
            (datetime.now(UTC).isoformat(), b"not an arrow stream"),
        )


WRITER = textwrap.dedent(
    """
    import sys
    from goodwe_pipeline.ingest.spool import Spool, refused_for_content
    from goodwe_pipeline_tests.test_spool import poll

    spool = Spool(sys.argv[1])
    seq = 0
    while True:
        entry_id = spool.append(poll(seq))
        print(seq, entry_id, flush=True)
        seq += 1
    """
)


def test_a_killed_writer_loses_no_acknowledged_entry(tmp_path):
    directory = tmp_path / "spool"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(directory)], stdout=subprocess.PIPE, text=True
    )
    acknowledged: dict[int, int] = {}
    try:
        assert writer.stdout is not None
        for line in writer.stdout:
            seq, entry_id = map(int, line.split())
            acknowledged[seq] = entry_id
            if len(acknowledged) >= 40:
                break
        writer.send_signal(signal.SIGKILL)
        for line in writer.stdout:  # acknowledged before the kill, still in the pipe
            seq, entry_id = map(int, line.split())
            acknowledged[seq] = entry_id
    finally:
        writer.kill()
        writer.wait(30)
        writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL

    with closing(sqlite3.connect(directory / "spool.sqlite")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = {row[0] for row in conn.execute("SELECT id FROM entries")}
    assert set(acknowledged.values()) <= ids
    spool = Spool(directory)
    pending = spool.pending()
    expected = readings.normalize(pd.concat([poll(seq) for seq in acknowledged]))
    kept = pending.merge(expected, on=["device_id", "time"], suffixes=("", "_expected"))
    assert len(kept) == len(expected)
    assert (kept["pv_power_w"] == kept["pv_power_w_expected"]).all()
    assert spool.backlog_entries() == len(ids) and spool.backlog_rows() == len(pending)


FIRST_APPEND = textwrap.dedent(
    """
    import sys
    from goodwe_pipeline.ingest.spool import Spool
    from goodwe_pipeline_tests.test_spool import poll
    from goodwe_pipeline_tests.together import wait_for_go

    spool, frame = Spool(sys.argv[1]), poll(int(sys.argv[2]))
    wait_for_go()
    print(spool.append(frame))
    """
)


def test_processes_appending_to_a_new_spool_at_once_each_keep_their_entry(tmp_path):
    for attempt in range(3):  # the first-use race does not show every time
        directory, workdir = tmp_path / f"spool{attempt}", tmp_path / f"flags{attempt}"
        workdir.mkdir()
        outputs = run_together(FIRST_APPEND, [str(directory), "1"], 4, workdir)
        assert sorted(int(out) for out in outputs) == [1, 2, 3, 4]
        spool = Spool(directory)
        assert spool.backlog_entries() == 4 and spool.backlog_rows() == 4 * 10


def test_replay_after_an_outage_writes_each_reading_once_in_order(private_influx_server, tmp_path):
    influx_server, influx_db = private_influx_server, "goodwe"
    store = InfluxRawStore(
        RawStoreSettings(
            influx_url=influx_server.url, influx_db=influx_db, create_database=True, retries=1
        ),
        backoff=0.05,
    )
    spool = Spool(tmp_path / "spool")
    polls = [poll(seq) for seq in range(8)]
    assert store.write(polls[0]) == 10

    influx_server.stop()
    try:
        for frame in polls[1:]:
            with pytest.raises(StoreUnavailableError):
                store.write(frame)
            spool.append(frame)
        assert spool.backlog_rows() == 70 and spool.backlog_entries() == 7
        down = spool.replay(store)
        assert down.written == 0 and down.remaining == 70
        assert down.error is not None and influx_server.url in down.error
        assert down.store_down and not down.dead_lettered
        assert spool.backlog_entries() == 7
    finally:
        influx_server.start()

    # Oldest first: a replay limited to 20 rows writes the first two spooled polls.
    first = spool.replay(store, max_rows=20)
    assert (first.written, first.remaining, first.entries, first.error) == (20, 50, 2, None)
    end = T0 + timedelta(hours=1)
    assert_stored(store, polls[:3], end)

    # A crash between the store's acknowledgement and the delete repeats an entry: harmless.
    store.write(polls[3])
    rest = spool.replay(store)
    assert (rest.written, rest.remaining, rest.error) == (50, 0, None)
    assert spool.backlog_rows() == 0 and spool.backlog_entries() == 0 and spool.oldest() is None
    assert spool.replay(store).written == 0

    counted = json.loads(
        influx_server.query('SELECT count("pv_power_w") FROM "inverter_readings"', db=influx_db)
    )
    assert counted["results"][0]["series"][0]["values"][0][1] == 80
    assert_stored(store, polls, end)


def assert_stored(store, polls: list[pd.DataFrame], end: datetime) -> None:
    expected = readings.normalize(pd.concat(polls, ignore_index=True))
    pd.testing.assert_frame_equal(store.read(T0, end), expected)


def test_replay_into_parquet_and_backlog_reporting(tmp_path):
    spool = Spool(tmp_path / "spool")
    assert spool.backlog_rows() == 0 and spool.oldest() is None
    before = datetime.now(UTC)
    for seq in range(3):
        spool.append(poll(seq))
    assert spool.append(readings.empty_frame()) is None
    assert spool.backlog_rows() == 30 and spool.backlog_entries() == 3
    oldest = spool.oldest()
    assert oldest is not None and before <= oldest <= datetime.now(UTC)
    pd.testing.assert_frame_equal(
        spool.pending(), readings.normalize(pd.concat([poll(s) for s in range(3)]))
    )

    store = ParquetRawStore(tmp_path / "raw")
    late = spool.replay(store, until=time.monotonic())
    assert (late.written, late.remaining, late.error) == (0, 30, None)
    result = spool.replay(store)
    assert (result.written, result.remaining, result.entries) == (30, 0, 3)
    assert len(store.read(T0, T0 + timedelta(hours=1))) == 30


def test_a_store_that_refuses_keeps_the_entries(influx_server, influx_db, tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.append(poll(0))
    missing_database = InfluxRawStore(
        RawStoreSettings(influx_url=influx_server.url, influx_db=influx_db, retries=0)
    )
    result = spool.replay(missing_database)
    assert result.written == 0 and result.remaining == 10
    assert "database not found" in (result.error or "")
    assert not result.store_down, "the server answered: its refusal is about configuration"
    assert not result.dead_lettered and spool.dead_letter_count() == 0


def test_readings_a_store_would_refuse_never_enter_the_spool(tmp_path):
    spool = Spool(tmp_path / "spool")
    bad = poll(0)
    bad["time"] = bad["time"].astype(object)
    bad.loc[0, "time"] = "2300-01-01T00:00:00Z"
    with pytest.raises(ValueError, match="cannot be stored"):
        spool.append(bad)
    assert spool.backlog_rows() == 0


def test_an_id_line_protocol_cannot_carry_is_spooled_under_its_safe_form(tmp_path):
    spool = Spool(tmp_path / "spool")
    odd = poll(0)
    odd.loc[odd["device_id"] == odd["device_id"].iloc[0], "device_id"] = "ends with\\"
    spool.append(odd)
    assert spool.backlog_rows() == len(odd)
    assert "~ends%20with%5C" in set(spool.pending()["device_id"])


def _influx_write(server, db: str, line: str) -> None:
    """A point written by another program, straight through InfluxDB's HTTP API."""
    query = urllib.parse.urlencode({"db": db, "precision": "ns"})
    request = urllib.request.Request(f"{server.url}/write?{query}", data=line.encode())
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 204


def test_an_entry_refused_for_its_content_is_set_aside_and_the_rest_lands(
    influx_server, influx_db, tmp_path
):
    store = InfluxRawStore(
        RawStoreSettings(
            influx_url=influx_server.url, influx_db=influx_db, create_database=True, retries=0
        )
    )
    store.ensure_database()
    # Another program wrote pv_power_w as a string in January 2024: InfluxDB now refuses
    # float pv_power_w there (HTTP 400, field type conflict), and only there.
    old = T0.replace(year=2024, month=1) - timedelta(days=1)
    old_ns = int(old.timestamp()) * 1_000_000_000
    _influx_write(
        influx_server, influx_db, f'inverter_readings,device_id=X pv_power_w="n/a" {old_ns}'
    )
    conflicting = poll(0)
    conflicting["time"] = conflicting["time"] - (T0 - old)

    spool = Spool(tmp_path / "spool")
    spool.append(poll(1))
    bad_id = spool.append(conflicting)
    spool.append(poll(2))
    spool.append(poll(3))

    result = spool.replay(store)
    assert (result.written, result.remaining, result.entries, result.error) == (30, 0, 3, None)
    # Every device's readings in the entry conflict: split per device, each is set aside.
    assert bad_id not in {letter.id for letter in result.dead_lettered}
    letters = spool.dead_letters()
    assert [letter.id for letter in result.dead_lettered] == [letter.id for letter in letters]
    assert [letter.devices for letter in letters] == [(d,) for d in sorted(DEVICES)]
    assert sum(letter.rows for letter in letters) == 10 and spool.dead_letter_count() == 2
    for letter in letters:
        assert "HTTP 400" in letter.reason and "field type conflict" in letter.reason
        assert letter.spooled_at <= letter.failed_at <= datetime.now(UTC)
    assert_stored(store, [poll(1), poll(2), poll(3)], T0 + timedelta(hours=1))

    # Nothing is dropped: once the cause is gone the dead letters go back in the queue.
    assert spool.replay(store).dead_lettered == ()
    assert spool.requeue_dead_letters() == 2
    assert spool.dead_letter_count() == 0 and spool.backlog_rows() == 10
    elsewhere = ParquetRawStore(tmp_path / "raw")
    assert spool.replay(elsewhere).written == 10
    assert len(elsewhere.read(old - timedelta(hours=1), old + timedelta(hours=1))) == 10


def test_an_undecodable_entry_is_set_aside_and_replay_goes_on(tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.append(poll(0))
    add_undecodable_entry(spool)
    spool.append(poll(1))
    store = ParquetRawStore(tmp_path / "raw")
    result = spool.replay(store)
    assert (result.written, result.remaining, result.entries) == (20, 0, 2)
    (letter,) = spool.dead_letters()
    assert letter.rows == 5 and letter.reason.startswith("cannot be decoded: ")
    assert result.dead_lettered == (letter,)
    assert "set aside as a dead letter: cannot be decoded" in letter.describe()
    assert len(store.read(T0, T0 + timedelta(hours=1))) == 20


def test_which_refusals_are_about_content():
    def refusal(reason: str) -> StoreUnavailableError:
        return StoreUnavailableError("http://influx:8086", reason)

    assert refused_for_content(refusal("HTTP 400 on /write: partial write: field type conflict"))
    assert refused_for_content(refusal("HTTP 422 on /write: points beyond retention policy"))
    assert refused_for_content(ValueError("device_id '' cannot be stored"))
    assert not refused_for_content(refusal('HTTP 404 on /write: database not found: "x"'))
    assert not refused_for_content(refusal("authentication failed (HTTP 401 on /write: x)"))
    assert not refused_for_content(refusal("HTTP 500 on /write: x (after 1 attempts)"))
    assert not refused_for_content(refusal("ConnectionError: refused (after 4 attempts)"))


def test_a_refused_entry_sets_aside_only_the_device_at_fault(tmp_path):
    """An entry spooled while the store was down holds every inverter's readings; when
    the store refuses it for one device's (here an id too long for a Parquet file name),
    the replay lands the others and sets aside only that device's readings."""
    spool = Spool(tmp_path / "spool")
    frame = poll(0)
    too_long = "X" * 300
    frame.loc[frame["device_id"] == DEVICES[0], "device_id"] = too_long
    spool.append(frame)
    store = ParquetRawStore(tmp_path / "raw")
    with pytest.raises(ValueError, match="too long"):
        store.write(frame)

    result = spool.replay(store)
    healthy = frame[frame["device_id"] != too_long]
    assert result.written == len(healthy) and result.remaining == 0
    (letter,) = result.dead_lettered
    assert letter.rows == len(frame) - len(healthy) and "too long" in letter.reason
    (listed,) = spool.dead_letters()
    assert listed.devices == (too_long,)
    back = store.read(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert sorted(back["device_id"].unique()) == sorted(healthy["device_id"].unique())
    assert len(back) == len(healthy)
