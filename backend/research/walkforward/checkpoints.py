"""Finished folds kept on disk while a run goes on, so an interrupted run (a cancelled job, a worker
that died) is taken up from its last finished fold instead of from the start.

Each fold is four files in one folder: ``fold-0003.rows.parquet`` (its predictions),
``fold-0003.curve.parquet`` (its test bars' chained equity), ``fold-0003.trades.parquet`` and
``fold-0003.json`` (its record, the capital after it and the run's key). Every file is written
to a temporary name and renamed into place, and the JSON comes last: a fold whose JSON is there is
whole, whatever moment the process died at.

The key is a digest of the request, the bars and feature columns read, and the code: folds are
taken up only by a run of the same key, which (fits being seeded) makes the same predictions.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import Any, Final

import orjson
import pandas as pd

from backend.research.walkforward.engine import FoldOutcome
from backend.research.walkforward.requests import RunError, WalkForwardRequest

PARTS: Final = ("rows", "curve", "trades")
_JSON = re.compile(r"^fold-([0-9]{4,6})\.json$")


def run_key(request: WalkForwardRequest, data_hash: str, code_version: str) -> str:
    body = orjson.dumps(request.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(b"\0".join([body, data_hash.encode(), code_version.encode()])).hexdigest()


def _stem(index: int) -> str:
    return f"fold-{index:04d}"


def _write(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    with partial.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def _parquet(frame: pd.DataFrame) -> bytes:
    import io

    sink = io.BytesIO()
    frame.to_parquet(sink, index=False)
    return sink.getvalue()


class Checkpoints:
    """The finished folds of one run (``key``) in ``folder``."""

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.key = key

    def save(self, outcome: FoldOutcome) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = _stem(outcome.index)
        for part in PARTS:
            _write(self.folder / f"{stem}.{part}.parquet", _parquet(getattr(outcome, part)))
        meta = {"key": self.key, "index": outcome.index, "capital": outcome.capital, "record": outcome.record}
        _write(self.folder / f"{stem}.json", orjson.dumps(meta, option=orjson.OPT_SERIALIZE_NUMPY))

    def load(self) -> list[FoldOutcome]:
        """The whole folds from the first on, in order (stopping at the first missing one); a
        ``RunError`` when they were made by a run of another key."""
        if not self.folder.is_dir():
            return []
        found = sorted(int(m.group(1)) for p in self.folder.iterdir() if (m := _JSON.match(p.name)))
        outcomes: list[FoldOutcome] = []
        for expected, index in enumerate(found):
            if index != expected:
                break
            outcome = self._read(index)
            if outcome is None:
                break
            outcomes.append(outcome)
        return outcomes

    def _read(self, index: int) -> FoldOutcome | None:
        stem = _stem(index)
        try:
            meta: dict[str, Any] = orjson.loads((self.folder / f"{stem}.json").read_bytes())
            parts = {part: pd.read_parquet(self.folder / f"{stem}.{part}.parquet") for part in PARTS}
        except (OSError, ValueError):
            return None  # a fold that cannot be read is fitted again
        if meta.get("key") != self.key:
            raise RunError("resume_from: that job ran another request (or on other bars, or other code): "
                           "its folds cannot be taken up")
        return FoldOutcome(index, parts["rows"], parts["curve"], parts["trades"], meta["record"],
                           float(meta["capital"]))

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


__all__ = ["Checkpoints", "run_key"]
