"""The backup as a job of the running app: the admin page's "Back up now".

The running app holds the embedded warehouse, so the job reads it through the
app's own connection (``needs_warehouse``: a web-process thread when embedded).
The backup goes to ``<data_dir>/backups/<name>``; the name is the only thing a
caller chooses, so a request can never write elsewhere on the server. Progress
reports are also cancellation points: a cancelled backup leaves no folder.

Imports stay light at module level: worker processes import the parameters.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from backend.jobs.context import JobContext

BACKUPS_FOLDER: Final = "backups"
NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$"


class BackupParams(BaseModel):
    """A backup of the whole data directory's stores; ``name`` defaults to ``backup-<UTC time>``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, pattern=NAME_PATTERN)


def default_name(now: datetime | None = None) -> str:
    return f"backup-{(now or datetime.now(UTC)).strftime('%Y%m%dT%H%M%SZ')}"


def run_backup(ctx: JobContext, params: BackupParams) -> dict[str, Any]:
    from backend.backup.common import BackupError
    from backend.backup.offline import online_backup
    from backend.jobs.states import JobError
    from backend.meta.store import open_meta

    warehouse = ctx.warehouse()
    meta = open_meta(ctx.settings.meta_database_url)
    name = params.name or default_name()
    dest = ctx.settings.data_dir / BACKUPS_FOLDER / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    ctx.log(f"backing up into {dest}")
    try:
        manifest = online_backup(dest, settings=ctx.settings, warehouse=warehouse, meta=meta,
                                 progress=lambda fraction, message: ctx.progress(
                                     min(fraction, 1.0), message, force=fraction >= 1.0))
    except BackupError as exc:
        raise JobError(str(exc)) from None
    size = sum(entry.bytes for entry in manifest.files.values())
    rows = sum(table.rows for table in manifest.warehouse.tables.values())
    ctx.log(f"wrote {len(manifest.files)} files, {size:,} bytes")
    return {
        "folder": str(dest), "name": name, "files": len(manifest.files), "bytes": size, "warehouse_rows": rows,
        "created_at": manifest.created_at.isoformat(), "schema": manifest.schema_versions(),
        "summary": f"backup {name}: {rows:,} warehouse rows, {size / 1e6:,.1f} MB",
    }
