"""Each day's own figures in the Dagster UI, also after a single-run backfill.

A run over several partitions produces one output; Dagster 1.13 copies its metadata onto
every partition's materialization. So a daily asset's run-level metadata says only what is
true of the run (days covered, rows written), and a run over several days then yields one
``AssetMaterialization`` per day, carrying that day's figures. Logged after the output,
each is its day's latest materialization: the day's page shows its own numbers and the
asset's Plots (per event) draw them day by day. A run of a single day puts the day's
figures on its output directly, with no extra event.

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
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    """The output (with the day's figures when the run is one day), then, for a run of
    several days, one materialization per day with that day's figures."""
    if len(context.partition_keys) == 1:
        (figures,) = per_day.values() or [{}]
        yield dg.MaterializeResult(metadata={**run_metadata, **_present(figures)})
        return
    yield dg.MaterializeResult(metadata=dict(run_metadata))
    for day in sorted(per_day):
        yield dg.AssetMaterialization(
            asset_key=context.asset_key,
            partition=day.isoformat(),
            description=f"The figures of {day.isoformat()} (one day of a run over several).",
            metadata=_present(per_day[day]),
        )


def _present(figures: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in figures.items() if value is not None}
