"""The principal of a request: a signed-in session, an API token, a signed link, or nobody.

Sessions are Flask's signed cookie managed by flask-login. The cookie carries the user id
with the account's session version; every request asks the accounts service for the
principal of that pair, so a password change, reset, disable or role change (which bump
the version) signs the session out at its next request.

That answer — and an API token's — is kept for ``PRINCIPAL_TTL_SECONDS`` per process
(``PrincipalCache``), so a page's burst of callbacks reads the account once, not once per
callback. Any write this process commits to the records store forgets every kept answer
at once; a change made by another process (another worker, a command-line tool) ends a
session or a token within the TTL, and a token that expires is refused at most the TTL late.

A session unused for ``idle_minutes`` signs out. Use is what a person does: opening a
page, clicking, typing, calling the API. A live page's own refreshes (callbacks fired by
an Interval tick, or by a store that a tick filled, and background-job polling) do not
count, so a board left open on a desk does not keep its session alive for ever.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from flask import Flask, request, session
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from sqlalchemy import event
from sqlalchemy.engine import Engine

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
# How long a resolved principal answers for its session or token without asking the records
# store again: the longest a change made by another process takes to end a session.
PRINCIPAL_TTL_SECONDS: Final = 2.0
PRINCIPAL_CACHE_MAX: Final = 4096
# Statements that change nothing; any other statement on the records store is taken as a write.
_READ_STATEMENTS: Final = frozenset({"SELECT", "BEGIN", "PRAGMA", "SHOW", "SAVEPOINT", "RELEASE", "ROLLBACK"})
_WROTE: Final = "deskboard_access_wrote"
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


class PrincipalCache:
    """Principals resolved in the last ``ttl`` seconds, by session (user, version), token hash or signed-link hash.

    Only principals are kept (a refusal is asked again each time). ``clear()`` forgets every
    entry, and a load that was running while it happened is not kept: an answer read before
    a change never outlives it. ``watch(engine)`` clears at every write through the engine.
    """

    def __init__(self, ttl: float = PRINCIPAL_TTL_SECONDS, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = PRINCIPAL_CACHE_MAX) -> None:
        self.ttl = ttl
        self.clock = clock
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, Principal]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], Principal | None]) -> Principal | None:
        if self.ttl <= 0:
            return load()
        hit = self._entries.get(key)
        if hit is not None and self.clock() < hit[0]:
            return hit[1]
        generation = self._generation
        started = self.clock()
        principal = load()
        if principal is not None:
            with self._lock:
                if generation == self._generation:
                    if len(self._entries) >= self.max_entries:
                        self._entries.clear()  # only live sessions and tokens come here: a rare reset
                    # The TTL counts from before the read: the answer is never older than ``ttl``.
                    self._entries[key] = (started + self.ttl, principal)
        return principal

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def watch(self, engine: Engine) -> None:
        """Forget everything when a write is sent through ``engine`` and again when it commits
        (a read between the two saw the old rows)."""
        def executed(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            words = statement.lstrip().split(None, 1)
            if not words or words[0].upper() not in _READ_STATEMENTS:
                conn.info[_WROTE] = True
                self.clear()

        def ended(conn: Any) -> None:
            if conn.info.pop(_WROTE, False):
                self.clear()

        event.listen(engine, "before_cursor_execute", executed)
        event.listen(engine, "commit", ended)
        event.listen(engine, "rollback", ended)


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
                 clock: Callable[[], float] = time.time, principals: PrincipalCache | None = None) -> None:
        self.settings = settings
        self.accounts = accounts
        self.tokens = tokens
        self.links = links
        self.clock = clock
        self.principals = principals or PrincipalCache()
        engine = getattr(getattr(accounts, "meta", None), "engine", None)
        if isinstance(engine, Engine):
            self.principals.watch(engine)
        else:  # nothing tells this cache about changes: ask the accounts at every request
            self.principals.ttl = 0
        self.login_manager = LoginManager()
        self.login_manager.session_protection = "basic"
        self.login_manager.user_loader(self._load_user)
        self.login_manager.init_app(server)

    # -- flask-login --------------------------------------------------------------------
    def _load_user(self, user_id: str) -> SessionUser | None:
        name, _, version = user_id.rpartition("|")
        if not name or not version.isdigit():
            return None
        principal = self.principals.get(("session", name, int(version)),
                                        lambda: self.accounts.principal(name, int(version)))
        if principal is None:  # disabled, removed, or signed out everywhere by a version bump
            return None
        return SessionUser(principal, int(version))

    # -- resolving ----------------------------------------------------------------------
    def resolve(self) -> Resolution:
        bearer = self.bearer()
        if bearer is not None and request.path.startswith("/api/"):
            if self.tokens is None or not bearer.startswith(TOKEN_PREFIX):
                return Resolution(None, "token")
            tokens = self.tokens
            digest = hashlib.sha256(bearer.encode("utf-8", "surrogatepass")).hexdigest()
            principal = self.principals.get(("token", digest), lambda: tokens.verify(bearer))
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
        # Like a session or a token, the link's principal is read again after the cache's few
        # seconds (at once after a change made through this process): a wall screen polling
        # several times a second does not read the records store at every poll.
        if self.links is None:
            session.clear()
            return Resolution(None, "link")
        token, links = str(session[_K_LINK]), self.links
        denied: list[LinkDeniedError] = []

        def load() -> Principal | None:
            try:
                return links.resolve(token)
            except LinkDeniedError as exc:  # a records store that cannot answer is a 500, not a sign-out
                denied.append(exc)
                return None

        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
        principal = self.principals.get(("link", digest), load)
        if principal is None:
            log.info("signed-link session ended: %s", denied[0] if denied else "refused")
            session.clear()
            return Resolution(None, "link")
        return Resolution(principal)

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
