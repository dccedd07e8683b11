"""Dagster's floor for a backfill shape: the pipeline's daily assets and checks, doing nothing.

Loaded by ``bench/demo_backfill.py`` as a second code location beside the pipeline. The
shape (asset names, dependencies with their look-back windows, checks per step, blocking
flags, first day, time zone) comes from the JSON file named by ``BENCH_FLOOR_SHAPE``, which
the benchmark writes from the pipeline's own definitions. Every asset here has the same daily
partitions, ``BackfillPolicy.single_run()`` and executor as the pipeline's, and returns at
once; every check step passes at once. Keys carry a ``floor_`` prefix so the two locations
never share an asset key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg

PREFIX = "floor_"
shape = json.loads(Path(os.environ["BENCH_FLOOR_SHAPE"]).read_text())
partitions = dg.DailyPartitionsDefinition(
    start_date=shape["first_day"], timezone=shape["timezone"], end_offset=1
)


IN_ASSET = shape.get("checks_in_asset", False)
"""Declare the checks on their assets (``check_specs``, evaluated in the asset's step) instead
of as check steps of their own."""


def _check_specs(spec: dict) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(c["name"], asset=PREFIX + check["asset"], blocking=c["blocking"])
        for check in shape["checks"]
        if check["asset"] == spec["name"]
        for c in check["specs"]
    ]


def _asset(spec: dict) -> dg.AssetsDefinition:
    deps = [
        dg.AssetDep(
            PREFIX + dep["name"],
            partition_mapping=dg.TimeWindowPartitionMapping(
                start_offset=-dep["window"],
                end_offset=0,
                allow_nonexistent_upstream_partitions=True,
            )
            if dep["window"]
            else None,
        )
        for dep in spec["deps"]
    ]

    specs = _check_specs(spec) if IN_ASSET else []

    @dg.asset(
        name=PREFIX + spec["name"],
        deps=deps,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=specs or None,
    )
    def _noop() -> dg.MaterializeResult:
        return dg.MaterializeResult(
            check_results=[
                dg.AssetCheckResult(asset_key=c.asset_key, check_name=c.name, passed=True)
                for c in specs
            ]
        )

    return _noop


def _check(spec: dict) -> dg.AssetChecksDefinition:
    specs = [
        dg.AssetCheckSpec(c["name"], asset=PREFIX + spec["asset"], blocking=c["blocking"])
        for c in spec["specs"]
    ]

    @dg.multi_asset_check(specs=specs, name=PREFIX + spec["name"])
    def _noop():
        for c in specs:
            yield dg.AssetCheckResult(asset_key=c.asset_key, check_name=c.name, passed=True)

    return _noop


defs = dg.Definitions(
    assets=[_asset(a) for a in shape["assets"]],
    asset_checks=[] if IN_ASSET else [_check(c) for c in shape["checks"]],
    executor=dg.in_process_executor
    if shape["executor"] == "in_process"
    else dg.multiprocess_executor,
)
