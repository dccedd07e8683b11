"""The terminal commands the manual and the demo banner show, run as shown on demo history.

The manual (README.md and docs/) marks each tested block with ``<!-- tested: goodwe_pipeline_tests/test_documented_commands.py -->``;
its ``data/demo`` paths and ``<first>``/``<last>`` placeholders are filled in with a fresh demo
folder and its days, and the block runs in bash from the repository's root folder.
"""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from goodwe_pipeline.commands.demo import terminal_backfill
from goodwe_pipeline.common import days
from goodwe_pipeline.common.settings import WarehouseSettings
from goodwe_pipeline.demo.history import write_demo_history
from goodwe_pipeline.demo.processes import pipeline_environment, write_instance_config
from goodwe_pipeline.warehouse import Warehouse

ROOT = Path(__file__).resolve().parent.parent
MARK = "<!-- tested: goodwe_pipeline_tests/test_documented_commands.py -->"
TZ = "Europe/Warsaw"


def manual_blocks() -> list[str]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    text = "\n".join(page.read_text() for page in pages)
    return re.findall(re.escape(MARK) + r"\n```bash\n(.*?)```", text, flags=re.S)


def run_bash(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_banner_and_readme_backfill_and_export_commands_work(tmp_path) -> None:
    demo = tmp_path / "demo"
    last = days.local_date(datetime.now(UTC), TZ) - timedelta(days=1)
    manifest = write_demo_history(demo, end=last, days_count=3, tz=TZ)
    first = manifest.first_day
    write_instance_config(demo / "dagster_home")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GOODWE_", "DAGSTER_"))}

    env = pipeline_environment(
        clean,
        dagster_home=demo / "dagster_home",
        data_dir=demo / "store",
        inverters="",
        legacy_dir=manifest.legacy_dir,
        price_csv=manifest.price_csv,
        timezone=TZ,
    )
    banner = run_bash(terminal_backfill(env, first, manifest.last_day), clean)
    assert banner.returncode == 0, banner.stdout[-3000:] + banner.stderr[-3000:]
    output = banner.stdout + banner.stderr
    assert " - DEBUG - " not in output and "SupersessionWarning" not in output, output[-3000:]
    assert "RUN_FAILURE" not in output
    with Warehouse.from_settings(WarehouseSettings(data_dir=demo / "store")) as warehouse:
        daily = warehouse.read_frame("SELECT day FROM daily_energy ORDER BY day")
        prices = warehouse.read_frame("SELECT DISTINCT partition_date FROM electricity_prices")
        sessions = warehouse.read_frame("SELECT count(*) AS n FROM battery_sessions")
        trends = warehouse.read_frame(
            "SELECT count(*) AS n FROM analytics_reports WHERE report_type LIKE 'trend_%'"
        )
    assert sorted({str(d)[:10] for d in daily["day"]}) == [
        d.isoformat() for d in days.iter_days(days.parse_day(first), last)
    ]
    assert len(prices) == 3 and sessions["n"][0] > 0 and trends["n"][0] > 0
    assert (demo / "store" / "archive").is_dir()

    blocks = manual_blocks()
    assert len(blocks) == 2, blocks
    for block in blocks:
        command = (
            block.replace("$PWD/data/demo", str(demo))
            .replace("data/demo", str(demo))
            .replace("<first>", first)
            .replace("<last>", manifest.last_day)
            .replace("exports/", str(tmp_path / "exports"))
        )
        done = run_bash(command, clean)
        assert done.returncode == 0, command + "\n" + done.stdout[-3000:] + done.stderr[-3000:]
        assert " - DEBUG - " not in done.stdout + done.stderr
    exported = pd.read_csv(tmp_path / "exports" / "daily_energy.csv")
    assert len(exported) == len(daily)
