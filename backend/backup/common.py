"""Errors, content hashes and file helpers shared by every part of a backup."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final

from backend.warehouse.client import folder_locked

# Identifiers read from a store or a manifest go into SQL only after this check
# (and after being found in the schema the code itself creates).
IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_HASH_MODULUS: Final = 1 << 256
_CHUNK: Final = 1 << 20


class BackupError(RuntimeError):
    """A backup or restore that failed; the message says why and what to do."""


class BackupRefused(BackupError):
    """Refused before anything was changed: a bad folder, a damaged backup, a non-empty target."""


class StoreInUseError(BackupError):
    """A store is held by a running Deskboard process (the embedded warehouse's folder lock)."""


Progress = Callable[[float, str], None]


def no_progress(_fraction: float, _message: str) -> None:
    """The progress callback of a caller that does not watch."""


def check_identifier(name: object, what: str) -> str:
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise BackupRefused(f"the backup names an invalid {what}: {str(name)[:80]!r}")
    return name


def quote(name: str) -> str:
    """A checked identifier in backquotes (ClickHouse)."""
    return f"`{check_identifier(name, 'identifier')}`"


class RowSetHash:
    """An order-independent hash of a multiset of rows: the sum of each row's SHA-256 modulo 2**256.

    A sum (not an XOR) so that a row present twice is not cancelled out; any order of
    reading gives the same value, so a store can be re-read in whatever order it returns.
    """

    def __init__(self) -> None:
        self.rows = 0
        self._total = 0

    def add(self, encoded_row: bytes) -> None:
        digest = hashlib.sha256(encoded_row).digest()
        self._total = (self._total + int.from_bytes(digest, "big")) % _HASH_MODULUS
        self.rows += 1

    def hexdigest(self) -> str:
        return f"{self._total:064x}"


def canonical_row(values: Iterable[Any]) -> bytes:
    """One row as compact JSON (the form that is both stored and hashed).

    Keys of JSON objects are sorted so that a record reads back to the same bytes
    whichever database stored it.
    """
    return json.dumps(
        list(values), separators=(",", ":"), ensure_ascii=False, allow_nan=True, sort_keys=True
    ).encode()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": file_sha256(path)}


def copy_file(src: Path, dst: Path) -> dict[str, Any]:
    """Copy ``src`` to ``dst`` and return the size and SHA-256 of what was copied (read once)."""
    digest = hashlib.sha256()
    size = 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as reader, open(dst, "wb") as writer:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            writer.write(chunk)
            size += len(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    return {"bytes": size, "sha256": digest.hexdigest()}


def is_within(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (both already resolved)."""
    return path == folder or folder in path.parents


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def warehouse_folder_locked(folder: Path) -> bool:
    """Whether a running process holds the embedded warehouse at ``folder`` (chDB's lock on ``status``)."""
    return folder_locked(folder)

