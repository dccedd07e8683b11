"""``sessions.tables``: the session list an owner reads, per day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from goodwe_pipeline.defs.sessions.assets import NO_SESSIONS, _day_metadata
from goodwe_pipeline.sessions.detection import planned_vs_actual
from goodwe_pipeline.sessions.tables import plans_table, session_rows, session_rows_by_day

TZ = "Europe/Warsaw"


def sessions(count: int, seed: int) -> pd.DataFrame:
    """Sessions of three days and two devices, in no particular order, one of them over
    midnight and one without a known charge level."""
    rng = np.random.default_rng(seed)
    first = datetime(2025, 3, 29, tzinfo=UTC)
    starts = [first + timedelta(minutes=int(m)) for m in rng.integers(0, 3 * 1440, count)]
    ends = [
        s + timedelta(minutes=int(m))
        for s, m in zip(starts, rng.integers(5, 600, count), strict=True)
    ]
    kinds = rng.choice(["charge", "discharge"], count)
    soc_start = rng.uniform(10, 90, count)
    soc_start[0] = np.nan
    return pd.DataFrame(
        {
            "device_id": rng.choice(["GW-A", "GW-B"], count),
            "partition_date": [s.astimezone(ZoneInfo(TZ)).date() for s in starts],
            "start_time": starts,
            "end_time": ends,
            "kind": kinds,
            "energy_kwh": rng.uniform(0, 5, count),
            "soc_start": soc_start,
            "soc_end": rng.uniform(10, 90, count),
            "grid_energy_kwh": rng.uniform(0, 3, count),
            "pv_energy_kwh": rng.uniform(0, 3, count),
            "avg_price_pln_kwh": rng.uniform(-0.2, 1.2, count),
            "cost_pln": rng.uniform(0, 3, count),
            "value_pln": rng.uniform(0, 3, count),
            "status": rng.choice(["completed", "open"], count),
        },
        index=rng.permutation(count) + 100,
    )


def test_the_days_rows_formatted_at_once_equal_each_day_formatted_alone():
    for seed in range(5):
        found = sessions(40, seed)
        by_day = session_rows_by_day(found, TZ)
        days = set(found["partition_date"])
        assert set(by_day) == days
        for day in days:
            alone = session_rows(found[found["partition_date"] == day], TZ)
            pd.testing.assert_frame_equal(
                by_day[day].reset_index(drop=True), alone.reset_index(drop=True)
            )


def test_a_day_of_one_device_shows_no_device_column_even_when_the_run_has_two():
    found = sessions(40, 0)
    found = found[(found["partition_date"] != date(2025, 3, 30)) | (found["device_id"] == "GW-A")]
    by_day = session_rows_by_day(found, TZ)
    assert "device" not in by_day[date(2025, 3, 30)].columns
    assert "device" in by_day[date(2025, 3, 29)].columns


def test_a_day_without_sessions_says_so():
    found = sessions(3, 1)
    empty = found.iloc[0:0]
    metadata = _day_metadata(
        None,
        empty,
        session_rows(empty, TZ),
        pd.DataFrame(),
        date(2025, 3, 29),
        TZ,
        with_chart=False,
    )
    assert metadata["sessions"] == 0
    assert metadata["sessions_list"].value == NO_SESSIONS


def test_a_plan_without_a_window_or_a_session_shows_dashes_not_nan():
    plans = pd.DataFrame(
        {
            "plan_date": [date(2025, 10, 26)],
            "session_id": ["20251026_1"],
            "start_time": [pd.NaT],
            "end_time": [pd.NaT],
            "target_energy_kwh": [6.5],
            "estimated_cost_pln": [2.79],
            "status": ["planned"],
        }
    )
    table = plans_table(planned_vs_actual(plans, sessions(3, 0).iloc[0:0]), TZ)
    assert "20251026_1" in table and "6.5" in table
    assert "nan" not in table.lower()
    assert "–" in table
