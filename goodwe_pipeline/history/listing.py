"""The names in a legacy folder, listed once per process while the folder stays the same.

A run process lists the folder up to three times: the code location's load looks for the
first day of the owner's data (``first_day``), the migration indexes the files, and its
checks look for ``daily_stats`` files; in a 20,000-file folder each listing costs about
0.08 s. A listing is reused while no folder it read has changed since: adding, removing or
renaming a file changes its folder's modification time, which is checked for every folder
(a handful, against ``os.scandir`` of all names). A folder modified within ``SETTLE_NS`` of
being listed is listed again next time, since a change within the file system's timestamp
granularity would leave its time unchanged.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from goodwe_pipeline.history.files import display_name, skip_reason
from goodwe_pipeline.history.formats import Detected, detect

SCAN_FOLDERS = ("out", "data")
SETTLE_NS = 2_000_000_000
_HIDDEN = re.compile(r"^[._]")

Name = tuple[str, str, Detected | None, str | None]
"""(relative path, absolute path, detected format, why it is skipped or None)."""


@dataclass(frozen=True)
class _Listing:
    names: tuple[Name, ...]
    folder_times: tuple[tuple[str, int | None], ...]
    """Every folder read (the legacy folder first) and its modification time before."""
    listed_ns: int

    def still_valid(self) -> bool:
        for folder, mtime_ns in self.folder_times:
            if mtime_ns is None:
                return False
            if mtime_ns > self.listed_ns - SETTLE_NS or _mtime_ns(folder) != mtime_ns:
                return False
        return True


_listings: dict[str, _Listing] = {}
_lock = threading.Lock()


def scan_roots(legacy_dir: Path) -> list[Path]:
    """``out/`` and ``data/`` of the optimiser's folder, or the folder itself if it has neither."""
    roots = [legacy_dir / name for name in SCAN_FOLDERS if (legacy_dir / name).is_dir()]
    return roots or [legacy_dir]


def legacy_names(legacy_dir: Path) -> tuple[Name, ...]:
    """Every recognised legacy file, no file ``stat``ed: what is skipped follows ``files``'s
    rule; a folder that cannot be listed comes with its reason (format None)."""
    key = os.path.abspath(legacy_dir)
    with _lock:
        listing = _listings.get(key)
    if listing is not None and listing.still_valid():
        return listing.names
    listing = _list(legacy_dir)
    with _lock:
        _listings[key] = listing
    return listing.names


def _mtime_ns(folder: str) -> int | None:
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return None


def _list(legacy_dir: Path) -> _Listing:
    listed_ns = time.time_ns()
    base = os.path.join(str(legacy_dir), "")
    folder_times = [(str(legacy_dir), _mtime_ns(str(legacy_dir)))]
    roots = [str(root) for root in scan_roots(legacy_dir)]
    real = {os.path.realpath(folder) for folder in [str(legacy_dir), *roots]}
    names: list[Name] = []
    stack = list(roots)
    while stack:
        folder = stack.pop()
        folder_times.append((folder, _mtime_ns(folder)))
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            relative = display_name(folder.removeprefix(base).replace(os.sep, "/"))
            names.append((relative, folder, None, f"cannot list the folder: {exc.strerror or exc}"))
            continue
        for entry in entries:
            name = entry.name
            if _HIDDEN.match(name):
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                is_link = entry.is_symlink()
            except OSError:
                continue
            if is_dir:
                stack.append(entry.path)
                continue
            detected = detect(name)
            if detected is None:
                continue
            relative = display_name(entry.path.removeprefix(base).replace(os.sep, "/"))
            regular = not is_link and entry.is_file(follow_symlinks=False)
            reason = None if regular else skip_reason(entry.path, is_link, real)
            names.append((relative, entry.path, detected, reason))
    return _Listing(tuple(names), tuple(folder_times), listed_ns)
