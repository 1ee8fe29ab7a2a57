"""The principal of the request being served, for services and pages to pass on.

The access check that wraps every route and callback puts the request's principal
on ``flask.g``; outside a request (tools, jobs, tests) and with access control off
the caller is the single local user, who may do everything and see every row.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qsl

from flask import g, has_request_context

from backend.access.permissions import ALL
from backend.access.principal import EVERYTHING, DataScope, Principal

# The owner of records when nobody signs in (saved views and jobs name it today).
LOCAL_USER: Final = "local"
LOCAL_PRINCIPAL: Final = Principal(id=LOCAL_USER, display_name="Local user", roles=frozenset({"admin"}),
                                   permissions=ALL, scope=EVERYTHING, via="local")
G_KEY: Final = "deskboard_principal"


def current_principal() -> Principal:
    if has_request_context():
        principal = g.get(G_KEY)
        if principal is not None:
            return principal
    return LOCAL_PRINCIPAL


def current_scope() -> DataScope:
    """The rows the caller may see: services add this as a filter inside the engine."""
    return current_principal().scope


def set_current_principal(principal: Principal) -> None:
    setattr(g, G_KEY, principal)


def link_view() -> dict[str, str] | None:
    """The view a signed link was made for (its URL query's parameters, the last of each
    name), when the request is a link's; None otherwise. Pages show that view whatever the
    browser asks, so a link's screen shows one view only."""
    principal = current_principal()
    if principal.via != "link":
        return None
    return dict(parse_qsl((principal.link_query or "").removeprefix("?"), keep_blank_values=True))
