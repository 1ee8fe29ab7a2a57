"""What the saved-views panel does for each button: ``SavedViewsPanel``, handed to the panel.

The panel keeps the list it shows (id, name, version, link) in the browser; a
rename or delete sends back the version it showed, so a change made meanwhile
in another tab is refused as a conflict instead of being overwritten. Every
action answers with the new list and one line for the user; errors never
escape as exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from backend.meta.views import LOCAL_OWNER, SavedViewError, SavedViews, View

ListedView = dict[str, Any]  # {"id", "name", "version", "href"}


@dataclass(frozen=True)
class PanelState:
    views: list[ListedView] = field(default_factory=list)
    selected: int | None = None
    message: str = ""
    ok: bool = True

    @property
    def options(self) -> list[dict[str, str]]:
        return [{"value": str(v["id"]), "label": v["name"]} for v in self.views]

    @property
    def placeholder(self) -> str:
        count = len(self.views)
        if count == 0:
            return "No saved views yet"
        return f"Choose a saved view ({count})"

    @property
    def selected_value(self) -> str | None:
        return None if self.selected is None else str(self.selected)


def _listed(view: View) -> ListedView:
    return {"id": view.id, "name": view.name, "version": view.version, "href": view.href}


def parse_selected(value: object) -> int | None:
    """The id behind a select value ("12"), or None for anything else."""
    if isinstance(value, str) and value.isdigit() and len(value) <= 10:
        return int(value)
    return None


def find(views: Sequence[ListedView] | None, view_id: int | None) -> ListedView | None:
    for view in views or []:
        if isinstance(view, dict) and view.get("id") == view_id:
            return view
    return None


def absolute_link(current_href: str | None, view_href: str) -> str:
    """The view's link on the site the user is on, e.g. https://desk.example/pivot?…"""
    if not current_href or not urlsplit(current_href).scheme.startswith("http"):
        return view_href
    return urljoin(current_href, view_href)


class SavedViewsPanel:
    """One user's saved views as the panel's buttons see them.

    Built per request by whoever hands the panel its service: it bundles the
    records-store service and the owner, so the UI holds neither a store nor a user.
    """

    # The panel's pure helpers, reachable from the object it is handed.
    parse_selected = staticmethod(parse_selected)
    find = staticmethod(find)
    absolute_link = staticmethod(absolute_link)

    def __init__(self, service: SavedViews, owner: str = LOCAL_OWNER) -> None:
        self.service = service
        # The page hands the request's user (the records store's local user when sign-in is off).
        self.owner = owner

    def load(self, page: str, selected: int | None = None, message: str = "", ok: bool = True) -> PanelState:
        try:
            views = [_listed(v) for v in self.service.list(self.owner, page)]
        except SavedViewError as exc:
            return PanelState(message=str(exc), ok=False)
        keep = selected if find(views, selected) else None
        return PanelState(views=views, selected=keep, message=message, ok=ok)

    def _attempt(self, page: str, selected: int | None, action: Callable[[], View | None],
                 done: Callable[[View | None], str]) -> PanelState:
        try:
            result = action()
        except SavedViewError as exc:
            return self.load(page, selected, message=str(exc), ok=False)
        new_selected = result.id if result is not None else None
        return self.load(page, new_selected, message=done(result))

    def save(self, page: str, name: object, search: str | None) -> PanelState:
        return self._attempt(
            page, None,
            lambda: self.service.create_from_search(self.owner, name, page, search),  # type: ignore[arg-type]
            lambda v: f"Saved “{v.name}”." if v else "",
        )

    def rename(self, page: str, views: Sequence[ListedView] | None, selected: int | None,
               name: object) -> PanelState:
        shown = find(views, selected)
        if shown is None:
            return self.load(page, message="Choose a saved view to rename.", ok=False)
        return self._attempt(
            page, selected,
            lambda: self.service.rename(self.owner, shown["id"], name, shown["version"]),  # type: ignore[arg-type]
            lambda v: f"Renamed to “{v.name}”." if v else "",
        )

    def delete(self, page: str, views: Sequence[ListedView] | None, selected: int | None) -> PanelState:
        shown = find(views, selected)
        if shown is None:
            return self.load(page, message="Choose a saved view to delete.", ok=False)

        def remove() -> None:
            self.service.delete(self.owner, shown["id"], shown["version"])

        return self._attempt(page, selected, remove, lambda _: f"Deleted “{shown['name']}”.")

    def open_href(self, selected: int | None) -> tuple[str | None, str]:
        """Where to navigate for the chosen view (read fresh), or None and why not."""
        if selected is None:
            return None, "Choose a saved view to open."
        try:
            return self.service.get(self.owner, selected).href, ""
        except SavedViewError as exc:
            return None, str(exc)
