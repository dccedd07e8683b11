"""Real servers for the tests and benchmarks: an `influxd` per session, a fresh PostgreSQL database."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from contextlib import ExitStack
from pathlib import Path

POSTGRES_ADMIN_URL = os.environ.get(
    "GOODWE_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports nothing listens on (all held until all are chosen)."""
    with ExitStack() as stack:
        sockets = [
            stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            for _ in range(count)
        ]
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]


class InfluxServer:
    """An `influxd` 1.x process on a free port with its own data directory.

    ``stop()`` and ``start()`` may be called repeatedly (outage tests); the data
    directory survives a restart. With ``auth=True`` HTTP auth is enabled and
    an admin user ``admin_user`` / ``admin_password`` exists.
    """

    admin_user = "admin"

    def __init__(self, root: Path, *, auth: bool = False):
        binary = shutil.which("influxd")
        if binary is None:
            raise RuntimeError("influxd not found: run `make test` (it installs Debian's influxdb)")
        self.binary = binary
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.auth = auth
        self.admin_password = uuid.uuid4().hex
        self.port, self._rpc_port = free_ports(2)
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self._write_config()

    def _write_config(self) -> None:
        root = self.root
        (root / "influxdb.conf").write_text(
            f"""reporting-enabled = false
bind-address = "127.0.0.1:{self._rpc_port}"
[meta]
  dir = "{root}/meta"
  logging-enabled = false
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
  wal-fsync-delay = "0s"
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = {"true" if self.auth else "false"}
  log-enabled = false
  max-body-size = 0
[logging]
  level = "warn"
  suppress-logo = true
[continuous_queries]
  enabled = false
"""
        )

    def start(self, timeout: float = 60.0) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        log = open(self.root / "influxd.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [self.binary, "run", "-config", str(self.root / "influxdb.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"influxd exited: {(self.root / 'influxd.log').read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"influxd did not answer on {self.url} within {timeout} s")
        if self.auth:
            self.query(
                f"CREATE USER {self.admin_user} WITH PASSWORD '{self.admin_password}' WITH ALL PRIVILEGES",
                auth=False,
            )

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def query(self, q: str, db: str | None = None, *, auth: bool = True) -> bytes:
        """Run one InfluxQL statement directly (test set-up and assertions).

        On an auth-enabled server it authenticates as the admin with HTTP Basic
        auth (influxd 1.x ignores ``u``/``p`` in a POST body); ``auth=False``
        sends no credentials (creating the first user needs none).
        """
        params = {"q": q}
        if db:
            params["db"] = db
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if self.auth and auth:
            token = base64.b64encode(f"{self.admin_user}:{self.admin_password}".encode())
            headers["Authorization"] = "Basic " + token.decode()
        request = urllib.request.Request(
            f"{self.url}/query",
            data=urllib.parse.urlencode(params).encode(),
            headers=headers,
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()


def create_postgres_database(admin_url: str = POSTGRES_ADMIN_URL) -> str:
    """Create a fresh, uniquely named database; return its SQLAlchemy URL."""
    import sqlalchemy as sa

    name = f"goodwe_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return str(
        sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    )


def drop_postgres_database(url: str, admin_url: str = POSTGRES_ADMIN_URL) -> None:
    import sqlalchemy as sa

    name = sa.engine.make_url(url).database
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    engine.dispose()
