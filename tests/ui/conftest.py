"""Browser-test fixtures: the real app on the session warehouse's fixture data."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.config import Settings, load_settings
from backend.warehouse import Warehouse


@pytest.fixture
def app_settings(tmp_path: Path, warehouse_url: str, loaded_warehouse: Warehouse) -> Settings:
    """Settings for an app over the ``fixture`` database, with its own data dir."""
    return load_settings(
        data_dir=tmp_path / "app-data",
        warehouse_dsn=warehouse_url,
        warehouse_database=loaded_warehouse.database,
        demo_rows=0,
    )


@pytest.fixture
def deskboard_app(app_settings: Settings):
    from app import create_app

    return create_app(app_settings, market=False)
