"""The application shell: header with navigation from the page registry, theme
toggle, and the page container. ``?embed=1`` and ``?kiosk=1`` hide all chrome."""

from __future__ import annotations

import dash
import dash_mantine_components as dmc
from dash import dcc, hooks, html
from dash.dependencies import ClientsideFunction, Input, Output
from flask import has_request_context

from backend.access import policy
from backend.access.current import current_principal
from backend.access.flags import flag_on
from backend.access.permissions import ACCOUNT_SELF
from backend.access.principal import Principal
from backend.access.sessions import ANONYMOUS, Sessions
from backend.access.user_settings import DEFAULTS, UserPrefs, current_prefs
from components.admin_nav import allowed_sections


class ids:
    PROVIDER = "shell-provider"
    SHELL = "shell"
    URL = "url"
    THEME = "shell-theme"  # the user's choice, kept by the browser: "light", "dark", or "auto"/none
    SCHEME = "shell-scheme"  # the scheme shown now, for the pages' charts
    SYSTEM = "shell-system"  # the system's scheme, written when it changes (assets/shell.js)
    THEME_TOGGLE = "shell-theme-toggle"
    NAV = "shell-nav"
    PHONE_MENU = "shell-phone-menu"


def may_open(principal: Principal, path: str) -> bool:
    """Whether the header links to ``path`` for ``principal``: the page's own declaration decides, as
    the access check does; /admin (open to anyone, it only lists sections) needs some admin permission."""
    if principal.via == "link":
        return policy.normalise_path(path) == principal.link_path
    if path == "/admin":
        return bool(allowed_sections())
    need = policy.page_rule(path)
    if need != policy.SIGNED_IN and not principal.can(need):
        return False
    flag = policy.page_flag(path)  # a page behind a flag is listed where the flag is on
    return flag is None or flag_on(flag, principal)


def nav_pages() -> list[dict]:
    """Registered pages the request's principal may open, in page order; a page opts out with ``nav=False``."""
    principal = current_principal()
    return sorted(
        (p for p in dash.page_registry.values() if p.get("nav", True) and may_open(principal, p["path"])),
        key=lambda p: (p.get("order") if p.get("order") is not None else 99, p["name"]),
    )


def nav_links() -> list[dmc.Anchor]:
    """One link per page in the header (wide screens)."""
    return [
        dmc.Anchor(page.get("title") or page["name"], href=page["relative_path"], className="shell-nav-link",
                   underline="never", id={"type": "nav-link", "path": page["path"]})
        for page in nav_pages()
    ]


def phone_menu() -> dmc.Box:
    """The same navigation for narrow screens, where the links do not fit the header."""
    menu = dmc.Menu(
        [
            dmc.MenuTarget(dmc.Button("☰", variant="subtle", size="compact-md", id=ids.PHONE_MENU,
                                      attributes={"aria-label": "Pages"})),
            dmc.MenuDropdown([dmc.MenuItem(p.get("title") or p["name"], href=p["relative_path"]) for p in nav_pages()]),
        ],
    )
    return dmc.Box(menu, hiddenFrom="sm")


def user_menu() -> dmc.Menu | None:
    """The signed-in user's menu: change password, sign out (a plain form POST with the
    session's CSRF token). Nothing when sign-in is off or for a signed link's screen."""
    principal = current_principal()
    if not has_request_context() or principal.via != "session" or principal.id == ANONYMOUS.id:
        return None
    sign_out = html.Form(
        [
            dcc.Input(type="hidden", name="csrf_token", value=Sessions.csrf_token(), id="shell-signout-csrf"),
            html.Button("Sign out", type="submit", id="shell-signout", className="shell-signout",
                        style={"width": "100%", "textAlign": "left", "background": "none", "border": 0,
                               "padding": "6px 12px", "cursor": "pointer", "font": "inherit", "fontSize": "14px",
                               "color": "var(--mantine-color-red-filled)"}),
        ],
        method="POST", action="/signout",
    )
    return dmc.Menu(
        [
            dmc.MenuTarget(dmc.Button(principal.display_name or principal.id, id="shell-user", variant="subtle",
                                      size="compact-sm", attributes={"title": "Your account"})),
            dmc.MenuDropdown([
                dmc.MenuLabel(f"Signed in as {principal.id}"),
                dmc.MenuItem("Settings and API tokens", href="/settings", id="shell-settings")
                if principal.can(ACCOUNT_SELF) else None,
                dmc.MenuItem("Change password", href="/account/password", refresh=True, id="shell-password"),
                dmc.MenuDivider(),
                sign_out,
            ]),
        ],
        position="bottom-end",
    )


def _number_format(prefs: UserPrefs) -> html.Div:
    """The user's number format, read by the grids' number formatter in the browser (assets/pivot_grid.js)."""
    return html.Div(id="shell-number-format", hidden=True, **{"data-thousands": prefs.thousands,
                                                              "data-point": prefs.decimal_mark,
                                                              "data-decimals": str(prefs.decimals)})


def shell_layout() -> dmc.MantineProvider:
    prefs = current_prefs() if has_request_context() else DEFAULTS  # one read of the user's settings
    header = dmc.AppShellHeader(
        dmc.Group(
            [
                dmc.Group(
                    [
                        phone_menu(),
                        html.A("Deskboard", href="/", className="shell-brand"),
                        dmc.Group(nav_links(), id=ids.NAV, gap="md", visibleFrom="sm"),
                    ],
                    gap="xl",
                ),
                dmc.Group([
                    user_menu(),
                    dmc.Button(
                        "Theme", id=ids.THEME_TOGGLE, variant="subtle", size="compact-sm",
                        attributes={"title": "Switch between light and dark"}, className="shell-theme-toggle",
                    ),
                ], gap="xs"),
            ],
            justify="space-between",
            h="100%",
            px="md",
        )
    )
    return dmc.MantineProvider(
        id=ids.PROVIDER,
        forceColorScheme="light",
        theme={"primaryColor": "indigo", "fontFamily": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"},
        children=[
            dcc.Location(id=ids.URL, refresh="callback-nav"),
            # the user's theme starts a browser that has none stored yet (/settings also writes it here)
            dcc.Store(id=ids.THEME, storage_type="local", data=prefs.chosen_theme),
            dcc.Store(id=ids.SCHEME),
            dcc.Store(id=ids.SYSTEM),
            _number_format(prefs),
            dmc.NotificationContainer(id="shell-notifications"),
            dmc.AppShell(
                [header, dmc.AppShellMain(dash.page_container, className="shell-main")],
                id=ids.SHELL,
                header={"height": 52},
                padding="md",
            ),
        ],
    )


# Theme, embed and kiosk are decided in the browser so they cost no round trip;
# the function lives in assets/shell.js. A hook, not a module-level callback, so
# every app built in this process gets it (plain ones go to the first app only).
hooks.clientside_callback(
    ClientsideFunction(namespace="shell", function_name="applyChrome"),
    Output(ids.PROVIDER, "forceColorScheme"),
    Output(ids.THEME, "data"),
    Output(ids.SCHEME, "data"),
    Output(ids.SHELL, "disabled"),
    Output(ids.SHELL, "className"),
    Input(ids.URL, "search"),
    Input(ids.THEME_TOGGLE, "n_clicks"),
    Input(ids.SYSTEM, "data"),
    Input(ids.THEME, "data"),  # /settings writes the choice here too
)
