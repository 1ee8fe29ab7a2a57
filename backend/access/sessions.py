"""The principal of a request: a signed-in session, an API token, a signed link, or nobody.

Sessions are Flask's signed cookie managed by flask-login. The cookie carries the user id
with the account's session version; every request asks the accounts service for the
principal of that pair, so a password change, reset, disable or role change (which bump
the version) signs the session out at its next request.

A session unused for ``idle_minutes`` signs out. Use is what a person does: opening a
page, clicking, typing, calling the API. A live page's own refreshes (callbacks fired by
an Interval tick, or by a store that a tick filled, and background-job polling) do not
count, so a board left open on a desk does not keep its session alive for ever.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from flask import Flask, request, session
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from backend.access.links import LinkDeniedError
from backend.access.principal import DataScope, Principal
from backend.config import AccessSettings

log = logging.getLogger(__name__)

CSRF_COOKIE: Final = "_csrf_token"  # the cookie Dash's renderer reads and echoes ...
CSRF_HEADER: Final = "X-CSRFToken"  # ... in this header (Dash(csrf_token_name=, csrf_header_name=) defaults)
CSRF_FIELD: Final = "csrf_token"  # the hidden field of the sign-in and password forms
TOKEN_PREFIX: Final = "dsk_"
# Properties whose change is a page refreshing itself, not a person: Interval ticks and stores.
PASSIVE_PROPS: Final = frozenset({"n_intervals", "data"})
NOT_ACTIVITY_PATHS: Final = frozenset({"/_reload-hash"})
ANONYMOUS: Final = Principal(id="anonymous", display_name="Not signed in", roles=frozenset(),
                             permissions=frozenset(),
                             scope=DataScope(portfolio_managers=frozenset(), desks=frozenset(), books=frozenset()),
                             via="session")

_K_SEEN = "seen"
_K_LINK = "link"
_K_MUST_CHANGE = "must_change"
_K_CSRF = "csrf"


class AccountsLike(Protocol):
    def principal(self, user_id: str, session_version: int) -> Principal | None: ...

    def session_version(self, user_id: str) -> int | None: ...


class TokensLike(Protocol):
    def verify(self, raw: str) -> Principal | None: ...


class LinksLike(Protocol):
    def resolve(self, token: str) -> Principal: ...


class SessionUser(UserMixin):
    """What flask-login keeps: the principal, and the id ``user|session_version`` it stores."""

    def __init__(self, principal: Principal, version: int) -> None:
        self.principal = principal
        self.version = version

    def get_id(self) -> str:
        return f"{self.principal.id}|{self.version}"


@dataclass(frozen=True)
class Resolution:
    principal: Principal | None
    # why there is no principal (shown on the sign-in page): "idle", "token", "link", ""
    reason: str = ""
    must_change_password: bool = False


class Sessions:
    """Finds the principal of the current request and keeps the session's clock."""

    def __init__(self, server: Flask, settings: AccessSettings, accounts: AccountsLike,
                 tokens: TokensLike | None = None, links: LinksLike | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.accounts = accounts
        self.tokens = tokens
        self.links = links
        self.clock = clock
        self.login_manager = LoginManager()
        self.login_manager.session_protection = "basic"
        self.login_manager.user_loader(self._load_user)
        self.login_manager.init_app(server)

    # -- flask-login --------------------------------------------------------------------
    def _load_user(self, user_id: str) -> SessionUser | None:
        name, _, version = user_id.rpartition("|")
        if not name or not version.isdigit():
            return None
        principal = self.accounts.principal(name, int(version))
        if principal is None:  # disabled, removed, or signed out everywhere by a version bump
            return None
        return SessionUser(principal, int(version))

    # -- resolving ----------------------------------------------------------------------
    def resolve(self) -> Resolution:
        bearer = self.bearer()
        if bearer is not None and request.path.startswith("/api/"):
            if self.tokens is None or not bearer.startswith(TOKEN_PREFIX):
                return Resolution(None, "token")
            principal = self.tokens.verify(bearer)
            return Resolution(principal, "" if principal else "token")
        if _K_LINK in session:
            return self._link_session()
        if not current_user.is_authenticated:
            return Resolution(None)
        now = self.clock()
        seen = session.get(_K_SEEN)
        if not isinstance(seen, (int, float)) or now - seen > self.settings.idle_minutes * 60:
            log.info("session of %s ended after %.0f idle minutes", current_user.principal.id,
                     self.settings.idle_minutes)
            self.sign_out()
            return Resolution(None, "idle")
        if is_user_activity():
            session[_K_SEEN] = now
        return Resolution(current_user.principal, must_change_password=bool(session.get(_K_MUST_CHANGE)))

    def _link_session(self) -> Resolution:
        # The link is checked at every request: a revoked or expired link stops at once.
        if self.links is None:
            session.clear()
            return Resolution(None, "link")
        try:
            return Resolution(self.links.resolve(str(session[_K_LINK])))
        except LinkDeniedError as exc:  # a records store that cannot answer is a 500, not a sign-out
            log.info("signed-link session ended: %s", exc)
            session.clear()
            return Resolution(None, "link")

    @staticmethod
    def bearer() -> str | None:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() != "bearer ":
            return None
        return header[7:].strip()

    # -- changing the session -------------------------------------------------------------
    def sign_in(self, principal: Principal, *, must_change_password: bool = False) -> None:
        version = self.accounts.session_version(principal.id)
        session.clear()  # a new session id for a new identity (no fixation)
        login_user(SessionUser(principal, int(version or 1)))
        session[_K_SEEN] = self.clock()
        session[_K_MUST_CHANGE] = must_change_password
        session.permanent = True
        self.csrf_token()

    def sign_in_link(self, token: str) -> None:
        session.clear()
        session[_K_LINK] = token
        session.permanent = True
        self.csrf_token()

    def sign_out(self) -> None:
        logout_user()
        session.clear()

    def password_changed(self, principal: Principal) -> None:
        """After a password change the version moved on: this session carries the new one."""
        self.sign_in(principal, must_change_password=False)

    # -- CSRF -----------------------------------------------------------------------------
    @staticmethod
    def csrf_token() -> str:
        token = session.get(_K_CSRF)
        if not isinstance(token, str) or len(token) < 32:
            token = secrets.token_urlsafe(32)
            session[_K_CSRF] = token
        return token

    @staticmethod
    def csrf_ok() -> bool:
        expected = session.get(_K_CSRF)
        given: Any = request.headers.get(CSRF_HEADER)
        if given is None and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            given = request.form.get(CSRF_FIELD)
        if not isinstance(expected, str) or not isinstance(given, str) or len(given) > 200:
            return False
        return hmac.compare_digest(expected.encode(), given.encode())


def is_user_activity() -> bool:
    """Whether this request is something a person did (see the module's note)."""
    if request.path in NOT_ACTIVITY_PATHS:
        return False
    if request.path != "/_dash-update-component":
        return True
    if request.args.get("cacheKey") or request.args.get("job"):  # a background callback's polling
        return False
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return False
    changed = body.get("changedPropIds")
    if not isinstance(changed, list) or not changed:
        return False  # a page's initial calls: the page load itself counted
    return any(not isinstance(c, str) or c.rpartition(".")[2] not in PASSIVE_PROPS for c in changed)
