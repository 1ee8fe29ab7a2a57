"""Fixtures shared by the backend tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from backend.meta import close_meta


@pytest.fixture
def meta_sqlite_path(tmp_path: Path) -> Path:
    """Where the SQLite case of ``meta_url`` keeps its file; a module may override it."""
    return tmp_path / "meta.sqlite3"


@pytest.fixture
def meta_db_prefix() -> str:
    """How the PostgreSQL case of ``meta_url`` names its throwaway database; a module may override it."""
    return "meta"


@pytest.fixture(params=["sqlite", "postgresql"])
def meta_url(request: pytest.FixtureRequest, meta_sqlite_path: Path, meta_db_prefix: str) -> Iterator[str]:
    """An empty records database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{meta_sqlite_path}"
        yield url
        close_meta(url)
        return
    server_url = request.getfixturevalue("postgres_url")
    name = f"{meta_db_prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        close_meta(url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
