"""``pipeline_config``: the settings a run records, with no secret in them."""

from __future__ import annotations

import json

from goodwe_pipeline.common.pipeline_config import pipeline_config
from goodwe_pipeline_tests.test_raw_store_contract import (
    MALFORMED_URLS,
    URL_PASSWORD,
    URL_PASSWORD_PIECES,
)


def test_influx_url_credentials_never_reach_the_recorded_config(monkeypatch):
    for url in MALFORMED_URLS:
        monkeypatch.setenv("GOODWE_INFLUX_URL", url)
        config = pipeline_config(raw_store_kind="influxdb", warehouse_dialect="sqlite", report={})
        assert config["influx_url"].startswith("invalid: the InfluxDB URL")
        text = json.dumps(config)
        assert all(piece not in text for piece in URL_PASSWORD_PIECES), text
    monkeypatch.setenv("GOODWE_INFLUX_URL", f"http://admin:{URL_PASSWORD}@127.0.0.1:8086/")
    config = pipeline_config(raw_store_kind="influxdb", warehouse_dialect="sqlite", report={})
    assert config["influx_url"] == "http://127.0.0.1:8086"
