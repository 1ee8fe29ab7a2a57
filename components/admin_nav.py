"""The admin pages' shared pieces: the section nav (only the sections the viewer may open),
notices, the sign-in-off message, and the one way a service error becomes a sentence."""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

import dash_mantine_components as dmc
from dash import html

from backend.access import permissions as p
from backend.access.current import current_principal

# (path, label, the permission the section's page declares)
SECTIONS: Final = (
    ("/admin/users", "Users and roles", p.ADMIN_USERS),
    ("/admin/flags", "Flags", p.ADMIN_FLAGS),
    ("/admin/usage", "Usage", p.ADMIN_USAGE),
    ("/admin/audit", "Audit log", p.ADMIN_AUDIT),
    ("/admin/links", "Signed links", p.ADMIN_LINKS),
    ("/admin/sources", "Data sources", p.ADMIN_SYSTEM),
    ("/admin/system", "System", p.ADMIN_SYSTEM),
)
AUTH_OFF: Final = ("Sign-in is off on this server (DESKBOARD_AUTH=off): everyone is the single local user, "
                   "so there are no users, roles or signed links to manage here.")


def allowed_sections() -> list[tuple[str, str, str]]:
    principal = current_principal()
    return [s for s in SECTIONS if principal.can(s[2])]


def admin_nav(active: str) -> dmc.Group:
    """Links to every admin section the viewer may open; hidden on embedded and kiosk screens."""
    links = [dmc.Anchor(label, href=path, size="sm", underline="never", fw=700 if path == active else 400,
                        className="admin-nav-link" + (" admin-nav-active" if path == active else ""),
                        id={"type": "admin-nav", "path": path})
             for path, label, _ in allowed_sections()]
    return dmc.Group([dmc.Anchor("Admin", href="/admin", size="sm", underline="never", c="dimmed"), *links],
                     gap="md", mb="sm", className="admin-nav db-kiosk-hide db-embed-hide")


def notice(text: str, color: str = "red", **kwargs: Any) -> dmc.Alert:
    return dmc.Alert(text, color=color, variant="light", mb=6, className=f"admin-notice admin-notice-{color}",
                     withCloseButton=True, **kwargs)


def auth_off() -> dmc.Alert:
    return dmc.Alert(AUTH_OFF, color="gray", variant="light", className="admin-auth-off", id="admin-auth-off")


def error_text(exc: BaseException) -> str:
    """A typed service error's own message (written for users); anything else by its type only."""
    if isinstance(exc, ValueError) and str(exc):
        text = str(exc)
    else:
        text = f"the change could not be made ({type(exc).__name__}); nothing was changed"
    text = text[:400]
    return text[0].upper() + text[1:]


def page_header(title: str, active: str, *extra: Any) -> html.Div:
    return html.Div([admin_nav(active), dmc.Group([dmc.Title(title, order=2), *extra], justify="space-between")])


def admin_href(path: str, search: str | None, **params: Any) -> str:
    """``path`` with ``params`` (None or empty left out), keeping ``embed``/``kiosk`` from the
    current ``search`` so a choice made in an embedded page stays embedded."""
    kept = [(k, v) for k, v in parse_qsl((search or "").lstrip("?")) if k in ("embed", "kiosk")]
    query = urlencode([(k, str(v)) for k, v in params.items() if v not in (None, "")] + kept)
    return path + ("?" + query if query else "")
