"""The date range of ``export`` and ``restore``: the same ``--start`` / ``--end`` options."""

from __future__ import annotations

import argparse
from datetime import date


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2025-06-30") from None


def add_date_range(parser: argparse.ArgumentParser, *, positional_alias: bool = False) -> None:
    """``--start`` and ``--end`` (local days, inclusive); with ``positional_alias`` also the
    older ``START END`` form (undocumented in ``--help``, kept so existing scripts work)."""
    parser.add_argument("--start", type=parse_day, help="first day (YYYY-MM-DD), required")
    parser.add_argument("--end", type=parse_day, help="last day (YYYY-MM-DD), inclusive, required")
    if positional_alias:
        parser.add_argument("days", nargs="*", type=parse_day, help=argparse.SUPPRESS)


class RangeError(ValueError):
    """A missing or reversed range: the command prints it and exits with status 2."""


def date_range(args: argparse.Namespace) -> tuple[date, date]:
    """The range asked for; ``RangeError`` when it is missing, doubled or reversed."""
    given = getattr(args, "days", None) or []
    if given:
        if len(given) != 2 or args.start or args.end:
            raise RangeError("give the range once, as --start FIRST --end LAST")
        start, end = given
    else:
        start, end = args.start, args.end
    if start is None or end is None:
        raise RangeError("both --start and --end are required (YYYY-MM-DD)")
    if end < start:
        raise RangeError(f"--end {end} is before --start {start}")
    return start, end
