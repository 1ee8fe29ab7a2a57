"""Backups taken by the app's own stores: the CLI's (app stopped) and the admin page's (app running)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from backend.backup.common import BackupRefused, Progress, StoreInUseError, no_progress, warehouse_folder_locked
from backend.backup.create import create_backup
from backend.backup.manifest import Manifest
from backend.config import Settings
from backend.meta import MetaStore
from backend.meta.store import MetaError, open_meta
from backend.warehouse import Warehouse, WarehouseError, WarehouseLockedError, close_all, open_warehouse

_IN_USE = (
    "the data directory {data_dir} is in use by a running Deskboard (its warehouse is locked): stop the app "
    "and run the backup again, or start the backup from the app's admin page, which uses the app's own connection"
)


def offline_backup(dest: Path, settings: Settings, *, progress: Progress = no_progress) -> Manifest:
    """Back up the stores ``settings`` name, with no Deskboard process running on them."""
    data_dir = settings.data_dir
    if not data_dir.is_dir():
        raise BackupRefused(f"the data directory {data_dir} does not exist: there is nothing to back up")
    warehouse: Warehouse | None = None
    if settings.embedded_warehouse:
        folder = Path(urlsplit(settings.warehouse_url).path)
        if warehouse_folder_locked(folder):
            raise StoreInUseError(_IN_USE.format(data_dir=data_dir))
        if folder.is_dir():
            warehouse = _open(settings)
    else:
        warehouse = _open(settings)
    try:
        meta = _open_meta(settings)
        return create_backup(dest, data_dir=data_dir, warehouse=warehouse, meta=meta, mode="offline",
                             warehouse_database=settings.warehouse_database, progress=progress)
    finally:
        close_all()


def _open(settings: Settings) -> Warehouse:
    try:
        # Never migrate what is being backed up: the backup records the schema as it is.
        return open_warehouse(settings.warehouse_url, settings.warehouse_database, migrate=False)
    except WarehouseLockedError:
        raise StoreInUseError(_IN_USE.format(data_dir=settings.data_dir)) from None
    except WarehouseError as exc:
        raise BackupRefused(f"cannot open the warehouse: {exc}") from None


def _open_meta(settings: Settings) -> MetaStore | None:
    url = make_url(settings.meta_database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return None  # no records were ever written
    try:
        return open_meta(settings.meta_database_url, migrate=False)
    except MetaError as exc:
        raise BackupRefused(f"cannot open the records store: {exc}") from None


def online_backup(dest: Path, *, settings: Settings, warehouse: Warehouse, meta: MetaStore,
                  progress: Progress = no_progress) -> Manifest:
    """Back up through the running app's own open stores (the admin page's action and the backup job)."""
    return create_backup(dest, data_dir=settings.data_dir, warehouse=warehouse, meta=meta, mode="online",
                         progress=progress)
