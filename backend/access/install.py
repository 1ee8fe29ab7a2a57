"""``install_access(server, stores, settings, callback_map=)``: access control on one app.

With ``DESKBOARD_AUTH=on`` (the default) this wires the accounts, roles, audit, token and
link services over the records store, flask-login sessions, the sign-in pages, the one
access check in front of every route and callback, rate limits, CSRF, the ``/metrics``
rule (its token, an allowed address, or ``metrics.read``), and prints the first
administrator's sign-in link when nobody can sign in yet.

With ``DESKBOARD_AUTH=off`` every request is the single local user, who may do everything;
only the embedding rule (``frame-ancestors``) still applies.

The services are kept on ``server.extensions[EXTENSION_KEY]`` (``current_access()``) for
the pages and APIs that manage users, roles and links.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from flask import Flask, Response, current_app, request, session
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4

from backend.access.accounts import AccountError, Accounts
from backend.access.audit import Audit
from backend.access.bootstrap import ensure_first_admin
from backend.access.flags import FLAGS_KEY, Flags
from backend.access.guard import Guard
from backend.access.links import LINKS_KEY, Links
from backend.access.permissions import METRICS_READ
from backend.access.principal import DataScope, Principal
from backend.access.roles import Roles
from backend.access.sessions import CSRF_COOKIE, Sessions
from backend.access.signin import make_blueprint
from backend.access.tokens import Tokens
from backend.config import Settings
from backend.observability import metrics
from backend.observability.install import metrics_collectors
from backend.stores import Stores

log = logging.getLogger(__name__)

EXTENSION_KEY: Final = "deskboard.access"
METRICS_ENDPOINT: Final = "metrics"
CallbackMap = Callable[[], Mapping[str, Mapping[str, Any]]]


@dataclass
class Access:
    """The access services of one app (``None`` members: access control is off)."""

    settings: Settings
    audit: Audit | None = None
    roles: Roles | None = None
    accounts: Accounts | None = None
    links: Links | None = None
    tokens: Tokens | None = None
    sessions: Sessions | None = None
    guard: Guard | None = None
    limiter: Limiter | None = None


def current_access() -> Access:
    return current_app.extensions[EXTENSION_KEY]


def install_access(server: Flask, stores: Stores, settings: Settings, *, callback_map: CallbackMap) -> Access:
    """Wire access control into ``server``; call after every blueprint is registered and before
    the first request (flask-limiter must attach before it)."""
    access = Access(settings=settings)
    server.extensions[EXTENSION_KEY] = access
    _install_frame_ancestors(server, settings.access.frame_ancestors)
    # Flags are checked with sign-in off too (for the local user), and their changes audited.
    audit = Audit(stores.meta)
    server.extensions[FLAGS_KEY] = flags = Flags(stores.meta, audit=audit.record)
    if settings.access.auth == "off":
        access.guard = Guard(settings.access, None, callback_map, lambda _p: True, flag_on=flags.is_on)
        access.guard.install(server)
        return access

    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    meta = stores.meta
    access.audit = audit
    access.roles = Roles(meta, access.audit)
    access.accounts = accounts = Accounts(meta, settings.access, access.roles, access.audit)

    def maker_state(user_id: str) -> tuple[bool, DataScope, frozenset[str]] | None:
        try:
            account = accounts.get(user_id)
        except AccountError:
            return None
        return (not account.disabled, account.scope, access.roles.resolve(account.roles))  # type: ignore[union-attr]

    access.links = Links(meta, settings.secret_key, maker_state=maker_state, max_days=settings.access.link_max_days,
                         audit=access.audit.record)
    server.extensions[LINKS_KEY] = access.links
    access.tokens = Tokens(meta, accounts=accounts, audit=access.audit)
    access.sessions = sessions = Sessions(server, settings.access, accounts, access.tokens, access.links)

    # Rate limits: per client address; in memory (per process) unless Redis is configured.
    access.limiter = limiter = Limiter(
        get_remote_address, app=server, storage_uri=settings.cache.redis_url or "memory://",
        application_limits=[settings.access.api_rate],
        application_limits_exempt_when=lambda: not request.path.startswith("/api/"),
        headers_enabled=True,
    )
    # Pages, callbacks and assets have no limit: skip the limiter's own bookkeeping for them early.
    limiter.request_filter(lambda: not request.path.startswith(("/api/", "/signin")))
    server.register_blueprint(make_blueprint(sessions, accounts, access.links,
                                             limiter.limit(settings.access.signin_rate, methods=["POST"])))
    access.guard = Guard(settings.access, sessions, callback_map, _metrics_rule(settings), flag_on=flags.is_on)
    access.guard.install(server)
    _install_csrf_cookie(server)
    _metrics_view_without_own_token_check(server)
    _announce_first_admin(accounts, settings)
    return access


def _announce_first_admin(accounts: Accounts, settings: Settings) -> None:
    url = ensure_first_admin(accounts, base_url=f"http://{settings.host}:{settings.port}")
    if url:
        # Printed, not only logged: the person starting the server for the first time reads the console.
        print(f"Deskboard: nobody can sign in yet. Sign in as the first administrator here: {url}", flush=True)
        log.warning("first administrator sign-in link printed to the console")


# -- headers and cookies --------------------------------------------------------------------
def _install_frame_ancestors(server: Flask, frame_ancestors: str) -> None:
    directive = f"frame-ancestors {frame_ancestors.strip() or chr(39) + 'none' + chr(39)}"

    @server.after_request
    def frame_policy(response: Response) -> Response:
        if response.mimetype == "text/html":
            existing = response.headers.get("Content-Security-Policy")
            if existing is None:
                response.headers["Content-Security-Policy"] = directive
            elif "frame-ancestors" not in existing:
                response.headers["Content-Security-Policy"] = f"{existing}; {directive}"
        return response


def _install_csrf_cookie(server: Flask) -> None:
    """Dash's renderer sends the ``_csrf_token`` cookie back as the ``X-CSRFToken`` header of
    every callback request; the cookie holds the session's token (a cookie alone proves nothing)."""

    @server.after_request
    def csrf_cookie(response: Response) -> Response:
        token = session.get("csrf") if session else None
        if isinstance(token, str) and request.cookies.get(CSRF_COOKIE) != token:
            response.set_cookie(CSRF_COOKIE, token, httponly=False, samesite="Lax", secure=request.is_secure)
        elif token is None and CSRF_COOKIE in request.cookies and not session:
            response.delete_cookie(CSRF_COOKIE)
        return response


# -- /metrics ---------------------------------------------------------------------------------
def _networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for item in text.replace(",", " ").split():
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            log.warning("metrics allow-list: %r is not an address or network; ignored", item)
    return out


def _metrics_rule(settings: Settings) -> Callable[[Principal | None], bool]:
    networks = _networks(settings.access.metrics_allow)
    secret = settings.observability.metrics_token
    token = secret.get_secret_value() if secret is not None else ""

    def allowed(principal: Principal | None) -> bool:
        given = request.headers.get("Authorization", "")
        if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
        try:
            address = ipaddress.ip_address(request.remote_addr or "")
        except ValueError:
            address = None
        if address is not None and any(address in net for net in networks):
            return True
        return principal is not None and principal.can(METRICS_READ)

    return allowed


def _metrics_view_without_own_token_check(server: Flask) -> None:
    """The access check decides who reads /metrics (token, allow-list or permission): the
    view then only writes the exposition."""
    if METRICS_ENDPOINT not in server.view_functions:
        return

    def serve_metrics() -> Response:
        body = metrics.exposition(metrics_collectors(server))
        return Response(body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4, "Cache-Control": "no-store"})

    server.view_functions[METRICS_ENDPOINT] = serve_metrics
