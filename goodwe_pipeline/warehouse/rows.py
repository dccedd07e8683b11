"""Turning caller data into bind values, and query results into frames.

Rows arrive as dicts or DataFrames holding pandas/numpy values (NaN, NaT,
``Timestamp``, ``numpy.float64``); the database drivers want plain Python.
Results leave as DataFrames whose datetime columns are tz-aware UTC on both
backends.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from goodwe_pipeline.warehouse.schema import UTCDateTime, metadata, utc_from_text

Rows = Iterable[Mapping[str, Any]] | pd.DataFrame


def is_missing(value: Any) -> bool:
    """None, NaN, NaT or pd.NA (scalars only: lists and dicts are values)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def plain(value: Any) -> Any:
    """A numpy or pandas scalar as the equivalent Python value; missing values as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


_JSON_SCALARS = frozenset({str, int, bool, type(None)})


def jsonable(value: Any) -> Any:
    """A JSON-safe copy: NaN becomes null, numpy and datetime values become plain JSON."""
    kind = type(value)
    if kind in _JSON_SCALARS:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is list:
        return [jsonable(v) for v in value]
    if kind is dict:
        return {str(k): jsonable(v) for k, v in value.items()}
    value = plain(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and math.isinf(value):
        return None
    return value


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {value!r}")
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} (give a timezone-aware one)")
    return value


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    if not isinstance(value, date):
        raise TypeError(f"expected a date, got {value!r}")
    return value


def _coercer(column: sa.Column):
    column_type = column.type
    if isinstance(column_type, UTCDateTime | sa.DateTime):
        return _to_datetime
    if isinstance(column_type, sa.Date):
        return _to_date
    if isinstance(column_type, sa.JSON):
        return jsonable
    return None


_UNCHANGED = frozenset({str, int, bool, type(None)})
"""Types ``plain`` gives back as they are."""


def coerce_rows(table: sa.Table, rows: Rows) -> list[dict[str, Any]]:
    """Validate column names and convert every value for the driver.

    Raises ``ValueError`` naming unknown columns or a value of the wrong kind.
    """
    if isinstance(rows, pd.DataFrame):
        records: Sequence[Mapping[str, Any]] = rows.to_dict("records")
    else:
        records = list(rows)
    coercers = {c.name: _coercer(c) for c in table.columns}
    known = coercers.keys()
    out: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        if not known >= record.keys():
            unknown = set(record) - set(coercers)
            raise ValueError(f"{table.name}: unknown column(s) {sorted(unknown)} in row {index}")
        row = dict(record)
        for name, value in record.items():
            coerce = coercers[name]
            kind = type(value)
            if coerce is None:
                if kind in _UNCHANGED:
                    continue
                if kind is float:
                    if math.isnan(value):
                        row[name] = None
                    continue
                row[name] = plain(value)
            elif coerce is jsonable:
                row[name] = jsonable(value)
            elif kind is datetime and coerce is _to_datetime and value.tzinfo is not None:
                continue
            else:
                value = plain(value)
                if value is not None:
                    try:
                        value = coerce(value)
                    except (TypeError, ValueError) as exc:
                        raise ValueError(f"{table.name}.{name} in row {index}: {exc}") from None
                row[name] = value
        out.append(row)
    return out


def dedupe(
    table: sa.Table, rows: list[dict[str, Any]], keys: Sequence[str]
) -> list[dict[str, Any]]:
    """One row per natural key, the last occurrence winning (an upsert of the same key twice
    in one statement is an error on PostgreSQL)."""
    key_of = operator.itemgetter(*keys)
    several = len(keys) > 1
    latest: dict[Any, dict[str, Any]] = {}
    for index, row in enumerate(rows):
        try:
            key = key_of(row)
        except KeyError:
            key = None
        if key is None or (several and None in key):
            missing = [k for k in keys if row.get(k) is None]
            raise ValueError(f"{table.name}: row {index} has no value for key column(s) {missing}")
        latest.pop(key, None)
        latest[key] = row
    return list(latest.values())


def group_by_columns(rows: list[dict[str, Any]]) -> Iterator[tuple[tuple[str, ...], list[dict]]]:
    """Rows split by the set of columns they carry, so one statement fits each group."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    sorted_names: dict[tuple[str, ...], tuple[str, ...]] = {}
    for row in rows:
        names = tuple(row)
        key = sorted_names.get(names)
        if key is None:
            key = sorted_names[names] = tuple(sorted(names))
        groups.setdefault(key, []).append(row)
    yield from groups.items()


def _sqlite_utc_texts(values: list[datetime | None]) -> list[str | None]:
    """What SQLAlchemy's SQLite ``DATETIME`` stores of ``UTCDateTime``'s naive UTC values
    (``YYYY-MM-DD HH:MM:SS.ffffff``), formatted in one vectorised pass."""
    instants = pd.to_datetime(values, utc=True).tz_convert(None).as_unit("us")
    texts = np.datetime_as_string(instants.to_numpy(), unit="us").tolist()
    return [None if v is None else t.replace("T", " ") for v, t in zip(values, texts, strict=True)]


def driver_columns(
    table: sa.Table, names: Sequence[str], rows: list[dict[str, Any]], dialect: sa.Dialect
) -> list[list[Any]]:
    """The values of ``names`` in coerced ``rows``, one list per column, as the driver takes
    them: each column's bind processor is looked up once and applied to the whole column.

    On SQLite, ``UTCDateTime`` columns are formatted in one pass rather than through the
    ``TypeDecorator`` and ``DATETIME`` per value (most of a large upsert's time):
    ``coerce_rows`` has already refused naive datetimes, so what is left is the naive UTC
    text ``DATETIME`` writes.
    """
    out = []
    for name in names:
        column_type = table.c[name].type
        values = [row[name] for row in rows]
        if isinstance(column_type, UTCDateTime) and dialect.name == "sqlite":
            out.append(_sqlite_utc_texts(values))
            continue
        convert = column_type.dialect_impl(dialect).bind_processor(dialect)
        out.append(values if convert is None else [convert(v) for v in values])
    return out


def result_columns(
    table: sa.Table,
    description: Sequence[Sequence[Any]],
    rows: Sequence[Sequence[Any]],
    dialect: sa.Dialect,
) -> list[list[Any]]:
    """The driver's values of untyped result ``rows`` (columns of ``table``, as the
    cursor's ``description`` names them), one list per column, as a typed SELECT gives them:
    each column's result processor is looked up once and applied to the whole column; on
    SQLite, ``UTCDateTime`` text is parsed in one step (``utc_from_text``)."""
    out = []
    for position, (name, driver_type, *_) in enumerate(description):
        column_type = table.c[name].type
        values = [row[position] for row in rows]
        if isinstance(column_type, UTCDateTime) and dialect.name == "sqlite":
            out.append([None if v is None else utc_from_text(v) for v in values])
            continue
        convert = column_type.dialect_impl(dialect).result_processor(dialect, driver_type)
        out.append(values if convert is None else [convert(v) for v in values])
    return out


def _decoders() -> dict[str, Any]:
    """Decoders for untyped (textual SQL) results, keyed by schema column name.

    SQLite returns datetimes, dates and JSON as text when the query carries no
    type information; these make ``read_frame("SELECT ...")`` give the same
    values as on PostgreSQL.
    """
    decoders: dict[str, Any] = {}
    for table in metadata.tables.values():
        for column in table.columns:
            if isinstance(column.type, UTCDateTime):
                decoders[column.name] = utc_from_text
            elif isinstance(column.type, sa.Date):
                decoders.setdefault(column.name, lambda v: date.fromisoformat(v[:10]))
            elif isinstance(column.type, sa.JSON):
                decoders.setdefault(column.name, json.loads)
    return decoders


_DECODERS = _decoders()
_FLOAT_COLUMNS = frozenset(
    c.name for t in metadata.tables.values() for c in t.columns if isinstance(c.type, sa.Float)
)


_STORED_TIME = r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}"


def _all_numbers_or_missing(column: pd.Series) -> bool:
    return bool(column.map(lambda v: v is None or isinstance(v, int | float)).all())


def frame(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """A DataFrame of query results, with datetime columns as tz-aware UTC."""
    data = pd.DataFrame([tuple(r) for r in rows], columns=list(columns))
    for name in data.columns:
        column = data[name]
        if column.dtype.kind in "biuf":
            continue
        decoder = _DECODERS.get(name)
        if (
            decoder is utc_from_text
            and isinstance(column.dtype, pd.StringDtype)
            and column.str.match(_STORED_TIME).fillna(True).all()
        ):
            # Only times as stored (or missing): one vectorised parse, as ``utc_from_text`` would give each
            # value. Anything else ("now", "") goes through ``utc_from_text`` and its errors.
            data[name] = pd.to_datetime(column, utc=True, format="ISO8601").dt.as_unit("us")
            continue
        if decoder is not None and column.map(lambda v: isinstance(v, str)).any():
            column = column.map(lambda v, d=decoder: d(v) if isinstance(v, str) else v)
        if column.map(lambda v: isinstance(v, datetime)).any():
            column = pd.to_datetime(column, utc=True)
        elif name in _FLOAT_COLUMNS and column.dtype == object and _all_numbers_or_missing(column):
            column = column.astype("float64")
        data[name] = column
    return data
