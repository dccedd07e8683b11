"""Which entries of the legacy folder may be read, and reading one safely.

The rule, applied to every file the migration reads (readings, decisions, the
database, the collector's daily stats):

- Only **regular files** are read. A FIFO, socket or device named like a data
  file is skipped with a reason: opening a FIFO blocks until someone writes to
  it, and a device such as ``/dev/zero`` never ends.
- A **symbolic link** is followed only when it resolves to a regular file
  *inside* the legacy folder (a link between the optimiser's own folders).
  Links leading outside it (``/etc/passwd``, another installation's files),
  dangling links and link loops are skipped with a reason. Linked folders are
  not entered.
- A file is opened non-blocking and checked again on the open descriptor
  (regular file, size within the limit) **before** anything is read, so a file
  swapped after the folder was listed cannot hang or flood the migration.

Names that are not valid UTF-8 are kept as bytes on disk and shown (and keyed in
``migration_files``) with ``\\xNN`` escapes for the undecodable bytes.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable


class Unusable(Exception):
    """A file (or record) that cannot be read, with the reason as message."""


def size_limit_reason(size: int, limit: int) -> str:
    return f"file of {size / 1e6:.1f} MB exceeds the {limit / 1e6:.0f} MB limit"


def display_name(text: str) -> str:
    """``text`` with bytes that were not UTF-8 (kept by the file system as surrogates) as
    ``\\xNN``: storable in any database and still naming the file."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text


def _inside(path: str, folders: Iterable[str]) -> bool:
    return any(os.path.commonpath([path, folder]) == folder for folder in folders)


def skip_reason(path: str, is_link: bool, folders: Iterable[str]) -> str | None:
    """Why the entry at ``path`` is not read, or None when it is a file the rule admits.

    ``folders`` are the real (link-free) paths of the legacy folder and its scanned folders.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        if not is_link:
            return f"cannot read the entry: {exc.strerror or exc}"
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if exc.errno == errno.ENOENT:
            return "dangling symbolic link (its target does not exist)"
        return f"symbolic link that cannot be followed: {exc.strerror or exc}"
    if not stat.S_ISREG(info.st_mode):
        what = "a symbolic link to" if is_link else "not a regular file but"
        return f"{what} {_kind(info.st_mode)}; only regular files are read"
    if is_link and not _inside(os.path.realpath(path), folders):
        return "symbolic link to a file outside the legacy folder; only links inside it are read"
    return None


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a special file"


def open_regular(path: str | os.PathLike[str]) -> tuple[int, int]:
    """A read-only descriptor of the regular file at ``path`` and its size (from the one
    ``fstat`` that checks it); ``Unusable`` for anything else.

    Opened non-blocking, so a FIFO put in the file's place does not block the open.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise Unusable(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise Unusable(f"cannot read the file: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise Unusable(f"not a regular file but {_kind(info.st_mode)}; only regular files are read")
    return fd, info.st_size


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file at ``path``, refusing one larger than ``limit`` bytes
    before reading it (``Unusable`` with the reason)."""
    fd, size = open_regular(path)
    try:
        if size > limit:
            raise Unusable(size_limit_reason(size, limit))
        parts = [os.read(fd, size + 1)]
        total = len(parts[0])
        while total <= limit and len(parts[-1]) > 0 and total > size:
            parts.append(os.read(fd, min(limit + 1 - total, 1 << 24)))
            total += len(parts[-1])
    except OSError as exc:
        raise Unusable(f"cannot read the file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if total > limit:
        raise Unusable(size_limit_reason(total, limit))
    return parts[0] if len(parts) == 1 else b"".join(parts)
