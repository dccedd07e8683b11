"""InfluxDB's v2 API (org, bucket, token) through ``influxdb-client``: what the contract suite
does not cover. The server is ``influx_v2_front``, the stand-in for InfluxDB 2.x over the real
``influxd`` (see its docstring); the v1 server given an org is the real ``influxd`` itself."""

from __future__ import annotations

import json
from datetime import timedelta

import dagster as dg
import pandas as pd
import pytest
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from goodwe_pipeline.cli import main
from goodwe_pipeline.common.settings import RawStoreSettings, WarehouseSettings
from goodwe_pipeline.defs.history.assets import legacy_readings
from goodwe_pipeline.defs.history.resources import LegacyResource
from goodwe_pipeline.defs.ingest.resources import InvertersResource
from goodwe_pipeline.defs.ingest.sensors import poll_inverters
from goodwe_pipeline.defs.reports.assets import daily_energy_report
from goodwe_pipeline.defs.reports.resources import ReportsResource
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource, raw_store_from_env
from goodwe_pipeline.emulator import Emulator, EmulatorConfig, EmulatorThread
from goodwe_pipeline.ingest.inverters import close_shared_pollers
from goodwe_pipeline.raw_store import open_raw_store
from goodwe_pipeline.raw_store.influx import InfluxRawStore, InfluxRefusedError
from goodwe_pipeline.raw_store.influx_v2 import InfluxV2RawStore, retention_seconds
from goodwe_pipeline.warehouse import Warehouse
from goodwe_pipeline_tests.influx_v2_front import Grant, InfluxV2Front
from goodwe_pipeline_tests.legacy_corpus import SERIAL, write_corpus
from goodwe_pipeline_tests.test_raw_store_contract import T0, assert_same, make_readings

END = T0 + timedelta(hours=1)


def v2_store(front: InfluxV2Front, bucket: str, token: str | None = None, **settings):
    """A store on ``front``'s v2 API, organisation ``home``, with a full-rights token unless
    ``token`` is given; ``settings``: further ``RawStoreSettings`` fields."""
    return InfluxV2RawStore(
        RawStoreSettings(
            influx_url=front.url,
            influx_db=bucket,
            influx_org="home",
            influx_token=token or front.token(),
            **settings,
        )
    )


def v2_env(monkeypatch, front: InfluxV2Front, bucket: str, token: str, **more: str) -> None:
    """The variables an InfluxDB 2.x owner sets."""
    values = {
        "GOODWE_INFLUX_URL": front.url,
        "GOODWE_INFLUX_ORG": front.org,
        "GOODWE_INFLUX_BUCKET": bucket,
        "GOODWE_INFLUX_TOKEN": token,
        **more,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


# -- the stand-in answers as InfluxDB 2.x does, to the real client ------------------------


def test_the_front_refuses_what_influxdb_2_refuses(influx_v2_front, influx_db):
    front = influx_v2_front
    front.add_bucket(influx_db)
    token = front.token()
    lines = b"m,t=a v=1 1\nm,t=a v=2 2\nm,t=a v= 3\nm,t=a v=4 4"

    def write(body: bytes, *, org=front.org, bucket=influx_db, using=token) -> ApiException:
        with InfluxDBClient(url=front.url, token=using, org=org, enable_gzip=True) as client:
            api = client.write_api(write_options=SYNCHRONOUS)
            with pytest.raises(ApiException) as caught:
                api.write(bucket, org, body, write_precision=WritePrecision.NS)
        return caught.value

    wrong_token = write(lines, using="not-a-token")
    assert wrong_token.status == 401
    assert json.loads(wrong_token.body) == {
        "code": "unauthorized",
        "message": "unauthorized access",
    }
    unknown_org = write(lines, org="elsewhere")
    assert unknown_org.status == 404
    assert json.loads(unknown_org.body)["message"] == 'organization name "elsewhere" not found'
    unknown_bucket = write(lines, bucket="no-such-bucket")
    assert unknown_bucket.status == 404
    assert json.loads(unknown_bucket.body)["message"] == 'bucket "no-such-bucket" not found'
    no_write = write(lines, using=front.token(Grant(write=False)))
    assert no_write.status == 403 and "insufficient permissions for write" in no_write.body
    malformed = write(lines)
    assert malformed.status == 400
    body = json.loads(malformed.body)
    assert body["code"] == "invalid" and body["line"] == 3 and "v= 3" in body["message"]


def test_a_malformed_line_is_refused_with_its_number(influx_v2_front, influx_db):
    store = v2_store(influx_v2_front, influx_db, create_database=True, influx_rp_duration="INF")
    store.write(make_readings(["GW0001"], periods=2))
    with pytest.raises(InfluxRefusedError, match=r"HTTP 400 .*\(line 2\)") as caught:
        store._write_body(b"inverter_readings,device_id=x pv_power_w=1 1\nbroken\n", 2)
    assert "attempts" not in caught.value.reason


# -- the bucket ---------------------------------------------------------------------------


def test_the_bucket_is_created_with_thirty_days_retention_by_default(
    influx_v2_front, influx_server, influx_db
):
    store = v2_store(influx_v2_front, influx_db, create_database=True)
    recent = pd.Timestamp.now(tz="UTC").floor("s") - timedelta(hours=1)
    frame = make_readings(["GW0001"], start=recent, periods=3)
    assert store.write(frame) == 3
    assert influx_v2_front.bucket_json(influx_db)["retentionRules"][0]["everySeconds"] == 2_592_000
    policies = json.loads(influx_server.query(f'SHOW RETENTION POLICIES ON "{influx_db}"'))
    assert ["autogen", "720h0m0s"] in [
        row[:2] for row in policies["results"][0]["series"][0]["values"]
    ]
    # Readings older than the bucket keeps are refused loudly, as 2.x does (HTTP 422).
    with pytest.raises(InfluxRefusedError, match="HTTP 422.*beyond retention"):
        store.write(make_readings(["GW0001"], start=recent - timedelta(days=60), periods=2))
    # A second store finds the bucket and leaves it as it is.
    again = v2_store(influx_v2_front, influx_db, create_database=True, influx_rp_duration="1d")
    assert_same(again.read(recent, recent + timedelta(hours=1)), frame)
    assert influx_v2_front.bucket_json(influx_db)["retentionRules"][0]["everySeconds"] == 2_592_000


def test_a_token_that_may_not_create_the_bucket(influx_v2_front, influx_db, caplog):
    token = influx_v2_front.token(Grant(create_buckets=False))
    store = v2_store(influx_v2_front, influx_db, token=token, create_database=True, retries=0)
    with caplog.at_level("WARNING"), pytest.raises(InfluxRefusedError, match="HTTP 404") as caught:
        store.write(make_readings(["GW0001"], periods=2))
    assert f'bucket "{influx_db}" not found' in str(caught.value)
    assert f"influx bucket create --name {influx_db} --org home" in caplog.text
    assert token not in caplog.text and token not in str(caught.value)


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [("30d", 2_592_000), ("1w2d", 777_600), ("720h", 2_592_000), ("INF", 0)],
)
def test_retention_durations(duration, seconds):
    assert retention_seconds(duration) == seconds


@pytest.mark.parametrize("duration", ["a while", "30", "10m", "5ms", ""])
def test_retention_durations_that_are_refused(duration):
    with pytest.raises(ValueError, match="retention duration"):
        retention_seconds(duration)


# -- settings -----------------------------------------------------------------------------


def test_the_environment_selects_the_v2_api(monkeypatch, influx_v2_front, influx_db, tmp_path):
    token = influx_v2_front.token()
    v2_env(monkeypatch, influx_v2_front, influx_db, token, GOODWE_INFLUX_RP_DURATION="INF")
    store = raw_store_from_env().process_config_and_initialize().get_store()
    assert isinstance(store, InfluxV2RawStore) and store.api == "v2"
    assert (store.org, store.bucket, store.retention_every_seconds) == ("home", influx_db, 0)
    frame = make_readings(["GW0001"], periods=3)
    assert store.write(frame) == 3
    # GOODWE_INFLUX_DB names the bucket when GOODWE_INFLUX_BUCKET is unset.
    as_db = open_raw_store(RawStoreSettings(
        data_dir=tmp_path, influx_url=influx_v2_front.url, influx_db=influx_db, influx_org="home",
        influx_token=token,
    ))  # fmt: skip
    assert isinstance(as_db, InfluxV2RawStore) and as_db.bucket == influx_db
    assert_same(as_db.read(T0, END), frame)
    v1 = open_raw_store(
        RawStoreSettings(data_dir=tmp_path, influx_url=influx_v2_front.url, influx_token=token)
    )
    assert type(v1) is InfluxRawStore and v1.api == "v1"
    for wrong in ({"influx_username": "me", "influx_password": "pw"}, {"influx_token": None}):
        options = {"influx_token": token, **wrong}
        with pytest.raises(ValueError, match="token|TOKEN"):
            open_raw_store(
                RawStoreSettings(
                    data_dir=tmp_path, influx_url=influx_v2_front.url, influx_org="home", **options
                )
            )


# -- doctor -------------------------------------------------------------------------------


def doctor_influx_lines(capsys) -> list[str]:
    main(["doctor"])
    return [line for line in capsys.readouterr().out.splitlines() if " influxdb: " in line]


def test_doctor_names_the_api_and_the_server_version(
    monkeypatch, capsys, influx_v2_front, influx_db
):
    influx_v2_front.add_bucket(influx_db)
    token = influx_v2_front.token()
    v2_env(monkeypatch, influx_v2_front, influx_db, token)
    [line] = doctor_influx_lines(capsys)
    assert line.startswith("ok   influxdb: InfluxDB v2.7.11 at ")
    assert f"(v2 API), org home, bucket {influx_db}" in line and token not in line


@pytest.mark.parametrize(
    ("mistake", "fix"),
    [
        ("wrong org", "organization 'elsewhere' not found: set GOODWE_INFLUX_ORG"),
        (
            "missing bucket, token may not create it",
            "does not exist in org 'home' and the token may not create it: create it with "
            "`influx bucket create --name {bucket} --org home --retention 2592000s`",
        ),
        ("read-only token", "the token may not write to bucket '{bucket}'"),
        ("unknown token", "the server does not accept the token"),
    ],
)
def test_doctor_gives_a_one_line_fix(monkeypatch, capsys, influx_v2_front, influx_db, mistake, fix):
    front = influx_v2_front
    token = front.token(
        Grant(write=False) if mistake == "read-only token" else Grant(create_buckets=False)
    )
    front.add_bucket(f"other_{influx_db}")
    if not mistake.startswith("missing bucket"):
        front.add_bucket(influx_db)
    v2_env(monkeypatch, front, influx_db, token)
    if mistake == "wrong org":
        monkeypatch.setenv("GOODWE_INFLUX_ORG", "elsewhere")
    if mistake == "unknown token":
        monkeypatch.setenv("GOODWE_INFLUX_TOKEN", "revoked-token")
    lines = doctor_influx_lines(capsys)
    assert lines[0].startswith("ok   influxdb: InfluxDB v2.7.11")
    assert len(lines) == 2 and lines[1].startswith("FAIL influxdb: "), lines
    assert fix.format(bucket=influx_db) in lines[1]
    assert token not in "\n".join(lines)


def test_doctor_on_a_missing_bucket_the_token_may_create(
    monkeypatch, capsys, influx_v2_front, influx_db
):
    front = influx_v2_front
    front.add_bucket(f"other_{influx_db}")
    v2_env(monkeypatch, front, influx_db, front.token())
    lines = doctor_influx_lines(capsys)
    assert len(lines) == 2 and lines[1].startswith("ok   influxdb: "), lines
    assert (
        f"bucket '{influx_db}' does not exist in org 'home' yet: the pipeline creates it"
        in (lines[1])
    )
    assert influx_db not in front.buckets


def test_whether_a_token_may_create_buckets_is_asked_without_creating_one(influx_server, influx_db):
    front = InfluxV2Front(influx_server).start()
    try:
        full, limited = front.token(), front.token(Grant(create_buckets=False))
        store = v2_store(front, influx_db, token=full)
        assert store.may_create_buckets() is None  # no other bucket to ask with
        assert "may create buckets" in store.access_check()[1]
        front.add_bucket("_monitoring")
        front.add_bucket(f"{influx_db}_other")
        assert store.may_create_buckets() is True
        assert v2_store(front, influx_db, token=limited).may_create_buckets() is False
        assert sorted(front.buckets) == ["_monitoring", f"{influx_db}_other"]
        # A server without /ready (InfluxDB Cloud) is healthy when it answers the ping.
        front.serves_ready = False
        health = store.health()
        assert health.ok and health.extra["version"] == "v2.7.11", health
    finally:
        front.stop()


def test_doctor_on_a_v1_server_given_an_org(monkeypatch, capsys, influx_server, influx_db):
    monkeypatch.setenv("GOODWE_INFLUX_URL", influx_server.url)
    monkeypatch.setenv("GOODWE_INFLUX_ORG", "home")
    monkeypatch.setenv("GOODWE_INFLUX_DB", influx_db)
    monkeypatch.setenv("GOODWE_INFLUX_TOKEN", "some-Token-7")
    [line] = doctor_influx_lines(capsys)
    assert line.startswith("FAIL influxdb: InfluxDB 1.6.7")
    assert "serves only the v1 API: unset GOODWE_INFLUX_ORG" in line
    assert "some-Token-7" not in line


# -- the pipeline on the v2 path ----------------------------------------------------------


def test_migration_and_daily_report_work_unchanged_on_the_v2_api(
    monkeypatch, influx_v2_front, influx_db, tmp_path
):
    """``legacy_readings`` then ``daily_energy_report`` with an owner's 2.x settings give the
    same daily figures as with the embedded Parquet store."""
    corpus = write_corpus(tmp_path / "optimiser", count=3)
    tags = {
        "dagster/asset_partition_range_start": corpus.first.isoformat(),
        "dagster/asset_partition_range_end": corpus.last.isoformat(),
    }
    figures = {}
    for name in ("v2", "parquet"):
        data = tmp_path / name
        if name == "v2":
            # The history is older than a 30-day bucket keeps: this bucket keeps it forever.
            v2_env(
                monkeypatch,
                influx_v2_front,
                influx_db,
                influx_v2_front.token(),
                GOODWE_INFLUX_RP_DURATION="INF",
            )
            raw_store = raw_store_from_env()
        else:
            raw_store = RawStoreResource(data_dir=str(data))
        resources = {
            "legacy": LegacyResource(legacy_dir=str(corpus.root), timezone="Europe/Warsaw"),
            "raw_store": raw_store,
            "warehouse": WarehouseResource(data_dir=str(data)),
            "reports": ReportsResource(),
        }
        for asset in (legacy_readings, daily_energy_report):
            result = dg.materialize(
                [asset], instance=dg.DagsterInstance.ephemeral(), resources=resources, tags=tags
            )
            assert result.success, name
        with Warehouse.from_settings(WarehouseSettings(data_dir=data)) as warehouse:
            figures[name] = warehouse.read_frame(
                "SELECT day, device_id, pv_kwh, load_kwh, grid_import_kwh, grid_export_kwh, "
                "battery_charge_kwh, coverage_pct FROM daily_energy ORDER BY day, device_id"
            )
    assert isinstance(
        raw_store_from_env().process_config_and_initialize().get_store(), InfluxV2RawStore
    )
    assert len(figures["v2"]) == 3 and set(figures["v2"]["device_id"]) == {SERIAL}
    pd.testing.assert_frame_equal(figures["v2"], figures["parquet"])


def test_the_poll_sensor_writes_through_the_v2_api(monkeypatch, influx_v2_front, influx_db):
    """With an owner's 2.x settings the sensor creates the bucket (30 days) and writes each tick."""
    emulator = Emulator(
        EmulatorConfig(udp_port=None, tcp_port=0, serial="9010KETU23V2S001"),
    )
    emulator.set_values({"battery_soc": 64, "ppv1": 1200, "ppv2": 300})
    v2_env(monkeypatch, influx_v2_front, influx_db, influx_v2_front.token())
    instance = dg.DagsterInstance.ephemeral()
    try:
        with EmulatorThread(emulator):
            resources = {
                "inverters": InvertersResource(inverters=f"{emulator.address}/ET", timeout_s=1.0),
                "raw_store": raw_store_from_env(),
            }
            context = dg.build_sensor_context(instance=instance, resources=resources)
            result = poll_inverters.evaluate_tick(context)
    finally:
        close_shared_pollers()
    metadata = {k: v.value for k, v in result.asset_events[0].metadata.items()}
    assert metadata["readings_written"] == 1 and metadata["spool_backlog_rows"] == 0
    bucket = influx_v2_front.bucket_json(influx_db)
    assert bucket["retentionRules"][0]["everySeconds"] == 30 * 86_400
    store = raw_store_from_env().process_config_and_initialize().get_store()
    now = pd.Timestamp.now(tz="UTC")
    frame = store.read(now - timedelta(hours=1), now + timedelta(minutes=5))
    assert frame["device_id"].tolist() == ["9010KETU23V2S001"]
    assert frame["battery_soc_pct"].tolist() == [64.0] and frame["pv_power_w"].tolist() == [1500.0]
