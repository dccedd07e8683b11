"""The collector's ``daily_stats_YYYYMMDD.json``: its own day totals, to cross-check a migrated day.

The collector integrated ``*_kw`` powers assuming a fixed poll interval and
reset its totals whenever it restarted, so these figures are approximate; only
PV production and house consumption are compared (its grid totals used a sign
convention that changed between versions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from goodwe_pipeline.legacy.formats import Unusable, file_text, load_json
from goodwe_pipeline.legacy.mapping import to_number

TOLERANCE = 0.05
COMPARED = (("pv", ("pv_production", "total_kwh")), ("load", ("house_consumption", "total_kwh")))


@dataclass(frozen=True)
class DailyStats:
    date: str | None
    totals: dict[str, float]
    """``pv`` and ``load`` kWh (NaN when the file lacks them)."""


def read_daily_stats(data: bytes) -> DailyStats | str:
    """The totals of a daily_stats file, or the reason it cannot be read."""
    try:
        document = load_json(file_text(data))
    except Unusable as exc:
        return str(exc)
    if not isinstance(document, dict):
        return "daily stats file does not hold an object"
    totals = {name: _number(document, path) for name, path in COMPARED}
    day = document.get("date")
    return DailyStats(day if isinstance(day, str) else None, totals)


def _number(document: dict[str, Any], path: tuple[str, str]) -> float:
    block = document.get(path[0])
    return to_number(block.get(path[1])) if isinstance(block, dict) else math.nan


def compare(
    stats: DailyStats, migrated: dict[str, float], tolerance: float = TOLERANCE
) -> list[dict[str, Any]]:
    """One row per quantity both sides know: legacy, migrated, difference and whether it is within tolerance.

    Differences are relative to the larger of the two; two values below 0.05 kWh agree.
    """
    rows = []
    for name, _ in COMPARED:
        legacy, ours = stats.totals.get(name, math.nan), migrated.get(name, math.nan)
        if legacy != legacy or ours != ours:
            continue
        scale = max(abs(legacy), abs(ours))
        difference = 0.0 if scale < 0.05 else abs(legacy - ours) / scale
        rows.append(
            {
                "quantity": name,
                "daily_stats_kwh": round(legacy, 3),
                "migrated_kwh": round(ours, 3),
                "difference_pct": round(100 * difference, 2),
                "ok": difference <= tolerance,
            }
        )
    return rows
