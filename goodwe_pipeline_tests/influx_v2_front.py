"""A stand-in for an InfluxDB 2.x server: its v2 HTTP endpoints in front of a real ``influxd`` 1.x.

No InfluxDB 2.x server installs on the test machines (it is not in Debian, PyPI
or npm), so the v2 raw store is tested with the real ``influxdb-client`` against
this front. It implements exactly the endpoints the store and ``doctor`` use,
answering as InfluxDB 2.7 does (status codes and JSON error bodies
``{"code": ..., "message": ...}``), and keeps the data in the real ``influxd``:

- ``GET|HEAD /ping`` (204, ``X-Influxdb-Version``), ``GET /ready``, ``GET /health``;
- ``GET /api/v2/orgs?org=`` (one organisation; an unknown name is 404);
- ``GET /api/v2/buckets?org|orgID=&name=`` and ``POST /api/v2/buckets`` (a bucket
  is an ``influxd`` database of the same name whose default retention policy
  ``autogen`` has the bucket's retention, as 2.x's DBRP mapping presents it);
- ``POST /api/v2/write?org=&bucket=&precision=`` (gzip or plain): org, bucket and
  the token's write permission are checked before the body; an empty body is
  400 "writing requires points"; a malformed line is 400 with its 1-based
  ``line`` number (unlike 2.x, ``influxd`` 1.x has kept the good lines of that
  request; 2.x rejects it whole);
- ``POST /query`` (the v1-compatible InfluxQL endpoint, database = bucket), forwarded.

Every call needs ``Authorization: Token <token>`` of a known token (else 401);
what a token may do is its ``Grant``.
"""

from __future__ import annotations

import gzip
import json
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from goodwe_pipeline_tests.servers import InfluxServer

VERSION = "v2.7.11"
_PRECISIONS = {"ns": "n", "us": "u", "ms": "ms", "s": "s"}
_UNPARSABLE = re.compile(r"unable to parse '(.*?)': ", re.DOTALL)


@dataclass(frozen=True)
class Grant:
    """What a token may do in the organisation."""

    read: bool = True
    write: bool = True
    create_buckets: bool = True


class FrontError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status = status
        self.body = {"code": code, "message": message, **extra}


class InfluxV2Front:
    """The front on a free local port; ``start()`` / ``stop()``; ``url`` to give the client."""

    def __init__(self, influx: InfluxServer, org: str = "home"):
        self.influx = influx
        self.org = org
        self.org_id = secrets.token_hex(8)
        self.tokens: dict[str, Grant] = {}
        self.buckets: dict[str, dict[str, Any]] = {}
        self.serves_ready = True
        """False: ``/ready`` is 404, as on a server that does not serve it (InfluxDB Cloud)."""
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> InfluxV2Front:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def token(self, grant: Grant | None = None) -> str:
        """A new token with ``grant`` (everything by default)."""
        value = secrets.token_urlsafe(24)
        self.tokens[value] = grant or Grant()
        return value

    def add_bucket(self, name: str, every_seconds: int = 0) -> None:
        """A bucket made by the server's setup (e.g. ``DOCKER_INFLUXDB_INIT_BUCKET``)."""
        self._create_bucket(name, every_seconds)

    # -- behaviour ------------------------------------------------------------------

    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def authorise(self, header: str | None) -> Grant:
        scheme, _, value = (header or "").partition(" ")
        grant = self.tokens.get(value) if scheme == "Token" else None
        if grant is None:
            raise FrontError(401, "unauthorized", "unauthorized access")
        return grant

    def check_org(self, params: dict[str, str]) -> None:
        if "orgID" in params:
            if params["orgID"] != self.org_id:
                raise FrontError(404, "not found", "organization not found")
        elif "org" in params:
            if params["org"] != self.org:
                raise FrontError(404, "not found", f'organization name "{params["org"]}" not found')
        else:
            raise FrontError(400, "invalid", "Please provide either orgID or org")

    def bucket_json(self, name: str) -> dict[str, Any]:
        bucket = self.buckets[name]
        return {
            "id": bucket["id"],
            "orgID": self.org_id,
            "type": "user",
            "name": name,
            "retentionRules": [{"type": "expire", "everySeconds": bucket["every"]}],
            "createdAt": bucket["created"],
            "updatedAt": bucket["created"],
            "links": {},
            "labels": [],
        }

    def _create_bucket(self, name: str, every_seconds: int) -> None:
        with self._lock:
            if name in self.buckets:
                raise FrontError(422, "conflict", f"bucket with name {name} already exists")
            duration = f"{every_seconds}s" if every_seconds else "INF"
            quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
            answer = self.influx.query(
                f'CREATE DATABASE {quoted} WITH DURATION {duration} REPLICATION 1 NAME "autogen"'
            )
            if b'"error"' in answer:
                raise FrontError(500, "internal error", answer.decode())
            self.buckets[name] = {
                "id": secrets.token_hex(8),
                "every": every_seconds,
                "created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            }

    def handle(self, method: str, path: str, params: dict[str, str], headers, body: bytes):
        """(status, headers, body bytes) for one request."""
        if path == "/ping" and method in ("GET", "HEAD"):
            return 204, {"X-Influxdb-Version": VERSION, "X-Influxdb-Build": "OSS"}, b""
        if path == "/ready" and method == "GET" and self.serves_ready:
            return _json(200, {"status": "ready", "started": "2026-01-01T00:00:00Z", "up": "1h"})
        if path == "/health" and method == "GET":
            return _json(
                200,
                {"name": "influxdb", "message": "ready for queries and writes", "status": "pass",
                 "checks": [], "version": VERSION, "commit": "front"},
            )  # fmt: skip
        grant = self.authorise(headers.get("Authorization"))
        if path == "/api/v2/orgs" and method == "GET":
            if params.get("org", self.org) != self.org:
                raise FrontError(404, "not found", f'organization name "{params["org"]}" not found')
            return _json(
                200,
                {
                    "links": {"self": "/api/v2/orgs"},
                    "orgs": [{"id": self.org_id, "name": self.org}],
                },
            )
        if path == "/api/v2/buckets" and method == "GET":
            self.check_org(params)
            names = [n for n in self.buckets if params.get("name", n) == n]
            return _json(
                200,
                {
                    "links": {"self": "/api/v2/buckets"},
                    "buckets": [self.bucket_json(n) for n in names],
                },
            )
        if path == "/api/v2/buckets" and method == "POST":
            request = json.loads(body)
            self.check_org({"orgID": request.get("orgID", "")})
            if not grant.create_buckets:
                raise FrontError(
                    401, "unauthorized", f"write:orgs/{self.org_id}/buckets is unauthorized"
                )
            rules = request.get("retentionRules") or [{"everySeconds": 0}]
            self._create_bucket(request["name"], int(rules[0].get("everySeconds") or 0))
            return _json(201, self.bucket_json(request["name"]))
        if path == "/api/v2/write" and method == "POST":
            return self.write(grant, params, headers, body)
        if path == "/query" and method in ("GET", "POST"):
            return self.query(grant, params, headers, body)
        raise FrontError(404, "not found", "path not found")

    def write(self, grant: Grant, params: dict[str, str], headers, body: bytes):
        self.check_org(params)
        bucket = params.get("bucket", "")
        if bucket not in self.buckets:
            raise FrontError(404, "not found", f'bucket "{bucket}" not found')
        if not grant.write:
            raise FrontError(403, "forbidden", "insufficient permissions for write")
        precision = _PRECISIONS.get(params.get("precision", "ns"))
        if precision is None:
            raise FrontError(
                400, "invalid", "invalid precision; valid precision units are ns, us, ms, and s"
            )
        encoding = headers.get("Content-Encoding", "")

        def text() -> bytes:
            return gzip.decompress(body) if encoding == "gzip" else body

        if len(body) < 64 and not text().strip():
            raise FrontError(400, "invalid", "writing requires points")
        forward = {"Content-Type": "text/plain; charset=utf-8"}
        if encoding:
            forward["Content-Encoding"] = encoding
        answer = self.session().post(
            f"{self.influx.url}/write",
            params={"db": bucket, "precision": precision},
            data=body,
            headers=forward,
            timeout=60,
        )
        if answer.status_code == 204:
            return 204, {}, b""
        message = answer.json().get("error", answer.text) if answer.content else answer.reason
        if "beyond retention policy" in message:
            raise FrontError(
                422, "unprocessable entity", f"failure writing points to database: {message}"
            )
        if answer.status_code == 400:
            raise FrontError(400, "invalid", message, line=_line_number(text(), message))
        raise FrontError(answer.status_code, "internal error", message)

    def query(self, grant: Grant, params: dict[str, str], headers, body: bytes):
        database = params.get("db") or parse_qs(body.decode()).get("db", [""])[0]
        if database not in self.buckets:
            raise FrontError(404, "not found", f"no dbrp mapping found for database {database}")
        if not grant.read:
            raise FrontError(403, "forbidden", "insufficient permissions for read")
        forward = {
            name: headers[name]
            for name in ("Content-Type", "Accept", "Accept-Encoding")
            if headers.get(name)
        }
        answer = self.session().post(
            f"{self.influx.url}/query",
            params=params,
            data=body,
            headers=forward,
            timeout=60,
            stream=True,
        )
        content = answer.raw.read(decode_content=False)
        kept = {
            name: answer.headers[name]
            for name in ("Content-Type", "Content-Encoding")
            if answer.headers.get(name)
        }
        return answer.status_code, kept, content


def _line_number(text: bytes, message: str) -> int:
    """The 1-based number of the line ``influxd``'s parse error quotes (0 when not found)."""
    match = _UNPARSABLE.search(message)
    if match:
        quoted = match.group(1).encode()
        for number, line in enumerate(text.split(b"\n"), start=1):
            if line == quoted:
                return number
    return 0


def _json(status: int, document: dict[str, Any]):
    return (
        status,
        {"Content-Type": "application/json; charset=utf-8"},
        json.dumps(document).encode(),
    )


def _handler(front: InfluxV2Front) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
            """Quiet: requests carry tokens."""

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                status, headers, content = front.handle(
                    self.command, parts.path, params, self.headers, body
                )
            except FrontError as exc:
                status, headers, content = _json(exc.status, exc.body)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)

        do_GET = do_POST = do_HEAD = _serve  # noqa: N815 - http.server's names

    return Handler
