"""Analytical warehouse: ClickHouse (embedded chDB or a server), schema and loaders."""

from backend.warehouse.client import (
    Warehouse,
    WarehouseError,
    WarehouseLockedError,
    close_all,
    open_warehouse,
)

__all__ = ["Warehouse", "WarehouseError", "WarehouseLockedError", "close_all", "open_warehouse"]
