"""Versioned board state: one snapshot per tick, shared by every client.

The feed side publishes rows (one per symbol) once per tick. Each publish that
changes anything makes a new immutable snapshot with a new version; every row
remembers the version at which it last changed. A client that holds version
``v`` asks for the changes since ``v`` and receives only the rows whose version
is newer, so a hundred kiosk screens polling the same board cost about what one
does: they all sit at the same version and share one cached answer per tick.

A version the board cannot answer exactly (missing, malformed, from the future,
from before this process or older than the deletions it still remembers) gets
the full snapshot, flagged ``full`` so the client replaces what it holds.

Versions follow the wall clock in milliseconds (``max(previous + 1, now_ms)``),
so a version handed out by an earlier run of the server is older than anything
this run publishes and can never be mistaken for a recent one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

Row = dict[str, Any]

# How many removed symbols the board remembers; a client older than the oldest
# forgotten removal gets a full snapshot instead of a diff that would miss it.
DEFAULT_TOMBSTONES: Final[int] = 2_000
# Cached diffs per snapshot: clients poll at a few distinct versions at most.
_DIFF_CACHE_SIZE: Final[int] = 64


@dataclass(frozen=True)
class BoardChanges:
    """What a client at ``since`` needs to reach ``version``."""

    version: int
    full: bool
    rows: tuple[Row, ...]
    removed: tuple[str, ...]
    # Encodings of this answer made by its readers (e.g. JSON bytes per watchlist), shared
    # by every client at the same version so the work is done once per tick.
    memo: dict[object, object] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class BoardSnapshot:
    """One immutable state of the board. Everything a screen shows for one tick (grid rows,
    breadth, top movers) is computed from one snapshot, so the parts always agree."""

    version: int
    floor: int  # the oldest version a diff can be computed from exactly
    rows: Mapping[str, Row]
    row_versions: Mapping[str, int]
    tombstones: Mapping[str, int]  # symbol -> version at which it was removed
    diffs: dict[int | None, BoardChanges] = field(default_factory=dict, compare=False, repr=False)
    diffs_lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def row(self, symbol: str) -> Row | None:
        return self.rows.get(symbol)

    def ordered_rows(self, symbols: Collection[str] | None = None) -> list[Row]:
        """Rows in symbol order: all of them, or those of ``symbols`` the board has."""
        chosen = self.rows if symbols is None else [s for s in symbols if s in self.rows]
        return [self.rows[s] for s in sorted(chosen)]

    def changes_since(self, since: object) -> BoardChanges:
        """Rows changed after ``since``; the full board when ``since`` can't be answered exactly."""
        parsed = parse_version(since)
        key = parsed if parsed is not None and self.floor <= parsed <= self.version else None
        cached = self.diffs.get(key)
        if cached is not None:
            return cached
        if key is None:
            answer = BoardChanges(version=self.version, full=True, rows=tuple(self.ordered_rows()), removed=())
        else:
            changed = sorted(s for s, v in self.row_versions.items() if v > key)
            gone = sorted(s for s, v in self.tombstones.items() if v > key)
            answer = BoardChanges(
                version=self.version, full=False, rows=tuple(self.rows[s] for s in changed), removed=tuple(gone)
            )
        with self.diffs_lock:
            if len(self.diffs) < _DIFF_CACHE_SIZE:
                self.diffs[key] = answer
        return answer


def parse_version(raw: object) -> int | None:
    """A client's version as an int, or None when it is missing or malformed."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if raw >= 0 else None
    if isinstance(raw, str) and 0 < len(raw) <= 20 and raw.isascii() and raw.isdigit():
        return int(raw)
    return None


class BoardState:
    """The in-process board. One writer (the feed thread) and any number of readers."""

    def __init__(
        self,
        *,
        fields: Collection[str] | None = None,
        max_tombstones: int = DEFAULT_TOMBSTONES,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        """``fields``: the row keys the board accepts (any when None); new rows start with all of them."""
        if max_tombstones < 1:
            raise ValueError(f"max_tombstones must be at least 1, got {max_tombstones!r}")
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._max_tombstones = max_tombstones
        self.fields: tuple[str, ...] | None = tuple(fields) if fields is not None else None
        self._field_set = frozenset(self.fields or ())
        self._write_lock = threading.Lock()
        start = self._clock_ms()
        self._snap = BoardSnapshot(version=start, floor=start, rows={}, row_versions={}, tombstones={})

    # -- reading -----------------------------------------------------------------
    @property
    def version(self) -> int:
        return self._snap.version

    def snapshot(self) -> BoardSnapshot:
        """The current snapshot: read it once and compute everything of one answer from it."""
        return self._snap

    def rows(self) -> list[Row]:
        """Every row of the current snapshot, in symbol order."""
        return self._snap.ordered_rows()

    def row(self, symbol: str) -> Row | None:
        return self._snap.rows.get(symbol)

    def changes_since(self, since: object) -> BoardChanges:
        """Rows changed after ``since``; the full board when ``since`` can't be answered exactly."""
        return self._snap.changes_since(since)

    # -- writing -----------------------------------------------------------------
    def publish(self, rows: Iterable[Mapping[str, Any]], *, complete: bool = False) -> int:
        """Apply one tick of rows; return the board version after it.

        Rows are merged by symbol (fields not given keep their value). With
        ``complete=True`` the rows are the whole board and other symbols are
        removed. The version moves only when something actually changed.
        """
        incoming: dict[str, Row] = {}
        for row in rows:
            symbol = row.get("symbol")
            if not isinstance(symbol, str) or not symbol:
                raise ValueError(f"every board row needs a symbol, got {symbol!r}")
            unknown = set(row) - self._field_set if self.fields is not None else ()
            if unknown:
                raise ValueError(f"unknown board fields for {symbol}: {', '.join(sorted(unknown))}")
            incoming.setdefault(symbol, {}).update(row)
        with self._write_lock:
            return self._apply(incoming, complete)

    def _apply(self, incoming: dict[str, Row], complete: bool) -> int:
        old = self._snap
        changed: dict[str, Row] = {}
        for symbol, fields in incoming.items():
            current = old.rows.get(symbol)
            if current is not None:
                merged = {**current, **fields}
            else:
                merged = dict.fromkeys(self.fields or (), None) | fields
            if merged != current:
                changed[symbol] = merged
        removed = [s for s in old.rows if s not in incoming] if complete else []
        if not changed and not removed:
            return old.version
        version = max(old.version + 1, self._clock_ms())
        rows = dict(old.rows)
        rows.update(changed)
        row_versions = dict(old.row_versions)
        row_versions.update(dict.fromkeys(changed, version))
        tombstones = {s: v for s, v in old.tombstones.items() if s not in changed}
        for symbol in removed:
            del rows[symbol]
            del row_versions[symbol]
            tombstones[symbol] = version
        floor = old.floor
        if len(tombstones) > self._max_tombstones:
            # Forget the oldest removals; diffs from before them would be incomplete.
            ordered = sorted(tombstones.items(), key=lambda item: item[1])
            dropped = ordered[: len(tombstones) - self._max_tombstones]
            floor = max(floor, max(v for _, v in dropped))
            tombstones = dict(ordered[len(dropped):])
        self._snap = BoardSnapshot(
            version=version, floor=floor, rows=rows, row_versions=row_versions, tombstones=tombstones
        )
        return version
