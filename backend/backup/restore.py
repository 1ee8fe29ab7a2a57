"""Restoring a backup into an empty data directory (or over a full one, with ``force``).

Everything is checked before anything changes: the manifest, the schema versions
(a backup from a newer Deskboard is refused), the target (empty, not in use) and
the checksum of every file. The embedded stores are then rebuilt in a staging
folder inside the data directory and moved into place only when all of them are
complete, so a failure leaves the data directory as it was. With ``force`` the
previous contents are moved aside into ``.replaced-<time>`` in the data
directory, never deleted.

Server stores are restored in place: a records database on PostgreSQL in one
transaction, a warehouse server into an empty database (dropped again if a
later step fails).
"""

from __future__ import annotations

import logging
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from backend.backup.common import (
    BackupError,
    BackupRefused,
    Progress,
    StoreInUseError,
    fsync_dir,
    is_within,
    no_progress,
    quote,
    warehouse_folder_locked,
)
from backend.backup.create import JOB_RESULTS, MEASUREMENTS
from backend.backup.files import restore_tree
from backend.backup.manifest import Manifest, read_manifest, verify_files
from backend.backup.records import known_revision, restore_records
from backend.backup.warehouse import latest_schema_version, restore_warehouse
from backend.config import Settings
from backend.meta.store import MetaStore, create_meta_engine
from backend.warehouse import WarehouseError, close_all, open_warehouse

log = logging.getLogger(__name__)

STAGING_PREFIX = ".restore-"
REPLACED_PREFIX = ".replaced-"


@dataclass
class RestoreReport:
    data_dir: Path
    warehouse_rows: dict[str, int] = field(default_factory=dict)
    records_rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    replaced: Path | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Targets:
    data_dir: Path
    warehouse_folder: Path | None  # embedded: the chDB folder; None for a server
    meta_file: Path | None  # embedded SQLite file; None for PostgreSQL


def open_backup(folder: Path) -> Manifest:
    """The manifest of the backup in ``folder``, with its schema versions checked (not yet its files)."""
    if not folder.exists():
        raise BackupRefused(f"{folder} does not exist")
    if not folder.is_dir():
        raise BackupRefused(f"{folder} is a file, not a backup folder")
    manifest = read_manifest(folder)
    if manifest.warehouse.schema_version > latest_schema_version():
        raise BackupRefused(
            f"this backup's warehouse schema (version {manifest.warehouse.schema_version}) is newer than this "
            f"Deskboard knows (version {latest_schema_version()}): restore it with the version that wrote it"
        )
    if manifest.records is not None:
        known_revision(manifest.records.revision)
    return manifest


def _targets(settings: Settings) -> _Targets:
    data_dir = settings.data_dir
    warehouse_folder = meta_file = None
    if settings.embedded_warehouse:
        warehouse_folder = Path(urlsplit(settings.warehouse_url).path)
    url = make_url(settings.meta_database_url)
    if url.get_backend_name() == "sqlite":
        meta_file = Path(url.database or "")
    for path, what in ((warehouse_folder, "DESKBOARD_WAREHOUSE_DSN"), (meta_file, "DESKBOARD_META_URL")):
        if path is not None and (not is_within(path.resolve(), data_dir) or path.resolve() == data_dir):
            raise BackupRefused(
                f"{what} points at {path}, outside the data directory {data_dir}: a restore rebuilds the "
                "embedded stores inside the data directory; unset it or point the data directory there"
            )
    return _Targets(data_dir, warehouse_folder, meta_file)


def _check_target(targets: _Targets, force: bool) -> list[Path]:
    """The entries of the data directory that a forced restore moves aside (refused when not forced)."""
    data_dir = targets.data_dir
    if data_dir.exists() and not data_dir.is_dir():
        raise BackupRefused(f"the data directory {data_dir} is a file, not a folder")
    if targets.warehouse_folder is not None and warehouse_folder_locked(targets.warehouse_folder):
        raise StoreInUseError(
            f"the data directory {data_dir} is in use by a running Deskboard (its warehouse is locked): "
            "stop the app before restoring into it"
        )
    entries = sorted(data_dir.iterdir()) if data_dir.is_dir() else []
    for leftover in [p for p in entries if p.name.startswith(STAGING_PREFIX) and p.is_dir()]:
        # A restore that was killed before its swap left this; the app never reads it.
        shutil.rmtree(leftover, ignore_errors=True)
        entries.remove(leftover)
    if entries and not force:
        shown = ", ".join(p.name for p in entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise BackupRefused(
            f"the data directory {data_dir} is not empty ({shown}): restore into an empty one, or add --force "
            f"to move what is there aside into {data_dir}/{REPLACED_PREFIX}<time>"
        )
    return entries


def restore_backup(source: Path, settings: Settings, *, force: bool = False,
                   progress: Progress = no_progress) -> RestoreReport:
    """Restore the backup in ``source`` into the stores ``settings`` name; see the module's description."""
    source = source.resolve() if source.exists() else source
    manifest = open_backup(source)
    targets = _targets(settings)
    if is_within(source, targets.data_dir):
        raise BackupRefused(f"the backup {source} lies inside the data directory it would replace: move it out first")
    aside = _check_target(targets, force)
    _check_servers(settings, manifest, force)
    progress(0.0, "checking the backup's files")
    verify_files(source, manifest, lambda f, m: progress(0.3 * f, m))

    data_dir = targets.data_dir
    made_data_dir = not data_dir.exists()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        staging = data_dir / f"{STAGING_PREFIX}{secrets.token_hex(4)}"
        staging.mkdir()
    except OSError as exc:
        raise BackupRefused(f"cannot write in {data_dir}: {(exc.strerror or str(exc)).lower()}") from None
    report = RestoreReport(data_dir=data_dir)
    # What the backup itself says it left out, repeated where the person restoring will read it.
    report.notes.extend(f"{what}: {section.note}" for what, section in
                        (("measurements", manifest.measurements), ("job results", manifest.job_results))
                        if section.note)
    created_server_db: tuple[str, str] | None = None
    try:
        _stage_embedded(source, manifest, settings, targets, staging, report, progress)
        if not settings.embedded_warehouse:
            created_server_db = (settings.warehouse_url, settings.warehouse_database)
            report.warehouse_rows = _restore_server_warehouse(source, manifest, settings, progress, report.notes)
        if targets.meta_file is None and manifest.records is not None:
            store = MetaStore(create_meta_engine(settings.meta_database_url))
            try:
                report.records_rows = restore_records(store, source, manifest.records, replace=force,
                                                      progress=lambda f, m: progress(0.9 + 0.05 * f, m))
            finally:
                store.dispose()
        report.replaced = _swap(staging, data_dir, aside)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if made_data_dir and not any(data_dir.iterdir()):
            data_dir.rmdir()
        if created_server_db is not None:
            _drop_server_database(*created_server_db)
        raise
    progress(1.0, "restore complete")
    return report


def _stage_embedded(source: Path, manifest: Manifest, settings: Settings, targets: _Targets, staging: Path,
                    report: RestoreReport, progress: Progress) -> None:
    data_dir = targets.data_dir
    if targets.meta_file is not None and manifest.records is not None:
        staged = staging / targets.meta_file.resolve().relative_to(data_dir)
        staged.parent.mkdir(parents=True, exist_ok=True)
        store = MetaStore(create_meta_engine(f"sqlite:///{staged}"))
        try:
            report.records_rows = restore_records(store, source, manifest.records, replace=False,
                                                  progress=lambda f, m: progress(0.3 + 0.1 * f, m))
        finally:
            store.dispose()
    # Side databases go back beside the records, where the market service opens them.
    report.files += restore_tree(source, staging, "sqlite", manifest.files)
    sqlite_dir = staging / "sqlite"
    if sqlite_dir.is_dir():
        for path in sorted(sqlite_dir.iterdir()):
            if (staging / path.name).exists():
                # A file left in a data dir whose records lived on a server; the records came back here.
                report.notes.append(f"the side database {path.name} was not restored: the records file has its name")
                path.unlink()
                continue
            path.rename(staging / path.name)
        sqlite_dir.rmdir()
    if targets.warehouse_folder is not None:
        folder = staging / targets.warehouse_folder.resolve().relative_to(data_dir)
        try:
            wh = open_warehouse(f"chdb://{folder}", settings.warehouse_database, migrate=False)
            report.warehouse_rows = restore_warehouse(
                wh, source, manifest.warehouse, created_at=manifest.created_at.isoformat(),
                progress=lambda f, m: progress(0.4 + 0.5 * f, m), notes=report.notes)
        except WarehouseError as exc:
            raise BackupError(f"the restored warehouse could not be built: {exc}") from None
        finally:
            close_all()
    report.files += restore_tree(source, staging, MEASUREMENTS, manifest.files)
    report.files += restore_tree(source, staging, JOB_RESULTS, manifest.files)


def _check_servers(settings: Settings, manifest: Manifest, force: bool) -> None:
    """Server stores must be empty (PostgreSQL records may be replaced with ``force``)."""
    from backend.backup.records import has_records
    from backend.backup.warehouse import holds_rows

    if not settings.embedded_warehouse:
        try:
            wh = open_warehouse(settings.warehouse_url, settings.warehouse_database, migrate=False)
            if holds_rows(wh):
                raise BackupRefused(
                    f"the warehouse database {settings.warehouse_database} on the server already holds data: "
                    "restore into a new database (DESKBOARD_WAREHOUSE_DATABASE) or drop it first; "
                    "a restore never deletes server data"
                )
        except WarehouseError as exc:
            raise BackupRefused(f"cannot reach the warehouse server: {exc}") from None
    if make_url(settings.meta_database_url).get_backend_name() != "sqlite" and not force:
        store = MetaStore(create_meta_engine(settings.meta_database_url))
        try:
            if has_records(store):
                raise BackupRefused("the records database already holds records: add --force to replace them")
        finally:
            store.dispose()


def _restore_server_warehouse(source: Path, manifest: Manifest, settings: Settings, progress: Progress,
                              notes: list[str]) -> dict[str, int]:
    wh = open_warehouse(settings.warehouse_url, settings.warehouse_database, migrate=False)
    return restore_warehouse(wh, source, manifest.warehouse, created_at=manifest.created_at.isoformat(),
                             progress=lambda f, m: progress(0.4 + 0.5 * f, m), notes=notes)


def _drop_server_database(url: str, database: str) -> None:
    try:
        wh = open_warehouse(url, database, migrate=False)
        wh.command(f"DROP DATABASE IF EXISTS {quote(database)} SYNC")
    except Exception:  # the original failure is the one to report; this one is logged
        log.warning("could not drop the partly restored warehouse database %s", database, exc_info=True)


def _swap(staging: Path, data_dir: Path, existing: list[Path]) -> Path | None:
    """Move ``existing`` aside and the staged entries into place; undo the moves if one fails."""
    aside = None
    moved: list[tuple[Path, Path]] = []
    try:
        if existing:
            aside = data_dir / f"{REPLACED_PREFIX}{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(2)}"
            aside.mkdir()
            for path in existing:
                target = aside / path.name
                path.rename(target)
                moved.append((target, path))
        for path in sorted(staging.iterdir()):
            target = data_dir / path.name
            path.rename(target)
            moved.append((target, path))
    except OSError as exc:
        for now, before in reversed(moved):
            now.rename(before)
        if aside is not None:
            aside.rmdir()
        raise BackupError(f"moving the restored stores into {data_dir} failed ({exc.strerror}); nothing changed") \
            from None
    staging.rmdir()
    fsync_dir(data_dir)
    return aside
