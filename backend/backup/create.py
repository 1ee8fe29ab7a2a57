"""Creating a backup: records first, then the data they point at, then the manifest.

The order keeps every record in the backup pointing at data the backup holds: a
record written after the records were read is simply not in the backup, while
the data it might point at (a load, a measurement, a result file) was written
before it and is read later. Everything is written into a folder beside the
destination and renamed into place once the manifest is complete, so a failed
or cancelled backup leaves nothing that looks like a backup.
"""

from __future__ import annotations

import os
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path

from backend.backup.common import (
    BackupError,
    BackupRefused,
    Progress,
    file_entry,
    fsync_dir,
    is_within,
    no_progress,
)
from backend.backup.files import completed_jobs, copy_tree
from backend.backup.manifest import (
    FORMAT,
    FORMAT_VERSION,
    MAX_FILES,
    FileEntry,
    Manifest,
    SqliteFile,
    WarehouseSection,
    write_manifest,
)
from backend.backup.records import copy_sqlite_snapshot, dump_records
from backend.backup.warehouse import dump_warehouse
from backend.meta import MetaStore
from backend.warehouse import Warehouse

MEASUREMENTS = "measurements"
JOB_RESULTS = "job-results"


def prepare_destination(dest: Path) -> Path:
    """Check ``dest`` and return a new, empty staging folder beside it."""
    dest = Path(os.path.abspath(dest))
    if dest.exists() or dest.is_symlink():
        if dest.is_symlink() or not dest.is_dir():
            raise BackupRefused(f"{dest} is a file, not a folder: give a new or empty folder for the backup")
        if any(dest.iterdir()):
            raise BackupRefused(f"{dest} is not empty: give a new or empty folder, so no older backup is mixed in")
    parent = dest.parent
    if not parent.is_dir():
        raise BackupRefused(f"{parent} does not exist: create it first, or choose another place for the backup")
    try:
        staging = parent / f".{dest.name}.partial-{secrets.token_hex(4)}"
        staging.mkdir()
    except OSError as exc:
        raise BackupRefused(f"cannot write in {parent}: {(exc.strerror or str(exc)).lower()}") from None
    return staging


def _refuse_inside_copied(dest: Path, data_dir: Path) -> None:
    dest = Path(os.path.abspath(dest))
    for folder in (MEASUREMENTS, JOB_RESULTS, "warehouse"):
        if is_within(dest, (data_dir / folder).resolve()):
            raise BackupRefused(f"{dest} lies inside {data_dir / folder}, which the backup copies: choose another folder")


def create_backup(dest: Path, *, data_dir: Path, warehouse: Warehouse | None, meta: MetaStore | None,
                  mode: str = "offline", warehouse_database: str = "deskboard",
                  progress: Progress = no_progress) -> Manifest:
    """Back up the records, the side databases, the warehouse and the data folders into ``dest``.

    ``warehouse`` or ``meta`` is None when that store does not exist yet (nothing to keep).
    Online (the running app), they are the app's own open stores.
    """
    data_dir = data_dir.resolve()
    _refuse_inside_copied(dest, data_dir)
    staging = prepare_destination(dest)
    try:
        manifest = _write(staging, data_dir=data_dir, warehouse=warehouse, meta=meta, mode=mode,
                          database=warehouse.database if warehouse else warehouse_database, progress=progress)
        final = Path(os.path.abspath(dest))
        if final.is_dir():
            final.rmdir()  # checked empty above
        staging.rename(final)
        fsync_dir(final.parent)
        progress(1.0, "backup complete")
        return manifest
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write(staging: Path, *, data_dir: Path, warehouse: Warehouse | None, meta: MetaStore | None, mode: str,
           database: str, progress: Progress) -> Manifest:
    created_at = datetime.now(UTC)

    def step(start: float, span: float) -> Progress:
        return lambda fraction, message: progress(start + span * fraction, message)

    progress(0.0, "reading the records")
    records = dump_records(meta, staging / "records", "records", step(0.0, 0.1)) if meta else None
    meta_file = _sqlite_path(meta)
    sqlite: dict[str, SqliteFile] = {}
    for path in sorted(data_dir.glob("*.sqlite3")):
        if path.is_file() and not path.is_symlink() and path.resolve() != meta_file:
            counts = copy_sqlite_snapshot(path, staging / "sqlite" / path.name)
            sqlite[path.name] = SqliteFile(file=f"sqlite/{path.name}", tables=counts)
    progress(0.12, "reading the warehouse")
    if warehouse is not None:
        section = dump_warehouse(warehouse, staging / "warehouse", "warehouse", step(0.12, 0.7))
    else:
        section = WarehouseSection(present=False, database=database, schema_version=0, tables={}, rebuilt={})
    progress(0.85, "copying measurements")
    measurements = copy_tree(data_dir / MEASUREMENTS, staging / MEASUREMENTS, MEASUREMENTS)
    jobs = (completed_jobs(staging / records.tables["jobs"].file, records.tables["jobs"].columns)
            if records is not None and "jobs" in records.tables else [])
    job_results = copy_tree(data_dir / JOB_RESULTS, staging / JOB_RESULTS, JOB_RESULTS, only=jobs)
    progress(0.9, "computing checksums")
    files: dict[str, FileEntry] = {}
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        files[path.relative_to(staging).as_posix()] = FileEntry(**file_entry(path))
    if len(files) > MAX_FILES:
        raise BackupError(f"the backup would hold {len(files):,} files, more than a restore accepts ({MAX_FILES:,}); "
                          "move old measurement folders out of the data directory and try again")
    manifest = Manifest(
        format=FORMAT, format_version=FORMAT_VERSION, created_at=created_at, mode=mode,  # type: ignore[arg-type]
        source={"data_dir": str(data_dir), "warehouse": _warehouse_kind(warehouse),
                "records": meta.backend if meta else "none"},
        records=records, warehouse=section, sqlite=sqlite, measurements=measurements, job_results=job_results,
        files=files,
    )
    write_manifest(staging, manifest)
    for folder in [staging, *(p for p in staging.rglob("*") if p.is_dir())]:
        fsync_dir(folder)
    return manifest


def _sqlite_path(meta: MetaStore | None) -> Path | None:
    if meta is None or meta.backend != "sqlite" or not meta.engine.url.database:
        return None
    return Path(meta.engine.url.database).resolve()


def _warehouse_kind(warehouse: Warehouse | None) -> str:
    if warehouse is None:
        return "none"
    return "embedded" if warehouse.embedded else "server"


__all__ = ["BackupError", "create_backup", "prepare_destination"]
