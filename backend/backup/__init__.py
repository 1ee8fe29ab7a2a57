"""Backups of a Deskboard data directory: records, warehouse tables, side databases and data folders.

``python -m backend.backup create|restore|verify DIR`` with the app stopped;
``online_backup`` (and the ``backup`` job kind) while it runs.
"""

from backend.backup.common import BackupError, BackupRefused, StoreInUseError
from backend.backup.create import create_backup
from backend.backup.manifest import Manifest, read_manifest, verify_files
from backend.backup.offline import offline_backup, online_backup
from backend.backup.restore import RestoreReport, open_backup, restore_backup

__all__ = [
    "BackupError", "BackupRefused", "Manifest", "RestoreReport", "StoreInUseError", "create_backup",
    "offline_backup", "online_backup", "open_backup", "read_manifest", "restore_backup", "verify_files",
]
