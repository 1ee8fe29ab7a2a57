"""The records store in a backup: every table as JSON lines, read from one snapshot.

The dump is logical (rows, not database pages), so a backup of the embedded SQLite
file restores into PostgreSQL and back. All tables are read inside one transaction
(SQLite's WAL snapshot; PostgreSQL at REPEATABLE READ), so a record and the records
it points at are read as of the same moment.

A restore runs in one transaction on the target: the schema as of the backup's
revision, the rows, a check that they read back to the recorded content hashes, then
the migrations up to this version's schema. Anything that fails rolls it all back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, MetaData, Table, func, insert, select, text
from sqlalchemy import types as satypes
from sqlalchemy.exc import SQLAlchemyError

from backend.backup.common import (
    BackupError,
    BackupRefused,
    Progress,
    RowSetHash,
    canonical_row,
    check_identifier,
    no_progress,
)
from backend.backup.manifest import Records, RecordTable
from backend.meta.migrate import MIGRATIONS_DIR
from backend.meta.store import MetaStore

VERSION_TABLE: Final = "alembic_version"
_BATCH: Final = 1_000


def _encode(value: Any) -> Any:
    """A column value as JSON; instants in UTC without an offset, as SQLite keeps them."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _decoder(column_type: satypes.TypeEngine[Any]) -> Any:
    if isinstance(column_type, satypes.DateTime):
        return lambda v: None if v is None else datetime.fromisoformat(v).replace(tzinfo=UTC)
    if isinstance(column_type, satypes.Date):
        return lambda v: None if v is None else date.fromisoformat(v)
    if isinstance(column_type, satypes.Numeric) and not isinstance(column_type, satypes.Float):
        return lambda v: None if v is None else Decimal(v)
    if isinstance(column_type, satypes.LargeBinary):
        return lambda v: None if v is None else bytes.fromhex(v)
    return None


def _config(conn: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    return cfg


def known_revision(revision: str | None) -> None:
    """Refuse a backup whose records schema this version does not know (written by a newer one)."""
    if revision is None:
        return
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    try:
        found = script.get_revision(revision)
    except CommandError:
        found = None
    if found is None:
        raise BackupRefused(
            f"this backup's records schema (revision {revision[:40]!r}) is newer than this Deskboard "
            f"knows (latest {script.get_current_head()}): restore it with the version that wrote it"
        )


@contextmanager
def _snapshot(store: MetaStore) -> Iterator[Connection]:
    """One read transaction that sees every table as of the same moment."""
    with store.engine.connect() as conn:
        if store.backend == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def _tables(conn: Connection) -> list[Table]:
    md = MetaData()
    md.reflect(conn)
    return [t for t in md.sorted_tables if t.name != VERSION_TABLE]


def _read_rows(conn: Connection, table: Table) -> Iterator[bytes]:
    keys = list(table.primary_key.columns) or list(table.columns)
    # Options on the statement, not the connection: they would stay on it (and inserts cannot stream).
    result = conn.execute(select(table).order_by(*keys).execution_options(stream_results=True, yield_per=_BATCH))
    for row in result:
        yield canonical_row(_encode(v) for v in row)


def dump_records(store: MetaStore, folder: Path, relative: str, progress: Progress = no_progress) -> Records:
    """Write each table to ``folder/<table>.jsonl``; return the manifest section (files listed by the caller)."""
    folder.mkdir(parents=True, exist_ok=True)
    tables: dict[str, RecordTable] = {}
    with _snapshot(store) as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
        reflected = _tables(conn)
        for index, table in enumerate(reflected):
            name = check_identifier(table.name, "records table")
            digest = RowSetHash()
            with open(folder / f"{name}.jsonl", "wb") as out:
                for line in _read_rows(conn, table):
                    out.write(line + b"\n")
                    digest.add(line)
            tables[name] = RecordTable(file=f"{relative}/{name}.jsonl", rows=digest.rows,
                                       columns=[c.name for c in table.columns], content_sha256=digest.hexdigest())
            progress((index + 1) / len(reflected), f"records: {name} ({digest.rows:,} rows)")
    return Records(backend="postgresql" if store.backend == "postgresql" else "sqlite",
                   revision=revision, tables=tables)


def copy_sqlite_snapshot(source: Path, target: Path) -> dict[str, int]:
    """A consistent copy of a SQLite file in use (the online backup API); return its tables' row counts."""
    import sqlite3

    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=10)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
        names = [r[0] for r in dst.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        counts = {}
        for name in names:
            if name.startswith("sqlite_"):
                continue
            quoted = '"' + name.replace('"', '""') + '"'
            counts[name] = int(dst.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0])
        return counts
    finally:
        dst.close()
        src.close()


def has_records(store: MetaStore) -> bool:
    """Whether any table of the store holds a row (the schema alone does not count)."""
    with _snapshot(store) as conn:
        for table in _tables(conn):
            if conn.execute(select(func.count()).select_from(table)).scalar_one():
                return True
    return False


def restore_records(store: MetaStore, backup: Path, section: Records, *, replace: bool,
                    progress: Progress = no_progress) -> dict[str, int]:
    """Load ``section`` into ``store`` in one transaction; return rows per table."""
    known_revision(section.revision)
    try:
        with store.engine.connect() as conn, conn.begin():
            existing = _tables(conn)
            if not replace and any(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in existing):
                raise BackupRefused("the records store already holds records; restore with --force to replace them")
            # An empty schema (a start that stored nothing) is replaced by the backup's.
            _drop_all(conn)
            if section.revision is not None:
                command.upgrade(_config(conn), section.revision)
            counts = _load_tables(conn, backup, section, progress)
            command.upgrade(_config(conn), "head")
            _advance_sequences(conn)
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise BackupError(f"restoring the records failed and was rolled back: {str(reason)[:300]}") from None
    return counts


def _drop_all(conn: Connection) -> None:
    md = MetaData()
    md.reflect(conn)
    md.drop_all(conn)


def _load_tables(conn: Connection, backup: Path, section: Records, progress: Progress) -> dict[str, int]:
    present = {t.name: t for t in _tables(conn)}
    unknown = [name for name in section.tables if name not in present]
    if unknown:
        raise BackupRefused(f"the backup holds records tables its schema revision does not have: {unknown[:5]}")
    counts: dict[str, int] = {}
    ordered = [t for t in present.values() if t.name in section.tables]
    for index, table in enumerate(ordered):
        entry = section.tables[table.name]
        if entry.columns != [c.name for c in table.columns]:
            raise BackupRefused(f"records table {table.name}: the backup's columns differ from its schema revision")
        for column in table.columns:
            if isinstance(column.type, satypes.JSON):
                # None goes back as SQL NULL, as the app writes an absent value (not the JSON text null).
                column.type = satypes.JSON(none_as_null=True)
        decoders = [_decoder(c.type) for c in table.columns]
        batch: list[dict[str, Any]] = []
        rows = 0
        with open(backup / entry.file, "rb") as lines:
            for line in lines:
                values = json.loads(line)
                if not isinstance(values, list) or len(values) != len(entry.columns):
                    raise BackupRefused(f"{entry.file} line {rows + 1} does not hold one value per column")
                batch.append({c: (d(v) if d else v) for c, d, v in zip(entry.columns, decoders, values, strict=True)})
                rows += 1
                if len(batch) >= _BATCH:
                    conn.execute(insert(table), batch)
                    batch = []
        if batch:
            conn.execute(insert(table), batch)
        _check_table(conn, table, entry, rows)
        counts[table.name] = rows
        progress((index + 1) / max(len(ordered), 1), f"records: {table.name} ({rows:,} rows)")
    return counts


def _check_table(conn: Connection, table: Table, entry: RecordTable, rows: int) -> None:
    """The table reads back to the rows and content hash recorded at backup time."""
    digest = RowSetHash()
    for line in _read_rows(conn, table):
        digest.add(line)
    if rows != entry.rows or digest.rows != entry.rows or digest.hexdigest() != entry.content_sha256:
        raise BackupError(
            f"records table {table.name} did not read back as backed up ({digest.rows:,} rows of {entry.rows:,}); "
            "nothing was restored"
        )


def _advance_sequences(conn: Connection) -> None:
    """PostgreSQL: serial keys continue after the restored ids (SQLite takes max(id) + 1 by itself)."""
    if conn.dialect.name != "postgresql":
        return
    for table in _tables(conn):
        for column in table.primary_key.columns:
            if not isinstance(column.type, satypes.Integer):
                continue
            name, key = check_identifier(table.name, "records table"), check_identifier(column.name, "column")
            sequence = conn.execute(
                text("SELECT pg_get_serial_sequence(:table, :column)"), {"table": name, "column": key}
            ).scalar()
            if sequence:
                conn.execute(
                    text(f'SELECT setval(:seq, COALESCE((SELECT max("{key}") FROM "{name}"), 0) + 1, false)'),
                    {"seq": sequence},
                )

