"""``poll_inverters``: reads every inverter each tick and lands the readings in the raw store."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from goodwe_pipeline.common import settings
from goodwe_pipeline.defs.ingest.assets import inverter_readings
from goodwe_pipeline.defs.ingest.resources import TICK_DEADLINE_S, InvertersResource
from goodwe_pipeline.defs.partitions import PARTITION_SETTINGS, daily_partitions
from goodwe_pipeline.defs.resources import RawStoreResource
from goodwe_pipeline.ingest import poll_tick
from goodwe_pipeline.ingest.spool import Spool, spool_dir


@dg.sensor(
    name="poll_inverters",
    minimum_interval_seconds=settings.for_loading("GOODWE_POLL_SECONDS"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Every GOODWE_POLL_SECONDS: reads each inverter in GOODWE_INVERTERS and writes the "
        "readings to the raw store. When the store is down the readings wait in a local "
        "spool and are written, oldest first, once it is back. Records an "
        "`inverter_readings` event for today at most every 5 minutes, and one when a "
        f"spooled backlog has been written. A tick ends within {TICK_DEADLINE_S:g} s even "
        "when the store hangs: what it cannot write waits in the spool."
    ),
)
def poll_inverters(
    context: dg.SensorEvaluationContext,
    inverters: InvertersResource,
    raw_store: RawStoreResource,
) -> dg.SensorResult:
    state = poll_tick.TickState.from_cursor(context.cursor)
    try:
        return _tick(context, inverters, raw_store, state)
    except Exception as exc:  # noqa: BLE001 - a tick must never raise
        context.log.exception("poll_inverters tick failed")
        return dg.SensorResult(skip_reason=f"tick failed: {exc}", cursor=state.to_cursor())


def _tick(
    context: dg.SensorEvaluationContext,
    inverters: InvertersResource,
    raw_store: RawStoreResource,
    state: poll_tick.TickState,
) -> dg.SensorResult:
    try:
        settings.require("GOODWE_POLL_SECONDS", "GOODWE_INVERTER_TIMEOUT_S", *PARTITION_SETTINGS)
    except settings.SettingError as exc:
        return dg.SensorResult(skip_reason=str(exc), cursor=state.to_cursor())
    notice = settings.poll_seconds_notice()
    if notice:
        context.log.warning(notice)
    try:
        plan = inverters.plan()
    except ValueError as exc:
        return dg.SensorResult(skip_reason=str(exc), cursor=state.to_cursor())
    for warning in plan.warnings:
        context.log.warning(warning)
    outcome = poll_tick.run_tick(
        plan.poll,
        lambda: raw_store.get_store(
            timeout_s=poll_tick.STORE_TIMEOUT_S, retries=poll_tick.STORE_RETRIES
        ),
        Spool(spool_dir(raw_store.data_dir)),
        plan.budget,
    )
    state = poll_tick.advance_state(state, outcome)
    summary = poll_tick.tick_summary(outcome)
    if not plan.addresses:
        summary = f"GOODWE_INVERTERS is empty: {summary}"
    for problem in outcome.problems:
        context.log.warning(problem)
    polled = _polled(outcome)

    now = datetime.now(UTC)
    partition = poll_tick.partition_key(now, daily_partitions.timezone)
    drained = outcome.replayed > 0 and outcome.backlog == 0
    if state.written_since_event and (drained or state.event_due(now, partition)):
        event = dg.AssetMaterialization(
            asset_key=inverter_readings.key,
            partition=partition,
            description=summary,
            metadata=_metadata(outcome, state),
        )
        state.last_event_at = now
        state.last_event_partition = partition
        state.written_since_event = 0
        context.log.info(f"{summary}{polled}; recorded an inverter_readings event for {partition}")
        return dg.SensorResult(asset_events=[event], cursor=state.to_cursor())
    context.log.info(f"{summary}{polled}")
    return dg.SensorResult(skip_reason=f"{summary}{polled}", cursor=state.to_cursor())


def _polled(outcome: poll_tick.TickOutcome) -> str:
    """What each inverter answered, for the tick's log and skip reason (the tick list shows
    "0 runs requested" for a sensor that writes without runs, so the text says the rest)."""
    answers = []
    for result in outcome.results:
        label = result.address.label
        if not result.ok:
            answers.append(f"{label} failed ({result.error})")
            continue
        reading = result.reading or {}
        figures = [
            f"{name} {reading[key]:.0f}{unit}"
            for key, name, unit in (
                ("pv_power_w", "PV", " W"),
                ("load_power_w", "house", " W"),
                ("battery_soc_pct", "battery", " %"),
            )
            if isinstance(reading.get(key), (int, float)) and reading[key] == reading[key]
        ]
        answers.append(f"{label}: {', '.join(figures) or 'read'} in {result.elapsed_s:.1f} s")
    return (" — " + "; ".join(answers)) if answers else ""


def _metadata(outcome: poll_tick.TickOutcome, state: poll_tick.TickState) -> dict:
    metadata = poll_tick.summary_metadata(outcome, state)
    metadata["devices"] = dg.MetadataValue.md(metadata["devices"])
    return metadata
