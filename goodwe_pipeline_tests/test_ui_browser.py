"""What an owner sees, in a real browser: headless Chromium (Debian's ``chromium``, driven
by Playwright) against a real ``dagster dev`` webserver.

A few days of the demo history are backfilled in one run per asset into a SQLite Dagster
instance; one webserver then serves every check: the ``daily_energy_report`` and
``battery_sessions`` pages of a day show that day's chart (a loaded image, non-zero natural
size) and its session rows, and no first-visit dialog covers them. Screenshots are saved
under ``GOODWE_TEST_ARTEFACTS`` (default: the test's tmp dir) and their paths printed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml

from goodwe_pipeline.demo.processes import (
    DagsterDev,
    pipeline_environment,
    write_instance_config,
    write_workspace,
)
from goodwe_pipeline_tests.servers import free_port
from goodwe_pipeline_tests.ui_days import TZ, UiDays, backfill_demo_days

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Without the background-networking flags Chromium's own connections fail on a closed network."""
DAY = "2025-10-26"
"""The 25-hour day, with charges and discharges."""
READY_TIMEOUT_S = 240
PAGE_TIMEOUT_MS = 60_000


def test_shipped_instance_configs_turn_the_first_visit_dialog_off(tmp_path) -> None:
    for path in (ROOT / "dagster.yaml", ROOT / "deploy" / "dagster.yaml"):
        assert yaml.safe_load(path.read_text())["nux"] == {"enabled": False}, path
    written = write_instance_config(tmp_path)
    assert yaml.safe_load(written.read_text())["nux"] == {"enabled": False}


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("GOODWE_TEST_ARTEFACTS") or tmp_path_factory.mktemp("ui"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[DagsterDev, UiDays]]:
    root = tmp_path_factory.mktemp("served")
    home = root / "dagster_home"
    write_instance_config(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        ui_days = backfill_demo_days(root, instance)
    env = pipeline_environment(
        os.environ,
        dagster_home=home,
        data_dir=ui_days.data_dir,
        inverters="",
        legacy_dir=ui_days.manifest.legacy_dir,
        price_csv=ui_days.manifest.price_csv,
        timezone=TZ,
    )
    dev = DagsterDev(
        port=free_port(), env=env, workspace=write_workspace(home), log_path=root / "dev.log"
    )
    try:
        dev.start()
        dev.wait_ready(timeout=READY_TIMEOUT_S)
        yield dev, ui_days
    finally:
        dev.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if CHROMIUM is None:
        pytest.fail("chromium not found: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="chromium-profile-"),
            executable_path=CHROMIUM,
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport={"width": 1400, "height": 1100},
        )
        try:
            yield context
        finally:
            context.close()


def _open_partition(browser, dev: DagsterDev, asset: str, day: str, first_key: str):
    """The asset's Partitions tab on ``day``, once its metadata (``first_key``) is shown."""
    page = browser.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(f"{dev.url}/assets/{asset}?view=partitions&partition={day}")
    page.get_by_role("cell", name=first_key, exact=True).first.wait_for()
    assert page.get_by_text("Join the Dagster community").count() == 0
    return page


def _open_chart(page, alt_prefix: str):
    """Open the ``chart`` entry's Markdown and wait until its image has loaded."""
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name="chart", exact=True))
    row.get_by_text("Show Markdown").click()
    image = page.locator(f'img[alt^="{alt_prefix}"]').first
    image.wait_for(state="visible")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    size = image.evaluate("img => ({width: img.naturalWidth, height: img.naturalHeight})")
    assert size["width"] > 300 and size["height"] > 200, size
    return image


def test_a_days_report_and_sessions_pages_show_their_chart_and_sessions(
    served, browser, artefacts
) -> None:
    dev, _ = served
    page = _open_partition(browser, dev, "daily_energy_report", DAY, "pv_kwh")
    assert page.get_by_role("cell", name="savings_pln", exact=True).count() == 1
    image = _open_chart(page, DAY)
    page.screenshot(path=str(artefacts / "page_daily_energy_report.png"))
    image.screenshot(path=str(artefacts / "daily_energy_report.png"))

    page = _open_partition(browser, dev, "battery_sessions", DAY, "sessions")
    listed = page.get_by_role("row").filter(has=page.get_by_role("cell", name="sessions_list"))
    kinds = listed.get_by_role("cell", name="charge", exact=True)
    kinds.first.wait_for(state="visible")
    assert kinds.count() >= 1
    assert listed.get_by_role("cell", name="discharge", exact=True).count() >= 1
    listed.scroll_into_view_if_needed()
    page.screenshot(path=str(artefacts / "page_battery_sessions.png"))
    image = _open_chart(page, "battery sessions")
    image.screenshot(path=str(artefacts / "battery_sessions.png"))


def test_prices_and_trends_pages_show_their_charts(served, browser, artefacts) -> None:
    dev, ui_days = served
    page = _open_partition(browser, dev, "electricity_prices", DAY, "buy_mean_pln_kwh")
    _open_chart(page, f"prices {DAY}").screenshot(path=str(artefacts / "electricity_prices.png"))
    last = ui_days.last.isoformat()
    page = _open_partition(browser, dev, "energy_trends", last, "7d_days_with_reports")
    _open_chart(page, f"trends to {last}").screenshot(path=str(artefacts / "energy_trends.png"))
    print(f"\nscreenshots in {artefacts}: {sorted(p.name for p in artefacts.glob('*.png'))}")
