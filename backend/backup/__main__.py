"""Backup CLI.

    python -m backend.backup create DIR            back up the data directory's stores into DIR (app stopped)
    python -m backend.backup restore DIR [--force] restore DIR into the (empty) data directory (app stopped)
    python -m backend.backup verify DIR            check DIR's manifest and every file's checksum

The data directory and the stores are the app's own settings (``DESKBOARD_*``);
``--data-dir`` overrides the data directory. While the app runs, back up from its
admin page instead (the running app holds the embedded warehouse).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from backend.backup.common import BackupError, BackupRefused, StoreInUseError
from backend.config import Settings, SettingsError, load_settings

EXIT_FAILED = 1
EXIT_REFUSED = 2
EXIT_IN_USE = 3


class _Printer:
    """Progress on stderr, at most a line a second (and every change of step)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self._last = 0.0

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if self.quiet or (now - self._last < 1.0 and fraction < 1.0):
            return
        self._last = now
        print(f"[{fraction * 100:5.1f}%] {message}", file=sys.stderr, flush=True)


def _settings(data_dir: Path | None) -> Settings:
    return load_settings(data_dir=data_dir) if data_dir is not None else load_settings()


def _create(args: argparse.Namespace) -> int:
    from backend.backup.offline import offline_backup

    settings = _settings(args.data_dir)
    manifest = offline_backup(args.folder, settings, progress=_Printer(args.quiet))
    tables = manifest.warehouse.tables
    rows = sum(t.rows for t in tables.values())
    records = sum(t.rows for t in manifest.records.tables.values()) if manifest.records else 0
    size = sum(f.bytes for f in manifest.files.values())
    print(f"backup written to {args.folder.resolve()}: {len(tables)} warehouse tables ({rows:,} rows), "
          f"{records:,} records, {manifest.measurements.files} measurement files, {len(manifest.files)} files, "
          f"{size / 1e6:,.1f} MB")
    if manifest.measurements.note:
        print(f"note: measurements: {manifest.measurements.note}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from backend.backup.restore import restore_backup

    settings = _settings(args.data_dir)
    report = restore_backup(args.folder, settings, force=args.force, progress=_Printer(args.quiet))
    rows = sum(report.warehouse_rows.values())
    records = sum(report.records_rows.values())
    print(f"restored into {report.data_dir}: {rows:,} warehouse rows in {len(report.warehouse_rows)} tables, "
          f"{records:,} records, {report.files} files")
    for note in report.notes:
        print(f"note: {note}")
    if report.replaced is not None:
        print(f"the previous contents were moved to {report.replaced}; delete it once you no longer need it")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from backend.backup.manifest import verify_files
    from backend.backup.restore import open_backup

    manifest = open_backup(args.folder)
    verify_files(args.folder, manifest, _Printer(args.quiet))
    print(f"backup {args.folder} is complete: {len(manifest.files)} files match their checksums "
          f"(made {manifest.created_at.isoformat()}, warehouse schema {manifest.warehouse.schema_version}, "
          f"records schema {manifest.records.revision if manifest.records else 'none'})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.backup", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("create", "back up the stores into a new or empty folder"),
                       ("restore", "restore a backup into an empty data directory"),
                       ("verify", "check a backup's manifest and checksums")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("folder", type=Path)
        cmd.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
        if name != "verify":
            cmd.add_argument("--data-dir", type=Path, default=None, help="the data directory (default: settings)")
        if name == "restore":
            cmd.add_argument("--force", action="store_true",
                             help="restore over a non-empty data directory (its contents are moved aside)")
    args = parser.parse_args(argv)
    try:
        return {"create": _create, "restore": _restore, "verify": _verify}[args.command](args)
    except StoreInUseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_IN_USE
    except (BackupRefused, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:  # a disk that filled up or went away mid-way; nothing partial is left
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {(exc.strerror or str(exc)).lower()}{where}; the partial work was removed", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
