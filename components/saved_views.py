"""Saved views for the page it sits on: name, save, open, rename, delete, copy link.

A page embeds it with one call in its layout::

    from components.saved_views import saved_views

    layout = dmc.Stack([saved_views("pivot"), ...])

``aio_id`` names this instance (its IDs are dict IDs keyed by it, so each page
can carry one). The panel reads the page's URL from the shell's ``dcc.Location``
(id ``"url"``): "Save" stores the current path and query string under a name,
"Open" navigates by setting that Location's ``href``. The views belong to the
signed-in user ("local" until sign-in exists) and live in the records store.

The panel never opens a store itself, nor decides whose views it shows: whoever
builds the app (or the page that embeds it) hands it once a function returning
the panel service (``backend.meta.view_panel.SavedViewsPanel``: the saved views
of the user of the request being served)::

    from components import saved_views
    saved_views.use_service(lambda: SavedViewsPanel(SavedViews(current_stores().meta), current_principal().id))

Its callbacks are process-wide Dash hooks, so the function is too; it must read
the request's own stores (``current_stores()`` does), never hold a user's state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import dash_mantine_components as dmc
from dash import MATCH, Input, Output, State, ctx, dcc, hooks, html, no_update, set_props

from backend.access.current import current_principal
from backend.access.permissions import VIEWS_SAVE

URL = "url"  # the shell's dcc.Location
LOADING = "Loading saved views…"


class ids:
    @staticmethod
    def _id(part: str, aio_id: str | Any) -> dict[str, Any]:
        return {"component": "saved-views", "part": part, "aio_id": aio_id}

    select = staticmethod(lambda aio_id: ids._id("select", aio_id))
    open = staticmethod(lambda aio_id: ids._id("open", aio_id))
    name = staticmethod(lambda aio_id: ids._id("name", aio_id))
    save = staticmethod(lambda aio_id: ids._id("save", aio_id))
    rename = staticmethod(lambda aio_id: ids._id("rename", aio_id))
    delete = staticmethod(lambda aio_id: ids._id("delete", aio_id))
    link = staticmethod(lambda aio_id: ids._id("link", aio_id))
    copy = staticmethod(lambda aio_id: ids._id("copy", aio_id))
    message = staticmethod(lambda aio_id: ids._id("message", aio_id))
    confirm = staticmethod(lambda aio_id: ids._id("confirm", aio_id))
    confirm_text = staticmethod(lambda aio_id: ids._id("confirm-text", aio_id))
    confirm_yes = staticmethod(lambda aio_id: ids._id("confirm-yes", aio_id))
    confirm_no = staticmethod(lambda aio_id: ids._id("confirm-no", aio_id))
    views = staticmethod(lambda aio_id: ids._id("views", aio_id))
    here = staticmethod(lambda aio_id: ids._id("here", aio_id))


def saved_views(aio_id: str) -> html.Div:
    """The panel; ``aio_id`` must be unique on the page. Nothing for a principal who may not save
    views (``views.save``, checked per request): no panel, so none of its callbacks is asked."""
    if not current_principal().can(VIEWS_SAVE):
        return html.Div(className="saved-views-none")
    return html.Div(
        className="saved-views db-kiosk-hide",
        children=[
            dmc.Group(
                gap="xs",
                align="center",
                children=[
                    dmc.Select(id=ids.select(aio_id), data=[], placeholder=LOADING, searchable=True,
                               clearable=True, size="xs", w=220, nothingFoundMessage="No saved views",
                               **{"aria-label": "Saved views"}),
                    dmc.Button("Open", id=ids.open(aio_id), size="xs", variant="light"),
                    dmc.TextInput(id=ids.name(aio_id), placeholder="View name", size="xs", w=200, inputProps={"maxLength": 120},
                                  **{"aria-label": "View name"}),
                    dmc.Button("Save", id=ids.save(aio_id), size="xs"),
                    dmc.Button("Rename", id=ids.rename(aio_id), size="xs", variant="default"),
                    dmc.Button("Delete", id=ids.delete(aio_id), size="xs", variant="subtle", color="red"),
                    dcc.Input(id=ids.link(aio_id), type="text", readOnly=True, value="", placeholder="Link",
                              className="saved-views-link", style={"width": 260, "fontSize": 12}),
                    dcc.Clipboard(id=ids.copy(aio_id), target_id=ids.link(aio_id), title="Copy link",
                                  style={"cursor": "pointer", "display": "inline-block"}),
                ],
            ),
            dmc.Text(id=ids.message(aio_id), size="xs", mt=4, c="teal", **{"aria-live": "polite"}),
            dmc.Modal(
                id=ids.confirm(aio_id),
                title="Delete saved view",
                opened=False,
                children=[
                    dmc.Text(id=ids.confirm_text(aio_id), size="sm"),
                    dmc.Group(
                        justify="flex-end", mt="md",
                        children=[
                            dmc.Button("Cancel", id=ids.confirm_no(aio_id), variant="default", size="xs"),
                            dmc.Button("Delete", id=ids.confirm_yes(aio_id), color="red", size="xs"),
                        ],
                    ),
                ],
            ),
            dcc.Store(id=ids.views(aio_id), data=[]),
            dcc.Store(id=ids.here(aio_id)),
        ],
    )


class PanelService(Protocol):
    """What the panel is handed: one user's saved views, answering each button with a state.

    A state has ``views``, ``options``, ``selected_value``, ``placeholder``, ``message`` and ``ok``.
    """

    def parse_selected(self, value: object) -> int | None: ...
    def find(self, views: Sequence[dict[str, Any]] | None, view_id: int | None) -> dict[str, Any] | None: ...
    def absolute_link(self, current_href: str | None, view_href: str) -> str: ...
    def load(self, page: str, selected: int | None = None) -> Any: ...
    def save(self, page: str, name: object, search: str | None) -> Any: ...
    def rename(self, page: str, views: Any, selected: int | None, name: object) -> Any: ...
    def delete(self, page: str, views: Any, selected: int | None) -> Any: ...
    def open_href(self, selected: int | None) -> tuple[str | None, str]: ...


ServiceSource = Callable[[], PanelService]
_source: list[ServiceSource] = []  # the one function handed in (a list: set once, read by every request)
UNAVAILABLE = "Saved views are not available on this server."


def use_service(source: ServiceSource) -> None:
    """Hand the panel its service: ``source()`` gives the saved views of the current request's user."""
    _source[:] = [source]


def _service() -> PanelService | None:
    return _source[0]() if _source else None


def _shown(views: Any, selected: Any) -> tuple[PanelService | None, dict[str, Any] | None]:
    # Without a service the panel lists nothing, so nothing can be chosen either.
    service = _service()
    if service is None:
        return None, None
    return service, service.find(views, service.parse_selected(selected))


# Pages may rewrite their query string with history.pushState as the view changes
# (the pivot does), which dcc.Location does not see: "Save" reads the address the
# browser shows at the moment of the click.
hooks.clientside_callback(
    """function (n) {
        if (!n) { return window.dash_clientside.no_update; }
        return {pathname: window.location.pathname, search: window.location.search, n: n};
    }""",
    Output(ids.here(MATCH), "data"),
    Input(ids.save(MATCH), "n_clicks"),
    prevent_initial_call=True,
)


# Named outputs: the callback returns a dict by these names (in the order of the old positional
# outputs, so the callback keeps its id).
ACT_OUT = {
    "views": Output(ids.views(MATCH), "data"), "options": Output(ids.select(MATCH), "data"),
    "selected": Output(ids.select(MATCH), "value"), "placeholder": Output(ids.select(MATCH), "placeholder"),
    "message": Output(ids.message(MATCH), "children"), "message_color": Output(ids.message(MATCH), "c"),
    "confirm_opened": Output(ids.confirm(MATCH), "opened"),
}


# Registered as hooks so that every app built in this process gets them (a
# module's plain @callback is consumed by the first app that serves a request).
@hooks.callback(
    output=ACT_OUT,
    inputs=[
        Input(ids.here(MATCH), "data"),
        Input(ids.rename(MATCH), "n_clicks"),
        Input(ids.confirm_yes(MATCH), "n_clicks"),
        State(ids.name(MATCH), "value"),
        State(ids.select(MATCH), "value"),
        State(ids.views(MATCH), "data"),
        State(URL, "pathname"),
    ],
)
def _act(here, _rename, _delete, name, selected, views, pathname) -> dict[str, Any]:
    service, page = _service(), pathname or "/"
    if service is None:
        return {"views": [], "options": [], "selected": None, "placeholder": UNAVAILABLE, "message": UNAVAILABLE,
                "message_color": "red", "confirm_opened": False}
    part = ctx.triggered_id["part"] if isinstance(ctx.triggered_id, dict) else None
    chosen = service.parse_selected(selected)
    if part == "here" and isinstance(here, dict):
        state = service.save(page, name, str(here.get("search") or ""))
    elif part == "rename":
        state = service.rename(page, views, chosen, name)
    elif part == "confirm-yes":
        state = service.delete(page, views, chosen)
    else:
        state = service.load(page, chosen)
    return {"views": state.views, "options": state.options, "selected": state.selected_value,
            "placeholder": state.placeholder, "message": state.message,
            "message_color": "teal" if state.ok else "red", "confirm_opened": False}


@hooks.callback(
    Output(ids.name(MATCH), "value"),
    Output(ids.link(MATCH), "value"),
    Input(ids.select(MATCH), "value"),
    State(ids.views(MATCH), "data"),
    State(URL, "href"),
    prevent_initial_call=True,
)
def _show_selected(selected, views, href):
    service, view = _shown(views, selected)
    if service is None or view is None:
        return no_update, ""
    return view["name"], service.absolute_link(href, view["href"])


@hooks.callback(
    Output(ids.message(MATCH), "children", allow_duplicate=True),
    Output(ids.message(MATCH), "c", allow_duplicate=True),
    Input(ids.open(MATCH), "n_clicks"),
    State(ids.select(MATCH), "value"),
    prevent_initial_call=True,
)
def _open(_clicks, selected):
    service = _service()
    if service is None:
        return UNAVAILABLE, "red"
    href, problem = service.open_href(service.parse_selected(selected))
    if href is None:
        return problem, "red"
    set_props(URL, {"href": href})
    return "", "teal"


@hooks.callback(
    Output(ids.confirm(MATCH), "opened", allow_duplicate=True),
    Output(ids.confirm_text(MATCH), "children"),
    Output(ids.message(MATCH), "children", allow_duplicate=True),
    Output(ids.message(MATCH), "c", allow_duplicate=True),
    Input(ids.delete(MATCH), "n_clicks"),
    Input(ids.confirm_no(MATCH), "n_clicks"),
    State(ids.select(MATCH), "value"),
    State(ids.views(MATCH), "data"),
    prevent_initial_call=True,
)
def _confirm_delete(_ask, _cancel, selected, views):
    if isinstance(ctx.triggered_id, dict) and ctx.triggered_id["part"] == "confirm-no":
        return False, no_update, no_update, no_update
    _, view = _shown(views, selected)
    if view is None:
        return False, no_update, "Choose a saved view to delete.", "red"
    return True, f"Delete “{view['name']}”? This cannot be undone.", "", "teal"
