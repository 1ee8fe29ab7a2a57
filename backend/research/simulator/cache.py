"""numba, with its compiled-code cache in the data folder.

The simulator's kernel is compiled at its first call (about a second) and the machine code
is cached on disk, so later processes start at once. The cache lives beside the app's other
data (``DESKBOARD_DATA_DIR``, ``./data`` by default) rather than beside the source, which may be
read-only in an image. numba hangs on import when its cache folder cannot be written, so an
unwritable folder falls back to one in the system's temporary folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_dir() -> Path:
    wanted = Path(os.environ.get("DESKBOARD_DATA_DIR", "./data")).resolve() / "numba-cache"
    for folder in (wanted, Path(tempfile.gettempdir()) / f"deskboard-numba-cache-{os.getuid()}"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
            return folder
        except OSError:
            continue
    raise RuntimeError(f"no writable folder for numba's cache (tried {wanted})")


if not os.environ.get("NUMBA_CACHE_DIR"):
    os.environ["NUMBA_CACHE_DIR"] = str(cache_dir())

import numba  # after its cache folder is chosen: numba reads it at import

numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]  # taken even when numba was imported before

__all__ = ["cache_dir", "numba"]
