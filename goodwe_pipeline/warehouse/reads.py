"""Reads of the warehouse that more than one reader shares (assets, commands)."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from goodwe_pipeline.warehouse.store import Warehouse


def read_prices(warehouse: Warehouse, start: datetime, end: datetime) -> pd.DataFrame:
    """Price rows overlapping ``[start, end)``, in time order."""
    return warehouse.read_frame(
        "SELECT time_start, time_end, zone, buy_pln_kwh, sell_pln_kwh FROM electricity_prices "
        "WHERE time_end > :start AND time_start < :end ORDER BY time_start",
        {"start": start, "end": end},
    )


def read_sessions(warehouse: Warehouse, first: date, last: date) -> pd.DataFrame:
    """Battery sessions of the days ``first`` .. ``last`` (``partition_date`` as dates)."""
    frame = warehouse.read_frame(
        "SELECT * FROM battery_sessions "
        "WHERE partition_date >= :first AND partition_date <= :last ORDER BY start_time",
        {"first": first, "last": last},
    )
    frame["partition_date"] = pd.to_datetime(frame["partition_date"]).dt.date
    return frame


def read_daily(warehouse: Warehouse, first: date, last: date) -> pd.DataFrame:
    """``daily_energy`` rows of the days ``first`` .. ``last`` (``day`` as dates)."""
    frame = warehouse.read_frame(
        "SELECT * FROM daily_energy WHERE day >= :first AND day <= :last ORDER BY day, device_id",
        {"first": first, "last": last},
    )
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    return frame
