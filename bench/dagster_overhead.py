"""What Dagster itself costs for a single-run backfill over many daily partitions.

Times ``dg.materialize`` of two assets that do nothing (the shape of
``battery_sessions`` + ``daily_energy_report``: daily partitions,
``BackfillPolicy.single_run()``, one downstream of the other) over 365
partitions, on each kind of Dagster instance:

- ``ephemeral``: in-memory storage, what ``bench/derive.py`` and the tests use;
- ``sqlite``: a ``DAGSTER_HOME`` with default storage, what ``dagster dev`` uses;
- ``postgres``: ``dagster-postgres`` storage in a temporary database on the local
  PostgreSQL, what the production stack uses; also with ``DAGSTER_EVENT_BATCH_SIZE``
  (batched materialization events) and with
  ``DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS`` (one planned event per asset
  instead of one per partition; Dagster then no longer marks the partitions of a
  failed run as failed).

Everything measured is Dagster recording one planned and one materialization event
per asset and partition: the run computes nothing. Each configuration runs in its
own process, after one warm-up run of two partitions.

Run: ``.venv/bin/python bench/dagster_overhead.py [--days 365] [--pg-url postgresql://postgres@127.0.0.1:5432/test]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST = date(2025, 1, 1)
CONFIGURATIONS = [
    ("ephemeral", {}),
    ("sqlite", {}),
    ("postgres", {}),
    ("postgres", {"DAGSTER_EVENT_BATCH_SIZE": "1000"}),
    (
        "postgres",
        {
            "DAGSTER_EVENT_BATCH_SIZE": "1000",
            "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1",
        },
    ),
]


def measure(kind: str, days: int, pg_url: str | None) -> float:
    """One configuration, in this process: seconds for the run over ``days`` partitions."""
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    partitions = dg.DailyPartitionsDefinition(
        start_date=FIRST.isoformat(), timezone="Europe/Warsaw"
    )

    @dg.asset(partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run())
    def first_asset():
        return dg.MaterializeResult(metadata={"rows": 0})

    @dg.asset(
        deps=[first_asset],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def second_asset():
        return dg.MaterializeResult(metadata={"rows": 0})

    with tempfile.TemporaryDirectory(prefix="bench-dagster-") as home:
        if kind == "ephemeral":
            instance = dg.DagsterInstance.ephemeral()
        else:
            config = "telemetry:\n  enabled: false\n"
            if kind == "postgres":
                config += f"storage:\n  postgres:\n    postgres_url: {pg_url}\n"
            Path(home, "dagster.yaml").write_text(config)
            instance = dg.DagsterInstance.from_config(home)

        def run(last: date) -> float:
            started = time.perf_counter()
            result = dg.materialize(
                [first_asset, second_asset],
                instance=instance,
                tags={
                    "dagster/asset_partition_range_start": FIRST.isoformat(),
                    "dagster/asset_partition_range_end": last.isoformat(),
                },
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
            assert result.success
            return time.perf_counter() - started

        run(FIRST + timedelta(days=1))
        elapsed = run(FIRST + timedelta(days=days - 1))
        stored = instance.get_materialized_partitions(second_asset.key)
        assert len(stored) == days, (len(stored), days)
        instance.dispose()
        return elapsed


def with_database(base_url: str) -> tuple[str, str]:
    """A new, empty database on the server of ``base_url``: (its URL, its name)."""
    import sqlalchemy as sa

    name = f"bench_dagster_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base_url.rsplit("/", 1)[0] + f"/{name}", name


def drop_database(base_url: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--pg-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/test")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(f"{measure(args.measure, args.days, os.environ.get('BENCH_PG_URL')):.3f}")
        return 0
    print(f"two no-op assets, {args.days} daily partitions, one run (seconds)")
    for kind, extra in CONFIGURATIONS:
        env = {**os.environ, **extra}
        database = None
        if kind == "postgres":
            env["BENCH_PG_URL"], database = with_database(args.pg_url)
        try:
            out = subprocess.run(
                [sys.executable, __file__, "--measure", kind, "--days", str(args.days)],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[-1]
        finally:
            if database:
                drop_database(args.pg_url, database)
        label = kind + "".join(f" {k}={v}" for k, v in extra.items())
        print(f"  {float(out):7.2f}  {label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
