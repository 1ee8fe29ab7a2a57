"""Schema migrations of the records store, run from code (no alembic.ini).

``upgrade(url)`` is what the app calls at start. Several processes may start
together (web workers, job workers), so the migration runs under a lock that
the database or the file system holds for the whole run: PostgreSQL advisory
lock, or an exclusive lock on a file next to the SQLite database.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from backend.meta.store import MetaStore, open_meta

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# An arbitrary constant naming "records-store migration" among advisory locks.
_PG_LOCK_KEY = 0x6D657461  # "meta"


def _config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(store: MetaStore) -> str | None:
    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _sqlite_file_lock(store: MetaStore) -> Iterator[None]:
    database = store.engine.url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    lock_path = Path(database).expanduser().with_name(Path(database).name + ".migrate-lock")
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _migration_connection(store: MetaStore) -> Iterator[Connection]:
    """A connection that holds the migration lock until it is closed."""
    if store.backend == "postgresql":
        with store.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
                conn.commit()
        return
    with _sqlite_file_lock(store), store.engine.connect() as conn:
        yield conn


def upgrade_store(store: MetaStore, revision: str = "head") -> None:
    with _migration_connection(store) as conn:
        command.upgrade(_config(conn), revision)
        conn.commit()
    store.migrated = revision == "head"


def downgrade_store(store: MetaStore, revision: str) -> None:
    with _migration_connection(store) as conn:
        command.downgrade(_config(conn), revision)
        conn.commit()
    store.migrated = False


def upgrade(url: str) -> MetaStore:
    """Bring the records store at ``url`` to the latest schema; safe to repeat."""
    store = open_meta(url, migrate=False)
    upgrade_store(store)
    return store


def downgrade(url: str, revision: str) -> None:
    """Take the schema back to ``revision`` ("base" drops every table)."""
    downgrade_store(open_meta(url, migrate=False), revision)
