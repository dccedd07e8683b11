"""The first day of the owner's data: where the daily partitions begin by default.

Partitions are defined when the code location loads (the webserver, the daemon and every
run load it), so this looks only where an answer is cheap and local, and never raises:

- the legacy optimiser folder (``GOODWE_LEGACY_DIR``): the oldest date in a file name
  (names only, no file is opened), and the oldest plausible row of its SQLite database;
- the Parquet raw store (``<data dir>/raw/<UTC day>/``) and the cold archive
  (``<data dir>/archive/<day>/``): the oldest day folder;
- a marker, ``<data dir>/first_day``: the earliest day found so far. It keeps the
  partitions from moving when data is deleted, and gives an InfluxDB-only installation
  (nothing local to look at) a fixed start: the day the pipeline first loaded.

When older history appears later (a legacy folder pointed at, a restored archive), the
marker moves back and the partitions extend on the next load of the code location
(restart ``dagster dev``, or "Reload" the location in the UI).
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

from goodwe_pipeline.history.formats import detect
from goodwe_pipeline.history.index import EARLIEST_NAME_DATE
from goodwe_pipeline.history.listing import legacy_names
from goodwe_pipeline.history.optimiser_db import DATABASE, ENERGY_TABLE, open_database

MARKER = "first_day"
RAW_DIR = "raw"
ARCHIVE_DIR = "archive"
_DAY_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}")


def _plausible(day: date | None, today: date) -> date | None:
    return day if day is not None and EARLIEST_NAME_DATE <= day <= today else None


def oldest_day_folder(root: Path, today: date) -> date | None:
    """The oldest ``YYYY-MM-DD`` folder directly under ``root``."""
    try:
        names = [e.name for e in os.scandir(root) if _DAY_FOLDER.fullmatch(e.name) and e.is_dir()]
    except OSError:
        return None
    found = []
    for name in names:
        try:
            found.append(date.fromisoformat(name))
        except ValueError:
            continue
    plausible = [d for d in found if _plausible(d, today)]
    return min(plausible, default=None)


def oldest_legacy_day(legacy_dir: Path, today: date) -> date | None:
    """The oldest plausible local day in the folder's file names or its SQLite database."""
    days = [
        detected.name_time.date()
        for _, _, detected, skipped in legacy_names(legacy_dir)
        if detected is not None and skipped is None and detected.name_time is not None
    ]
    oldest = min((d for d in days if _plausible(d, today)), default=None)
    database = legacy_dir / DATABASE
    if database.is_file() and detect(database.name) is not None:
        try:
            with open_database(database) as connection:
                row = connection.execute(
                    f'SELECT min("timestamp") FROM "{ENERGY_TABLE}" WHERE "timestamp" >= ?',  # noqa: S608 - fixed name
                    (EARLIEST_NAME_DATE.isoformat(),),
                ).fetchone()
            text = str(row[0])[:10] if row and row[0] else None
            day = _plausible(date.fromisoformat(text), today) if text else None
        except Exception:  # any unreadable database: the file names still count
            day = None
        if day is not None and (oldest is None or day < oldest):
            oldest = day
    return oldest


def _read_marker(path: Path) -> date | None:
    try:
        return date.fromisoformat(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def first_data_day(data_dir: Path, legacy_dir: Path | None, today: date) -> date:
    """The earliest of the places above, ``today`` when there is nothing yet; the marker is
    written (best effort) when the answer is earlier than what it held."""
    marker = data_dir / MARKER
    known = _read_marker(marker)
    candidates = [
        known,
        oldest_day_folder(data_dir / RAW_DIR, today),
        oldest_day_folder(data_dir / ARCHIVE_DIR, today),
        oldest_legacy_day(legacy_dir, today) if legacy_dir is not None else None,
    ]
    first = min((d for d in candidates if d is not None), default=today)
    if known != first and data_dir.is_dir():
        try:
            marker.write_text(first.isoformat() + "\n", encoding="utf-8")
        except OSError:
            pass
    return first
