"""What every raw store (and the spool) does to readings before keeping them.

Both stores must keep exactly the same thing, so the rules live here once:

- the frame is made canonical (``readings.normalize``);
- times are floored to whole milliseconds, exactly (both stores hold the same
  integer milliseconds); readings that fall into the same millisecond merge;
- ``±inf`` is not a measurement InfluxDB can hold: it becomes unknown (NaN),
  with a warning;
- a row whose fields are all unknown carries no reading. InfluxDB cannot store
  a point without fields, so neither store keeps it: it is dropped with a
  warning and is not counted in the rows a write acknowledges;
- tag values must survive InfluxDB line protocol: non-empty, no control
  characters, valid Unicode, and no backslash at the end or in front of a
  space, comma or ``=`` (line protocol has no way to escape a literal backslash
  there). Anything else (spaces, commas, quotes, ``=``, other backslashes) is
  fine. A ``device_id`` that breaks the rule (an inverter serial ``goodwe``
  decoded as UTF-16 into control characters, one ending in a backslash) is
  stored under its *safe form* (``safe_device_id``): ``~`` followed by the id
  percent-encoded as UTF-8, e.g. ``'AB\\'`` becomes ``'~AB%5C'``. Ordinary ids are
  their own safe form; ``raw_device_id`` turns a safe form back into the id the
  inverter reported. A bad ``source`` raises ``ValueError`` before anything is
  written;
- so does a reading without a time, or with one InfluxDB cannot hold (before
  1677-09-21 or after 2262-04-11: its nanosecond range).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd

from goodwe_pipeline import readings

log = logging.getLogger(__name__)

_UNREPRESENTABLE_TAG = re.compile(r"[\x00-\x1f\x7f]|\\$|\\[ ,=]")
SAFE_PREFIX = "~"
"""Starts every encoded ``device_id`` (and nothing else): ``~`` is never percent-encoded."""
MIN_NS = -9223372036854775806
MAX_NS = 9223372036854775806
"""InfluxDB's time range: signed 64-bit nanoseconds, less the values it keeps for itself."""
FIRST_TIME = pd.Timestamp(MIN_NS, unit="ns", tz="UTC").ceil("ms")
LAST_TIME = pd.Timestamp(MAX_NS, unit="ns", tz="UTC").floor("ms")
"""The first and last whole milliseconds in that range."""


@dataclass(frozen=True)
class Prepared:
    frame: pd.DataFrame
    """Canonical, sorted by device and time, millisecond times, no all-NaN rows."""
    dropped_empty: int
    """Rows that were dropped because every field was unknown."""
    renamed: dict[str, str] = field(default_factory=dict)
    """Device ids stored under their safe form: id as reported -> id as stored."""


def storable(value: str) -> bool:
    """Whether line protocol (and so every store) can carry ``value`` as a tag as it is."""
    if not value or _UNREPRESENTABLE_TAG.search(value):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def safe_device_id(device_id: str) -> str:
    """The form a device id is stored under: itself when storable and not starting with
    ``~``; otherwise ``~`` + its UTF-8 percent-encoding (every byte but ASCII letters,
    digits and ``_.-~`` as ``%XX``). Stable and reversible (``raw_device_id``)."""
    if storable(device_id) and not device_id.startswith(SAFE_PREFIX):
        return device_id
    return SAFE_PREFIX + quote(device_id, safe="", errors="surrogatepass")


def raw_device_id(stored: str) -> str:
    """The id as the device reported it, from the form it is stored under."""
    if not stored.startswith(SAFE_PREFIX):
        return stored
    return unquote(stored[len(SAFE_PREFIX) :], errors="surrogatepass")


def safe_device_ids(frame: pd.DataFrame) -> dict[str, str]:
    """Store every ``device_id`` of ``frame`` (in place) under its safe form; returns the
    ids that changed, as reported -> as stored."""
    renamed = {
        str(d): safe_device_id(str(d))
        for d in pd.unique(frame[readings.DEVICE_ID])
        if safe_device_id(str(d)) != d
    }
    if renamed:
        frame[readings.DEVICE_ID] = [renamed.get(d, d) for d in frame[readings.DEVICE_ID]]
        log.warning(
            "device id(s) stored under their safe form: %s",
            ", ".join(f"{raw!r} as {safe!r}" for raw, safe in renamed.items()),
        )
    return renamed


def check_tag_values(frame: pd.DataFrame) -> None:
    """Raise ``ValueError`` naming any tag value that line protocol cannot carry."""
    for tag in readings.TAGS:
        for value in pd.unique(frame[tag]):
            text = str(value)
            if not storable(text):
                raise ValueError(
                    f"{tag} {text!r} cannot be stored: it must be non-empty, without control "
                    "characters, and without a backslash at the end or before a space, comma or '='"
                )


def check_times(frame: pd.DataFrame) -> None:
    """Raise ``ValueError`` for a reading without a time or outside ``FIRST_TIME``..``LAST_TIME``."""
    times = frame[readings.TIME]
    missing = times.isna()
    if missing.any():
        device = frame.loc[missing, readings.DEVICE_ID].iloc[0]
        raise ValueError(f"{int(missing.sum())} reading(s) of {device!r} have no time")
    outside = (times < FIRST_TIME) | (times > LAST_TIME)
    if outside.any():
        row = frame.loc[outside].iloc[0]
        raise ValueError(
            f"reading of {row[readings.DEVICE_ID]!r} at {row[readings.TIME].isoformat()} cannot "
            f"be stored: times must lie between {FIRST_TIME.date()} and {LAST_TIME.date()}"
        )


def _is_canonical(frame: pd.DataFrame) -> bool:
    """Whether ``readings.normalize`` would return the frame as it is (its columns, dtypes
    and order): then a copy is all it needs, e.g. for a frame the sensor just normalised."""
    if tuple(frame.columns) != readings.COLUMNS or not isinstance(frame.index, pd.RangeIndex):
        return False
    dtypes = frame.dtypes
    if str(dtypes.iloc[0]) != "datetime64[us, UTC]" or frame.index.start != 0:
        return False
    if not (dtypes.iloc[3:] == np.float64).all() or frame.index.step != 1:
        return False
    for tag in readings.TAGS:
        if (
            dtypes[tag] != np.dtype("O")
            or pd.api.types.infer_dtype(frame[tag], skipna=False) != "string"
        ):
            return False
    if len(frame) < 2:
        return True
    devices = frame[readings.DEVICE_ID].to_numpy()
    times = frame[readings.TIME].array.asi8
    same = devices[1:] == devices[:-1]
    return bool(((devices[1:] > devices[:-1]) | (same & (times[1:] > times[:-1]))).all())


def prepare(readings_frame: pd.DataFrame) -> Prepared:
    """Apply the module's rules to a reading-shaped frame (see the module docstring)."""
    if _is_canonical(readings_frame):
        frame = readings_frame.copy()
    else:
        frame = readings.normalize(readings_frame)
    if frame.empty:
        return Prepared(frame, 0)
    renamed = safe_device_ids(frame)
    if renamed:
        frame = readings.normalize(frame)
    check_tag_values(frame)
    check_times(frame)
    times = frame[readings.TIME]
    floored = times.dt.floor("ms")
    if not floored.equals(times):
        frame[readings.TIME] = floored
        if frame.duplicated([readings.DEVICE_ID, readings.TIME]).any():
            frame = readings.normalize(frame)
    fields = list(readings.FIELD_NAMES)
    values = frame[fields].to_numpy()
    infinite = np.isinf(values)
    if infinite.any():
        log.warning("%d infinite field values stored as unknown (NaN)", int(infinite.sum()))
        values = np.where(infinite, np.nan, values)
        frame[fields] = values
    empty = np.isnan(values).all(axis=1)
    dropped = int(empty.sum())
    if dropped:
        log.warning("%d readings with no known field were not stored", dropped)
        frame = frame.loc[~empty].reset_index(drop=True)
    return Prepared(frame, dropped, renamed)
