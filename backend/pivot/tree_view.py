"""Which rows of a pivot tree show, and which groups are open.

The pivot answer is a display-order tree (``backend.pivot.result.tree_rows``);
the page shows the part of it that the expansion opens. The same rule runs in
the browser (assets/pivot_grid.js) so a click on a chevron needs no round trip,
and here, so the first render of a link already shows the rows it opens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from backend.pivot.catalog import MAX_DIMENSIONS

MAX_EXPANDED_IDS: Final = 500


class Expansion(BaseModel):
    """Which group rows are open: all groups above ``depth``, plus ``open``, minus ``closed``.

    Expand-all and collapse-all only change ``depth``; a click on one group adds
    its id to ``open`` or ``closed``, so the URL stays short either way.
    """

    model_config = ConfigDict(frozen=True)

    depth: int = 0
    open: tuple[str, ...] = ()
    closed: tuple[str, ...] = ()

    def is_open(self, group_id: str, level: int) -> bool:
        if group_id in self.closed:
            return False
        return level < self.depth or group_id in self.open

    def toggle(self, group_id: str, level: int) -> Expansion:
        opened = self.is_open(group_id, level)
        open_ids = tuple(i for i in self.open if i != group_id)
        closed_ids = tuple(i for i in self.closed if i != group_id)
        if opened and level < self.depth:
            closed_ids = (*closed_ids, group_id)
        elif not opened and level >= self.depth:
            open_ids = (*open_ids, group_id)
        return Expansion(depth=self.depth, open=open_ids[-MAX_EXPANDED_IDS:], closed=closed_ids[-MAX_EXPANDED_IDS:])

    @classmethod
    def all_open(cls, levels: int) -> Expansion:
        return cls(depth=max(0, min(levels, MAX_DIMENSIONS)))


def _depth(row: Mapping[str, Any]) -> int:
    """How many groups sit above a row (0 for a top-level row)."""
    path = row.get("_path")
    return len(path) - 1 if isinstance(path, list) and path else int(row.get("_level", 1)) - 1


def visible_rows(tree: Sequence[Mapping[str, Any]], expansion: Expansion) -> list[Mapping[str, Any]]:
    """The rows of a display-order tree that show under ``expansion``.

    A row shows when every group above it is open. Rows come in display order
    with ``_path`` (values from the top) and ``_kind``; only ``group`` rows have
    children.
    """
    shown: list[Mapping[str, Any]] = []
    # closed_at: the depth of the collapsed group whose subtree is being skipped, if any.
    closed_at: int | None = None
    for row in tree:
        depth = _depth(row)
        if closed_at is not None and depth <= closed_at:
            closed_at = None
        if closed_at is not None:
            continue
        shown.append(row)
        if row.get("_kind") == "group" and not expansion.is_open(str(row.get("_id")), depth):
            closed_at = depth
    return shown


def grid_rows(tree: Sequence[Mapping[str, Any]], expansion: Expansion) -> list[dict[str, Any]]:
    """``visible_rows`` as the grid draws them: each row a copy, groups marked ``_open``.

    The browser's ``pivot.visibleRows`` builds the same list, so a first render
    from the server and a later one in the browser are identical.
    """
    out: list[dict[str, Any]] = []
    for row in visible_rows(tree, expansion):
        group = row.get("_kind") == "group"
        out.append({**row, "_open": group and expansion.is_open(str(row.get("_id")), _depth(row))})
    return out


def group_levels(tree: Iterable[Mapping[str, Any]]) -> int:
    """How many levels of the tree hold group rows (the depth expand-all opens)."""
    return max((_depth(r) + 1 for r in tree if r.get("_kind") == "group"), default=0)
