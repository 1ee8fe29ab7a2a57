"""/settings: the signed-in user's own defaults and personal API tokens.

Defaults (theme, number format, time zone, default pivot view and watchlist) are saved at the
version read: a save from a tab that is out of date is refused and the form shows the settings
as they are now. They are defaults only; what a URL carries wins, so shared links look the same
to everyone.

API tokens are for scripts and streams: a new token is shown once, in a field to copy, and only
its hash is kept. Revoking one asks first. With sign-in off every request is the local user, so
the token section is replaced by a sentence saying tokens are not needed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import dash
import dash_ag_grid as dag
import dash_mantine_components as dmc
from dash import Input, Output, State, callback, dcc, html, no_update
from dash.exceptions import PreventUpdate

from backend.access.current import current_principal
from backend.access.install import current_access
from backend.access.tokens import EXPIRES_DAYS_MAX, TokenError, TokenInfo
from backend.access.user_settings import (
    DECIMALS_MAX,
    THEMES,
    SettingsError,
    StaleSettingsError,
    UserPrefs,
    UserSettingsService,
    time_zones,
)
from backend.market.watchlists import UserData
from backend.meta.models import utc_now
from backend.meta.views import SavedViews
from backend.stores import current_stores
from components.admin_nav import error_text, notice

dash.register_page(__name__, path="/settings", title="Settings", name="Settings", nav=False)

# The form's names for the separators (a Select cannot tell "" from nothing chosen).
SEPARATOR_CHOICES: Final = {"comma": ",", "dot": ".", "space": " ", "apostrophe": "'", "none": ""}
SEPARATOR_LABELS: Final = {"comma": "1,234,567", "dot": "1.234.567", "space": "1 234 567", "apostrophe": "1'234'567",
                           "none": "1234567"}
PREVIEW_VALUE: Final = -1234567.891
FIELD_LABELS: Final = {"Thousands": "Thousands separator", "Time_zone": "Time zone", "Pivot_view": "Default pivot view",
                       "Watchlist": "Default watchlist", "Expires_days": "Expires after (days)", "Id": "Token"}
AUTH_OFF_TOKENS: Final = ("Sign-in is off on this server: every request is the local user, so API tokens are "
                          "not needed — scripts call the API without one.")


class ids:
    NOTICES = "settings-notices"
    VERSION = "settings-version"
    THEME = "settings-theme"
    THOUSANDS = "settings-thousands"
    DECIMALS = "settings-decimals"
    TIME_ZONE = "settings-time-zone"
    PIVOT_VIEW = "settings-pivot-view"
    WATCHLIST = "settings-watchlist"
    PREVIEW = "settings-preview"
    SAVE = "settings-save"
    PASSWORD = "settings-password"
    TOKENS_OFF = "settings-tokens-off"
    TOKEN_NAME = "settings-token-name"
    TOKEN_DAYS = "settings-token-days"
    TOKEN_CREATE = "settings-token-create"
    TOKEN_SHOWN = "settings-token-shown"
    TOKEN_RAW = "settings-token-raw"
    TOKEN_NOTICES = "settings-token-notices"
    TOKEN_GRID = "settings-token-grid"
    TOKEN_REVOKE = "settings-token-revoke"
    TOKEN_MODAL = "settings-token-modal"
    TOKEN_MODAL_TEXT = "settings-token-modal-text"
    TOKEN_CONFIRM = "settings-token-confirm"
    TOKEN_CANCEL = "settings-token-cancel"


def service() -> UserSettingsService:
    return UserSettingsService(current_stores().meta)


def separator_key(thousands: str) -> str:
    return next((k for k, v in SEPARATOR_CHOICES.items() if v == thousands), "comma")


def form_values(prefs: UserPrefs) -> tuple[Any, ...]:
    """The form's field values, in FORM_OUT order."""
    return (prefs.theme, separator_key(prefs.thousands), prefs.decimals, prefs.time_zone,
            None if prefs.pivot_view is None else str(prefs.pivot_view), prefs.watchlist, prefs.version)


def field_text(exc: BaseException) -> str:
    """The service's message, its leading field name written as the form labels it."""
    text = error_text(exc)
    for name, label in FIELD_LABELS.items():
        if text.startswith(name + ":"):
            return label + text[len(name):]
    return text


def preview(prefs: UserPrefs) -> str:
    return f"Numbers look like {prefs.format_number(PREVIEW_VALUE)}"


# -- tokens -----------------------------------------------------------------------------------
def shown_time(value: datetime | None, zone: str) -> str:
    return "" if value is None else value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def token_rows(infos: list[TokenInfo], zone: str) -> list[dict[str, Any]]:
    now = utc_now()
    return [{"id": t.id, "name": t.name, "prefix": t.prefix + "…", "created": shown_time(t.created_at, zone),
             "last_used": shown_time(t.last_used_at, zone) or "never",
             "expires": shown_time(t.expires_at, zone) or "never",
             "state": "revoked" if t.revoked_at else ("live" if t.live(now) else "expired")} for t in infos]


TOKEN_COLUMNS: Final = [
    {"field": "name", "headerName": "Name", "flex": 1, "minWidth": 160, "tooltipField": "name"},
    {"field": "prefix", "headerName": "Starts with", "width": 120},
    {"field": "created", "headerName": "Created", "width": 150},
    {"field": "last_used", "headerName": "Last used", "width": 150},
    {"field": "expires", "headerName": "Expires", "width": 150},
    {"field": "state", "headerName": "State", "width": 100},
]


def my_token_rows() -> list[dict[str, Any]]:
    tokens = current_access().tokens
    if tokens is None:
        return []
    user = current_principal().id
    return token_rows(tokens.list(user), service().get(user).time_zone)


def token_section() -> html.Div:
    if current_access().tokens is None:
        return html.Div([dmc.Title("API tokens", order=4, mt="lg"),
                         dmc.Alert(AUTH_OFF_TOKENS, color="gray", variant="light", id=ids.TOKENS_OFF)])
    grid = dag.AgGrid(id=ids.TOKEN_GRID, rowData=my_token_rows(), columnDefs=TOKEN_COLUMNS,
                      getRowId="String(params.data.id)",
                      defaultColDef={"resizable": True, "sortable": True, "suppressHeaderMenuButton": True},
                      dashGridOptions={"domLayout": "autoHeight", "rowHeight": 30,
                                       "rowSelection": {"mode": "singleRow", "checkboxes": False,
                                                        "enableClickSelection": True},
                                       "localeText": {"noRowsToShow": "No tokens yet."}},
                      className="admin-grid")
    return html.Div([
        dmc.Title("API tokens", order=4, mt="lg"),
        dmc.Text("For scripts and streams: send it as the header Authorization: Bearer <token>. A token acts as "
                 "you, with your roles and data scope.", size="sm", c="dimmed", mb="xs"),
        html.Div(id=ids.TOKEN_NOTICES, role="status"),
        dmc.Group([
            dmc.TextInput(id=ids.TOKEN_NAME, label="Name", placeholder="e.g. nightly export", size="xs", w=260),
            dmc.NumberInput(id=ids.TOKEN_DAYS, label="Expires after (days, empty: never)", min=1,
                            max=EXPIRES_DAYS_MAX, allowDecimal=False, allowNegative=False, size="xs", w=220),
            dmc.Button("Create token", id=ids.TOKEN_CREATE, size="xs"),
        ], align="flex-end", mb="sm"),
        html.Div(id=ids.TOKEN_SHOWN),
        grid,
        dmc.Button("Revoke…", id=ids.TOKEN_REVOKE, size="xs", color="red", variant="light", mt="xs"),
        dmc.Modal(id=ids.TOKEN_MODAL, title="Revoke this token?", opened=False, children=[
            dmc.Text(id=ids.TOKEN_MODAL_TEXT, size="sm", mb="md"),
            dmc.Group([dmc.Button("Cancel", id=ids.TOKEN_CANCEL, variant="default"),
                       dmc.Button("Revoke", id=ids.TOKEN_CONFIRM, color="red")], justify="flex-end"),
        ]),
    ])


# -- page -------------------------------------------------------------------------------------
def layout(**_query: Any) -> html.Div:
    user = current_principal().id
    meta = current_stores().meta
    prefs = service().get(user)
    views = [{"value": str(v.id), "label": v.name} for v in SavedViews(meta).list(user, "/pivot")]
    lists = [{"value": w.id, "label": w.name} for w in UserData(meta).watchlists()]
    theme, thousands, decimals, zone, view, watchlist, version = form_values(prefs)
    signed_in = current_access().accounts is not None and current_principal().via == "session"
    password = (html.A("Change password", href="/account/password", id=ids.PASSWORD) if signed_in else None)
    form = dmc.Paper([
        dmc.Text("Theme", size="sm", fw=500),
        dmc.SegmentedControl(id=ids.THEME, value=theme, data=[{"value": t, "label": t.capitalize()} for t in THEMES],
                             size="xs", mb="sm"),
        dmc.Group([
            dmc.Select(id=ids.THOUSANDS, label="Thousands separator", value=thousands, allowDeselect=False,
                       data=[{"value": k, "label": SEPARATOR_LABELS[k]} for k in SEPARATOR_CHOICES], size="xs", w=160),
            dmc.NumberInput(id=ids.DECIMALS, label="Decimals", value=decimals, min=0, max=DECIMALS_MAX,
                            allowDecimal=False, allowNegative=False, size="xs", w=100),
        ]),
        dmc.Text(preview(prefs), id=ids.PREVIEW, size="sm", c="dimmed", mt=4, mb="sm"),
        dmc.Select(id=ids.TIME_ZONE, label="Time zone (pivot and research pages; the VN board always shows VN time)",
                   value=zone, data=sorted(time_zones() | {zone}), searchable=True, allowDeselect=False, size="xs",
                   mb="sm"),
        dmc.Select(id=ids.PIVOT_VIEW, label="Default pivot view (opening /pivot without a link's settings)",
                   value=view, data=views, clearable=True, placeholder="none" if views else "no saved pivot views yet",
                   size="xs", mb="sm"),
        dmc.Select(id=ids.WATCHLIST, label="Default watchlist on the board", value=watchlist, data=lists,
                   clearable=True, placeholder="none", size="xs", mb="sm"),
        dmc.Group([dmc.Button("Save", id=ids.SAVE, size="xs"), password], justify="space-between"),
    ], withBorder=True, p="md", radius="sm", maw=560)
    return html.Div([
        dmc.Title("Settings", order=2, mb="xs"),
        dmc.Text("Your defaults on every page. A link that carries its own settings still shows what it carries.",
                 size="sm", c="dimmed", mb="sm"),
        html.Div(id=ids.NOTICES, role="status"),
        dcc.Store(id=ids.VERSION, data=version),
        form,
        token_section(),
    ], className="admin-page settings-page")


FORM_FIELDS = ("theme", "thousands", "decimals", "zone", "view", "watchlist", "version")
FORM_OUT = dict(zip(FORM_FIELDS, (
    Output(ids.THEME, "value"), Output(ids.THOUSANDS, "value"), Output(ids.DECIMALS, "value"),
    Output(ids.TIME_ZONE, "value"), Output(ids.PIVOT_VIEW, "value"), Output(ids.WATCHLIST, "value"),
    Output(ids.VERSION, "data")), strict=True))


def _view_id(value: Any) -> Any:
    return int(value) if isinstance(value, str) and value.isdigit() and len(value) < 12 else value


@callback(
    output={"notices": Output(ids.NOTICES, "children"), **FORM_OUT,
            # the shell shows the choice at once ("auto" follows the system) and this browser keeps it
            "shell_theme": Output("shell-theme", "data", allow_duplicate=True)},
    inputs={"_n": Input(ids.SAVE, "n_clicks")},
    state={"theme": State(ids.THEME, "value"), "thousands": State(ids.THOUSANDS, "value"),
           "decimals": State(ids.DECIMALS, "value"), "zone": State(ids.TIME_ZONE, "value"),
           "view": State(ids.PIVOT_VIEW, "value"), "watchlist": State(ids.WATCHLIST, "value"),
           "version": State(ids.VERSION, "data")},
    prevent_initial_call=True)
def save(_n: int | None, theme: Any, thousands: Any, decimals: Any, zone: Any, view: Any, watchlist: Any,
         version: Any) -> dict[str, Any]:
    if not _n:  # the page's insertion can fire this once with no click (its outputs outlive the page)
        raise PreventUpdate
    out: dict[str, Any] = dict.fromkeys(("notices", *FORM_FIELDS, "shell_theme"), no_update)
    settings, user = service(), current_principal().id
    changes = {"theme": theme, "thousands": SEPARATOR_CHOICES.get(thousands, thousands) if isinstance(thousands, str)
               else thousands, "decimals": decimals, "time_zone": zone, "pivot_view": _view_id(view) or None,
               "watchlist": watchlist or None}
    try:
        prefs = settings.update(user, version, **changes)
    except StaleSettingsError as exc:
        fresh = settings.get(user)
        reason = str(exc).removeprefix("version: ")
        text = f"{reason[:1].upper()}{reason[1:]}. The form now shows your settings as they are (version {fresh.version})."
        return {**out, "notices": [notice(text, "orange")], **dict(zip(FORM_FIELDS, form_values(fresh), strict=True))}
    except SettingsError as exc:
        return {**out, "notices": [notice(field_text(exc))]}
    return {**out, "notices": [notice(f"Saved (version {prefs.version}).", "green")], "version": prefs.version,
            "shell_theme": prefs.theme}


@callback(Output(ids.PREVIEW, "children"), Input(ids.THOUSANDS, "value"), Input(ids.DECIMALS, "value"),
          prevent_initial_call=True)
def show_preview(thousands: Any, decimals: Any) -> str:
    try:
        prefs = UserPrefs(thousands=SEPARATOR_CHOICES[thousands], decimals=int(decimals))
    except (KeyError, TypeError, ValueError, OverflowError):
        return "Numbers look like … (choose a separator and 0 to 6 decimals)"
    if not 0 <= prefs.decimals <= DECIMALS_MAX:
        return f"Numbers look like … (0 to {DECIMALS_MAX} decimals)"
    return preview(prefs)


@callback(Output(ids.TOKEN_NOTICES, "children"), Output(ids.TOKEN_SHOWN, "children"),
          Output(ids.TOKEN_GRID, "rowData"), Output(ids.TOKEN_NAME, "value"),
          Input(ids.TOKEN_CREATE, "n_clicks"), State(ids.TOKEN_NAME, "value"), State(ids.TOKEN_DAYS, "value"),
          prevent_initial_call=True)
def create_token(_n: int | None, name: Any, days: Any) -> tuple[Any, ...]:
    if not _n:
        raise PreventUpdate
    tokens = current_access().tokens
    if tokens is None:
        return [notice(AUTH_OFF_TOKENS, "gray")], None, no_update, no_update
    days = None if days in (None, "") else days
    try:
        raw, info = tokens.create(current_principal().id, name, expires_days=days)
    except (TokenError, ValueError) as exc:
        return [notice(field_text(exc))], None, no_update, no_update
    shown = dmc.Alert([
        dmc.Text("Copy this token now: it is not shown again, and only its hash is kept.", size="sm", fw=600,
                 mb="xs"),
        dmc.Group([
            dmc.TextInput(id=ids.TOKEN_RAW, value=raw, readOnly=True, size="xs", w=460,
                          styles={"input": {"fontFamily": "monospace"}}),
            dcc.Clipboard(target_id=ids.TOKEN_RAW, title="Copy", style={"cursor": "pointer"}),
        ], gap="xs"),
    ], color="yellow", variant="light", title=f"Token {info.name!r} created", mb="sm")
    return [], shown, my_token_rows(), ""


@callback(Output(ids.TOKEN_MODAL, "opened"), Output(ids.TOKEN_MODAL_TEXT, "children"),
          Output(ids.TOKEN_NOTICES, "children", allow_duplicate=True),
          Input(ids.TOKEN_REVOKE, "n_clicks"), Input(ids.TOKEN_CANCEL, "n_clicks"),
          State(ids.TOKEN_GRID, "selectedRows"), prevent_initial_call=True)
def ask_revoke(_revoke: int | None, _cancel: int | None, selected: Any) -> tuple[Any, ...]:
    if dash.ctx.triggered_id != ids.TOKEN_REVOKE or not _revoke:
        return False, no_update, no_update
    row = selected[0] if isinstance(selected, list) and len(selected) == 1 and isinstance(selected[0], dict) else None
    if row is None:
        return False, no_update, [notice("Select a token in the list first.", "yellow")]
    text = (f"Scripts using {str(row.get('name'))[:120]!r} ({row.get('prefix')}) are refused from now on. "
            "This cannot be undone.")
    return True, text, []


@callback(Output(ids.TOKEN_NOTICES, "children", allow_duplicate=True),
          Output(ids.TOKEN_GRID, "rowData", allow_duplicate=True),
          Output(ids.TOKEN_MODAL, "opened", allow_duplicate=True), Output(ids.TOKEN_SHOWN, "children",
                                                                          allow_duplicate=True),
          Input(ids.TOKEN_CONFIRM, "n_clicks"), State(ids.TOKEN_GRID, "selectedRows"), prevent_initial_call=True)
def revoke_token(_n: int | None, selected: Any) -> tuple[Any, ...]:
    if not _n:
        raise PreventUpdate
    tokens = current_access().tokens
    row = selected[0] if isinstance(selected, list) and len(selected) == 1 and isinstance(selected[0], dict) else None
    if tokens is None or row is None:
        return [notice("Select a token in the list first.", "yellow")], no_update, False, no_update
    user = current_principal().id
    try:
        tokens.revoke(user, row.get("id"), actor=user)
    except (TokenError, ValueError) as exc:
        return [notice(field_text(exc))], my_token_rows(), False, no_update
    return [notice(f"Revoked {str(row.get('name'))[:120]!r}.", "green")], my_token_rows(), False, None
