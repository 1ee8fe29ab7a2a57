"""The running app's backup: a job that reads the app's own open warehouse, restorable by the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from backend.backup.manifest import MANIFEST_NAME, read_manifest
from backend.config import load_settings
from tests.backend.backup_support import DUMP, _count, _python, _same_rows, cli


@pytest.fixture
def online_app(fresh_warehouse, warehouse_url: str, tmp_path: Path):
    """A data dir whose warehouse is the session's open chDB (as the app holds it), with trades and records."""
    from datetime import date

    from backend.datagen import generate_to_folder
    from backend.meta import open_meta
    from backend.meta.views import SavedViews
    from backend.warehouse.loader import load_folder

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    generate_to_folder(tmp_path / "gen", rows=1500, start=date(2024, 3, 1), end=date(2024, 3, 15), seed=9)
    load_folder(fresh_warehouse, tmp_path / "gen")
    settings = load_settings(data_dir=data_dir, warehouse_dsn=warehouse_url,
                             warehouse_database=fresh_warehouse.database)
    meta = open_meta(settings.meta_database_url)
    SavedViews(meta).create("local", "Morning", "/pivot", {"dims": ["desk"]})
    return settings, fresh_warehouse, meta


def _running_job(meta, name: str):
    from backend.jobs.store import JobStore

    store = JobStore(meta)
    job = store.create(kind="backup", parameters={"name": name}, owner="local", runner="embedded", placement="web")
    assert store.claim(job.id, "test", os.getpid())
    return store, store.get(job.id)


def test_backup_job_reads_the_running_apps_warehouse_and_restores(online_app, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from backend.backup import list_backups
    from backend.backup.job import BackupParams, run_backup
    from backend.jobs.context import JobContext

    settings, wh, meta = online_app
    store, job = _running_job(meta, "nightly")
    ctx = JobContext(store, job, settings, warehouse=lambda: wh)
    result = run_backup(ctx, BackupParams(name="nightly"))
    folder = settings.data_dir / "backups" / "nightly"
    assert result["folder"] == str(folder) and (folder / MANIFEST_NAME).is_file()
    assert (store.get(job.id).progress, store.get(job.id).message) == (1.0, "backup complete")
    manifest = read_manifest(folder)
    assert manifest.mode == "online" and manifest.warehouse.database == wh.database

    # The stored trades are the warehouse's own rows (multiset equality, computed by DuckDB).
    pq.write_table(wh.query_arrow("SELECT * FROM {db}.trades_1d"), tmp_path / "live.parquet")
    con = duckdb.connect()
    assert _count(con, tmp_path / "live.parquet") == manifest.warehouse.tables["trades_1d"].rows > 1000
    assert _same_rows(con, tmp_path / "live.parquet", folder / "warehouse" / "trades_1d.parquet")
    # The job's own record was read while it ran: it is in the backup as RUNNING.
    jobs = (folder / "records" / "jobs.jsonl").read_text().splitlines()
    assert len(jobs) == 1 and '"RUNNING"' in jobs[0]

    listed = list_backups(settings.data_dir)
    assert [b.name for b in listed] == ["nightly"] and listed[0].problem is None
    assert listed[0].warehouse_rows == sum(t.rows for t in manifest.warehouse.tables.values())

    target = tmp_path / "restored"
    done = cli("restore", folder, data_dir=target)
    assert done.returncode == 0, done.stderr
    _python(DUMP, f"chdb://{target}/warehouse", "deskboard", tmp_path / "check")
    assert _same_rows(con, tmp_path / "live.parquet", tmp_path / "check" / "trades_1d.parquet")


def test_a_cancelled_backup_job_leaves_no_folder(online_app) -> None:
    from backend.backup import list_backups
    from backend.backup.job import BackupParams, run_backup
    from backend.jobs.context import JobContext
    from backend.jobs.states import JobCancelled

    settings, wh, meta = online_app
    store, job = _running_job(meta, "stopped")
    store.cancel(job.id)
    ctx = JobContext(store, job, settings, warehouse=lambda: wh)
    with pytest.raises(JobCancelled):
        run_backup(ctx, BackupParams(name="stopped"))
    backups = settings.data_dir / "backups"
    assert list(backups.iterdir()) == []
    (backups / "junk").mkdir()
    (backups / "junk" / MANIFEST_NAME).write_text("{")
    listed = list_backups(settings.data_dir)
    assert [b.name for b in listed] == ["junk"] and "not valid JSON" in (listed[0].problem or "")


@pytest.mark.parametrize("name", ["../etc", "a/b", ".hidden", "x" * 81, "", "nightly\n", "back up"])
def test_backup_job_names_are_plain_folder_names(name: str) -> None:
    from pydantic import ValidationError

    from backend.backup.job import BackupParams

    with pytest.raises(ValidationError):
        BackupParams(name=name)
    with pytest.raises(ValidationError):
        BackupParams.model_validate({"name": "ok", "folder": "/tmp"})


def test_backup_job_runs_through_the_job_runner_as_registered(online_app) -> None:
    """The kind as the runner registers it: the record ends COMPLETED with the backup's summary."""
    from backend.backup.job import BackupParams
    from backend.jobs.context import execute_job
    from backend.jobs.kinds import KINDS
    from backend.jobs.states import JobState

    settings, wh, meta = online_app
    kind = KINDS["backup"]
    assert kind.parameters is BackupParams and kind.needs_warehouse  # runs where the warehouse is open
    store, job = _running_job(meta, "weekly")
    done = execute_job(store, job.id, settings, heartbeat_seconds=0.5, warehouse=lambda: wh)
    assert done.state == JobState.COMPLETED, done.error
    assert done.result is not None and done.result["folder"] == str(settings.data_dir / "backups" / "weekly")
    assert done.message.startswith("backup weekly:")
    assert read_manifest(settings.data_dir / "backups" / "weekly").mode == "online"
