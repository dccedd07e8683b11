"""Readings in InfluxDB 2.x / Cloud the v2 way: URL, token, org and bucket, through ``influxdb-client``.

What is stored, and how reads turn answers into the canonical frame, is the v1
store's (``raw_store.influx``); this store changes the parts the v2 API owns:

- **writes** go through the client's write API in *synchronous* mode, fed with
  the project's own line protocol (``influx.line_protocol``, column-wise from
  Arrow, about 3x faster than the client's serialisers), in batches of
  ``batch_lines`` with ``workers`` batches in flight, as on the v1 path. Not the
  client's batching mode: it acknowledges before the server has, and reports
  failures to a callback later, while the sensor must know at once whether the
  readings are stored or must go to the spool. Retries are the store's own
  (``retries`` after a connection error, a 5xx or a 429 answer, exponential
  backoff from ``backoff``), not the client's ``WritesRetry``, whose
  ``max_retry_time`` clock starts when the client is created, so a long-lived
  store would stop retrying; each request is bounded by ``timeout_s``. A call
  therefore takes at most what it takes on the v1 path: the sensor's deadline holds.
- **the bucket** is created, with its retention (``influx_rp_duration``,
  default 30 days), through the client's buckets API when it is missing and the
  store is a writer (``create_database``); a token that may not create it is
  logged, and the write that follows says what is wrong.
- **reads** are InfluxQL on the v1-compatible ``/query`` endpoint, database =
  bucket (InfluxDB 2.4+ maps every bucket to a database by itself): the same
  queries and answer parsing as the v1 store, so both paths return the same
  frame; it runs on InfluxDB 2.x, Cloud and 3.x, where Flux does not (3.x).
- **health** is the client's ping (server version) and ready.
"""

from __future__ import annotations

import gzip as gzip_module
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import urllib3
from influxdb_client import BucketRetentionRules, InfluxDBClient, WritePrecision
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from goodwe_pipeline.common.settings import RawStoreSettings
from goodwe_pipeline.raw_store.base import Health
from goodwe_pipeline.raw_store.influx import (
    WRITE_PRECISION,
    InfluxRawStore,
    InfluxRefusedError,
    T,
    TransientError,
    describe_error,
    split_url,
)

log = logging.getLogger(__name__)

DEFAULT_RETENTION = "30d"
_DURATION_PART = re.compile(r"([0-9]+)(ns|us|u|µs|µ|ms|s|m|h|d|w)", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def retention_seconds(duration: str) -> int:
    """``30d``, ``1w2d``, ``720h`` or ``INF`` as a bucket's ``everySeconds`` (0 = forever).

    Raises ``ValueError`` for anything else, or for less than an hour (InfluxDB's minimum).
    """
    text = duration.strip()
    if text.upper() == "INF":
        return 0
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"retention duration {duration!r} is not like 30d, 720h or INF")
    seconds = 0
    for number, unit in parts:
        if unit.lower() not in _SECONDS:
            raise ValueError(f"retention duration {duration!r}: use s, m, h, d or w")
        seconds += int(number) * _SECONDS[unit.lower()]
    if seconds < 3600:
        raise ValueError(f"retention duration {duration!r} is shorter than InfluxDB's 1 hour")
    return seconds


def api_message(exc: ApiException) -> str:
    """The server's own message of an error answer (2.x: JSON ``message``), else its body."""
    body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else exc.body
    try:
        document = json.loads(body or "")
    except ValueError:
        return str(body or exc.reason or "")[:500]
    if isinstance(document, dict) and document.get("message"):
        line = document.get("line")
        return (f"{document['message']} (line {line})" if line else document["message"])[:500]
    return str(body)[:500]


class InfluxV2RawStore(InfluxRawStore):
    """Canonical readings in bucket ``influx_bucket`` (default: ``influx_db``) of organisation
    ``influx_org``, with the API token ``influx_token``.

    The URL may not carry credentials (a token is the v2 credential), nor may the settings
    name a user, a password or a 1.x retention policy: the bucket's retention is
    ``influx_rp_duration`` (default 30 days) when the store creates it
    (``create_database``). The other options are ``InfluxRawStore``'s (``influx_gzip``
    compresses writes, and read answers).
    """

    api = "v2"

    def __init__(self, settings: RawStoreSettings, **options: Any):
        if settings.influx_username or settings.influx_password:
            raise ValueError(
                "GOODWE_INFLUX_ORG selects the v2 API, which takes GOODWE_INFLUX_TOKEN, "
                "not GOODWE_INFLUX_USERNAME/PASSWORD"
            )
        if settings.influx_rp:
            raise ValueError(
                "GOODWE_INFLUX_RP names a 1.x retention policy; with GOODWE_INFLUX_ORG the "
                "bucket's retention is GOODWE_INFLUX_RP_DURATION: unset GOODWE_INFLUX_RP"
            )
        if not settings.influx_org:
            raise ValueError("an InfluxDB organisation is required for the v2 API")
        if not settings.influx_token:
            raise ValueError(
                "the InfluxDB v2 API needs a token (GOODWE_INFLUX_TOKEN) with the organisation"
            )
        if split_url(settings.influx_url or "").username is not None:
            raise ValueError(
                "the InfluxDB v2 API takes a token: remove the user name and password from the URL"
            )
        self.org = settings.influx_org
        self.bucket = settings.influx_bucket or settings.influx_db
        self.retention_every_seconds = retention_seconds(
            settings.influx_rp_duration or DEFAULT_RETENTION
        )
        super().__init__(
            replace(settings, influx_db=self.bucket, influx_rp_duration=None), **options
        )
        client = {
            "url": self.url,
            "token": settings.influx_token,
            "org": self.org,
            "retries": False,
        }
        self._client = InfluxDBClient(**client, timeout=int(self._timeout * 1000))
        # Writes have a client of their own: its every request carries the gzip header.
        self._write_client = InfluxDBClient(**client, timeout=int(self._timeout * 1000))
        if self.gzip:
            self._write_client.api_client.set_default_header("Content-Encoding", "gzip")
        self._write_api = self._write_client.write_api(write_options=SYNCHRONOUS)

    def close(self) -> None:
        self._write_api.close()
        self._write_client.close()
        self._client.close()
        super().close()

    # -- the client's calls, with the store's retries and errors ------------------

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """``call()`` through ``_retrying``: ApiException and urllib3 errors become the
        store's (``TransientError`` to retry, ``InfluxRefusedError`` to stop)."""

        def attempt() -> T:
            try:
                return call()
            except ApiException as exc:
                raise self._refusal(what, int(exc.status or 0), api_message(exc)) from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise TransientError(describe_error(exc)) from None

        return self._retrying(attempt)

    def _write_body(self, body: bytes, rows: int) -> int:
        """One batch through the write API; gzip at level 1 by the store (the client's
        ``enable_gzip`` compresses at level 9: eight times the CPU for a 40 % smaller body)."""
        if self.gzip:
            body = gzip_module.compress(body, compresslevel=1)
        self._call(
            "/api/v2/write",
            lambda: self._write_api.write(
                self.bucket, self.org, body, write_precision=WritePrecision.NS
            ),
        )
        return rows

    # -- the bucket ---------------------------------------------------------------

    def find_bucket(self) -> Any | None:
        """The bucket as the buckets API lists it in ``org``, None when there is none.

        An unknown organisation raises ``InfluxRefusedError`` (HTTP 404).
        """
        buckets = self._call(
            "/api/v2/buckets",
            lambda: self._client.buckets_api().find_buckets(org=self.org, name=self.bucket),
        )
        found = [b for b in buckets.buckets or [] if b.name == self.bucket]
        return found[0] if found else None

    def ensure_database(self) -> None:
        """Create the bucket with its retention when it is missing (writers only).

        A refusal (a token that may not list or create buckets) is logged and not
        fatal: the bucket may exist all the same, and if not, the write says so.
        """
        with self._database_lock:
            if self._database_ready:
                return
            try:
                if self.find_bucket() is None:
                    rules = BucketRetentionRules(
                        type="expire", every_seconds=self.retention_every_seconds
                    )
                    self._call(
                        "/api/v2/buckets",
                        lambda: self._client.buckets_api().create_bucket(
                            bucket_name=self.bucket, org=self.org, retention_rules=[rules]
                        ),
                    )
                    log.info(
                        "created InfluxDB bucket %s in org %s (retention %s s, 0 = forever)",
                        self.bucket,
                        self.org,
                        self.retention_every_seconds,
                    )
            except (InfluxRefusedError, InfluxDBError) as exc:
                log.warning(
                    "could not check or create InfluxDB bucket %s in org %s on %s (%s); create "
                    "it with `influx bucket create --name %s --org %s --retention %ss`",
                    self.bucket,
                    self.org,
                    self.url,
                    self._scrub(getattr(exc, "reason", None) or str(exc)),
                    self.bucket,
                    self.org,
                    self.retention_every_seconds,
                )
            self._database_ready = True

    def probe_write(self) -> None:
        """Ask the server whether the token may write to the bucket, writing nothing.

        An empty write is checked for the organisation, the bucket and the token's
        permission before the server finds it empty (2.x answers 400 "writing
        requires points"); any other refusal raises ``InfluxRefusedError``.
        """
        try:
            self._post(
                "/api/v2/write",
                {"org": self.org, "bucket": self.bucket, "precision": WRITE_PRECISION},
                b"",
            ).close()
        except InfluxRefusedError as exc:
            if "HTTP 400" not in exc.reason or "requires points" not in exc.reason:
                raise

    def may_create_buckets(self) -> bool | None:
        """Whether the token may create buckets in ``org``, asked without creating one.

        InfluxDB checks the permission (401/403) before it finds the name taken (422), so
        asking to create a bucket that exists answers the question. None when the token
        sees no other bucket to ask with.
        """
        listed = self._call(
            "/api/v2/buckets", lambda: self._client.buckets_api().find_buckets(org=self.org)
        )
        names = [b.name for b in listed.buckets or [] if b.name != self.bucket]
        taken = [name for name in names if not name.startswith("_")]
        if not taken:
            return None
        try:
            self._call(
                "/api/v2/buckets",
                lambda: self._client.buckets_api().create_bucket(
                    bucket_name=taken[0], org=self.org
                ),
            )
        except InfluxRefusedError as exc:
            if "HTTP 422" in exc.reason:
                return True
            if "HTTP 401" in exc.reason or "HTTP 403" in exc.reason:
                return False
            raise
        except InfluxDBError:
            return False  # the organisation's name cannot be resolved with this token
        return True

    def access_check(self) -> tuple[bool, str] | None:
        """What keeps the pipeline from writing here, as (ok, one line with the fix); None
        when nothing does. Checks, writing nothing: the token, the organisation, the bucket
        (and, when it is missing, whether the token may create it), and the token's write
        permission on it (``probe_write``)."""
        retention = f"{self.retention_every_seconds}s" if self.retention_every_seconds else "0"
        create = (
            f"`influx bucket create --name {self.bucket} --org {self.org} --retention {retention}`"
        )
        try:
            bucket = self.find_bucket()
        except InfluxRefusedError as exc:
            if "HTTP 404" in exc.reason:
                return False, (
                    f"organization {self.org!r} not found: set GOODWE_INFLUX_ORG to its name "
                    "as InfluxDB lists it (`influx org list`)"
                )
            if "HTTP 401" in exc.reason:
                return False, (
                    "the server does not accept the token: set GOODWE_INFLUX_TOKEN to an API "
                    f"token of org {self.org!r} (`influx auth list`)"
                )
            return False, exc.reason
        if bucket is None:
            may_create = self.may_create_buckets()
            missing = f"bucket {self.bucket!r} does not exist in org {self.org!r}"
            if may_create:
                return True, (
                    f"{missing} yet: the pipeline creates it on its first write (retention "
                    f"{retention}, GOODWE_INFLUX_RP_DURATION)"
                )
            if may_create is False:
                return False, f"{missing} and the token may not create it: create it with {create}"
            return False, (
                f"{missing}; the pipeline creates it only with a token that may create "
                f"buckets: create it with {create}"
            )
        try:
            self.probe_write()
        except InfluxRefusedError as exc:
            if "HTTP 403" in exc.reason or "HTTP 401" in exc.reason:
                return False, (
                    f"the token may not write to bucket {self.bucket!r}: give it write permission "
                    f"(`influx auth create --org {self.org} --write-bucket {bucket.id} "
                    f"--read-bucket {bucket.id}`) and set GOODWE_INFLUX_TOKEN to the new token"
                )
            return False, exc.reason
        return None

    # -- health -------------------------------------------------------------------

    def _readiness(self) -> str:
        """The client's ready status; a server without ``/ready`` (404: InfluxDB Cloud) has
        answered the ping, which is all it says about itself."""
        try:
            return str(self._client.ready().status)
        except ApiException as exc:
            if exc.status == 404:
                return "ready"
            raise

    def health(self) -> Health:
        started = time.perf_counter()
        try:
            version = self._client.version()
            v1_server = version.lstrip("v").startswith("1.")
            ready = None if v1_server else self._readiness()
        except ApiException as exc:
            latency = (time.perf_counter() - started) * 1000
            detail = f"{self.url} answered HTTP {exc.status}: {api_message(exc)}"
            return Health(False, latency, self._scrub(detail))
        except Exception as exc:  # health never raises: any failure is the answer
            latency = (time.perf_counter() - started) * 1000
            detail = f"{self.url} unreachable: {describe_error(exc)}"
            return Health(False, latency, self._scrub(detail))
        latency = (time.perf_counter() - started) * 1000
        extra = {"api": self.api, "version": version, "org": self.org, "bucket": self.bucket}
        if v1_server:
            return Health(
                False,
                latency,
                f"InfluxDB {version} at {self.url} serves only the v1 API: unset "
                "GOODWE_INFLUX_ORG (and GOODWE_INFLUX_BUCKET) and name the database in "
                "GOODWE_INFLUX_DB",
                extra,
            )
        if str(ready) != "ready":
            return Health(False, latency, f"InfluxDB {version} at {self.url} is {ready}", extra)
        return Health(
            True,
            latency,
            f"InfluxDB {version} at {self.url} (v2 API), org {self.org}, bucket {self.bucket}",
            extra,
        )
