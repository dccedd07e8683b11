"""The canonical reading: schema, conversion from real goodwe data, normalising."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from goodwe.et import ET
from goodwe.protocol import ProtocolResponse

from goodwe_pipeline import readings
from goodwe_pipeline_tests.samples import SAMPLES, needs_samples


def _decode(inverter: ET, file_name: str, command, sensors) -> dict:
    """Decode a captured GW10K-ET response frame with goodwe's own sensor definitions."""
    raw = bytes.fromhex((SAMPLES / file_name).read_text().strip())
    return inverter._map_response(ProtocolResponse(raw, command), sensors)


@pytest.fixture(scope="module")
def et_running_data() -> dict:
    inverter = ET("127.0.0.1", 8899)
    return _decode(
        inverter, "GW10K-ET_running_data.hex", inverter._READ_RUNNING_DATA, inverter._sensors
    )


@pytest.fixture(scope="module")
def et_battery_data() -> dict:
    inverter = ET("127.0.0.1", 8899)
    return _decode(
        inverter,
        "GW10K-ET_battery_info.hex",
        inverter._READ_BATTERY_INFO,
        inverter._sensors_battery,
    )


def test_schema_columns_and_empty_frame_dtypes():
    assert readings.COLUMNS[:3] == ("time", "device_id", "source")
    assert len(set(readings.FIELD_NAMES)) == len(readings.FIELD_NAMES)
    frame = readings.empty_frame()
    assert list(frame.columns) == list(readings.COLUMNS)
    assert str(frame["time"].dtype) == "datetime64[us, UTC]"
    assert frame["device_id"].dtype == object and frame["source"].dtype == object
    assert all(frame[name].dtype == np.float64 for name in readings.FIELD_NAMES)


@needs_samples
def test_from_goodwe_maps_a_real_et_frame(et_running_data):
    polled = datetime(2021, 8, 22, 9, 11, 10, tzinfo=UTC)
    reading = readings.from_goodwe(
        et_running_data, "GW10K-ET-1", polled, inverter_timezone="Europe/Warsaw"
    )
    assert reading["time"] == polled and reading["time"].tzinfo is not None
    assert reading["device_id"] == "GW10K-ET-1" and reading["source"] == "inverter"
    assert reading["pv_power_w"] == 3456.0
    assert reading["pv1_power_w"] == 1695.0 and reading["pv2_power_w"] == 1761.0
    assert reading["battery_power_w"] == -2512.0  # charging is negative
    assert reading["grid_frequency_hz"] == pytest.approx(49.99)
    assert reading["pv_energy_total_kwh"] == pytest.approx(6085.3)
    assert reading["battery_mode"] == 3.0
    # A sensor that reads 0 stays 0 ...
    assert reading["grid_import_today_kwh"] == 0.0
    # ... but sensors this frame does not carry are unknown, not 0.
    for field in ("battery_soc_pct", "battery_soh_pct", "battery_temperature_c"):
        assert math.isnan(reading[field]), field
    assert all(isinstance(reading[name], float) for name in readings.FIELD_NAMES)
    # Inverter clock 11:11:12 CEST = 09:11:12 UTC, polled at 09:11:10 UTC.
    assert reading["inverter_clock_skew_s"] == pytest.approx(2.0)


@needs_samples
def test_from_goodwe_fills_battery_fields_when_present(et_running_data, et_battery_data):
    data = {**et_running_data, **et_battery_data}
    reading = readings.from_goodwe(data, "sn", datetime(2021, 8, 22, 9, tzinfo=UTC))
    assert reading["battery_soc_pct"] == 68.0
    assert reading["battery_soh_pct"] == 99.0
    assert reading["battery_temperature_c"] == 35.0
    assert math.isnan(reading["inverter_clock_skew_s"])  # no timezone given


def test_from_goodwe_with_no_sensors_is_all_unknown():
    reading = readings.from_goodwe({}, "sn", datetime(2025, 1, 1, tzinfo=UTC))
    assert all(math.isnan(reading[name]) for name in readings.FIELD_NAMES)


def test_from_goodwe_odd_values():
    data = {"ppv": "1200", "vgrid": "n/a", "fgrid": None, "battery_mode": True, "e_day": 0}
    reading = readings.from_goodwe(data, "sn", datetime(2025, 1, 1, tzinfo=UTC))
    assert reading["pv_power_w"] == 1200.0
    assert math.isnan(reading["grid_voltage_v"]) and math.isnan(reading["grid_frequency_hz"])
    assert reading["battery_mode"] == 1.0
    assert reading["pv_energy_today_kwh"] == 0.0


def test_from_goodwe_requires_an_aware_poll_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        readings.from_goodwe({}, "sn", datetime(2025, 1, 1))


def test_normalize_coerces_to_the_canonical_schema():
    raw = pd.DataFrame(
        {
            "time": ["2025-01-01T10:00:01", "2025-01-01T11:00:00+01:00", "2025-01-01T09:00:00Z"],
            "device_id": [2, "a", "a"],
            "pv_power_w": [1, 2, 3],
            "grid_power_w": ["5.5", "bad", None],
            "not_a_field": ["x", "y", "z"],
        }
    )
    frame = readings.normalize(raw)
    assert list(frame.columns) == list(readings.COLUMNS)
    assert str(frame["time"].dtype) == "datetime64[us, UTC]"
    assert frame["device_id"].dtype == object
    assert all(frame[name].dtype == np.float64 for name in readings.FIELD_NAMES)
    # Sorted by device then time; naive times are UTC; missing source is "inverter".
    assert frame["device_id"].tolist() == ["2", "a", "a"]
    assert frame["time"].tolist() == [
        pd.Timestamp("2025-01-01T10:00:01Z"),
        pd.Timestamp("2025-01-01T09:00:00Z"),
        pd.Timestamp("2025-01-01T10:00:00Z"),
    ]
    assert set(frame["source"]) == {"inverter"}
    assert frame["pv_power_w"].tolist() == [1.0, 3.0, 2.0]
    assert frame["grid_power_w"].iloc[0] == 5.5
    assert frame["grid_power_w"].iloc[1:].isna().all()
    assert frame["load_power_w"].isna().all()


def test_normalize_merges_duplicates_last_wins_unknowns_filled():
    raw = pd.DataFrame(
        {
            "time": pd.to_datetime(["2025-01-01T00:00:00Z"] * 2 + ["2025-01-01T00:00:10Z"]),
            "device_id": ["a", "a", "a"],
            "pv_power_w": [100.0, 200.0, 300.0],
            "load_power_w": [50.0, np.nan, 60.0],
        }
    )
    frame = readings.normalize(raw)
    assert len(frame) == 2
    first = frame.iloc[0]
    assert first["pv_power_w"] == 200.0  # the later value wins
    assert first["load_power_w"] == 50.0  # unknown in the later row: kept from the earlier


def test_normalize_empty_is_the_empty_frame():
    frame = readings.normalize(pd.DataFrame())
    pd.testing.assert_frame_equal(frame, readings.empty_frame())
