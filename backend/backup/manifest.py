"""The manifest of a backup: what it holds, checked before a restore changes anything.

``manifest.json`` is written last, so a folder without one is not a backup (or an
unfinished one). Reading it is bounded (size, entry counts, path shapes) because a
restore may be pointed at a folder someone else prepared: every file it names must
lie inside the backup folder, be a plain file (no links) and match its recorded
size and SHA-256 before anything is restored.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from backend.backup.common import BackupError, BackupRefused, Progress, check_identifier, file_sha256, no_progress

FORMAT: Final = "deskboard-backup"
FORMAT_VERSION: Final = 1
MANIFEST_NAME: Final = "manifest.json"
# A manifest lists one entry per file (about 130 bytes each): 32 MiB hold some 250,000 files,
# and parsing that much stays within a few hundred MB of memory.
MANIFEST_MAX_BYTES: Final = 32 * 1024 * 1024
MAX_FILES: Final = 250_000
MAX_PATH_DEPTH: Final = 12
# The top-level folders a backup writes; a manifest naming anything else is refused.
SECTIONS: Final = ("records", "warehouse", "sqlite", "measurements", "job-results")

Count = Annotated[int, Field(ge=0, le=10**13)]
Digest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
ColumnName = Annotated[str, Field(min_length=1, max_length=63)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Strict):
    bytes: Count
    sha256: Digest


class RecordTable(_Strict):
    file: str
    rows: Count
    columns: list[ColumnName] = Field(max_length=500)
    content_sha256: Digest


class Records(_Strict):
    backend: Literal["sqlite", "postgresql"]
    revision: str | None = Field(max_length=64)
    # In an order where every table comes after the tables it points at.
    tables: dict[str, RecordTable] = Field(max_length=500)


class WarehouseTable(_Strict):
    file: str
    rows: Count
    columns: list[tuple[ColumnName, Annotated[str, Field(max_length=200)]]] = Field(max_length=500)


class WarehouseSection(_Strict):
    present: bool
    database: str
    schema_version: int = Field(ge=0, le=1_000_000)
    tables: dict[str, WarehouseTable] = Field(max_length=500)
    # Tables fed by materialized views: not stored, rebuilt on restore from their sources.
    rebuilt: dict[str, Count] = Field(max_length=500)


class SqliteFile(_Strict):
    file: str
    tables: dict[str, Count] = Field(max_length=500)


class FolderSection(_Strict):
    present: bool
    files: Count
    bytes: Count
    note: str = Field("", max_length=500)


class Manifest(_Strict):
    format: Literal["deskboard-backup"]
    format_version: int = Field(ge=1)
    created_at: datetime
    mode: Literal["offline", "online"]
    source: dict[str, str] = Field(max_length=20)
    records: Records | None
    warehouse: WarehouseSection
    sqlite: dict[str, SqliteFile] = Field(max_length=50)
    measurements: FolderSection
    job_results: FolderSection
    files: dict[str, FileEntry] = Field(max_length=MAX_FILES)

    @field_validator("files")
    @classmethod
    def _safe_paths(cls, files: dict[str, FileEntry]) -> dict[str, FileEntry]:
        for name in files:
            check_relative_path(name)
        return files

    def schema_versions(self) -> dict[str, Any]:
        return {"warehouse": self.warehouse.schema_version,
                "records": self.records.revision if self.records else None}


def check_relative_path(name: object) -> PurePosixPath:
    """A file name from a manifest: relative, no ``..``, no odd characters, inside a known section."""
    if not isinstance(name, str) or not name or len(name) > 1024:
        raise BackupRefused("the manifest names a file with an empty or overlong path")
    shown = repr(name[:120])
    if "\\" in name or "\x00" in name or any(ord(ch) < 32 for ch in name):
        raise BackupRefused(f"the manifest names a file with forbidden characters: {shown}")
    path = PurePosixPath(name)
    parts = name.split("/")
    if path.is_absolute() or any(part in ("", ".", "..") for part in parts):
        raise BackupRefused(f"the manifest names a file outside the backup: {shown}")
    if len(parts) > MAX_PATH_DEPTH or any(len(part) > 255 for part in parts):
        raise BackupRefused(f"the manifest names a file nested too deep or with an overlong name: {shown}")
    if parts[0] not in SECTIONS or len(parts) < 2:
        raise BackupRefused(f"the manifest names a file outside the backup's sections: {shown}")
    return path


def read_manifest(folder: Path) -> Manifest:
    """The backup's manifest, parsed and bounded; refused with the reason when it is not one we can read."""
    path = folder / MANIFEST_NAME
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise BackupRefused(
            f"{folder} holds no {MANIFEST_NAME}: it is not a Deskboard backup, or its creation did not finish"
        ) from None
    except OSError as exc:
        raise BackupRefused(f"cannot read {path}: {exc.strerror or exc}") from None
    if not path.is_file() or path.is_symlink():
        raise BackupRefused(f"{path} is not a plain file")
    if info.st_size > MANIFEST_MAX_BYTES:
        raise BackupRefused(
            f"{path} is {info.st_size:,} bytes, more than any Deskboard manifest "
            f"(at most {MANIFEST_MAX_BYTES:,}); it was not written by a backup"
        )
    try:
        raw = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupRefused(f"{path} is damaged (not valid JSON: {str(exc)[:120]}); the backup is incomplete") from None
    except RecursionError:
        raise BackupRefused(f"{path} nests deeper than any manifest; it was not written by a backup") from None
    except OSError as exc:
        raise BackupRefused(f"cannot read {path}: {exc.strerror or exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise BackupRefused(f"{path} is not a Deskboard backup manifest")
    version = raw.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise BackupRefused(
            f"this backup was written by a newer Deskboard (backup format {version}; this one reads "
            f"format {FORMAT_VERSION}): restore it with that version"
        )
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p)[:40] for p in err['loc'])}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)[:5]
        )
        raise BackupRefused(f"{path} is not a valid manifest: {problems}") from None
    _check_references(manifest)
    return manifest


def _check_references(manifest: Manifest) -> None:
    """Every table names a valid identifier and a file the manifest lists."""
    named: list[str] = []
    if manifest.records is not None:
        for table, entry in manifest.records.tables.items():
            check_identifier(table, "records table")
            for column in entry.columns:
                check_identifier(column, "records column")
            named.append(entry.file)
    check_identifier(manifest.warehouse.database, "warehouse database")
    for table, wentry in manifest.warehouse.tables.items():
        check_identifier(table, "warehouse table")
        for column, _ in wentry.columns:
            check_identifier(column, "warehouse column")
        named.append(wentry.file)
    for table in manifest.warehouse.rebuilt:
        check_identifier(table, "warehouse table")
    for name, sentry in manifest.sqlite.items():
        if not name.endswith(".sqlite3") or "/" in name or name.startswith("."):
            raise BackupRefused(f"the manifest names an unexpected database file: {name[:80]!r}")
        named.append(sentry.file)
    for file in named:
        if file not in manifest.files:
            raise BackupRefused(f"the manifest names {file[:120]!r} but does not list its checksum")


def verify_files(folder: Path, manifest: Manifest, progress: Progress = no_progress) -> None:
    """Every listed file is present, a plain file inside ``folder``, of its size and SHA-256."""
    root = folder.resolve()
    total = sum(entry.bytes for entry in manifest.files.values()) or 1
    done = 0
    for name, entry in sorted(manifest.files.items()):
        path = root / name
        if path.resolve() != path:
            raise BackupRefused(f"{name} in the backup is a link or lies behind one; refused")
        try:
            info = path.lstat()
        except FileNotFoundError:
            raise BackupRefused(f"the backup is incomplete: {name} is missing") from None
        except OSError as exc:
            raise BackupRefused(f"cannot read {name} in the backup: {exc.strerror or exc}") from None
        if not path.is_file():
            raise BackupRefused(f"{name} in the backup is not a plain file")
        if info.st_size != entry.bytes:
            raise BackupRefused(
                f"the backup is damaged: {name} is {info.st_size:,} bytes, the manifest says {entry.bytes:,} "
                "(truncated or changed)"
            )
        if file_sha256(path) != entry.sha256:
            raise BackupRefused(f"the backup is damaged: {name} does not match its checksum (changed after backup)")
        done += entry.bytes
        progress(done / total, f"checked {name}")


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write the manifest under a temporary name, then rename: it appears whole or not at all."""
    text = manifest.model_dump_json(indent=1)
    if len(text.encode()) > MANIFEST_MAX_BYTES:
        # A backup whose manifest a restore would refuse is no backup: say so now.
        raise BackupError(
            f"the backup would list {len(manifest.files):,} files, more than a restore accepts; "
            "move old measurement folders out of the data directory and try again"
        )
    partial = folder / (MANIFEST_NAME + ".part")
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    partial.rename(folder / MANIFEST_NAME)
