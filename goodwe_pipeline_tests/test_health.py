"""The health probe (``goodwe_pipeline.health.checkup``): what it reports, what it hides."""

from __future__ import annotations

from goodwe_pipeline.health.checkup import spool_health
from goodwe_pipeline.ingest.spool import Spool, spool_dir
from goodwe_pipeline.raw_store.parquet import ParquetRawStore
from goodwe_pipeline_tests.test_spool import add_undecodable_entry, poll


def test_health_reports_dead_letters_as_unhealthy(tmp_path):
    data_dir = tmp_path / "data"
    assert spool_health(data_dir).ok
    spool = Spool(spool_dir(data_dir))
    spool.append(poll(0))
    add_undecodable_entry(spool)
    spool.replay(ParquetRawStore(tmp_path / "raw"))
    health = spool_health(data_dir)
    assert not health.ok
    assert "1 entries set aside as dead letters" in health.detail
