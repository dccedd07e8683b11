"""``dagster dev`` as a child: its environment, its instance, starting, waiting, talking, stopping.

Used by ``goodwe-pipeline demo`` and by the end-to-end test. ``dagster dev``
runs in its own process group (a new session), with the webserver, the daemon,
the code server and every run worker it starts; ``DagsterDev.stop`` sends SIGINT
to the whole group, waits, then SIGKILLs whatever is left, so nothing outlives it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

DEFINITIONS_MODULE = "goodwe_pipeline.definitions"
LOCATION_NAME = "goodwe_pipeline"
"""The code location's name, as in ``pyproject.toml`` and the deployed ``workspace.yaml``."""
LOG_TAIL_CHARS = 4000


class DagsterDevError(RuntimeError):
    """``dagster dev`` failed to start, died, or did not answer; the message ends with its log."""


def clean_environment(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` without any ``GOODWE_*`` setting or ``DAGSTER_HOME``: the demo decides them all,
    so a user's production settings (an InfluxDB URL...) can never leak into it."""
    return {
        name: value
        for name, value in base.items()
        if not name.startswith("GOODWE_") and name != "DAGSTER_HOME"
    }


def pipeline_environment(
    base: Mapping[str, str],
    *,
    dagster_home: Path,
    data_dir: Path,
    inverters: str,
    legacy_dir: str,
    price_csv: str,
    timezone: str,
    poll_seconds: int = 10,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment ``dagster dev`` runs the pipeline with (the variables of docs/configuration.md)."""
    env = clean_environment(base)
    env.update(
        {
            "DAGSTER_HOME": str(dagster_home),
            "GOODWE_DATA_DIR": str(data_dir),
            "GOODWE_INVERTERS": inverters,
            "GOODWE_POLL_SECONDS": str(poll_seconds),
            "GOODWE_LEGACY_DIR": legacy_dir,
            "GOODWE_PRICE_SOURCE": f"csv:{price_csv}",
            "GOODWE_TIMEZONE": timezone,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


INSTANCE_SETTINGS: dict[str, Any] = {
    "telemetry": {"enabled": False},
    "nux": {"enabled": False},
    "python_logs": {"python_log_level": "INFO"},
    "sensors": {"use_threads": True, "num_workers": 4},
    "schedules": {"use_threads": True, "num_workers": 2},
    "run_coordinator": {
        "module": "dagster.core.run_coordinator",
        "class": "QueuedRunCoordinator",
        "config": {"max_concurrent_runs": 4, "dequeue_interval_seconds": 1},
    },
}
"""The demo instance besides its storage: no first-visit community dialog, runs print INFO and above (not Dagster's DEBUG lines),
sensors and schedules in threads, and queued runs start within a second (Dagster's default
checks the queue every 5 s), as in the repository's ``dagster.yaml``."""


def write_instance_config(dagster_home: Path, storage: Mapping[str, Any] | None = None) -> Path:
    """``dagster.yaml`` in ``dagster_home``: SQLite storage under it unless ``storage`` is given
    (e.g. ``{"postgres": {"postgres_db": {...}}}``), then ``INSTANCE_SETTINGS``."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "storage": dict(storage)
        if storage is not None
        else {"sqlite": {"base_dir": str(dagster_home / "storage")}},
        **INSTANCE_SETTINGS,
    }
    path = dagster_home / "dagster.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def write_workspace(dagster_home: Path) -> Path:
    """``workspace.yaml`` loading ``goodwe_pipeline.definitions`` as location ``goodwe_pipeline``
    (``dagster dev -m`` would name the location after the module)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    workspace = {
        "load_from": [
            {"python_module": {"module_name": DEFINITIONS_MODULE, "location_name": LOCATION_NAME}}
        ]
    }
    path = dagster_home / "workspace.yaml"
    path.write_text(yaml.safe_dump(workspace, sort_keys=False))
    return path


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


class DagsterDev:
    """One ``dagster dev -w workspace.yaml`` child (the workspace loads
    ``goodwe_pipeline.definitions``, see ``write_workspace``), logging to ``log_path``."""

    def __init__(
        self,
        *,
        port: int,
        env: Mapping[str, str],
        workspace: Path,
        log_path: Path,
        host: str = "127.0.0.1",
    ):
        self.port = port
        self.host = host
        self.env = dict(env)
        self.workspace = Path(workspace)
        self.cwd = self.workspace.parent
        self.log_path = Path(log_path)
        self.process: subprocess.Popen | None = None
        self.started_at: float | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-w",
            str(self.workspace),
            "-h",
            self.host,
            "-p",
            str(self.port),
        ]

    def start(self) -> DagsterDev:
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started_at = time.monotonic()
        return self

    @property
    def pgid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def members(self) -> list[int]:
        """Every live process of the group: dagster dev, webserver, daemon, code server, runs."""
        return group_members(self.pgid) if self.pgid is not None else []

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                size = log.tell()
                log.seek(max(size - chars, 0))
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def failure(self, message: str) -> DagsterDevError:
        return DagsterDevError(f"{message}\n--- tail of {self.log_path} ---\n{self.log_tail()}")

    # -- HTTP --

    def graphql(
        self, query: str, variables: Mapping[str, Any] | None = None, timeout: float = 30
    ) -> dict:
        """``data`` of a GraphQL answer; ``DagsterDevError`` on transport or GraphQL errors."""
        body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:2000]
            raise DagsterDevError(f"GraphQL request to {self.url} failed: {exc}: {detail}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DagsterDevError(f"GraphQL request to {self.url} failed: {exc}") from exc
        if answer.get("errors"):
            raise DagsterDevError(f"GraphQL errors: {json.dumps(answer['errors'])[:2000]}")
        return answer["data"]

    def launch_backfill(self, params: Mapping[str, Any]) -> str:
        """Launch a partition backfill (``LaunchBackfillParams``, as the UI sends them); its id."""
        answer = self.graphql(_LAUNCH_BACKFILL, {"params": dict(params)})["launchPartitionBackfill"]
        if answer["__typename"] != "LaunchBackfillSuccess":
            raise DagsterDevError(f"backfill not launched: {json.dumps(answer)[:2000]}")
        return answer["backfillId"]

    def server_info(self, timeout: float = 5) -> dict | None:
        try:
            with urllib.request.urlopen(f"{self.url}/server_info", timeout=timeout) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def location_status(self) -> tuple[str, str | None]:
        """``(load status, error message)`` of the code location (``LOADED``, ``LOADING``...)."""
        data = self.graphql(_LOCATIONS)
        entries = data["workspaceOrError"].get("locationEntries") or []
        if not entries:
            return "MISSING", None
        entry = entries[0]
        error = entry.get("locationOrLoadError") or {}
        message = error.get("message") if error.get("__typename") == "PythonError" else None
        return entry["loadStatus"], message

    def wait_ready(self, timeout: float = 240, cancel: threading.Event | None = None) -> float:
        """Wait until the webserver answers and the code location is loaded; seconds taken."""
        deadline = time.monotonic() + timeout
        last = "no answer from /server_info"
        while time.monotonic() < deadline:
            if cancel is not None and cancel.is_set():
                raise KeyboardInterrupt
            if not self.running():
                raise self.failure(f"dagster dev exited with code {self.process.returncode}")
            if self.server_info() is not None:
                try:
                    status, error = self.location_status()
                except DagsterDevError as exc:  # the webserver is still starting up
                    status, error = f"not answering GraphQL ({exc})", None
                if error:
                    raise self.failure(f"the code location failed to load: {error}")
                if status == "LOADED":
                    return time.monotonic() - (self.started_at or deadline - timeout)
                last = f"code location {status}"
            time.sleep(0.5)
        raise self.failure(f"dagster dev not ready on {self.url} within {timeout:.0f} s ({last})")

    def latest_materialization(self, asset: str) -> dict | None:
        """The newest materialization of ``asset`` (timestamp in ms, partition, runId), if any."""
        data = self.graphql(_LATEST_MATERIALIZATION, {"key": {"path": [asset]}})
        node = data["assetOrError"]
        events = node.get("assetMaterializations") or []
        return events[0] if events else None

    # -- stopping --

    def stop(self, timeout: float = 30, kill_timeout: float = 10) -> list[int]:
        """SIGINT to the group, wait up to ``timeout`` for every member to exit, then SIGKILL.

        Returns the pids that needed SIGKILL (empty after a clean shutdown).
        """
        if self.process is None:
            return []
        pgid = self.process.pid
        if self.members():
            try:
                os.killpg(pgid, signal.SIGINT)
            except ProcessLookupError:
                pass
        killed = self._wait_gone(pgid, timeout)
        if killed:
            for pid in killed:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            left = self._wait_gone(pgid, kill_timeout)
            if left:
                raise DagsterDevError(f"processes {left} of dagster dev survived SIGKILL")
        self._reap()
        return killed

    def _reap(self) -> None:
        """Collect ``dagster dev``'s exit status. A dead leader is a zombie, which
        ``group_members`` does not count, so the group can look empty before it is reaped."""
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _wait_gone(self, pgid: int, timeout: float) -> list[int]:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is None:
                try:
                    self.process.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
            members = group_members(pgid)
            if not members or time.monotonic() >= deadline:
                return members
            time.sleep(0.2)


_LAUNCH_BACKFILL = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""

_LOCATIONS = """
query Locations {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}
"""

_LATEST_MATERIALIZATION = """
query Latest($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset { assetMaterializations(limit: 1) { timestamp partition runId } }
  }
}
"""
