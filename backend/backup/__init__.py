"""Backups of a Deskboard data directory: records, warehouse tables, side databases and data folders.

``python -m backend.backup create|restore|verify DIR`` with the app stopped;
``online_backup`` (and the ``backup`` job kind, ``backend.backup.job``) while it runs.
Names are imported on first use, so the job's parameters load without the stores' clients.
"""

from __future__ import annotations

from typing import Any

_HOMES = {
    "BackupError": "backend.backup.common",
    "BackupRefused": "backend.backup.common",
    "StoreInUseError": "backend.backup.common",
    "create_backup": "backend.backup.create",
    "Manifest": "backend.backup.manifest",
    "read_manifest": "backend.backup.manifest",
    "verify_files": "backend.backup.manifest",
    "offline_backup": "backend.backup.offline",
    "online_backup": "backend.backup.offline",
    "list_backups": "backend.backup.listing",
    "RestoreReport": "backend.backup.restore",
    "open_backup": "backend.backup.restore",
    "restore_backup": "backend.backup.restore",
}

__all__ = [
    "BackupError", "BackupRefused", "Manifest", "RestoreReport", "StoreInUseError", "create_backup",
    "list_backups", "offline_backup", "online_backup", "open_backup", "read_manifest", "restore_backup",
    "verify_files",
]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'backend.backup' has no attribute {name!r}")
