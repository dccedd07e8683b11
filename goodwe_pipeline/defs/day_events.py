"""Each day's own figures in the Dagster UI, also after a single-run backfill.

A run over several partitions produces one output, and the output's metadata is copied onto
every partition's materialization. So a daily asset's run-level metadata says only what is
true of the run (days covered, rows written), and each day's own figures are added to that
day's materialization alone (``add_asset_metadata`` with the day as partition key): the
day's page shows its own numbers beside the run's, the asset's Plots draw them day by day,
and a run of N days stores N materializations, as any backfill of N partitions does.

Charts are drawn for the days a person looks at: every finished day of a short run (the
daily schedules) and the last ``CHART_DAYS`` days of a longer one (a backfill), which bounds
what a backfill adds to the event log to ``CHART_DAYS`` x charts per day x 80 KB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

import dagster as dg

from goodwe_pipeline.charts.render import markdown_image, png_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CHART_DAYS = 5
"""Days of a run that get charts: all of a run this short, else its last ``CHART_DAYS``."""


def chart_days(run: Iterable[date], before: date | None = None) -> set[date]:
    """The run's days that get charts: its last ``CHART_DAYS`` days before ``before``
    (readings assets pass today: a day still running, refreshed every hour, gets its chart
    once it is over, from the nightly run, not 24 times)."""
    done = sorted(d for d in run if before is None or d < before)
    return set(done[-CHART_DAYS:]) if CHART_DAYS > 0 else set()


def chart(
    context: dg.AssetExecutionContext, draw: Callable[[], Figure], alt: str
) -> dg.MetadataValue | None:
    """The figure ``draw`` makes as a markdown image, or ``None`` (logged) when it fails:
    a chart never fails the asset."""
    try:
        figure = draw()
        return dg.MetadataValue.md(markdown_image(png_bytes(figure), alt))
    except Exception as exc:  # noqa: BLE001 - drawing must not fail the run
        context.log.warning(f"chart '{alt}' not drawn: {type(exc).__name__}: {exc}")
        return None


def finish(
    context: dg.AssetExecutionContext,
    run_metadata: Mapping[str, Any],
    per_day: Mapping[date, Mapping[str, Any]],
) -> Iterator[dg.MaterializeResult]:
    """The output: the run's metadata on every day's materialization, each day's figures on
    its own."""
    for day in sorted(per_day):
        context.add_asset_metadata(_present(per_day[day]), partition_key=day.isoformat())
    yield dg.MaterializeResult(metadata=dict(run_metadata))


def _present(figures: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in figures.items() if value is not None}
