"""Warehouse: prices, sessions, reports and legacy decisions (PostgreSQL or SQLite)."""

from goodwe_pipeline.warehouse.store import (
    Warehouse,
    WarehouseUnavailableError,
    warehouse_secrets,
)

__all__ = ["Warehouse", "WarehouseUnavailableError", "warehouse_secrets"]
