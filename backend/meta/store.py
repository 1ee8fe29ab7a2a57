"""The records store: one SQLAlchemy engine and session factory per process and URL.

SQLite (the embedded default) is opened in WAL mode with a busy timeout and
foreign keys on, so the web server and background-job processes can share the
file. PostgreSQL is used as is.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000


class MetaError(RuntimeError):
    """A records-store problem described for the person who has to fix it."""


class MetaStore:
    """Engine and session factory of one records database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)
        # Set once this process has brought the schema to the latest revision.
        self.migrated = False
        # SQLite has one writer at a time, and a writer kept waiting by another polls with growing
        # sleeps (its busy handler): under ten threads writing at once the unlucky one waits over
        # a second. Threads of this process queue here instead and take the file's lock in turn;
        # other processes still meet the busy timeout.
        self._writers = threading.RLock() if engine.dialect.name == "sqlite" else None

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that takes the write lock up front.

        On SQLite a deferred transaction that reads and then writes can fail at
        once with "database is locked" when another writer got in between;
        taking the lock at BEGIN makes writers queue on the busy timeout instead.
        """
        with self._queue(), self.engine.connect() as conn:
            conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def _queue(self) -> Iterator[None]:
        """This process's writers in turn (SQLite); after the busy timeout a writer goes on to
        SQLite's own waiting, so nothing waits longer than it did before."""
        if self._writers is None:
            yield
            return
        held = self._writers.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            yield
        finally:
            if held:
                self._writers.release()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def ping(self) -> dict[str, Any]:
        """Health probe: the database answers and carries the latest schema."""
        from backend.meta.migrate import current_revision, head_revision

        with self.read() as conn:
            conn.execute(text("SELECT 1"))
        revision = current_revision(self)
        if revision != head_revision():
            raise MetaError(f"records store schema is at {revision}, expected {head_revision()}")
        return {"backend": self.backend, "schema_version": revision}

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself: the driver's own transaction handling
        # skips BEGIN before SELECT and DDL, which breaks isolation and migrations.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")

    return engine


def create_meta_engine(url: str) -> Engine:
    """A new engine for ``url`` with the settings the records store relies on."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise MetaError("DESKBOARD_META_URL is not a valid database URL") from None
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    raise MetaError(f"the records store runs on SQLite or PostgreSQL, not {backend}")


_open: dict[str, MetaStore] = {}
_open_lock = threading.Lock()


def open_meta(url: str, *, migrate: bool = True) -> MetaStore:
    """This process's records store for ``url``, migrated to the latest schema once."""
    with _open_lock:
        store = _open.get(url)
        if store is None:
            store = _open[url] = MetaStore(create_meta_engine(url))
        if migrate and not store.migrated:
            from backend.meta.migrate import upgrade_store

            try:
                upgrade_store(store)
            except SQLAlchemyError as exc:
                where = make_url(url).render_as_string(hide_password=True)
                reason = getattr(exc, "orig", None) or exc
                raise MetaError(f"cannot open the records store at {where}: {reason}") from None
        return store


def close_meta(url: str | None = None) -> None:
    """Dispose of this process's engines (all, or the one for ``url``)."""
    with _open_lock:
        keys = [url] if url is not None else list(_open)
        for key in keys:
            store = _open.pop(key, None)
            if store is not None:
                store.dispose()
