"""The backups kept under ``<data_dir>/backups``, for the admin page: what each holds, read from its manifest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from backend.backup.common import BackupRefused
from backend.backup.job import BACKUPS_FOLDER
from backend.backup.manifest import read_manifest


@dataclass(frozen=True)
class BackupInfo:
    name: str
    folder: Path
    created_at: datetime | None
    mode: str
    bytes: int
    warehouse_rows: int
    records: int
    schema: dict[str, object]
    problem: str | None  # why the folder is not a usable backup; None when its manifest reads


def list_backups(data_dir: Path, *, limit: int = 200) -> list[BackupInfo]:
    """Newest first; a folder whose manifest cannot be read is listed with the reason (checksums are not read)."""
    root = data_dir / BACKUPS_FOLDER
    if not root.is_dir():
        return []
    found: list[BackupInfo] = []
    for folder in sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                         key=lambda p: p.name, reverse=True)[:limit]:
        try:
            m = read_manifest(folder)
        except BackupRefused as exc:
            found.append(BackupInfo(folder.name, folder, None, "", 0, 0, 0, {}, str(exc)))
            continue
        found.append(BackupInfo(
            name=folder.name, folder=folder, created_at=m.created_at, mode=m.mode,
            bytes=sum(f.bytes for f in m.files.values()),
            warehouse_rows=sum(t.rows for t in m.warehouse.tables.values()),
            records=sum(t.rows for t in m.records.tables.values()) if m.records else 0,
            schema=m.schema_versions(), problem=None,
        ))
    found.sort(key=lambda b: b.created_at.timestamp() if b.created_at else float("-inf"), reverse=True)
    return found
