"""Warehouse: prices, sessions, reports and legacy decisions (PostgreSQL or SQLite)."""

from goodwe_pipeline.warehouse.store import Warehouse, WarehouseUnavailableError

__all__ = ["Warehouse", "WarehouseUnavailableError"]
