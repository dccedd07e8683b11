"""Settings that are not allowed: one line naming the variable and what is allowed; the code
location still loads, and the part that needs the setting reports it when it runs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from goodwe_pipeline.common import settings
from goodwe_pipeline.definitions import defs as load_defs
from goodwe_pipeline.defs.ingest.resources import InvertersResource
from goodwe_pipeline.defs.ingest.sensors import poll_inverters
from goodwe_pipeline.defs.resources import RawStoreResource, WarehouseResource
from goodwe_pipeline.prices.tariffs import TariffError, load_tariff

REPO = Path(__file__).resolve().parents[1]
SECRET = "s3cret-pw"
BAD = {
    "GOODWE_POLL_SECONDS": ["abc", "0", "-5", "2.5"],
    "GOODWE_TIMEZONE": ["Mars/Base", "../../etc/passwd"],
    "GOODWE_HISTORY_START": ["2024-13-45", "yesterday", "20240101"],
    "GOODWE_WAREHOUSE_URL": [f"postgresql+psycopg2://u:{SECRET}@localhost:abc/db"],
    "GOODWE_INVERTER_TIMEOUT_S": ["soon"],
    "GOODWE_BATTERY_CAPACITY_KWH": ["-3"],
}
CASES = [(name, value) for name, values in BAD.items() for value in values]
LOAD = (
    "from goodwe_pipeline.definitions import defs\n"
    "d = defs()\n"
    "d.resolve_asset_graph()\n"
    "d.resolve_all_job_defs()\n"
    "print(sorted(s.name for s in d.sensors or []))\n"
)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOODWE_")}
    env.pop("DAGSTER_HOME", None)
    env["GOODWE_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize(("name", "value"), CASES)
def test_a_bad_setting_leaves_the_location_loadable_and_doctor_names_it(tmp_path, name, value):
    env = _env(tmp_path, **{name: value})
    loaded = _run([sys.executable, "-c", LOAD], env)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert "poll_inverters" in loaded.stdout

    doctor = _run([sys.executable, "-m", "goodwe_pipeline.cli", "doctor"], env)
    assert doctor.returncode != 0
    naming = [line for line in doctor.stdout.splitlines() if name in line]
    assert len(naming) == 1, doctor.stdout
    assert naming[0].startswith("FAIL") and "is not allowed" in naming[0]
    assert "Traceback" not in doctor.stderr and SECRET not in doctor.stdout + doctor.stderr


def test_the_messages_say_what_is_allowed(monkeypatch) -> None:
    expected = {
        "GOODWE_POLL_SECONDS": "GOODWE_POLL_SECONDS='abc' is not allowed: a whole number of seconds",
        "GOODWE_TIMEZONE": "GOODWE_TIMEZONE='Mars/Base' is not allowed: an IANA time zone name",
        "GOODWE_HISTORY_START": "GOODWE_HISTORY_START='2024-13-45' is not allowed: a date YYYY-MM-DD",
        "GOODWE_WAREHOUSE_URL": "GOODWE_WAREHOUSE_URL is not allowed: its port is not a number",
    }
    for name, values in BAD.items():
        monkeypatch.setenv(name, values[0])
    problems = settings.setting_problems()
    assert len(problems) == len(BAD)
    for name, start in expected.items():
        (problem,) = [p for p in problems if p.startswith(name)]
        assert problem.startswith(start) and "\n" not in problem
    assert SECRET not in " ".join(problems)
    monkeypatch.setenv(
        "GOODWE_HISTORY_START", date.today().replace(year=date.today().year + 1).isoformat()
    )
    with pytest.raises(settings.SettingError, match="between 1970-01-01 and today"):
        settings.history_start()


def test_a_poll_interval_below_the_minimum_is_raised_with_a_stated_message(tmp_path, monkeypatch):
    monkeypatch.setenv("GOODWE_POLL_SECONDS", "5")
    assert settings.poll_seconds() == settings.MIN_POLL_SECONDS
    assert settings.poll_seconds_notice() == (
        "GOODWE_POLL_SECONDS=5 is below the minimum: polling every 10 s"
    )
    assert settings.setting_problems() == []
    doctor = _run(
        [sys.executable, "-m", "goodwe_pipeline.cli", "doctor"],
        _env(tmp_path, GOODWE_POLL_SECONDS="5"),
    )
    assert "ok   GOODWE_POLL_SECONDS=5 is below the minimum: polling every 10 s" in doctor.stdout


def _tick(tmp_path: Path) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            "inverters": InvertersResource(inverters="192.0.2.1/ET"),
            "raw_store": RawStoreResource(data_dir=str(tmp_path)),
        },
    )
    return poll_inverters.evaluate_tick(context)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GOODWE_POLL_SECONDS", "abc"),
        ("GOODWE_TIMEZONE", "Mars/Base"),
        ("GOODWE_INVERTER_TIMEOUT_S", "soon"),
    ],
)
def test_the_sensor_reports_a_bad_setting_as_its_skip_reason(tmp_path, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    result = _tick(tmp_path)
    assert result.skip_message == str(_error_of(name))


def _error_of(name: str) -> settings.SettingError:
    with pytest.raises(settings.SettingError) as caught:
        settings.require(name)
    return caught.value


def test_a_run_needing_days_fails_with_the_one_line_error(tmp_path, monkeypatch) -> None:
    """The partitions load with the default timezone; a run turning them into days fails
    with the setting's one line, which the UI shows as the step's error."""
    monkeypatch.setenv("GOODWE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GOODWE_TIMEZONE", "Mars/Base")
    job = load_defs().resolve_job_def("hourly_reports_job")
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), partition_key="2025-06-10", raise_on_error=False
    )
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures
    message = str(_error_of("GOODWE_TIMEZONE"))
    for failure in failures:
        assert failure.step_failure_data.user_failure_data.description == message


def test_a_bad_battery_capacity_fails_the_readings_checks_with_its_line(tmp_path, monkeypatch):
    monkeypatch.setenv("GOODWE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GOODWE_BATTERY_CAPACITY_KWH", "-3")
    job = load_defs().resolve_job_def("hourly_reports_job")
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), partition_key="2025-06-10", raise_on_error=False
    )
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "readings_quality"
    assert failure.step_failure_data.user_failure_data.description == (
        "GOODWE_BATTERY_CAPACITY_KWH='-3' is not allowed: a number of kWh above 0, e.g. 10"
    )


def test_a_bad_warehouse_url_in_export_is_one_line_without_the_password(tmp_path) -> None:
    url = BAD["GOODWE_WAREHOUSE_URL"][0]
    export = _run(
        [
            sys.executable,
            "-m",
            "goodwe_pipeline.cli",
            "export",
            "--start",
            "2025-01-01",
            "--end",
            "2025-01-02",
            "--out",
            str(tmp_path / "out"),
        ],
        _env(tmp_path, GOODWE_WAREHOUSE_URL=url),
    )
    assert export.returncode == 2
    assert export.stderr.splitlines() == [
        "error: GOODWE_WAREHOUSE_URL is not allowed: its port is not a number; allowed: a "
        "database URL like postgresql+psycopg2://user@host:5432/goodwe (the value is not "
        "shown: it may hold a password)"
    ]
    with pytest.raises(settings.SettingError, match="GOODWE_WAREHOUSE_URL"):
        WarehouseResource(data_dir=str(tmp_path), url=url).get_warehouse()


def test_a_binary_tariff_file_is_named_in_one_line(tmp_path) -> None:
    tariff = tmp_path / "tariff.yaml"
    tariff.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(TariffError) as caught:
        load_tariff(tariff)
    assert str(caught.value) == (
        f"tariff file {tariff} is not text: byte 128 is not UTF-8 (a YAML text file is expected)"
    )
    control = tmp_path / "control.yaml"
    control.write_bytes(b"name: x\x00\x01\n")
    with pytest.raises(TariffError, match=f"tariff file {control} is not valid YAML") as bad_yaml:
        load_tariff(control)
    assert "\n" not in str(bad_yaml.value)
    doctor = _run(
        [sys.executable, "-m", "goodwe_pipeline.cli", "doctor"],
        _env(tmp_path, GOODWE_TARIFF_FILE=str(tariff)),
    )
    assert doctor.returncode != 0
    naming = [line for line in doctor.stdout.splitlines() if "GOODWE_TARIFF_FILE" in line]
    assert naming == [f"FAIL GOODWE_TARIFF_FILE: {caught.value}"]


# -- each store's settings object ---------------------------------------------------------


def test_store_settings_come_from_the_environment_and_never_show_their_secrets(
    monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("GOODWE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GOODWE_INFLUX_URL", f"http://me:{SECRET}-url@influx:8086")
    monkeypatch.setenv("GOODWE_INFLUX_TOKEN", f"{SECRET}-token")
    monkeypatch.setenv("GOODWE_INFLUX_ORG", "home")
    monkeypatch.delenv("GOODWE_INFLUX_BUCKET", raising=False)
    monkeypatch.setenv("GOODWE_WAREHOUSE_URL", f"postgresql://me:{SECRET}-wh@db/goodwe")
    raw = settings.RawStoreSettings.from_env(create_database=True)
    warehouse = settings.WarehouseSettings.from_env()
    assert raw.data_dir == warehouse.data_dir == tmp_path
    assert (raw.kind, raw.influx_org, raw.influx_bucket, raw.create_database) == (
        "influxdb",
        "home",
        None,
        True,
    )
    assert warehouse.kind == "postgres"
    assert {f"{SECRET}-url", f"{SECRET}-token"} <= set(raw.secrets)
    assert warehouse.secrets == [f"{SECRET}-wh"]
    for shown in (repr(raw), repr(warehouse), str(raw)):
        assert SECRET not in shown
    with pytest.raises(AttributeError):
        raw.influx_db = "elsewhere"  # type: ignore[misc]


def test_an_unparseable_warehouse_url_is_a_secret_as_a_whole(tmp_path) -> None:
    url = BAD["GOODWE_WAREHOUSE_URL"][0]
    assert settings.WarehouseSettings(url=url).secrets == [url]
    assert settings.WarehouseSettings(data_dir=tmp_path).kind == "sqlite"
    assert settings.WarehouseSettings(data_dir=tmp_path).secrets == []


def test_the_resources_produce_the_settings_the_environment_gives(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GOODWE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GOODWE_INFLUX_URL", "http://influx:8086")
    monkeypatch.setenv("GOODWE_INFLUX_PASSWORD", SECRET)
    monkeypatch.setenv("GOODWE_INFLUX_USERNAME", "me")
    definitions = load_defs()
    raw_store = definitions.resources["raw_store"]
    assert isinstance(raw_store.influx_password, dg.EnvVar)
    produced = raw_store.process_config_and_initialize().settings()
    assert produced == settings.RawStoreSettings.from_env(create_database=True)
    assert produced.secrets == [SECRET]


def test_a_password_inside_the_influx_url_counts_as_a_secret():
    raw = settings.RawStoreSettings(influx_url="http://admin:s3cr#t@influx:8086")
    assert "s3cr#t" in raw.secrets
    assert "s3cr#t" not in repr(raw)
