"""Folders kept as plain files: research measurements (Parquet) and completed jobs' result files."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from backend.backup.common import BackupError, BackupRefused, copy_file
from backend.backup.manifest import FileEntry, FolderSection, check_relative_path


def copy_tree(source: Path, target: Path, section: str, *, only: Iterable[str] | None = None) -> FolderSection:
    """Copy the plain files under ``source`` to ``target`` (links and special files are left out, and said so)."""
    if not source.is_dir():
        return FolderSection(present=False, files=0, bytes=0)
    wanted = None if only is None else set(only)
    files = size = 0
    skipped: list[str] = []
    for folder, dirs, names in os.walk(source, followlinks=False):
        here = Path(folder)
        rel_dir = here.relative_to(source)
        if wanted is not None and rel_dir.parts and rel_dir.parts[0] not in wanted:
            dirs[:] = []
            continue
        links = [d for d in dirs if (here / d).is_symlink()]
        skipped.extend(str(rel_dir / d) for d in links)
        dirs[:] = [d for d in dirs if d not in links]
        for name in names:
            path = here / name
            rel = rel_dir / name
            if wanted is not None and len(rel.parts) < 2:
                continue  # only the listed sub-folders
            if path.is_symlink() or not path.is_file():
                skipped.append(str(rel))
                continue
            try:
                check_relative_path(f"{section}/{rel.as_posix()}")
            except BackupRefused:
                skipped.append(repr(str(rel))[:80])
                continue
            entry = copy_file(path, target / rel)
            files += 1
            size += entry["bytes"]
    note = f"left out {len(skipped)} links or special files: {', '.join(skipped[:5])}" if skipped else ""
    return FolderSection(present=True, files=files, bytes=size, note=note[:500])


def restore_tree(backup: Path, staging: Path, section: str, files: dict[str, FileEntry]) -> int:
    """Copy the backup's files of ``section`` into ``staging/section``, checking each one's SHA-256 as it is read."""
    count = 0
    prefix = section + "/"
    for name, entry in files.items():
        if not name.startswith(prefix):
            continue
        copied = copy_file(backup / name, staging / name)
        if copied["sha256"] != entry.sha256:
            raise BackupError(f"{name} changed while it was being restored; nothing was restored")
        count += 1
    return count


def completed_jobs(records_file: Path, columns: list[str]) -> list[str]:
    """Ids of the jobs that were COMPLETED in a records dump (their result files belong in the backup)."""
    ids: list[str] = []
    if "id" not in columns or "state" not in columns or not records_file.is_file():
        return ids
    key, state = columns.index("id"), columns.index("state")
    with open(records_file, "rb") as lines:
        for line in lines:
            row = json.loads(line)
            if row[state] == "COMPLETED" and isinstance(row[key], int):
                ids.append(str(row[key]))
    return ids
