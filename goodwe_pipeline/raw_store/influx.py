"""Readings in InfluxDB, over the v1-compatible HTTP API (``/write``, ``/query``, ``/ping``).

That API is the one every InfluxDB generation serves (1.x natively, 2.x and 3.x
as compatibility endpoints); see ``docs/influxdb.md``. Each reading is one point
of the measurement ``inverter_readings`` with the tags ``device_id`` and
``source`` and every known field as a float, at millisecond resolution (times
are floored to the millisecond by ``raw_store.prepare``). A point
written again merges into the existing one (its fields overwrite), so writes
are idempotent. What is kept is decided by ``raw_store.prepare``, shared with
the Parquet store.

Writes go in batches of ``batch_lines`` (5,000) lines, gzip-compressed as
InfluxDB recommends unless the server is on this machine (``influx_gzip``: on
loopback compression only costs CPU on both ends). Line protocol for the next
batch is produced (column-wise, by ``line_protocol``) while earlier batches are
being compressed and sent, over one keep-alive session. Connection errors and
5xx answers are retried with exponential backoff; 4xx answers are not (they
will not change).
"""

from __future__ import annotations

import csv
import gzip as gzip_module
import io
import ipaddress
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import requests

from goodwe_pipeline import readings
from goodwe_pipeline.common.settings import RawStoreSettings
from goodwe_pipeline.common.url_credentials import credentials, user_part
from goodwe_pipeline.raw_store import arrow
from goodwe_pipeline.raw_store.base import Health, RawStore, StoreUnavailableError, field_selection
from goodwe_pipeline.raw_store.prepare import MAX_NS, MIN_NS, prepare

log = logging.getLogger(__name__)
T = TypeVar("T")

_DURATION = re.compile(r"INF|([0-9]+(ns|u|µ|ms|s|m|h|d|w))+", re.IGNORECASE)
_QUERY_CHUNK_ROWS = 10_000
WRITE_PRECISION = "ns"
"""Timestamps go on the wire as exact integer nanoseconds (always whole milliseconds),
never through a float: ``int(ns / 1e6)`` once turned ``...07.490`` into ``...07.489``."""
_SORTED_FIELDS = sorted(readings.FIELD_NAMES)
_ESCAPE_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ "})
_ESCAPE_TAG = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_ESCAPE_IDENTIFIER = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
_ESCAPE_STRING = str.maketrans({"\\": "\\\\", "'": "\\'", "\n": "\\n"})
_CSV_TYPES = {
    readings.TIME: pa.int64(),
    **{tag: pa.string() for tag in readings.TAGS},
    **{name: pa.float64() for name in readings.FIELD_NAMES},
}


def quote_identifier(name: str) -> str:
    """An InfluxQL identifier in double quotes, with ``\\``, ``"`` and newlines escaped."""
    return '"' + name.translate(_ESCAPE_IDENTIFIER) + '"'


def quote_string(value: str) -> str:
    """An InfluxQL string literal in single quotes, with ``\\``, ``'`` and newlines escaped."""
    return "'" + value.translate(_ESCAPE_STRING) + "'"


def _epoch_ns(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("read bounds must be timezone-aware datetimes")
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    return min(max(ns, MIN_NS), MAX_NS)


def line_protocol(batch: pd.DataFrame, measurement: str = readings.MEASUREMENT) -> bytes:
    """Line protocol for a prepared batch (``raw_store.prepare``: canonical, no all-NaN rows).

    Built column-wise with Arrow: each float is written in its shortest exact
    form (``1e+20``, ``0.30000000000000004``), unknown fields are left out, and
    the time is the exact integer nanosecond. Tags are escaped as line protocol
    needs (``raw_store.prepare`` has refused what it cannot carry). About 3x faster
    than formatting each value in Python.
    """
    pieces = []
    known = np.zeros(len(batch), dtype=bool)
    for name in _SORTED_FIELDS:
        values = batch[name].to_numpy(dtype=np.float64)
        missing = ~np.isfinite(values)
        if missing.all():
            continue
        known |= ~missing
        text = pc.cast(pa.array(values, mask=missing), pa.string())
        pieces.append(pc.binary_join_element_wise(f"{name}=", text, ""))
    if not known.all():
        # checked here: Arrow's skip-null join leaves such rows out instead of failing
        raise ValueError("a row without any known field cannot be written")
    fields = pc.binary_join_element_wise(*pieces, ",", null_handling="skip")
    times = batch[readings.TIME].astype("datetime64[ns, UTC]").array.asi8
    stamps = pc.cast(pa.array(times), pa.string())
    codes, pairs = pd.MultiIndex.from_arrays(
        [batch[readings.DEVICE_ID], batch[readings.SOURCE]]
    ).factorize()
    head = measurement.translate(_ESCAPE_MEASUREMENT)
    series = pa.array(
        [
            f"{head},{readings.DEVICE_ID}={str(device).translate(_ESCAPE_TAG)},"
            f"{readings.SOURCE}={str(source).translate(_ESCAPE_TAG)} "
            for device, source in pairs
        ]
    ).take(pa.array(codes))
    lines = pc.binary_join_element_wise(series, fields, " ", stamps, "\n", "")
    _, offsets, data = lines.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    return data.slice(int(bounds[0]), int(bounds[-1] - bounds[0])).to_pybytes()


def describe_error(exc: BaseException) -> str:
    """The root cause of a requests or urllib3 failure, without object reprs."""
    inner: Any = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    inner = getattr(inner, "reason", None) or inner
    text = re.sub(r"<[^>]*>:\s*", "", str(inner))
    return f"{type(exc).__name__}: {text}"


def _error_message(response: requests.Response) -> str:
    """The server's own error text (1.x ``error``, 2.x ``message``), else the body."""
    text = response.text.strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text[:500]
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or text)[:500]
    return text[:500]


@dataclass(frozen=True)
class InfluxURL:
    """An InfluxDB URL taken apart: the address, and the credentials of its user part."""

    url: str
    """``scheme://host[:port][/path]``: no credentials, query or fragment."""
    username: str | None = None
    password: str | None = None

    @property
    def on_this_machine(self) -> bool:
        """The host is a loopback address (``localhost``, ``127.x.x.x``, ``::1``)."""
        host = urlsplit(self.url).hostname or ""
        if host == "localhost" or host.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


def split_url(url: str) -> InfluxURL:
    """``url`` (``http[s]://[user[:password]@]host[:port][/path]``) taken apart.

    User name and password are percent-decoded. A malformed URL raises ``ValueError``
    with a message that quotes no part of the URL, so no credential can leak into logs
    through it, wherever it was written.
    """
    address, user = user_part(url)
    expected = "expected http[s]://[user:password@]host[:port][/path]"
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError:
        raise ValueError(f"the InfluxDB URL has an invalid host or port ({expected})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the InfluxDB URL is not an http(s) address ({expected})")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if port:
        netloc += f":{port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    if user is None:
        return InfluxURL(clean)
    return InfluxURL(clean, *credentials(user))


class TransientError(Exception):
    """One attempt failed in a way another attempt may not (no connection, a 5xx answer)."""


class InfluxRefusedError(StoreUnavailableError):
    """The server answered but refused the request (HTTP 4xx or an InfluxQL error).

    Retrying will not help; spooled readings stay spooled until it is fixed.
    """


class InfluxRawStore(RawStore):
    """Canonical readings in InfluxDB's measurement ``inverter_readings``.

    Everything comes from ``settings`` (``common.settings.RawStoreSettings``). Auth: none,
    ``influx_username``/``influx_password`` (HTTP Basic; 1.x users, or a 2.x username with a
    token as password), or ``influx_token`` (``Authorization: Token``, 2.x/3.x). Credentials
    may also come in the URL's user part; they never appear in ``url``, errors or logs.

    With ``create_database`` the database (and ``influx_rp``, with ``influx_rp_duration``,
    default infinite) is created on first use where the server supports it (1.x); on
    2.x/3.x buckets are made by the server's setup.

    ``influx_gzip``: compress request bodies and accept compressed answers; by default
    (None) unless the server is on this machine, where compressing only costs CPU on both
    ends (a 30-day migration: 0.25 s of the server's CPU and as much of ours).
    ``timeout_s`` bounds each request; ``retries`` follow a connection error or a 5xx answer,
    with exponential backoff from ``backoff``. ``workers``: batches in flight while the next
    one is serialised. ``read_format``: ``csv`` (fast) or ``json`` (for a server whose CSV
    answers misbehave; a JSON answer to a CSV request is handled either way).
    """

    kind = "influxdb"
    api = "v1"
    """Which of InfluxDB's HTTP APIs the store speaks (``v1``: ``/write`` and ``/query``)."""
    measurement = readings.MEASUREMENT

    def __init__(
        self,
        settings: RawStoreSettings,
        *,
        batch_lines: int = 5000,
        backoff: float = 0.5,
        workers: int = 2,
        read_format: str = "csv",
    ):
        url = settings.influx_url or ""
        username, password, token = (
            settings.influx_username,
            settings.influx_password,
            settings.influx_token,
        )
        address = split_url(url)
        if address.username and not (username or token):
            username, password = address.username, address.password or password
        self._url = address.url
        if not settings.influx_db:
            raise ValueError("an InfluxDB database name is required")
        if token and (username or password):
            raise ValueError("give either an InfluxDB token or a username/password, not both")
        retention_duration = settings.influx_rp_duration
        if retention_duration and not _DURATION.fullmatch(retention_duration):
            raise ValueError(f"retention duration {retention_duration!r} is not like 30d or INF")
        if read_format not in ("csv", "json"):
            raise ValueError("read_format must be 'csv' or 'json'")
        if batch_lines < 1:
            raise ValueError("batch_lines must be at least 1")
        self.database = settings.influx_db
        self.retention_policy = settings.influx_rp or None
        self.create_database = settings.create_database
        self.retention_duration = retention_duration
        self.batch_lines = batch_lines
        self.read_format = read_format
        self.gzip = (
            settings.influx_gzip
            if settings.influx_gzip is not None
            else not address.on_this_machine
        )
        self._timeout = settings.timeout_s
        self._retries = max(0, settings.retries)
        self._backoff = backoff
        self._workers = max(1, workers)
        self._secrets = settings.secrets
        self._session = requests.Session()
        self._session.headers["Accept-Encoding"] = "gzip" if self.gzip else "identity"
        if token:
            self._session.headers["Authorization"] = f"Token {token}"
        elif username:
            self._session.auth = (username, password or "")
        self._database_ready = not settings.create_database
        self._database_lock = threading.Lock()

    @property
    def url(self) -> str:
        return self._url

    def close(self) -> None:
        self._session.close()

    # -- HTTP -----------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _unavailable(self, reason: str) -> StoreUnavailableError:
        return StoreUnavailableError(self.url, self._scrub(reason))

    def _refused(self, reason: str) -> InfluxRefusedError:
        return InfluxRefusedError(self.url, self._scrub(reason))

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """``attempt()`` until it returns, again after a ``TransientError`` (a connection
        error, a 5xx answer) with exponential backoff, at most ``retries`` more times.
        Anything else it raises (a refusal) ends at once."""
        reason = ""
        attempts = self._retries + 1
        for number in range(attempts):
            if number:
                time.sleep(min(self._backoff * 2 ** (number - 1), 30.0))
            try:
                return attempt()
            except TransientError as exc:
                reason = str(exc)
        raise self._unavailable(f"{reason} (after {attempts} attempts)")

    def _refusal(self, path: str, status: int, message: str) -> InfluxRefusedError | TransientError:
        """What an HTTP error answer means: 5xx (and 429) may pass, 4xx will not."""
        reason = f"HTTP {status} on {path}: {message}"
        if status >= 500 or status == 429:
            return TransientError(reason)
        if status in (401, 403):
            return self._refused(f"authentication failed ({reason})")
        return self._refused(reason)

    def _post(
        self,
        path: str,
        params: dict[str, str],
        data: bytes | dict[str, str],
        headers: dict[str, str] | None = None,
        *,
        stream: bool = False,
    ) -> requests.Response:
        """POST with retries on connection errors and 5xx; 4xx raises at once."""

        def attempt() -> requests.Response:
            try:
                response = self._session.post(
                    self.url + path,
                    params=params,
                    data=data,
                    headers=headers,
                    timeout=self._timeout,
                    stream=stream,
                )
            except requests.RequestException as exc:
                raise TransientError(describe_error(exc)) from None
            if response.status_code < 400:
                return response
            message = _error_message(response)
            response.close()
            raise self._refusal(path, response.status_code, message)

        return self._retrying(attempt)

    def _statements(self, q: str) -> list[dict[str, Any]]:
        """Run InfluxQL (non-chunked) and return its results; statement errors raise."""
        response = self._post("/query", {"db": self.database}, {"q": q})
        results = response.json().get("results", [])
        for result in results:
            if "error" in result:
                raise self._refused(f"query refused: {result['error']}")
        return results

    # -- database and retention policy -----------------------------------------

    def ensure_database(self) -> None:
        """Create the database and retention policy when asked to and missing (1.x).

        A refusal (a user without admin rights, a 2.x/3.x server) is logged and
        not fatal: the database may well exist, and if it does not, the write
        or read that follows says so.
        """
        with self._database_lock:
            if self._database_ready:
                return
            db = quote_identifier(self.database)
            try:
                self._statements(f"CREATE DATABASE {db}")
                if self.retention_policy:
                    self._ensure_retention_policy()
            except InfluxRefusedError as exc:
                log.warning(
                    "could not create InfluxDB database %s on %s (%s); on InfluxDB 2.x/3.x "
                    "create the bucket in the server's setup",
                    self.database,
                    self.url,
                    exc.reason,
                )
            self._database_ready = True

    def _ensure_retention_policy(self) -> None:
        assert self.retention_policy
        db = quote_identifier(self.database)
        results = self._statements(f"SHOW RETENTION POLICIES ON {db}")
        existing = {
            row[0] for result in results for s in result.get("series", []) for row in s["values"]
        }
        if self.retention_policy in existing:
            return
        duration = self.retention_duration or "INF"
        self._statements(
            f"CREATE RETENTION POLICY {quote_identifier(self.retention_policy)} ON {db} "
            f"DURATION {duration} REPLICATION 1"
        )
        log.info("created retention policy %s (%s) on %s", self.retention_policy, duration, db)

    # -- writing --------------------------------------------------------------

    def _write_body(self, body: bytes, rows: int) -> int:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.gzip:
            body = gzip_module.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        params = {"db": self.database, "precision": WRITE_PRECISION}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        self._post("/write", params, body, headers).close()
        return rows

    def write(self, readings_frame: pd.DataFrame) -> int:
        frame = prepare(readings_frame).frame
        if frame.empty:
            return 0
        self.ensure_database()
        size = self.batch_lines
        if len(frame) <= size:
            return self._write_body(line_protocol(frame, self.measurement), len(frame))
        batches = (frame.iloc[i : i + size] for i in range(0, len(frame), size))
        written = 0
        pending: deque[Future[int]] = deque()
        with ThreadPoolExecutor(self._workers, thread_name_prefix="influx-write") as pool:
            try:
                for batch in batches:
                    body = line_protocol(batch, self.measurement)
                    pending.append(pool.submit(self._write_body, body, len(batch)))
                    while len(pending) > self._workers:
                        written += pending.popleft().result()
                while pending:
                    written += pending.popleft().result()
            except StoreUnavailableError as exc:
                for future in pending:
                    future.cancel()
                raise type(exc)(
                    self.url,
                    f"{exc.reason}; {written} of {len(frame)} rows were written before the "
                    "failure (writing them again is safe)",
                ) from exc
        return written

    # -- reading --------------------------------------------------------------

    def _from(self) -> str:
        measurement = quote_identifier(self.measurement)
        if self.retention_policy:
            return f"{quote_identifier(self.retention_policy)}.{measurement}"
        return measurement

    @staticmethod
    def _time_clause(start: datetime, end: datetime) -> str:
        return f"time >= {_epoch_ns(start)} AND time < {_epoch_ns(end)}"

    def _query(self, q: str, *, csv_answer: bool) -> requests.Response:
        """POST a chunked query (``epoch=ms``; chunks avoid servers' row limits)."""
        params = {
            "db": self.database,
            "epoch": "ms",
            "chunked": "true",
            "chunk_size": str(_QUERY_CHUNK_ROWS),
        }
        headers = {"Accept": "application/csv"} if csv_answer else None
        return self._post("/query", params, {"q": q}, headers, stream=not csv_answer)

    def _json_series(self, response: requests.Response) -> Iterator[dict[str, Any]]:
        """The series of a chunked JSON answer; statement errors raise."""
        try:
            for line in response.iter_lines(chunk_size=1 << 20):
                if not line:
                    continue
                document = json.loads(line)
                if "error" in document:
                    raise self._refused(f"query refused: {document['error']}")
                for result in document.get("results", []):
                    if "error" in result:
                        raise self._refused(f"query refused: {result['error']}")
                    yield from result.get("series", [])
        except requests.RequestException as exc:
            raise self._unavailable(f"reading the answer failed: {describe_error(exc)}") from exc
        finally:
            response.close()

    def _query_series(self, q: str) -> Iterator[dict[str, Any]]:
        return self._json_series(self._query(q, csv_answer=False))

    def read(
        self,
        start: datetime,
        end: datetime,
        device_ids: Sequence[str] | None = None,
        fields: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Readings in ``[start, end)`` (see ``RawStore.read``).

        Asks for CSV, which the server writes and Arrow parses about twice as
        fast as JSON; a server that answers JSON anyway is read as JSON. A CSV
        answer drops statement errors (such as a missing database), so an empty
        one is confirmed with a JSON query, which reports them. With ``fields``
        the query selects the tags and those fields only.
        """
        names = field_selection(fields)
        if (device_ids is not None and not device_ids) or end <= start:
            return _empty(names)
        where = self._time_clause(start, end)
        if device_ids:
            devices = " OR ".join(
                f"{quote_identifier(readings.DEVICE_ID)} = {quote_string(d)}"
                for d in dict.fromkeys(device_ids)
            )
            where += f" AND ({devices})"
        self.ensure_database()
        selected = "*"
        if names != readings.FIELD_NAMES:
            selected = ", ".join(quote_identifier(n) for n in (*readings.TAGS, *names))
        q = f"SELECT {selected} FROM {self._from()} WHERE {where}"  # noqa: S608 - all quoted
        if self.read_format == "json":
            return _series_to_frame(self._query_series(q), names)
        response = self._query(q, csv_answer=True)
        if "json" in response.headers.get("Content-Type", ""):
            return _series_to_frame(self._json_series(response), names)
        try:
            frame = _csv_to_frame(response.content, names)
        except pa.ArrowInvalid as exc:
            raise self._refused(f"unexpected CSV answer: {exc}") from exc
        if frame is None:
            return _series_to_frame(self._query_series(q), names)
        return frame

    def devices(self, start: datetime, end: datetime) -> list[str]:
        if end <= start:
            return []
        self.ensure_database()
        q = (
            f"SELECT count(*) FROM {self._from()} WHERE {self._time_clause(start, end)} "  # noqa: S608
            f"GROUP BY {quote_identifier(readings.DEVICE_ID)}"
        )
        found = {series.get("tags", {}).get(readings.DEVICE_ID) for series in self._query_series(q)}
        return sorted(d for d in found if d)

    def health(self) -> Health:
        started = time.perf_counter()
        try:
            response = self._session.get(self.url + "/ping", timeout=min(self._timeout, 5.0))
            response.close()
        except requests.RequestException as exc:
            latency = (time.perf_counter() - started) * 1000
            return Health(
                False, latency, self._scrub(f"{self.url} unreachable: {describe_error(exc)}")
            )
        latency = (time.perf_counter() - started) * 1000
        version = response.headers.get("X-Influxdb-Version", "unknown version")
        if response.status_code >= 300:
            return Health(False, latency, f"{self.url} answered HTTP {response.status_code}")
        return Health(
            True,
            latency,
            f"InfluxDB {version} at {self.url} (v1 API), database {self.database}",
            {"api": self.api, "version": version, "database": self.database},
        )


def _empty(names: tuple[str, ...]) -> pd.DataFrame:
    return readings.empty_frame()[[readings.TIME, *readings.TAGS, *names]]


def _csv_to_frame(body: bytes, names: tuple[str, ...]) -> pd.DataFrame | None:
    """A canonical frame from a ``SELECT`` CSV answer; None when the answer is empty."""
    header = body.lstrip()[:4096].partition(b"\n")[0]
    if not header.strip():
        return None
    columns_in = next(csv.reader([header.decode()]))
    options = pa_csv.ConvertOptions(
        column_types=_CSV_TYPES, include_columns=[n for n in columns_in if n in _CSV_TYPES]
    )
    table = pa_csv.read_csv(io.BytesIO(body), convert_options=options)
    rows = table.num_rows
    columns: list[pa.Array | pa.ChunkedArray] = [
        pc.multiply(table.column(readings.TIME), 1000).cast(arrow.TIME_TYPE)
    ]
    for tag in readings.TAGS:
        if tag in table.column_names:
            columns.append(table.column(tag))
        else:
            columns.append(pa.array(np.full(rows, "", dtype=object), pa.string()))
    for name in names:
        if name in table.column_names:
            columns.append(pc.fill_null(table.column(name), np.nan))
        else:
            columns.append(pa.array(np.full(rows, np.nan)))
    table = pa.Table.from_arrays(columns, schema=arrow.schema_for(names))
    frame = arrow.table_to_frame(table)
    frame[readings.SOURCE] = frame[readings.SOURCE].replace("", readings.SOURCE_INVERTER)
    return _in_canonical_order(frame[frame[readings.DEVICE_ID] != ""], names)


def _series_to_frame(series: Iterable[dict[str, Any]], names: tuple[str, ...]) -> pd.DataFrame:
    """A canonical frame from ``SELECT`` JSON series (tags come back as columns)."""
    groups: dict[tuple[str, ...], list[list[Any]]] = {}
    for item in series:
        groups.setdefault(tuple(item["columns"]), []).extend(item["values"])
    frames = [
        _values_to_frame(columns, values, names) for columns, values in groups.items() if values
    ]
    if not frames:
        return _empty(names)
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return _in_canonical_order(frame, names)


def _in_canonical_order(frame: pd.DataFrame, names: tuple[str, ...]) -> pd.DataFrame:
    frame = frame.sort_values([readings.DEVICE_ID, readings.TIME], kind="stable")
    if frame.duplicated([readings.DEVICE_ID, readings.TIME]).any():
        # The same instant under two ``source`` tags is two points in InfluxDB but
        # one canonical reading: merge as normalize does.
        return readings.normalize(frame)[[readings.TIME, *readings.TAGS, *names]]
    return frame.reset_index(drop=True)


def _float_column(values: tuple[Any, ...]) -> np.ndarray:
    try:
        return np.array(values, dtype="float64")
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy("float64")


def _values_to_frame(
    columns: tuple[str, ...], values: list[list[Any]], names: tuple[str, ...]
) -> pd.DataFrame:
    by_name = dict(zip(columns, zip(*values, strict=True), strict=True))
    rows = len(values)
    data: dict[str, Any] = {
        readings.TIME: pd.to_datetime(
            np.array(by_name[readings.TIME], dtype="int64"), unit="ms", utc=True
        ).astype("datetime64[us, UTC]")
    }
    devices = by_name.get(readings.DEVICE_ID, (None,) * rows)
    sources = by_name.get(readings.SOURCE, (None,) * rows)
    data[readings.DEVICE_ID] = pd.Series(devices, dtype=object)
    data[readings.SOURCE] = pd.Series(
        [readings.SOURCE_INVERTER if s is None else s for s in sources], dtype=object
    )
    for name in names:
        column = by_name.get(name)
        data[name] = _float_column(column) if column is not None else np.full(rows, np.nan)
    frame = pd.DataFrame(data, columns=[readings.TIME, *readings.TAGS, *names])
    if None in set(devices):
        # Points another writer left without a device tag are no device's reading.
        frame = frame[frame[readings.DEVICE_ID].notna()]
    return frame
