"""``goodwe-pipeline doctor``: is every part of the pipeline reachable? One line each."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from goodwe_pipeline import health, settings
from goodwe_pipeline.commands._stores import (
    raw_store_from_env,
    redact,
    secret_values,
    warehouse_from_env,
)
from goodwe_pipeline.inverter_client import InverterPoller, PollResult
from goodwe_pipeline.raw_store import RawStore
from goodwe_pipeline.tariffs import TariffError, load_tariff
from goodwe_pipeline.url_credentials import url_secrets

HELP = "Check inverters, raw store (InfluxDB or Parquet), warehouse, spool and disk; exit 1 on any failure."


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


def _inverter_line(result: PollResult) -> tuple[bool, str]:
    name = f"inverter {result.address.label}"
    if result.reading is None:
        return False, f"{name}: {result.error}"
    soc = result.reading.get("battery_soc_pct")
    return True, (
        f"{name}: {result.model or 'inverter'} serial {result.device_id}, "
        f"PV {result.reading.get('pv_power_w', float('nan')):.0f} W, battery {soc:.0f} % "
        f"({result.elapsed_s:.1f} s)"
    )


def setting_lines() -> list[tuple[bool, str]]:
    """One failed line per setting that is not allowed (``settings.setting_problems``, and a
    tariff file that cannot be used), and the stated poll-interval notice."""
    lines = [(False, problem) for problem in settings.setting_problems()]
    tariff_file = settings.env("GOODWE_TARIFF_FILE")
    if tariff_file:
        try:
            load_tariff(tariff_file)
        except TariffError as exc:
            lines.append((False, f"GOODWE_TARIFF_FILE: {exc}"))
    notice = settings.poll_seconds_notice()
    if notice:
        lines.append((True, notice))
    return lines


def checks(args: argparse.Namespace) -> list[tuple[bool, str]]:
    lines = setting_lines()
    try:
        addresses = settings.parse_inverters(settings.env("GOODWE_INVERTERS"))
    except ValueError as exc:
        lines.append((False, f"inverters: {exc}"))
        addresses = []
    else:
        if not addresses:
            lines.append((True, "inverters: none configured (GOODWE_INVERTERS is empty)"))
    if addresses:
        for result in asyncio.run(_poll(addresses, args.timeout, args.retries)):
            lines.append(_inverter_line(result))

    data_dir = settings.data_dir()
    readable: RawStore | None = None
    try:
        store = raw_store_from_env()
    except Exception as exc:  # a malformed URL is a failed check, not a crash
        lines.append((False, f"raw store: cannot be opened: {type(exc).__name__}: {exc}"))
    else:
        raw = health.raw_store_health(store)
        lines.append((raw.ok, f"{raw.component}: {raw.detail} ({raw.latency_ms or 0:.0f} ms)"))
        readable = store if raw.ok else None
    try:
        warehouse = warehouse_from_env()
    except settings.SettingError:
        pass  # reported by setting_lines
    except Exception as exc:  # a malformed URL is a failed check, not a crash
        lines.append((False, f"warehouse: {type(exc).__name__}: {exc}"))
    else:
        try:
            wh = health.warehouse_health(warehouse)
        finally:
            warehouse.dispose()
        lines.append((wh.ok, f"warehouse: {wh.detail} ({wh.latency_ms or 0:.0f} ms)"))
    for probe in (health.spool_health(data_dir), health.disk_health(data_dir)):
        detail = f"{int(probe.value)} bytes free" if probe.component == "disk" else probe.detail
        lines.append((probe.ok, f"{probe.component}: {detail} in {data_dir}"))
    if readable is not None:
        recent = health.last_reading_health(
            readable,
            now=datetime.now(UTC),
            inverters_configured=bool(addresses),
            poll_seconds=settings.for_loading("GOODWE_POLL_SECONDS"),
        )
        lines.append((recent.ok, f"readings: {recent.detail}"))
    return lines


def run(args: argparse.Namespace) -> int:
    secrets = [*secret_values(), *url_secrets(settings.env("GOODWE_INFLUX_URL"))]
    results = checks(args)
    for ok, text in results:
        print(f"{'ok  ' if ok else 'FAIL'} {redact(text, secrets)}")
    return 0 if all(ok for ok, _ in results) else 1
