"""The ``poll_inverters`` sensor: emulated inverters, real stores, real spool."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster import DagsterInstance

from goodwe_pipeline.common import settings
from goodwe_pipeline.common.days import local_date
from goodwe_pipeline.defs.ingest.resources import (
    TICK_DEADLINE_S,
    InvertersResource,
    inverters_from_env,
)
from goodwe_pipeline.defs.ingest.sensors import poll_inverters
from goodwe_pipeline.defs.resources import RawStoreResource, raw_store_from_env
from goodwe_pipeline.emulator import Emulator, EmulatorThread
from goodwe_pipeline.health import checkup
from goodwe_pipeline.ingest import poll_tick
from goodwe_pipeline.ingest.inverters import DEFAULT_TIMEOUT_S, close_shared_pollers
from goodwe_pipeline.ingest.spool import Spool, spool_dir
from goodwe_pipeline.raw_store.prepare import raw_device_id, safe_device_id
from goodwe_pipeline.readings import MEASUREMENT

TZ = settings.DEFAULT_TIMEZONE


@pytest.fixture(autouse=True)
def _close_pollers():
    yield
    close_shared_pollers()


def inverters_for(*emulators: Emulator, **kwargs) -> InvertersResource:
    spec = ",".join(f"{e.address}/ET" for e in emulators)
    return InvertersResource(inverters=spec, timeout_s=1.0, retries=2, **kwargs)


def tick(sensor_resources: dict, cursor: str | None, instance: DagsterInstance):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=sensor_resources)
    return poll_inverters.evaluate_tick(context)


def recent_window() -> tuple[datetime, datetime]:
    """Around now, across midnight if need be: every reading these tests poll is in it."""
    now = datetime.now(UTC)
    return now - timedelta(hours=2), now + timedelta(hours=1)


def test_sensor_definition():
    assert poll_inverters.name == "poll_inverters"
    assert poll_inverters.minimum_interval_seconds == settings.DEFAULT_POLL_SECONDS
    assert poll_inverters.default_status == dg.DefaultSensorStatus.RUNNING


def test_resource_reads_the_environment(monkeypatch):
    monkeypatch.setenv("GOODWE_INVERTERS", "192.168.1.50/ET, 192.168.1.51:502/ET")
    monkeypatch.setenv("GOODWE_POLL_SECONDS", "12")
    monkeypatch.setenv("GOODWE_INVERTER_TIMEOUT_S", "0.5")
    monkeypatch.setenv("GOODWE_INVERTER_RETRIES", "2")
    monkeypatch.setenv("GOODWE_POLL_CONCURRENCY", "4")
    with dg.build_resources({"inverters": inverters_from_env()}) as built:
        resource = built.inverters
    plan = resource.plan()
    assert [a.label for a in plan.addresses] == ["192.168.1.50:8899", "192.168.1.51:502"]
    assert resource.poll_seconds == 12
    assert plan.budget.poll_s < 12
    assert (plan.timeout_s, plan.retries, plan.max_concurrency) == (0.5, 2, 4)
    assert plan.warnings == ()

    monkeypatch.setenv("GOODWE_INVERTER_TIMEOUT_S", "soon")
    assert inverters_from_env().timeout_s == DEFAULT_TIMEOUT_S, "loads; the sensor reports it"
    with pytest.raises(settings.SettingError, match="GOODWE_INVERTER_TIMEOUT_S='soon' is not"):
        settings.require("GOODWE_INVERTER_TIMEOUT_S")


def plan(poll_seconds: int, **settings) -> poll_tick.PollPlan:
    return poll_tick.plan_poll([], poll_seconds, timezone=TZ, tick_s=TICK_DEADLINE_S, **settings)


def test_request_settings_that_cannot_fit_the_tick_are_reduced_with_a_warning():
    fitted = plan(30, timeout_s=20.0, retries=3, max_concurrency=8)
    assert fitted.budget.poll_s == 24.0
    assert (fitted.timeout_s, fitted.retries) == (12.0, 0)
    (warning,) = fitted.warnings
    assert "GOODWE_INVERTER_TIMEOUT_S=20 with GOODWE_INVERTER_RETRIES=3" in warning
    assert "using 12 s and 0 retries" in warning
    fewer = plan(30, timeout_s=5.0, retries=3, max_concurrency=8)
    assert (fewer.timeout_s, fewer.retries) == (5.0, 1) and fewer.warnings

    # However long the interval, the poll leaves the tick time to replay and to write.
    slow = plan(3600, timeout_s=1.0, retries=3, max_concurrency=8).budget
    assert slow.replay_until(0.0) == poll_tick.REPLAY_WINDOW_S
    assert plan(10, timeout_s=1.0, retries=3, max_concurrency=8).budget.poll_s == 8.0
    assert slow.total_s == TICK_DEADLINE_S < 60

    for kwargs, name in [
        ({"timeout_s": 0.0, "retries": 1, "max_concurrency": 1}, "GOODWE_INVERTER_TIMEOUT_S"),
        ({"timeout_s": 1.0, "retries": -1, "max_concurrency": 1}, "GOODWE_INVERTER_RETRIES"),
        ({"timeout_s": 1.0, "retries": 1, "max_concurrency": 0}, "GOODWE_POLL_CONCURRENCY"),
    ]:
        with pytest.raises(ValueError, match=name):
            plan(30, **kwargs)


def test_nonsense_poll_settings_are_the_skip_reason(tmp_path: Path):
    resources = {
        "inverters": InvertersResource(inverters="192.0.2.1/ET", retries=-1),
        "raw_store": RawStoreResource(data_dir=str(tmp_path)),
    }
    result = tick(resources, None, DagsterInstance.ephemeral())
    assert result.skip_message == "GOODWE_INVERTER_RETRIES must be 0 or more, not -1"


def test_ticks_write_readings_and_summarise_at_most_every_five_minutes(tmp_path: Path, tcp):
    emulators = [tcp("9010KETU23EM0801"), tcp("9010KETU23EM0802")]
    emulators[0].set_values({"battery_soc": 77, "ppv1": 1000, "ppv2": 500})
    raw_store = RawStoreResource(data_dir=str(tmp_path))
    instance = DagsterInstance.ephemeral()
    with EmulatorThread(*emulators):
        resources = {"inverters": inverters_for(*emulators), "raw_store": raw_store}
        first = tick(resources, None, instance)
        second = tick(resources, first.cursor, instance)
    store = raw_store.get_store()
    frame = store.read(*recent_window())
    assert sorted(frame["device_id"].unique()) == ["9010KETU23EM0801", "9010KETU23EM0802"]
    assert len(frame) == 4

    assert len(first.asset_events) == 1
    event = first.asset_events[0]
    assert event.asset_key == dg.AssetKey(MEASUREMENT)
    assert event.partition == local_date(frame["time"].max().to_pydatetime(), TZ).isoformat()
    metadata = {k: v.value for k, v in event.metadata.items()}
    assert metadata["devices_polled"] == 2 and metadata["devices_failed"] == 0
    assert metadata["readings_written"] == 2 and metadata["spool_backlog_rows"] == 0
    assert metadata["9010KETU23EM0801/battery_soc_pct"] == 77.0
    assert metadata["9010KETU23EM0801/pv_power_w"] == 1500.0
    assert "9010KETU23EM0802" in metadata["devices"]

    assert not second.asset_events
    assert "2 reading(s) written" in second.skip_message
    assert json.loads(second.cursor)["written_since_event"] == 2


def test_failing_inverter_is_counted_and_named_while_others_are_written(tmp_path: Path, tcp):
    good, silent = tcp("9010KETU23EM0901"), tcp("9010KETU23EM0902", silent=True)
    raw_store = RawStoreResource(data_dir=str(tmp_path))
    instance = DagsterInstance.ephemeral()
    with EmulatorThread(good, silent):
        resources = {"inverters": inverters_for(good, silent), "raw_store": raw_store}
        first = tick(resources, None, instance)
        second = tick(resources, first.cursor, instance)
    failures = json.loads(second.cursor)["failures"]
    assert failures == {good.address: 0, silent.address: 2}
    assert f"{silent.address}: no answer" in second.skip_message
    metadata = first.asset_events[0].metadata
    assert metadata["devices_failed"].value == 1
    assert "failed (1x)" in metadata["devices"].value
    assert len(raw_store.get_store().read(*recent_window())) == 2


def test_bad_configuration_and_broken_store_never_raise(tmp_path: Path, tcp):
    instance = DagsterInstance.ephemeral()
    raw_store = RawStoreResource(data_dir=str(tmp_path))
    bad = {"inverters": InvertersResource(inverters="host:port"), "raw_store": raw_store}
    result = tick(bad, None, instance)
    assert (
        "GOODWE_INVERTERS" in result.skip_message
        and "'port' is not a number" in result.skip_message
    )

    empty = {"inverters": InvertersResource(), "raw_store": raw_store}
    assert (
        tick(empty, None, instance).skip_message == "GOODWE_INVERTERS is empty: no inverter polled"
    )

    emulator = tcp("9010KETU23EM1001")
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the raw store wants a folder")
    with EmulatorThread(emulator):
        broken = {
            "inverters": inverters_for(emulator),
            "raw_store": RawStoreResource(data_dir=str(blocked)),
        }
        result = tick(broken, "not json", instance)
    assert not result.asset_events
    assert "spool failed too" in result.skip_message or "LOST" in result.skip_message


def test_store_outage_spools_and_replays_exactly_once_in_order(
    tmp_path, private_influx_server, tcp
):
    influx_server, influx_db = private_influx_server, "goodwe"
    emulators = [tcp("9010KETU23EM1101"), tcp("9010KETU23EM1102")]
    raw_store = RawStoreResource(
        data_dir=str(tmp_path), influx_url=influx_server.url, influx_db=influx_db
    )
    instance = DagsterInstance.ephemeral()
    spool = Spool(tmp_path / "spool")
    results = []
    with EmulatorThread(*emulators):
        resources = {"inverters": inverters_for(*emulators), "raw_store": raw_store}
        results.append(tick(resources, None, instance))
        influx_server.stop()
        try:
            for _ in range(3):
                results.append(tick(resources, results[-1].cursor, instance))
            assert spool.backlog_rows() == 6
        finally:
            influx_server.start()
        results.append(tick(resources, results[-1].cursor, instance))
    outage = results[1:4]
    assert all(not r.asset_events for r in outage)
    assert all("unavailable" in r.skip_message for r in outage)
    assert "spool backlog 6" in outage[-1].skip_message
    assert spool.backlog_rows() == 0
    assert "6 replayed from the spool" in (results[-1].asset_events[0].description or "")
    assert results[-1].asset_events[0].metadata["readings_written"].value == 8

    body = json.loads(
        influx_server.query(
            'SELECT "battery_soc_pct" FROM "inverter_readings" GROUP BY "device_id"', db=influx_db
        )
    )
    series = body["results"][0]["series"]
    assert sorted(s["tags"]["device_id"] for s in series) == [
        "9010KETU23EM1101",
        "9010KETU23EM1102",
    ]
    for s in series:
        times = [row[0] for row in s["values"]]
        assert len(times) == 5
        assert times == sorted(set(times))


def test_event_throttle_and_cursor_round_trip():
    now = datetime(2025, 6, 1, 12, tzinfo=UTC)
    state = poll_tick.TickState(
        failures={"h:1": 2}, last_event_at=now, last_event_partition="2025-06-01"
    )
    again = poll_tick.TickState.from_cursor(state.to_cursor())
    assert again == state
    assert not again.event_due(now + timedelta(minutes=4), "2025-06-01")
    assert again.event_due(now + timedelta(minutes=5), "2025-06-01")
    assert again.event_due(now + timedelta(minutes=1), "2025-06-02")
    assert poll_tick.TickState.from_cursor("{broken") == poll_tick.TickState()
    assert poll_tick.partition_key(datetime(2025, 6, 1, 22, 30, tzinfo=UTC), TZ) == "2025-06-02"


class HungServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers: an InfluxDB
    whose process is wedged but still holds its port."""

    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            self._held.append(connection)

    def __enter__(self) -> HungServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(5)
        for connection in self._held:
            connection.close()
        self._listener.close()


def test_a_hung_store_never_holds_a_tick_past_its_deadline(monkeypatch, tcp):
    emulator = tcp("9010KETU23EM1201")
    instance = DagsterInstance.ephemeral()
    spool = Spool(spool_dir(settings.data_dir()))
    results = []
    with HungServer() as hung, EmulatorThread(emulator):
        monkeypatch.setenv("GOODWE_INFLUX_URL", hung.url)
        resources = {"inverters": inverters_for(emulator), "raw_store": raw_store_from_env()}
        for _ in range(2):  # the fresh write hangs; then the replay of the spool hangs
            started = time.monotonic()
            results.append(tick(resources, results[-1].cursor if results else None, instance))
            assert time.monotonic() - started < TICK_DEADLINE_S
            assert hung.url in results[-1].skip_message
    assert "1 spooled" in results[0].skip_message
    assert "replaying the spool" in results[1].skip_message
    assert "1 spooled; spool backlog 2" in results[1].skip_message
    assert spool.backlog_rows() == 2


def test_with_no_time_left_readings_are_spooled_and_the_next_tick_lands_them(tmp_path: Path, tcp):
    emulator = tcp("9010KETU23EM1401")
    raw_store = RawStoreResource(data_dir=str(tmp_path))
    spool = Spool(spool_dir(tmp_path))
    with EmulatorThread(emulator):
        fitted = inverters_for(emulator).plan()
        no_time = replace(fitted.budget, total_s=0.0)
        late = [poll_tick.run_tick(fitted.poll, raw_store.get_store, spool, no_time) for _ in "ab"]
        on_time = poll_tick.run_tick(fitted.poll, raw_store.get_store, spool, fitted.budget)
    for outcome in late:
        assert (outcome.written, outcome.replayed, outcome.spooled) == (0, 0, 1)
        assert any("no time left in the 0 s tick" in p for p in outcome.problems)
    assert late[-1].backlog == 2
    assert (on_time.replayed, on_time.written, on_time.backlog) == (2, 1, 0)
    assert len(raw_store.get_store().read(*recent_window())) == 3


def _refuse_float_soc_from_now_on(server, db: str) -> None:
    """Another program writes battery_soc_pct as a string: InfluxDB refuses our float SOC
    for this week's shard (HTTP 400, field type conflict)."""
    line = f'inverter_readings,device_id=other battery_soc_pct="full" {time.time_ns() - 10**9}'
    query = urllib.parse.urlencode({"db": db})
    request = urllib.request.Request(f"{server.url}/write?{query}", data=line.encode())
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 204


def test_refused_readings_are_set_aside_without_blocking_new_ones(
    tmp_path, influx_server, influx_db, tcp
):
    emulator = tcp("9010KETU23EM1301")
    raw_store = RawStoreResource(
        data_dir=str(tmp_path), influx_url=influx_server.url, influx_db=influx_db
    )
    raw_store.get_store().ensure_database()
    _refuse_float_soc_from_now_on(influx_server, influx_db)
    spool = Spool(spool_dir(tmp_path))
    instance = DagsterInstance.ephemeral()
    with EmulatorThread(emulator):
        resources = {"inverters": inverters_for(emulator), "raw_store": raw_store}
        first = tick(resources, None, instance)
        assert "field type conflict" in first.skip_message and "1 spooled" in first.skip_message
        assert spool.dead_letter_count() == 0

        # Refused again on replay: set aside; the store still gets this tick's readings.
        second = tick(resources, first.cursor, instance)
        assert "set aside as a dead letter" in second.skip_message
        assert f"writing to {influx_server.url}" in second.skip_message
        assert spool.dead_letter_count() == 1 and spool.backlog_rows() == 1

        influx_server.query('DROP MEASUREMENT "inverter_readings"', db=influx_db)
        third = tick(resources, second.cursor, instance)
    assert spool.backlog_rows() == 0
    (event,) = third.asset_events
    assert "1 replayed from the spool" in (event.description or "")
    assert event.metadata["spool_dead_letters"].value == 1
    assert "1 spool entries set aside as dead letters" in (event.description or "")
    stored = raw_store.get_store().read(*recent_window())
    assert len(stored) == 2 and set(stored["device_id"]) == {"9010KETU23EM1301"}
    (letter,) = spool.dead_letters()
    assert "field type conflict" in letter.reason and letter.rows == 1


UTF16_SERIAL = "ET\x00\nSERIAL0001\x00\x01"
"""16 bytes with some below 0x20: ``goodwe`` decodes them as UTF-16, into
``'䕔\\n卅剉䅌〰〱\\x01'`` (a line feed and a control character in the serial)."""


@pytest.mark.parametrize("odd_serial", [UTF16_SERIAL, "9010KETU23EM12\\\\"])
def test_an_odd_serial_lands_under_its_safe_id_and_loses_no_other_reading(stores, odd_serial, tcp):
    """One inverter whose serial line protocol cannot carry (control characters, a trailing
    backslash) next to a healthy one: every reading of both lands, the odd one under its
    safe id, named in the tick summary; nothing is spooled or set aside."""
    raw_store = stores.raw_store
    healthy, odd = tcp("9010KETU23EM1201"), tcp(odd_serial)
    instance = DagsterInstance.ephemeral()
    results = []
    with EmulatorThread(healthy, odd):
        resources = {"inverters": inverters_for(healthy, odd), "raw_store": raw_store}
        results.append(tick(resources, None, instance))
        results.append(tick(resources, results[-1].cursor, instance))
    reported = odd_serial.rstrip().replace("\x00", "")
    if odd_serial == UTF16_SERIAL:
        reported = odd_serial.encode("ascii").decode("utf-16be").rstrip().replace("\x00", "")
        assert reported == "\u4554\n\u5345\u5249\u414c\u3030\u3031\x01"
    safe = safe_device_id(reported)
    assert safe != reported and safe.startswith("~") and raw_device_id(safe) == reported

    frame = raw_store.get_store().read(*recent_window())
    assert frame.groupby("device_id").size().to_dict() == {"9010KETU23EM1201": 2, safe: 2}
    assert Spool(spool_dir(stores.data_dir)).backlog_rows() == 0
    assert Spool(spool_dir(stores.data_dir)).dead_letter_count() == 0
    summary = results[0].asset_events[0].description or ""
    assert "2 reading(s) written" in summary and "LOST" not in summary
    assert f"device {reported!r} stored as {safe!r}" in summary
    assert f"{safe}/battery_soc_pct" in results[0].asset_events[0].metadata


def test_readings_refused_everywhere_go_to_dead_letters_alone_and_named(tmp_path: Path, tcp):
    """A device whose readings neither the store nor the spool can keep (here a time past
    2262, what a wrong clock gives) costs only its own readings: they are set aside as a
    dead letter, named in the tick summary and in health; the healthy device's land."""
    healthy, doomed = tcp("9010KETU23EM1301"), tcp("9010KETU23EM1302")
    store = RawStoreResource(data_dir=str(tmp_path)).get_store()
    spool = Spool(spool_dir(tmp_path))

    def poll_with_a_wrong_clock(fitted: poll_tick.PollPlan):
        results = fitted.poll()
        for result in results:
            if result.device_id == "9010KETU23EM1302":
                result.reading["time"] = datetime(2300, 1, 1, tzinfo=UTC)
        return results

    with EmulatorThread(healthy, doomed):
        fitted = inverters_for(healthy, doomed).plan()
        outcome = poll_tick.run_tick(
            lambda: poll_with_a_wrong_clock(fitted), lambda: store, spool, fitted.budget
        )
    assert outcome.written == 1 and outcome.spooled == 0 and outcome.set_aside == 1
    assert store.read(*recent_window())["device_id"].tolist() == ["9010KETU23EM1301"]
    (letter,) = spool.dead_letters()
    assert letter.rows == 1 and "between 1677-09-21 and 2262-04-11" in letter.reason
    summary = poll_tick.tick_summary(outcome)
    assert "1 set aside as dead letters" in summary and "LOST" not in summary
    assert "readings of '9010KETU23EM1302'" in summary
    spool_health = checkup.spool_health(tmp_path)
    assert not spool_health.ok and "9010KETU23EM1302" in spool_health.detail
    assert spool.requeue_dead_letters() == 1
    assert spool.backlog_rows() == 1


def test_a_batch_the_store_refuses_for_one_device_lands_the_others(tmp_path: Path, tcp):
    """The Parquet store refuses a batch holding an id too long for a file name: the other
    inverter's reading is written at once; the refused one is spooled, and its replay sets
    only it aside as a dead letter."""
    healthy, odd = tcp("9010KETU23EM1401"), tcp("9010KETU23EM1402")
    store = RawStoreResource(data_dir=str(tmp_path)).get_store()
    spool = Spool(spool_dir(tmp_path))
    too_long = "Y" * 300

    def poll_with_a_long_id(fitted: poll_tick.PollPlan):
        results = fitted.poll()
        for result in results:
            if result.device_id == "9010KETU23EM1402":
                result.reading["device_id"] = too_long
        return results

    with EmulatorThread(healthy, odd):
        fitted = inverters_for(healthy, odd).plan()
        outcomes = [
            poll_tick.run_tick(
                lambda: poll_with_a_long_id(fitted), lambda: store, spool, fitted.budget
            )
            for _ in range(2)
        ]
    assert [(o.written, o.spooled) for o in outcomes] == [(1, 1), (1, 1)]
    assert "too long to be a file name" in poll_tick.tick_summary(outcomes[0])
    assert store.read(*recent_window())["device_id"].tolist() == ["9010KETU23EM1401"] * 2
    (letter,) = spool.dead_letters()
    assert letter.devices == (too_long,) and outcomes[1].dead_letters == 1
    assert spool.backlog_rows() == 1, "the second tick's refused reading waits for its replay"
