"""One contract for every raw store: InfluxDB's v1 API (a real ``influxd``), its v2 API
(the real ``influxdb-client`` against ``influx_v2_front``, the stand-in for a 2.x server
that keeps the data in that ``influxd``) and Parquet files on disk.

Store-specific tests (InfluxDB auth, database and retention-policy creation,
retries, gzip; Parquet layout and concurrent writer processes) follow the
contract.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import threading
import traceback
import urllib.error
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from goodwe_pipeline import readings
from goodwe_pipeline.common.days import day_window
from goodwe_pipeline.common.settings import RawStoreSettings
from goodwe_pipeline.common.url_credentials import url_secrets
from goodwe_pipeline.raw_store import StoreUnavailableError, open_raw_store
from goodwe_pipeline.raw_store.base import RawStore
from goodwe_pipeline.raw_store.influx import (
    InfluxRawStore,
    InfluxRefusedError,
    line_protocol,
    quote_string,
    split_url,
)
from goodwe_pipeline.raw_store.influx_v2 import InfluxV2RawStore
from goodwe_pipeline.raw_store.parquet import ParquetRawStore, file_name
from goodwe_pipeline.raw_store.prepare import prepare, raw_device_id, safe_device_id
from goodwe_pipeline_tests.influx_v2_front import InfluxV2Front
from goodwe_pipeline_tests.servers import InfluxServer, free_port

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PASSWORD = "pw-Secret-4711"
TOKEN = "tok-Secret-0815"
URL_PASSWORD = "Pw1x#Pw2y/Pw3z?Pw4q@Pw5r:Pw6s"
"""Every character that ends a URL's user part early when it is not percent-encoded."""
URL_PASSWORD_PIECES = re.split(r"[#/?@:]", URL_PASSWORD)
AWKWARD_IDS = [
    "inv 1",
    "a,b",
    'q"uote',
    "it's",
    "k=v",
    "back\\slash",
    "dir/../x",
    "ąę 💡",
    "all , = \" ' \\x %2F",
]


def make_readings(
    devices: list[str],
    start: datetime = T0,
    periods: int = 20,
    freq: str = "10s",
    *,
    seed: int = 0,
    nan_share: float = 0.2,
) -> pd.DataFrame:
    """Random readings with some unknown fields (never a row with all fields unknown)."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, periods=periods, freq=freq, tz="UTC")
    frames = []
    for device in devices:
        values = rng.normal(0, 1000, (periods, len(readings.FIELD_NAMES))).round(3)
        values[rng.random(values.shape) < nan_share] = np.nan
        values[:, 0] = rng.normal(500, 100, periods).round(1)
        frame = pd.DataFrame(values, columns=list(readings.FIELD_NAMES))
        frame.insert(0, "source", "inverter")
        frame.insert(0, "device_id", device)
        frame.insert(0, "time", times)
        frames.append(frame)
    return readings.normalize(pd.concat(frames, ignore_index=True))


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        actual.reset_index(drop=True), expected.reset_index(drop=True), check_exact=True
    )


STORE_OPTIONS = {"batch_lines", "backoff", "workers", "read_format"}
"""The stores' own keywords; every other option is a ``RawStoreSettings`` field."""


def make_influx(server: InfluxServer, database: str, **options) -> InfluxRawStore:
    options = {"retries": 1, "backoff": 0.05, "create_database": True, **options}
    own = {key: options.pop(key) for key in STORE_OPTIONS & options.keys()}
    settings = RawStoreSettings(influx_url=server.url, influx_db=database, **options)
    return InfluxRawStore(settings, **own)


def make_influx_v2(front: InfluxV2Front, bucket: str, **options) -> InfluxV2RawStore:
    """A v2 store with a full-rights token; its bucket keeps readings forever (the tests'
    readings are from 2025), unless ``influx_rp_duration`` says otherwise."""
    options = {
        "retries": 1,
        "backoff": 0.05,
        "create_database": True,
        "influx_rp_duration": "INF",
        "influx_token": front.token(),
        **options,
    }
    own = {key: options.pop(key) for key in STORE_OPTIONS & options.keys()}
    settings = RawStoreSettings(
        influx_url=front.url, influx_db=bucket, influx_org=front.org, **options
    )
    return InfluxV2RawStore(settings, **own)


@pytest.fixture(
    params=["influxdb", "influxdb-v2", "parquet", "parquet-bases", "parquet-compacting"]
)
def store(request, tmp_path) -> RawStore:
    """``influxdb-v2``: the v2 API through the 2.x stand-in; ``parquet``: small writes
    become deltas; ``parquet-bases``: every write goes straight into the base files;
    ``parquet-compacting``: a compaction every other write."""
    if request.param == "influxdb":
        server = request.getfixturevalue("influx_server")
        return make_influx(server, request.getfixturevalue("influx_db"))
    if request.param == "influxdb-v2":
        front = request.getfixturevalue("influx_v2_front")
        return make_influx_v2(front, request.getfixturevalue("influx_db"))
    if request.param == "parquet-bases":
        return ParquetRawStore(tmp_path / "raw", delta_rows=1)
    if request.param == "parquet-compacting":
        return ParquetRawStore(tmp_path / "raw", compact_after=2)
    return ParquetRawStore(tmp_path / "raw")


# -- the contract ----------------------------------------------------------------


def test_every_field_round_trips_including_nan(store):
    frame = make_readings(["GW0001", "GW0002"], periods=30)
    frame.loc[0, "pv_power_w"] = 0.0
    frame.loc[1, "grid_power_w"] = -3.0
    frame.loc[2, "grid_frequency_hz"] = 49.99
    frame.loc[3, "pv_energy_total_kwh"] = 123456789.125
    frame.loc[4, "battery_current_a"] = 1e-7
    frame.loc[5, "load_power_w"] = 1e20
    frame.loc[6, "pv_power_w"] = np.nan
    frame["inverter_clock_skew_s"] = np.nan
    frame.loc[7, "time"] = frame.loc[7, "time"] + pd.Timedelta(milliseconds=123)
    expected = readings.normalize(frame)
    assert expected[list(readings.FIELD_NAMES)].isna().any().all()

    assert store.write(frame) == len(frame)
    back = store.read(T0, T0 + timedelta(hours=1))
    assert_same(back, expected)
    assert str(back["time"].dtype) == "datetime64[us, UTC]"


def test_line_protocol_writes_each_value_exactly_and_leaves_unknown_fields_out():
    values = [0.1 + 0.2, 1e20, 1e-7, -0.0, 5.0, 123456789.125, 2.0**53, 5e-324, -1.5e308]
    frame = make_readings(["GW 1,a=b"], periods=len(values))
    frame["pv_power_w"] = values
    frame.loc[1, "grid_power_w"] = np.nan
    prepared = prepare(frame).frame
    lines = line_protocol(prepared).decode().splitlines()
    assert len(lines) == len(values)
    for line, row in zip(lines, prepared.itertuples(index=False), strict=True):
        key, fields, stamp = line.rsplit(" ", 2)
        assert key == "inverter_readings,device_id=GW\\ 1\\,a\\=b,source=inverter"
        assert int(stamp) == row.time.value
        parsed = dict(item.split("=") for item in fields.split(","))
        known = {n: getattr(row, n) for n in readings.FIELD_NAMES if not np.isnan(getattr(row, n))}
        assert {n: float(v) for n, v in parsed.items()} == known
        assert str(float(parsed["pv_power_w"])) == str(row.pv_power_w)


@pytest.mark.parametrize("row", [0, 1, 2])
def test_line_protocol_refuses_a_row_without_any_known_field(row):
    """Not silently left out: Arrow's skip-null join would drop it and shift the times."""
    frame = readings.normalize(make_readings(["GW0001"], periods=3))
    frame.loc[row, list(readings.FIELD_NAMES)] = np.nan
    with pytest.raises(ValueError, match="without any known field"):
        line_protocol(frame)


def test_sub_second_times_are_exact_milliseconds(store):
    base = pd.Timestamp("2025-10-10 08:20:07", tz="UTC")
    offsets_us = [490_000, 1_000, 999_000, 1_999_999, 123_456, 0]
    times = [base + pd.Timedelta(microseconds=us) for us in offsets_us]
    times.append(pd.Timestamp("1969-12-31 23:59:59.999", tz="UTC"))
    frame = readings.normalize(
        pd.DataFrame({"time": times, "device_id": "GW0001", "pv_power_w": range(len(times))})
    )
    assert store.write(frame) == len(times)
    back = store.read(datetime(1969, 1, 1, tzinfo=UTC), base + timedelta(seconds=2))
    expected = frame.copy()
    expected["time"] = expected["time"].dt.floor("ms")
    assert_same(back, expected)
    millis = back["time"].dt.strftime("%S.%f").str[:-3].tolist()
    assert millis == ["59.999", "07.000", "07.001", "07.123", "07.490", "07.999", "08.999"]


def test_any_reading_shaped_frame_is_normalised_first(store):
    frame = make_readings(["GW0002", "GW0001"], periods=5, nan_share=0)
    messy = frame.sample(frac=1.0, random_state=1).drop(columns=["work_mode"])
    messy["time"] = messy["time"].dt.tz_convert(None)
    messy["extra"] = "ignored"
    duplicate = messy.iloc[[0]].assign(pv_power_w=-1.0)
    assert store.write(pd.concat([messy, duplicate])) == len(frame)
    expected = readings.normalize(pd.concat([messy, duplicate]))
    expected[["device_id", "source"]] = expected[["device_id", "source"]].astype(object)
    assert_same(store.read(T0, T0 + timedelta(hours=1)), expected)
    assert (expected["pv_power_w"] == -1.0).sum() == 1


def test_read_only_some_fields(store):
    frame = make_readings(["GW0001", "GW0002"], periods=40, nan_share=0.6, seed=11)
    frame.loc[frame.index[::4], ["pv_power_w", "grid_power_w"]] = np.nan
    store.write(frame)
    end = T0 + timedelta(hours=1)
    columns = ["time", "device_id", "source", "pv_power_w", "grid_power_w"]
    known = frame[["pv_power_w", "grid_power_w"]].notna().any(axis=1)
    assert not known.all()

    back = store.read(T0, end, fields=["grid_power_w", "pv_power_w"])
    assert list(back.columns) == columns
    assert_same(back, frame.loc[known, columns])
    assert str(back["time"].dtype) == "datetime64[us, UTC]"
    one = store.read(T0 + timedelta(minutes=2), end, ["GW0002"], fields=("grid_power_w",))
    wanted = (frame["device_id"] == "GW0002") & frame["grid_power_w"].notna()
    wanted &= frame["time"] >= T0 + timedelta(minutes=2)
    assert_same(one, frame.loc[wanted, ["time", "device_id", "source", "grid_power_w"]])
    nothing = store.read(end, end + timedelta(hours=1), fields=["pv_power_w"])
    assert list(nothing.columns) == ["time", "device_id", "source", "pv_power_w"] and nothing.empty
    for bad in ([], ["pv_power_w", "no_such_field"]):
        with pytest.raises(ValueError, match="field"):
            store.read(T0, end, fields=bad)


def test_rewrite_leaves_one_copy_and_merges_fields(store):
    frame = make_readings(["GW0001", "GW0002"], periods=10, nan_share=0)
    store.write(frame)
    assert store.write(frame) == len(frame)
    assert_same(store.read(T0, T0 + timedelta(hours=1)), frame)

    # Known fields of a rewrite overwrite; unknown ones keep what was stored.
    update = frame.iloc[:3].copy()
    update["pv_power_w"] = [1.0, 2.0, 3.0]
    update["load_power_w"] = np.nan
    store.write(update)
    back = store.read(T0, T0 + timedelta(hours=1))
    expected = frame.copy()
    expected.loc[:2, "pv_power_w"] = [1.0, 2.0, 3.0]
    assert_same(back, expected)


def test_bounds_are_half_open(store):
    frame = make_readings(["GW0001"], periods=6, freq="1min")
    store.write(frame)
    start, end = T0 + timedelta(minutes=1), T0 + timedelta(minutes=4)
    back = store.read(start, end)
    assert back["time"].tolist() == [pd.Timestamp(start + timedelta(minutes=i)) for i in range(3)]
    assert store.read(end, end).empty
    assert len(store.read(start, end - timedelta(milliseconds=1))) == 3
    assert len(store.read(start + timedelta(milliseconds=1), end)) == 2


def test_several_devices_filters_and_device_listing(store):
    frame = make_readings(["GW0001", "GW0002", "GW0003"], periods=12, freq="5min")
    later = make_readings(["GW0004"], start=T0 + timedelta(days=2), periods=3)
    store.write(pd.concat([frame, later]))
    end = T0 + timedelta(hours=1)

    back = store.read(T0, end, ["GW0003", "GW0001"])
    assert_same(back, frame[frame["device_id"].isin(["GW0001", "GW0003"])])
    assert store.read(T0, end, []).empty
    assert store.read(T0, end, ["nobody"]).empty
    assert store.devices(T0, end) == ["GW0001", "GW0002", "GW0003"]
    assert store.devices(T0, T0 + timedelta(days=3)) == ["GW0001", "GW0002", "GW0003", "GW0004"]
    assert store.devices(T0 + timedelta(days=1), T0 + timedelta(days=2)) == []


@pytest.mark.parametrize(("day", "hours"), [(date(2025, 3, 30), 23), (date(2025, 10, 26), 25)])
def test_dst_day_in_warsaw(store, day, hours):
    start, end = day_window(day, "Europe/Warsaw")
    assert end - start == timedelta(hours=hours)
    frame = make_readings(
        ["GW0001"], start=start - timedelta(hours=2), periods=(hours + 4) * 6, freq="10min"
    )
    store.write(frame)
    back = store.read(start, end)
    assert len(back) == hours * 6
    assert back["time"].iloc[0] == pd.Timestamp(start)
    assert back["time"].iloc[-1] == pd.Timestamp(end - timedelta(minutes=10))
    inside = frame[(frame["time"] >= start) & (frame["time"] < end)]
    assert_same(back, inside)


def test_one_hundred_thousand_rows(store):
    frame = make_readings(["GW0001", "GW0002"], periods=50_000, freq="5s", seed=3)
    assert store.write(frame) == 100_000
    back = store.read(T0, T0 + timedelta(days=3))
    assert_same(back, frame)


def test_awkward_device_ids(store):
    frame = make_readings(AWKWARD_IDS, periods=3)
    assert store.write(frame) == len(frame)
    end = T0 + timedelta(hours=1)
    assert_same(store.read(T0, end), frame)
    assert store.devices(T0, end) == sorted(AWKWARD_IDS)
    for device in AWKWARD_IDS:
        assert_same(store.read(T0, end, [device]), frame[frame["device_id"] == device])


ODD_IDS = {
    "trailing\\": "~trailing%5C",
    "back\\ space": "~back%5C%20space",
    "back\\,comma": "~back%5C%2Ccomma",
    "": "~",
    "new\nline": "~new%0Aline",
    "\u4554\n\u5345\u5249\u414c\u3030\u3031\x01": (
        "~%E4%95%94%0A%E5%8D%85%E5%89%89%E4%85%8C%E3%80%B0%E3%80%B1%01"
    ),
    "~tilde first": "~~tilde%20first",
}
"""Ids line protocol cannot carry as they are (and one that looks like a safe form) -> the
safe form they are stored under."""


@pytest.mark.parametrize("device", sorted(ODD_IDS))
def test_ids_line_protocol_cannot_carry_are_stored_under_their_safe_form(store, device):
    frame = make_readings(["GW0001", device], periods=2)
    assert store.write(frame) == len(frame)
    safe = ODD_IDS[device]
    assert safe_device_id(device) == safe and raw_device_id(safe) == device
    end = T0 + timedelta(hours=1)
    assert store.devices(T0, end) == sorted(["GW0001", safe])
    expected = frame.copy()
    expected["device_id"] = expected["device_id"].map(safe_device_id).astype(object)
    assert_same(store.read(T0, end), expected.sort_values(["device_id", "time"]))
    assert_same(store.read(T0, end, [safe]), expected[expected["device_id"] == safe])
    assert store.write(frame) == len(frame), "the same safe form again: no duplicates"
    assert len(store.read(T0, end)) == len(frame)


@pytest.mark.parametrize(
    ("time", "message"),
    [(None, "have no time"), ("2300-01-01T00:00:00Z", "between 1677-09-21 and 2262-04-11")],
)
def test_readings_without_a_storable_time_are_refused(store, time, message):
    frame = make_readings(["GW0001", "GW0002"], periods=2)
    frame["time"] = frame["time"].astype(object)
    frame.loc[3, "time"] = time
    with pytest.raises(ValueError, match=message):
        store.write(frame)
    assert store.devices(T0 - timedelta(days=1), T0 + timedelta(days=1)) == []


def test_rows_with_no_known_field_are_not_stored(store, caplog):
    frame = make_readings(["GW0001"], periods=3)
    frame.loc[1, list(readings.FIELD_NAMES)] = np.nan
    frame.loc[2, "load_power_w"] = np.inf
    with caplog.at_level("WARNING"):
        assert store.write(frame) == 2
    assert "no known field" in caplog.text and "infinite" in caplog.text
    back = store.read(T0, T0 + timedelta(hours=1))
    expected = frame.drop(index=1).reset_index(drop=True)
    expected.loc[1, "load_power_w"] = np.nan
    assert_same(back, expected)


def test_bounds_must_be_aware(store):
    with pytest.raises(ValueError, match="timezone-aware"):
        store.read(datetime(2025, 1, 1), datetime(2025, 1, 2))


def test_health_of_a_working_store(store):
    health = store.health()
    assert health.ok, health.detail
    assert health.latency_ms >= 0


def _down_stores(tmp_path: Path) -> list[tuple[RawStore, list[str]]]:
    port = free_port()
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's root should be")
    down = f"http://127.0.0.1:{port}"

    def influx(store_class, url: str = down, **fields) -> RawStore:
        settings = RawStoreSettings(
            influx_url=url, influx_db="db", retries=1, timeout_s=2.0, **fields
        )
        return store_class(settings, backoff=0.01)

    with_password = {"influx_username": "goodwe", "influx_password": PASSWORD}
    return [
        (influx(InfluxRawStore, **with_password), [PASSWORD]),
        (influx(InfluxRawStore, influx_token=TOKEN), [TOKEN]),
        (influx(InfluxRawStore, f"http://goodwe:{PASSWORD}@127.0.0.1:{port}/"), [PASSWORD]),
        (
            influx(InfluxRawStore, f"http://goodwe:{URL_PASSWORD}@127.0.0.1:{port}"),
            URL_PASSWORD_PIECES,
        ),
        (influx(InfluxV2RawStore, influx_org="home", influx_token=TOKEN), [TOKEN]),
        (ParquetRawStore(blocker / "raw"), []),
        (ParquetRawStore(blocker), []),
    ]


def test_a_store_that_is_down_raises_one_typed_error_without_secrets(tmp_path):
    frame = make_readings(["GW0001"], periods=2)
    for store, secrets in _down_stores(tmp_path):
        assert all(secret not in store.url for secret in secrets)
        for action in (
            lambda s=store: s.write(frame),
            lambda s=store: s.read(T0, T0 + timedelta(hours=1)),
            lambda s=store: s.devices(T0, T0 + timedelta(hours=1)),
        ):
            with pytest.raises(StoreUnavailableError) as caught:
                action()
            message = str(caught.value)
            assert store.url in message and caught.value.url == store.url
            assert all(secret not in message for secret in secrets), message
        health = store.health()
        assert not health.ok
        assert all(secret not in health.detail for secret in secrets)


def test_stopped_influx_server_raises_typed_error(tmp_path):
    server = InfluxServer(tmp_path / "influxd")
    server.start()
    store = make_influx(server, "goodwe", influx_password=PASSWORD, influx_username="goodwe")
    store.write(make_readings(["GW0001"], periods=2))
    server.stop()
    with pytest.raises(StoreUnavailableError, match="after 2 attempts") as caught:
        store.write(make_readings(["GW0001"], periods=2))
    assert server.url in str(caught.value) and PASSWORD not in str(caught.value)


# -- InfluxDB specifics ----------------------------------------------------------


def test_influx_user_and_password(tmp_path, caplog):
    server = InfluxServer(tmp_path / "influxd-auth", auth=True)
    server.start()
    try:
        good = make_influx(
            server,
            "goodwe",
            influx_username=server.admin_user,
            influx_password=server.admin_password,
        )
        frame = make_readings(["GW0001"], periods=5)
        assert good.write(frame) == 5
        assert_same(good.read(T0, T0 + timedelta(hours=1)), frame)

        # A user with rights on an existing database only: creating it is refused, harmlessly.
        for statement in (
            'CREATE DATABASE "shared"',
            f"CREATE USER \"writer\" WITH PASSWORD '{PASSWORD}'",
            'GRANT ALL ON "shared" TO "writer"',
        ):
            answer = server.query(statement)
            assert b"error" not in answer, answer
        users = json.loads(server.query("SHOW USERS"))["results"][0]["series"][0]["values"]
        assert sorted(row[0] for row in users) == [server.admin_user, "writer"]
        with pytest.raises(urllib.error.HTTPError, match="401"):
            server.query("SHOW USERS", auth=False)
        writer = make_influx(server, "shared", influx_username="writer", influx_password=PASSWORD)
        with caplog.at_level("WARNING"):
            assert writer.write(frame) == 5
        assert "could not create InfluxDB database shared" in caplog.text
        assert PASSWORD not in caplog.text
        assert_same(writer.read(T0, T0 + timedelta(hours=1)), frame)

        # Credentials in the URL, the password neither percent-encoded nor encoded.
        answer = server.query(
            f'CREATE USER "url user" WITH PASSWORD {quote_string(URL_PASSWORD)}; '
            'GRANT ALL ON "shared" TO "url user"'
        )
        assert b"error" not in answer, answer
        address = server.url.partition("://")[2]
        for password in (URL_PASSWORD, quote(URL_PASSWORD, safe="")):
            in_url = InfluxRawStore(
                RawStoreSettings(
                    influx_url=f"http://url%20user:{password}@{address}", influx_db="shared"
                )
            )
            assert in_url.url == server.url
            assert_same(in_url.read(T0, T0 + timedelta(hours=1)), frame)
        refused = InfluxRawStore(
            RawStoreSettings(
                influx_url=f"http://url%20user:{URL_PASSWORD}x@{address}", influx_db="shared"
            )
        )
        with caplog.at_level("DEBUG"), pytest.raises(InfluxRefusedError) as caught:
            refused.write(frame)
        assert "authentication failed" in str(caught.value)
        for piece in URL_PASSWORD_PIECES:
            assert piece not in str(caught.value) and piece not in caplog.text

        wrong = make_influx(
            server, "goodwe", influx_username=server.admin_user, influx_password=PASSWORD
        )
        anonymous = make_influx(server, "goodwe")
        token = make_influx(server, "goodwe", influx_token=TOKEN)
        for store, secret in ((wrong, PASSWORD), (anonymous, None), (token, TOKEN)):
            with pytest.raises(InfluxRefusedError, match="authentication failed") as caught:
                store.read(T0, T0 + timedelta(hours=1))
            assert "HTTP 401" in caught.value.reason
            assert secret is None or secret not in str(caught.value)
            with pytest.raises(StoreUnavailableError, match="authentication failed"):
                store.write(frame)
    finally:
        server.stop()


MALFORMED_URLS = [
    f"http://admin:{URL_PASSWORD}@127.0.0.1:80x6",
    f"http://admin:{URL_PASSWORD}@127.0.0.1:99999",
    f"http://admin:{URL_PASSWORD}@[::1",
    f"http://admin:{URL_PASSWORD}@",
    f"ftp://admin:{URL_PASSWORD}@127.0.0.1",
    f"admin:{URL_PASSWORD}@127.0.0.1:8086",
]


def test_influx_url_credentials_with_reserved_characters_never_leak():
    good = split_url(f" https://me:{URL_PASSWORD}@Influx.example:8086/prefix/?db=x#top ")
    assert (good.url, good.username, good.password) == (
        "https://influx.example:8086/prefix",
        "me",
        URL_PASSWORD,
    )
    assert split_url("http://[::1]:8086").url == "http://[::1]:8086"
    assert url_secrets(f"http://me:{URL_PASSWORD}@h") == [URL_PASSWORD]
    assert url_secrets("http://me:a%23b@h") == ["a%23b", "a#b"]
    assert url_secrets("http://me@h") == url_secrets(None) == []
    for url in MALFORMED_URLS:
        with pytest.raises(ValueError, match="InfluxDB URL") as caught:
            InfluxRawStore(RawStoreSettings(influx_url=url, influx_db="db"))
        message = "".join(traceback.format_exception(caught.value))
        assert all(piece not in message for piece in URL_PASSWORD_PIECES), message
        assert url_secrets(url) == [URL_PASSWORD]


def test_influx_creates_database_and_retention_policy(influx_server, influx_db):
    options = {"influx_rp": "thirty days", "influx_rp_duration": "30d"}
    store = make_influx(influx_server, influx_db, **options)
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    frame = make_readings(["GW0001"], start=recent, periods=4)
    assert store.write(frame) == 4
    policies = json.loads(influx_server.query(f'SHOW RETENTION POLICIES ON "{influx_db}"'))
    rows = policies["results"][0]["series"][0]["values"]
    assert ["thirty days", "720h0m0s"] in [row[:2] for row in rows]
    counted = json.loads(
        influx_server.query(
            'SELECT count("pv_power_w") FROM "thirty days"."inverter_readings"', db=influx_db
        )
    )
    assert counted["results"][0]["series"][0]["values"][0][1] == 4
    in_default_policy = json.loads(
        influx_server.query('SELECT count("pv_power_w") FROM "inverter_readings"', db=influx_db)
    )
    assert "series" not in in_default_policy["results"][0]

    again = make_influx(influx_server, influx_db, **options)
    assert_same(again.read(recent, recent + timedelta(hours=1)), frame)
    # Readings older than the policy keeps are refused loudly, not dropped quietly.
    with pytest.raises(StoreUnavailableError, match="beyond retention policy"):
        again.write(make_readings(["GW0001"], start=recent - timedelta(days=60), periods=2))


def test_influx_missing_database_is_reported_not_retried(influx_server, influx_db):
    store = make_influx(influx_server, influx_db, create_database=False, retries=3, backoff=5)
    with pytest.raises(InfluxRefusedError, match="database not found") as caught:
        store.write(make_readings(["GW0001"], periods=2))
    assert "attempts" not in caught.value.reason
    with pytest.raises(StoreUnavailableError, match="database not found"):
        store.read(T0, T0 + timedelta(hours=1))


@pytest.mark.parametrize("gzip", [True, False])
def test_influx_batches_with_and_without_gzip(influx_server, influx_db, gzip):
    store = make_influx(influx_server, influx_db, influx_gzip=gzip, batch_lines=97, workers=3)
    frame = make_readings(["GW0001", "GW0002", "GW0003"], periods=400)
    assert store.write(frame) == 1200
    assert_same(store.read(T0, T0 + timedelta(days=1)), frame)


@pytest.mark.parametrize(
    ("url", "compressed"),
    [
        ("http://localhost:8086", False),
        ("http://127.0.0.1:8086", False),
        ("http://127.8.0.3:8086", False),
        ("http://[::1]:8086", False),
        ("http://influx.localhost", False),
        ("http://192.168.1.20:8086", True),
        ("https://influx.example/prefix", True),
        ("http://localhost.example", True),
    ],
)
def test_influx_compresses_unless_the_server_is_on_this_machine(url, compressed):
    default = InfluxRawStore(RawStoreSettings(influx_url=url, influx_db="db"))
    assert default.gzip is compressed
    assert default._session.headers["Accept-Encoding"] == ("gzip" if compressed else "identity")
    for chosen in (True, False):
        store = InfluxRawStore(RawStoreSettings(influx_url=url, influx_db="db", influx_gzip=chosen))
        assert store.gzip is chosen


def test_influx_json_answers_read_like_csv_answers(influx_server, influx_db):
    store = make_influx(influx_server, influx_db)
    frame = make_readings(AWKWARD_IDS, periods=4)
    frame["inverter_clock_skew_s"] = np.nan
    store.write(frame)
    as_json = make_influx(influx_server, influx_db, read_format="json")
    end = T0 + timedelta(hours=1)
    assert_same(as_json.read(T0, end), frame)
    assert_same(
        as_json.read(T0, end, [AWKWARD_IDS[2]]), frame[frame["device_id"] == AWKWARD_IDS[2]]
    )
    assert as_json.read(end, end + timedelta(hours=1)).empty
    fields = ["pv_power_w", "battery_soc_pct"]
    assert_same(as_json.read(T0, end, fields=fields), store.read(T0, end, fields=fields))


def test_influx_write_waits_for_a_server_coming_back(tmp_path):
    server = InfluxServer(tmp_path / "influxd-late")
    store = make_influx(server, "goodwe", retries=8, backoff=0.25)
    starter = threading.Timer(0.5, server.start)
    starter.start()
    try:
        frame = make_readings(["GW0001"], periods=5)
        assert store.write(frame) == 5
        assert_same(store.read(T0, T0 + timedelta(hours=1)), frame)
    finally:
        starter.join()
        server.stop()


def test_open_raw_store_picks_the_implementation(tmp_path, influx_server):
    influx = open_raw_store(
        RawStoreSettings(data_dir=tmp_path, influx_url=influx_server.url, influx_db="x")
    )
    assert isinstance(influx, InfluxRawStore) and influx.url == influx_server.url
    parquet = open_raw_store(RawStoreSettings(data_dir=tmp_path))
    assert isinstance(parquet, ParquetRawStore) and parquet.root == tmp_path / "raw"


# -- Parquet specifics -----------------------------------------------------------


def _files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_parquet_layout_is_a_folder_per_utc_day_with_a_file_per_device(tmp_path):
    store = ParquetRawStore(tmp_path / "raw")
    start = datetime(2025, 6, 1, 23, 0, tzinfo=UTC)
    frame = make_readings(["GW0001", "dir/../x"], start=start, periods=12, freq="10min")
    store.write(frame)
    deltas = _files_under(store.root)
    assert [name.split("/")[0] for name in deltas] == ["2025-06-01", "2025-06-02"]
    assert all(name.endswith(".delta") for name in deltas)

    assert store.compact() == 2
    assert _files_under(store.root) == [
        "2025-06-01/GW0001.parquet",
        "2025-06-01/dir%2F..%2Fx.parquet",
        "2025-06-02/GW0001.parquet",
        "2025-06-02/dir%2F..%2Fx.parquet",
    ]
    assert_same(store.read(start, start + timedelta(days=1)), frame)
    assert file_name("a b") == "a%20b.parquet"
    assert store.compact() == 0


def test_parquet_reads_are_the_same_before_and_after_compaction(tmp_path):
    store = ParquetRawStore(tmp_path / "raw", compact_after=1_000)
    frame = make_readings(["GW0001", "GW0002"], periods=60, nan_share=0.5, seed=5)
    ParquetRawStore(store.root, delta_rows=1).write(frame.iloc[:80])
    for i in range(80, 120, 7):
        store.write(frame.iloc[i : i + 7])
    update = frame.iloc[::5].copy()
    update[list(readings.FIELD_NAMES)] = np.nan
    update["load_power_w"] = 1.5
    store.write(update)
    expected = frame.copy()
    expected.loc[::5, "load_power_w"] = 1.5
    end = T0 + timedelta(hours=1)
    assert len(list(store.root.glob("*/*.delta"))) == 7
    before = store.read(T0, end)
    assert_same(before, expected)
    projected = store.read(T0, end, ["GW0002"], fields=["grid_power_w", "load_power_w"])
    store.compact()
    assert not list(store.root.glob("*/*.delta"))
    assert_same(store.read(T0, end), before)
    assert_same(store.read(T0, end, ["GW0002"], ["grid_power_w", "load_power_w"]), projected)


def test_parquet_a_compaction_cut_short_leaves_a_correct_store(tmp_path):
    """A crash after the new bases were written but before the deltas were deleted."""
    store = ParquetRawStore(tmp_path / "raw", compact_after=1_000)
    frame = make_readings(["GW0001", "GW0002"], periods=10, nan_share=0)
    store.write(frame)
    folder = store.root / "2025-06-01"
    saved = {path.name: path.read_bytes() for path in folder.glob("*.delta")}
    store.compact()
    for name, data in saved.items():
        (folder / name).write_bytes(data)
    # The leftover delta is older than this rewrite: it must not undo it.
    update = frame.iloc[:2].copy()
    update["pv_power_w"] = [7.0, 8.0]
    store.write(update)
    expected = frame.copy()
    expected.loc[:1, "pv_power_w"] = [7.0, 8.0]
    assert_same(store.read(T0, T0 + timedelta(hours=1)), expected)
    store.compact()
    assert sorted(p.name for p in folder.iterdir()) == ["GW0001.parquet", "GW0002.parquet"]
    assert_same(store.read(T0, T0 + timedelta(hours=1)), expected)


def _append_rows(root: str, offset: int, count: int, acknowledged) -> None:
    """Mostly one-reading writes (deltas, a compaction every fourth), every tenth write a
    batch big enough to go straight into the base file; ``pv_power_w`` is the second."""
    store = ParquetRawStore(root, compact_after=4, delta_rows=8)
    done = 0
    while done < count:
        size = 10 if done % 10 == 9 else 1
        rows = make_readings(
            ["GW0001"], start=T0 + timedelta(seconds=3 * done + offset), periods=size, freq="3s"
        )
        rows = rows.iloc[: count - done]
        rows["pv_power_w"] = (rows["time"] - pd.Timestamp(T0)).dt.total_seconds()
        store.write(rows)
        done += len(rows)
        acknowledged.value = done


def test_parquet_concurrent_writer_processes_and_readers_lose_nothing(tmp_path):
    root = str(tmp_path / "raw")
    context = multiprocessing.get_context("spawn")
    acknowledged = [context.Value("i", 0) for _ in range(3)]
    writers = [
        context.Process(target=_append_rows, args=(root, offset, 40, acknowledged[offset]))
        for offset in range(3)
    ]
    for writer in writers:
        writer.start()
    reader = ParquetRawStore(root)
    end = T0 + timedelta(hours=1)
    reads = 0
    while any(writer.is_alive() for writer in writers) or not reads:
        before = [value.value for value in acknowledged]
        back = reader.read(T0, end, fields=["pv_power_w"])
        assert back["time"].is_monotonic_increasing and back["time"].is_unique
        seconds = (back["time"] - pd.Timestamp(T0)).dt.total_seconds().astype(int)
        assert (back["pv_power_w"] == seconds).all()
        per_writer = seconds.mod(3).value_counts()
        for offset, count in enumerate(before):
            assert per_writer.get(offset, 0) >= count, (offset, per_writer, before)
        reads += 1
    for writer in writers:
        writer.join(120)
        assert writer.exitcode == 0
    back = reader.read(T0, end)
    assert len(back) == 120 and back["time"].is_unique
    assert reader.devices(T0, end) == ["GW0001"]
    assert not list(Path(root).rglob(".*.tmp"))
    assert len(list(Path(root).rglob("*.delta"))) < 4
    reader.compact()
    assert_same(reader.read(T0, end), back)


def test_parquet_reads_files_written_before_a_field_was_added(tmp_path):
    store = ParquetRawStore(tmp_path / "raw")
    frame = make_readings(["GW0001"], periods=3)
    store.write(frame)
    store.compact()
    path = store.root / "2025-06-01" / "GW0001.parquet"
    table = pq.read_table(path)
    pq.write_table(table.drop_columns(["inverter_clock_skew_s", "work_mode"]), path)
    expected = frame.copy()
    expected[["inverter_clock_skew_s", "work_mode"]] = np.nan
    end = T0 + timedelta(hours=1)
    assert_same(store.read(T0, end), expected)
    assert_same(
        store.read(T0, end, fields=["work_mode", "pv_power_w"]),
        expected[["time", "device_id", "source", "pv_power_w", "work_mode"]],
    )
    store.write(frame)
    assert_same(store.read(T0, end), frame)
    store.compact()
    assert_same(store.read(T0, end), frame)


def test_retention_duration_comes_from_the_environment(influx_server, influx_db, monkeypatch):
    from goodwe_pipeline.defs.resources import raw_store_from_env

    monkeypatch.setenv("GOODWE_INFLUX_URL", influx_server.url)
    monkeypatch.setenv("GOODWE_INFLUX_DB", influx_db)
    monkeypatch.setenv("GOODWE_INFLUX_RP", "kept")
    monkeypatch.setenv("GOODWE_INFLUX_RP_DURATION", "400d")
    resource = raw_store_from_env().process_config_and_initialize()
    store = resource.get_store()
    assert isinstance(store, InfluxRawStore)
    assert not store.gzip, "a server on this machine is written to uncompressed"
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    assert store.write(make_readings(["GW0001"], start=recent, periods=2)) == 2
    policies = json.loads(influx_server.query(f'SHOW RETENTION POLICIES ON "{influx_db}"'))
    rows = policies["results"][0]["series"][0]["values"]
    assert ["kept", "9600h0m0s"] in [row[:2] for row in rows]

    monkeypatch.setenv("GOODWE_INFLUX_RP_DURATION", "a while")
    with pytest.raises(ValueError, match="retention duration 'a while'"):
        raw_store_from_env().process_config_and_initialize().get_store()


KILLED_IN_COMPACTION = """
import os, signal, sys
import pyarrow.parquet as pq
from goodwe_pipeline.raw_store.parquet import ParquetRawStore
from goodwe_pipeline_tests.test_raw_store_contract import make_readings

real = pq.write_table

def write_then_die(table, where, **kwargs):
    real(table, where, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)  # killed with the new base still a temporary file

pq.write_table = write_then_die
ParquetRawStore(sys.argv[1], delta_rows=1).write(make_readings(["GW0001"], periods=10))
"""


def test_a_temporary_file_left_by_a_kill_during_compaction_is_removed(tmp_path):
    import signal
    import subprocess
    import sys

    root = tmp_path / "raw"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_IN_COMPACTION, str(root)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (folder,) = [p for p in root.iterdir() if p.is_dir()]
    (stale,) = folder.glob(".*.tmp")
    other = folder / ".not-ours.tmp"
    other.write_bytes(b"kept: not a name the store gives its temporary files")

    store = ParquetRawStore(root)
    assert store.compact() == 1, "a day with only a stale temporary file is compacted"
    assert not stale.exists() and other.exists()
    assert store.read(T0, T0 + timedelta(hours=1)).empty

    frame = make_readings(["GW0001"], periods=10)
    again = folder / f".{'ab' * 16}.tmp"
    again.write_bytes(b"left by another kill")
    assert ParquetRawStore(root, delta_rows=1).write(frame) == 10, "a compacting write"
    assert not again.exists()
    assert_same(store.read(T0, T0 + timedelta(hours=1)), frame)
