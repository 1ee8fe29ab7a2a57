"""Backups refused: hostile or damaged backups, hostile destinations and data dirs, a data dir in use.

Every refusal names the problem plainly and leaves the target as it was (or never creates it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from backend.backup.common import BackupRefused
from backend.backup.create import prepare_destination
from backend.backup.manifest import MANIFEST_MAX_BYTES, MANIFEST_NAME, read_manifest
from backend.backup.restore import restore_backup
from backend.config import load_settings
from tests.backend.backup_support import HOLD, ROOT, _copy, _edit_manifest, _env, _replace_file, cli, work

__all__ = ["work"]  # the module-scoped fixture, imported for pytest


def test_restore_refuses_a_non_empty_data_dir_and_force_moves_it_aside(work: dict[str, Path], tmp_path: Path) -> None:
    before = sorted(p.name for p in work["dst"].iterdir())
    again = cli("restore", work["backup"], data_dir=work["dst"])
    assert again.returncode == 2
    assert "is not empty" in again.stderr and "--force" in again.stderr
    assert sorted(p.name for p in work["dst"].iterdir()) == before

    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    forced = cli("restore", work["backup"], "--force", data_dir=target)
    assert forced.returncode == 0, forced.stderr
    aside = [p for p in target.iterdir() if p.name.startswith(".replaced-")]
    assert len(aside) == 1 and (aside[0] / "notes.txt").read_text() == "keep me"
    assert "moved to" in forced.stdout
    assert (target / "warehouse").is_dir() and (target / "meta.sqlite3").is_file()
    assert not [p for p in target.iterdir() if p.name.startswith(".restore-")]


def _refused(folder: Path, tmp_path: Path, needle: str) -> None:
    """Restoring ``folder`` is refused naming ``needle``, and the target data dir is never created."""
    target = tmp_path / "target"
    with pytest.raises(BackupRefused) as refused:
        restore_backup(folder, load_settings(data_dir=target))
    assert needle in str(refused.value)
    assert not target.exists()


def test_restore_refuses_a_changed_file_of_the_same_size(work: dict[str, Path], tmp_path: Path) -> None:
    copy = _copy(work, tmp_path)
    path = copy / "records" / "saved_views.jsonl"
    data = bytearray(path.read_bytes())
    data[5] ^= 1
    path.write_bytes(bytes(data))
    _refused(copy, tmp_path, "does not match its checksum")


def test_restore_refuses_a_truncated_file(work: dict[str, Path], tmp_path: Path) -> None:
    copy = _copy(work, tmp_path)
    path = copy / "warehouse" / "trades_1d.parquet"
    path.write_bytes(path.read_bytes()[:-100])
    _refused(copy, tmp_path, "truncated")


def test_restore_refuses_a_missing_file(work: dict[str, Path], tmp_path: Path) -> None:
    copy = _copy(work, tmp_path)
    (copy / "measurements" / "README").unlink()
    _refused(copy, tmp_path, "measurements/README is missing")


def test_restore_refuses_a_linked_file(work: dict[str, Path], tmp_path: Path) -> None:
    copy = _copy(work, tmp_path)
    path = copy / "measurements" / "README"
    outside = tmp_path / "outside"
    outside.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(outside)
    _refused(copy, tmp_path, "link")


def test_restore_refuses_a_backup_from_a_newer_schema(work: dict[str, Path], tmp_path: Path) -> None:
    copy = _copy(work, tmp_path)
    _edit_manifest(copy, lambda m: m["warehouse"].update(schema_version=999))
    _refused(copy, tmp_path, "newer than this Deskboard knows")
    copy2 = tmp_path / "copy2"
    shutil.copytree(work["backup"], copy2)
    _edit_manifest(copy2, lambda m: m["records"].update(revision="9999_future"))
    _refused(copy2, tmp_path, "newer than this Deskboard knows")
    copy3 = tmp_path / "copy3"
    shutil.copytree(work["backup"], copy3)
    _edit_manifest(copy3, lambda m: m.update(format_version=2))
    _refused(copy3, tmp_path, "newer Deskboard")


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "warehouse/../../x", "warehouse//x",
                                  "warehouse\\..\\x", "warehouse/x\x00y", "elsewhere/x", "warehouse"])
def test_restore_refuses_file_names_outside_the_backup(work: dict[str, Path], tmp_path: Path, name: str) -> None:
    copy = _copy(work, tmp_path)
    _edit_manifest(copy, lambda m: m["files"].update({name: {"bytes": 1, "sha256": "0" * 64}}))
    with pytest.raises(BackupRefused, match="the manifest names a file"):
        read_manifest(copy)


def test_restore_refuses_table_names_that_are_not_identifiers(work: dict[str, Path], tmp_path: Path) -> None:
    copy = _copy(work, tmp_path)

    def rename(m: dict) -> None:
        m["warehouse"]["tables"]["x`; DROP TABLE trades_1d; --"] = m["warehouse"]["tables"].pop("instruments")

    _edit_manifest(copy, rename)
    _refused(copy, tmp_path, "invalid warehouse table")


def test_restore_refuses_damaged_and_oversized_manifests(work: dict[str, Path], tmp_path: Path) -> None:
    copy = _copy(work, tmp_path)
    manifest = copy / MANIFEST_NAME
    manifest.write_text(manifest.read_text()[:200])
    _refused(copy, tmp_path, "not valid JSON")
    manifest.write_text("[1, 2, 3]")
    _refused(copy, tmp_path, "not a Deskboard backup manifest")
    manifest.write_text("[" * 200_000 + "]" * 200_000)
    _refused(copy, tmp_path, "nests deeper than any manifest")
    with open(manifest, "wb") as handle:  # a sparse file: large on paper, cheap on disk
        handle.truncate(MANIFEST_MAX_BYTES + 1)
    _refused(copy, tmp_path, "more than any Deskboard manifest")
    manifest.unlink()
    _refused(copy, tmp_path, "holds no manifest.json")
    _edit_rows = _copy(work, tmp_path / "rows")
    _edit_manifest(_edit_rows, lambda m: m["warehouse"]["tables"]["trades_1d"].update(rows=-1))
    _refused(_edit_rows, tmp_path, "not a valid manifest")


def test_restore_names_a_file_given_as_the_backup(tmp_path: Path) -> None:
    file = tmp_path / "backup.tar"
    file.write_text("not a folder")
    _refused(file, tmp_path, "is a file, not a backup folder")
    _refused(tmp_path / "nowhere", tmp_path, "does not exist")


def test_cli_refuses_a_tampered_backup_with_a_clear_message(work: dict[str, Path], tmp_path: Path) -> None:
    copy = _copy(work, tmp_path)
    path = copy / "warehouse" / "instruments.parquet"
    path.write_bytes(path.read_bytes()[:-1] + b"X")
    target = tmp_path / "target"
    done = cli("restore", copy, data_dir=target)
    assert done.returncode == 2
    assert done.stderr.startswith("error: the backup is damaged: warehouse/instruments.parquet")
    assert "Traceback" not in done.stderr
    assert not target.exists()
    assert cli("verify", copy).returncode == 2
    ok = cli("verify", work["backup"])
    assert ok.returncode == 0 and "is complete" in ok.stdout


def test_create_refuses_hostile_destinations(work: dict[str, Path], tmp_path: Path) -> None:
    file = tmp_path / "a-file"
    file.write_text("x")
    with pytest.raises(BackupRefused, match="is a file, not a folder"):
        prepare_destination(file)
    with pytest.raises(BackupRefused, match="is not empty"):
        prepare_destination(work["backup"])
    with pytest.raises(BackupRefused, match="does not exist: create it first"):
        prepare_destination(tmp_path / "missing" / "backup")
    with pytest.raises(BackupRefused, match="cannot write in /sys"):
        prepare_destination(Path("/sys/deskboard-backup"))
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]
    done = cli("create", file, data_dir=work["src"])
    assert done.returncode == 2 and "is a file, not a folder" in done.stderr
    inside = cli("create", work["src"] / "measurements" / "b", data_dir=work["src"])
    assert inside.returncode == 2 and "which the backup copies" in inside.stderr
    nothing = cli("create", tmp_path / "b", data_dir=tmp_path / "no-data")
    assert nothing.returncode == 2 and "there is nothing to back up" in nothing.stderr


def test_create_and_restore_say_so_when_the_app_holds_the_data_dir(work: dict[str, Path], tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, f"chdb://{work['dst']}/warehouse"], cwd=ROOT,
                              env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        made = cli("create", tmp_path / "b", data_dir=work["dst"])
        assert made.returncode == 3
        assert "in use by a running Deskboard" in made.stderr and "admin page" in made.stderr
        assert not (tmp_path / "b").exists() and not list(tmp_path.iterdir())
        forced = cli("restore", work["backup"], "--force", data_dir=work["dst"])
        assert forced.returncode == 3 and "stop the app" in forced.stderr
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)


def test_restore_into_a_file_data_dir_is_refused(work: dict[str, Path], tmp_path: Path) -> None:
    file = tmp_path / "data"
    file.write_text("x")
    done = cli("restore", work["backup"], "--force", data_dir=file)
    assert done.returncode == 2 and "not a folder" in done.stderr and "Traceback" not in done.stderr
    assert file.read_text() == "x" and sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_restore_refuses_a_parquet_file_whose_rows_differ_from_the_manifest(work: dict[str, Path],
                                                                           tmp_path: Path) -> None:
    copy = _copy(work, tmp_path)
    name = "warehouse/instruments.parquet"
    _replace_file(copy, name, (copy / name).read_bytes(), 1)
    target = tmp_path / "target"
    done = cli("restore", copy, data_dir=target)
    assert done.returncode == 2 and "different number of rows than the manifest says" in done.stderr
    assert not target.exists()
    # Forced over a data dir in use before: the failure leaves it exactly as it was.
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    forced = cli("restore", copy, "--force", data_dir=target)
    assert forced.returncode == 2 and "different number of rows" in forced.stderr
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


def test_restore_refuses_a_backup_inside_the_data_dir_it_would_replace(work: dict[str, Path]) -> None:
    with pytest.raises(BackupRefused, match="lies inside the data directory"):
        restore_backup(work["backup"], load_settings(data_dir=work["root"]), force=True)
    assert (work["backup"] / MANIFEST_NAME).is_file()


def test_a_backup_too_large_to_restore_is_refused_when_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.backup import BackupError, create_backup
    from backend.backup import create as create_module

    data_dir = tmp_path / "data"
    (data_dir / "measurements").mkdir(parents=True)
    for index in range(3):
        (data_dir / "measurements" / f"part-{index}.parquet").write_bytes(b"x")
    monkeypatch.setattr(create_module, "MAX_FILES", 2)
    with pytest.raises(BackupError, match="more than a restore accepts"):
        create_backup(tmp_path / "dest", data_dir=data_dir, warehouse=None, meta=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
