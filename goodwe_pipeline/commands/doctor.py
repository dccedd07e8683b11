"""``goodwe-pipeline doctor``: is every part of the pipeline reachable? One line each."""

from __future__ import annotations

import argparse
import asyncio
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from goodwe_pipeline.common import settings
from goodwe_pipeline.common.settings import RawStoreSettings, WarehouseSettings
from goodwe_pipeline.health import checkup
from goodwe_pipeline.ingest.inverters import InverterPoller, PollResult
from goodwe_pipeline.ingest.spool import spool_dir
from goodwe_pipeline.prices.tariffs import TariffError, load_tariff
from goodwe_pipeline.raw_store import RawStore, open_raw_store
from goodwe_pipeline.raw_store.influx_v2 import InfluxV2RawStore
from goodwe_pipeline.warehouse import Warehouse

HELP = (
    "Check inverters, raw store (InfluxDB or Parquet), warehouse, spool, disk and the newest "
    "reading: one line each, ok / warn / FAIL with a fix; creates nothing; exit 1 on any FAIL."
)
OK, WARNING, ERROR = "ok", "warning", "error"
LABELS = {OK: "ok  ", WARNING: "warn", ERROR: "FAIL"}
RAW_STORE_FIX = (
    "check GOODWE_INFLUX_URL (and its token or user/password), that InfluxDB runs and "
    "answers /ping, or that GOODWE_DATA_DIR is writable"
)
WAREHOUSE_FIX = "check GOODWE_WAREHOUSE_URL and that the database server runs and accepts it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout", type=float, default=1.0, help="seconds per inverter request attempt"
    )
    parser.add_argument("--retries", type=int, default=1, help="extra attempts per request")


async def _poll(addresses: list[settings.InverterAddress], timeout: float, retries: int):
    poller = InverterPoller(
        timeout_s=timeout, retries=retries, budget_s=max(20.0, 4 * timeout * (1 + retries))
    )
    try:
        return await poller.poll(addresses)
    finally:
        await poller.close()


@dataclass(frozen=True)
class Line:
    """One part of the pipeline: its status, what was found and, unless ``ok``, how to fix it."""

    status: str
    text: str
    fix: str | None = None


def human_bytes(count: float) -> str:
    """``82893082624`` as ``77.2 GiB``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _inverter_line(result: PollResult) -> Line:
    name = f"inverter {result.address.label}"
    if result.reading is None:
        return Line(ERROR, f"{name}: {result.error}")  # the error ends with what to check
    soc = result.reading.get("battery_soc_pct")
    return Line(
        OK,
        f"{name}: {result.model or 'inverter'} serial {result.device_id}, "
        f"PV {result.reading.get('pv_power_w', float('nan')):.0f} W, battery {soc:.0f} % "
        f"({result.elapsed_s:.1f} s)",
    )


def setting_lines() -> list[Line]:
    """One failed line per setting that is not allowed (``settings.setting_problems``, and a
    tariff file that cannot be used), and the stated poll-interval notice."""
    lines = [Line(ERROR, problem) for problem in settings.setting_problems()]
    tariff_file = settings.env("GOODWE_TARIFF_FILE")
    if tariff_file:
        try:
            load_tariff(tariff_file)
        except TariffError as exc:
            lines.append(Line(ERROR, f"GOODWE_TARIFF_FILE: {exc}"))
    notice = settings.poll_seconds_notice()
    if notice:
        lines.append(Line(OK, notice))
    return lines


def inverter_lines(args: argparse.Namespace) -> tuple[list[Line], bool]:
    """A line per configured inverter (or why there is none); whether any is configured."""
    try:
        addresses = settings.parse_inverters(settings.env("GOODWE_INVERTERS"))
    except ValueError as exc:
        return [
            Line(ERROR, f"inverters: {exc}", "write GOODWE_INVERTERS as host[:port][/family]")
        ], False
    if not addresses:
        return [
            Line(
                WARNING,
                "inverters: none configured, nothing will be polled",
                "set GOODWE_INVERTERS, e.g. GOODWE_INVERTERS=192.168.1.50/ET",
            )
        ], False
    results = asyncio.run(_poll(addresses, args.timeout, args.retries))
    return [_inverter_line(result) for result in results], True


def raw_store_lines(raw_store: RawStore) -> list[Line]:
    """The raw store's answer (InfluxDB: reachable, which API and server version; Parquet: its
    folder), and on InfluxDB's v2 API what would keep writes from working, with its fix."""
    raw = checkup.raw_store_health(raw_store)
    text = f"{raw.component}: {raw.detail} ({raw.latency_ms or 0:.0f} ms)"
    if raw.component == "parquet" and raw.value is not None:
        text = f"{raw.component}: {raw_store.url}, {human_bytes(raw.value)} free ({raw.latency_ms or 0:.0f} ms)"
    lines = [Line(OK if raw.ok else ERROR, text, None if raw.ok else RAW_STORE_FIX)]
    if raw.ok and isinstance(raw_store, InfluxV2RawStore):
        access = raw_store.access_check()
        if access:
            ok, detail = access
            lines.append(Line(OK if ok else ERROR, f"{raw.component}: {detail}"))
    return lines


def readings_line(raw_store: RawStore, inverters_configured: bool) -> Line:
    """How old the newest reading is; without inverters configured, none is only a warning."""
    recent = checkup.last_reading_health(
        raw_store,
        now=datetime.now(UTC),
        inverters_configured=inverters_configured,
        poll_seconds=settings.for_loading("GOODWE_POLL_SECONDS"),
    )
    if not inverters_configured and recent.ok:
        status = WARNING if "no reading" in recent.detail else OK
    else:
        status = OK if recent.ok else ERROR
    return Line(
        status,
        f"readings: {recent.detail}",
        None
        if status == OK
        else "is `dagster dev` (or the daemon) running with the "
        "poll_inverters sensor on? See Automation > poll_inverters in the UI",
    )


def _existing_parent(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def store_lines(
    raw_settings: RawStoreSettings,
    warehouse_settings: WarehouseSettings,
    inverters_configured: bool,
) -> list[Line]:
    """Raw store, warehouse, spool, disk and the newest reading, creating nothing: an embedded
    store that does not exist yet is a warning saying what will create it."""
    lines: list[Line] = []
    data_dir = raw_settings.data_dir
    newest: Line | None = None
    parquet_root = raw_settings.parquet_root
    if raw_settings.kind == "parquet" and not parquet_root.is_dir():
        lines.append(
            Line(
                WARNING,
                f"parquet: no readings stored yet ({parquet_root.absolute()} does not exist)",
                "it is created by the first poll or migration; check GOODWE_DATA_DIR if you "
                "expected readings there",
            )
        )
    else:
        try:
            raw_store = open_raw_store(raw_settings)
        except Exception as exc:  # a malformed URL is a failed check, not a crash
            lines.append(
                Line(
                    ERROR,
                    f"raw store: cannot be opened: {type(exc).__name__}: {exc}",
                    RAW_STORE_FIX,
                )
            )
        else:
            with raw_store:
                raw_lines = raw_store_lines(raw_store)
                lines += raw_lines
                if all(line.status == OK for line in raw_lines):
                    newest = readings_line(raw_store, inverters_configured)
    sqlite = warehouse_settings.sqlite_path
    if not warehouse_settings.url and not sqlite.is_file():
        lines.append(
            Line(
                WARNING,
                f"warehouse: no SQLite warehouse yet ({sqlite.absolute()} does not exist)",
                "it is created by the first run (e.g. a backfill); check GOODWE_DATA_DIR if "
                "you expected data there",
            )
        )
    elif (line := warehouse_line(warehouse_settings)) is not None:
        lines.append(line)
    spool = spool_dir(data_dir)
    if spool.is_dir():
        probe = checkup.spool_health(data_dir)
        lines.append(
            Line(
                OK if probe.ok else WARNING,
                f"spool: {probe.detail} in {spool}",
                None
                if probe.ok
                else "readings wait here while the raw store is down; they "
                "are replayed when it answers again",
            )
        )
    else:
        lines.append(Line(OK, f"spool: empty ({spool.absolute()} does not exist yet)"))
    where = _existing_parent(data_dir)
    free = shutil.disk_usage(where).free
    disk = f"disk: {human_bytes(free)} free in {where}"
    if free < checkup.MIN_FREE_BYTES:
        lines.append(Line(ERROR, disk, f"free at least {human_bytes(checkup.MIN_FREE_BYTES)}"))
    else:
        lines.append(Line(OK, disk))
    if newest is not None:
        lines.append(newest)
    return lines


def warehouse_line(warehouse_settings: WarehouseSettings) -> Line | None:
    """The warehouse's answer; None when its setting is not allowed (``setting_lines`` says so)."""
    try:
        warehouse = Warehouse.from_settings(warehouse_settings)
    except settings.SettingError:
        return None
    except Exception as exc:  # a malformed URL is a failed check, not a crash
        return Line(ERROR, f"warehouse: {type(exc).__name__}: {exc}", WAREHOUSE_FIX)
    with warehouse:
        wh = checkup.warehouse_health(warehouse)
    return Line(
        OK if wh.ok else ERROR,
        f"warehouse: {wh.detail} ({wh.latency_ms or 0:.0f} ms)",
        None if wh.ok else WAREHOUSE_FIX,
    )


def run(args: argparse.Namespace) -> int:
    raw_settings, warehouse_settings = RawStoreSettings.from_env(), WarehouseSettings.from_env()
    secrets = [*raw_settings.secrets, *warehouse_settings.secrets]
    inverters, configured = inverter_lines(args)
    results = [
        *setting_lines(),
        *inverters,
        *store_lines(raw_settings, warehouse_settings, configured),
    ]
    for line in results:
        print(f"{LABELS[line.status]} {checkup.mask(line.text, secrets)}")
        if line.fix:
            print(f"     fix: {checkup.mask(line.fix, secrets)}")
    errors = sum(line.status == ERROR for line in results)
    warnings = sum(line.status == WARNING for line in results)
    print(f"{errors} error(s), {warnings} warning(s)")
    return 1 if errors else 0
