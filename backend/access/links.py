"""Signed read-only links: one view of one page for a wall screen or an embedding page.

A link is a row of ``signed_links`` (what can be listed and revoked) and a URL ``/l/<token>``
whose token is the itsdangerous signature of the row's random id. Opening it gives a
principal that may see that one page only, with the rows the maker could see when making
it. The link keeps working only while its maker does: a maker who is disabled, removed, or
whose scope no longer covers the link's stops their links at once; a maker whose scope grew
does not widen them.
"""

from __future__ import annotations

import hmac
import re
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final, Literal

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from backend.access.permissions import MARKET_VIEW, OVERVIEW_VIEW, PIVOT_VIEW
from backend.access.principal import DataScope, Principal
from backend.meta.models import USER_ID_MAX, SignedLink, User, utc_now
from backend.meta.store import MetaStore

SALT: Final = "deskboard-signed-link"
URL_PREFIX: Final = "/l/"
# The pages a link may show, with the one permission its principal gets. Never an API or
# admin path: a link is a view for eyes, not a key to the data.
PAGE_PERMISSIONS: Final[dict[str, str]] = {
    "/": OVERVIEW_VIEW,
    "/pivot": PIVOT_VIEW,
    "/board": MARKET_VIEW,
    "/market": MARKET_VIEW,
}
QUERY_MAX: Final = 2_000
LABEL_MAX: Final = 120
TOKEN_MAX: Final = 200
# A wall screen opens its link at every reload: the last-used time is written at most this often.
USE_STAMP_EVERY: Final = timedelta(minutes=5)

_ID = re.compile(r"^[0-9a-f]{32}$")
_LINKS = SignedLink.__table__
_USERS = User.__table__

Status = Literal["active", "expired", "revoked", "dead"]
DenyReason = Literal["bad_signature", "unknown", "revoked", "expired", "maker_disabled", "maker_unknown",
                     "out_of_scope", "lost_permission"]
# (active, scope) of a maker — or (active, scope, permissions), and then a maker who may no
# longer open the link's page takes the link down with them.
MakerState = Callable[[str], "tuple[bool, DataScope] | tuple[bool, DataScope, frozenset[str]] | None"]
AuditFn = Callable[..., None]

_DENIALS: Final[dict[str, str]] = {
    "bad_signature": "this link is not valid (its signature does not match)",
    "unknown": "this link does not exist",
    "revoked": "this link was revoked",
    "expired": "this link has expired",
    "maker_disabled": "the user who made this link can no longer sign in",
    "maker_unknown": "the user who made this link no longer exists",
    "out_of_scope": "the user who made this link may no longer see its data",
    "lost_permission": "the user who made this link may no longer see this page",
}


def _maker_allows(state: tuple[Any, ...] | None, scope: DataScope, path: str) -> DenyReason | None:
    """Why a maker's current state stops a link of ``scope`` to ``path`` (None: it does not)."""
    if state is None:
        return "maker_unknown"
    if not state[0]:
        return "maker_disabled"
    if not scope.within(state[1]):
        return "out_of_scope"
    if len(state) > 2 and PAGE_PERMISSIONS[path] not in state[2]:
        return "lost_permission"
    return None


# Where the app keeps its links service for the API (``server.extensions``).
LINKS_KEY: Final = "deskboard.links"

class LinkError(ValueError):
    """A link request that cannot be carried out; the message says why (and names the field)."""

    status: ClassVar[int] = 400


class InvalidLinkError(LinkError):
    pass


class LinkNotFoundError(LinkError):
    status = 404


class LinkDeniedError(Exception):
    """Opening a link was refused; ``reason`` is one of ``DenyReason``."""

    def __init__(self, reason: DenyReason) -> None:
        super().__init__(_DENIALS[reason])
        self.reason: DenyReason = reason


@dataclass(frozen=True)
class LinkInfo:
    id: str
    maker: str
    label: str
    path: str
    query: str
    scope: DataScope
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    status: Status

    @property
    def href(self) -> str:
        """The view the link shows, relative to the site root."""
        return self.path + ("?" + self.query if self.query else "")

    def public(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {"id": self.id, "maker": self.maker, "label": self.label, "path": self.path, "query": self.query,
                "href": self.href, "scope": self.scope.as_dict(), "created_at": iso(self.created_at),
                "expires_at": iso(self.expires_at), "revoked_at": iso(self.revoked_at),
                "last_used_at": iso(self.last_used_at), "status": self.status}


# -- input cleaning ------------------------------------------------------------------------
def clean_path(path: object) -> str:
    if not isinstance(path, str) or path not in PAGE_PERMISSIONS:
        raise InvalidLinkError(f"path: a link shows one of the pages {', '.join(PAGE_PERMISSIONS)}")
    return path


def clean_query(query: object) -> str:
    if query is None:
        return ""
    if not isinstance(query, str):
        raise InvalidLinkError("query: expected the page's URL query as text")
    text = query.removeprefix("?")
    if len(text) > QUERY_MAX:
        raise InvalidLinkError(f"query: at most {QUERY_MAX:,} characters (got {len(text):,})")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in text):
        raise InvalidLinkError("query: control characters and line breaks are not allowed")
    if "#" in text:
        raise InvalidLinkError("query: a URL query has no '#' part")
    return text


def clean_label(label: object) -> str:
    if not isinstance(label, str):
        raise InvalidLinkError("label: expected text")
    cleaned = unicodedata.normalize("NFC", label).strip()
    if len(cleaned) > LABEL_MAX:
        raise InvalidLinkError(f"label: at most {LABEL_MAX} characters (got {len(cleaned):,})")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in cleaned):
        raise InvalidLinkError("label: control characters and line breaks are not allowed")
    return cleaned


def clean_days(days: object, max_days: int) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= max_days:
        raise InvalidLinkError(f"days: expected a whole number of days from 1 to {max_days}")
    return days


def clean_link_id(link_id: object) -> str:
    if not isinstance(link_id, str) or not _ID.match(link_id):
        raise InvalidLinkError("id: expected a link id (32 hexadecimal characters)")
    return link_id


def clean_actor(actor: object) -> str:
    if not isinstance(actor, str) or not 0 < len(actor) <= USER_ID_MAX:
        raise InvalidLinkError("actor: expected the id of the user making the change")
    return actor


def _as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


# -- service -------------------------------------------------------------------------------
class Links:
    """Make, open, list and revoke signed read-only links in one records store."""

    def __init__(self, meta: MetaStore, secret_key: str, *, maker_state: MakerState, max_days: int,
                 audit: AuditFn | None = None, clock: Callable[[], datetime] = utc_now) -> None:
        if not isinstance(secret_key, str) or not secret_key:
            raise ValueError("signed links need the server's secret key")
        if isinstance(max_days, bool) or not isinstance(max_days, int) or max_days < 1:
            raise ValueError(f"max_days must be a whole number of days, at least 1 (got {max_days!r})")
        self.meta = meta
        self.max_days = max_days
        self._serializer = URLSafeSerializer(secret_key, salt=SALT)
        self._maker_state = maker_state
        self._audit = audit
        self._clock = clock

    # -- making --------------------------------------------------------------------------
    def create(self, maker: Principal, path: str, query: str = "", *, days: int,
               label: str = "") -> tuple[str, LinkInfo]:
        """A new link of ``path?query`` with the maker's scope: its URL path (shown once) and its record."""
        if maker.via == "link":
            raise InvalidLinkError("a signed link cannot make another link")
        path = clean_path(path)
        if not maker.can(PAGE_PERMISSIONS[path]):
            raise InvalidLinkError(f"path: you may not see {path} yourself, so you cannot share it")
        maker_id = clean_actor(maker.id)
        query, label, days = clean_query(query), clean_label(label), clean_days(days, self.max_days)
        link_id = secrets.token_hex(16)
        now = self._clock()
        with self.meta.write() as conn:
            _ensure_user(conn, maker_id, now)
            conn.execute(insert(_LINKS).values(
                id=link_id, maker=maker_id, label=label, path=path, query=query, scope=maker.scope.as_dict(),
                created_at=now, expires_at=now + timedelta(days=days)))
            row = conn.execute(select(_LINKS).where(_LINKS.c.id == link_id)).one()
        info = self._info(row, {maker_id: (True, maker.scope)}, now)
        self._record(maker_id, "link.create", link_id, {"path": path, "days": days, "label": label,
                                                        "scope": maker.scope.as_dict()})
        return URL_PREFIX + self._serializer.dumps(link_id), info

    # -- opening -------------------------------------------------------------------------
    def resolve(self, token: str) -> Principal:
        """The principal of a link's token, or ``LinkDeniedError`` saying why it does not open."""
        return self.open(token)[0]

    def open(self, token: str) -> tuple[Principal, LinkInfo]:
        """``resolve`` with the link's record (its ``href`` is the view to show)."""
        link_id = self._verified_id(token)
        now = self._clock()
        with self.meta.read() as conn:
            row = conn.execute(select(_LINKS).where(_LINKS.c.id == link_id)).first()
        if row is None or row.path not in PAGE_PERMISSIONS:  # a page no longer offered: nothing to show
            raise LinkDeniedError("unknown")
        if row.revoked_at is not None:
            raise LinkDeniedError("revoked")
        if _as_utc(row.expires_at) <= now:
            raise LinkDeniedError("expired")
        state = self._maker_state(row.maker)
        scope = DataScope.from_dict(row.scope)
        denied = _maker_allows(state, scope, row.path)
        if denied is not None:
            raise LinkDeniedError(denied)
        last_used = _as_utc(row.last_used_at)
        if last_used is None or now - last_used >= USE_STAMP_EVERY:
            with self.meta.write() as conn:
                conn.execute(update(_LINKS).where(_LINKS.c.id == link_id).values(last_used_at=now))
            last_used = now
        info = replace(self._info(row, {row.maker: state}, now), last_used_at=last_used)
        principal = Principal(id=f"link:{link_id}", display_name=row.label or "Signed link", roles=frozenset(),
                              permissions=frozenset({PAGE_PERMISSIONS[row.path]}), scope=scope, via="link",
                              link_path=row.path, link_query=row.query)
        return principal, info

    def _verified_id(self, token: object) -> str:
        if not isinstance(token, str) or not 0 < len(token) <= TOKEN_MAX:
            raise LinkDeniedError("bad_signature")
        try:
            link_id = self._serializer.loads(token)
        except (BadData, UnicodeError, ValueError):
            raise LinkDeniedError("bad_signature") from None
        # base64 ignores some trailing bits, so another spelling of the same signature would
        # verify: only the token this server made opens the link.
        if not isinstance(link_id, str) or not _ID.match(link_id) \
                or not hmac.compare_digest(self._serializer.dumps(link_id), token):
            raise LinkDeniedError("bad_signature")
        return link_id

    # -- listing and revoking ------------------------------------------------------------
    def get(self, link_id: str) -> LinkInfo:
        link_id = clean_link_id(link_id)
        with self.meta.read() as conn:
            row = conn.execute(select(_LINKS).where(_LINKS.c.id == link_id)).first()
        if row is None:
            raise LinkNotFoundError(f"there is no link {link_id}")
        return self._info(row, {}, self._clock())

    def list(self, maker: str | None = None) -> list[LinkInfo]:
        """Links newest first: one maker's, or everyone's (for admins) when ``maker`` is None."""
        query = select(_LINKS).order_by(_LINKS.c.created_at.desc(), _LINKS.c.id)
        if maker is not None:
            query = query.where(_LINKS.c.maker == clean_actor(maker))
        with self.meta.read() as conn:
            rows = conn.execute(query).all()
        states: dict[str, tuple[bool, DataScope] | None] = {}
        now = self._clock()
        return [self._info(row, states, now) for row in rows]

    def revoke(self, link_id: str, *, actor: str) -> LinkInfo:
        """Stop the link for good (revoking a revoked link changes nothing)."""
        link_id, actor = clean_link_id(link_id), clean_actor(actor)
        now = self._clock()
        with self.meta.write() as conn:
            revoked = conn.execute(update(_LINKS).where(_LINKS.c.id == link_id, _LINKS.c.revoked_at.is_(None))
                                   .values(revoked_at=now)).rowcount
            row = conn.execute(select(_LINKS).where(_LINKS.c.id == link_id)).first()
        if row is None:
            raise LinkNotFoundError(f"there is no link {link_id}")
        if revoked:
            self._record(actor, "link.revoke", link_id, {"maker": row.maker, "path": row.path})
        return self._info(row, {}, now)

    # -- helpers -------------------------------------------------------------------------
    def _info(self, row: Any, states: dict[str, Any], now: datetime) -> LinkInfo:
        scope = DataScope.from_dict(row.scope)
        expires_at = _as_utc(row.expires_at)
        assert expires_at is not None
        if row.revoked_at is not None:
            status: Status = "revoked"
        elif expires_at <= now:
            status = "expired"
        else:
            if row.maker not in states:
                states[row.maker] = self._maker_state(row.maker)
            alive = row.path in PAGE_PERMISSIONS and _maker_allows(states[row.maker], scope, row.path) is None
            status = "active" if alive else "dead"
        created_at = _as_utc(row.created_at)
        assert created_at is not None
        return LinkInfo(id=row.id, maker=row.maker, label=row.label, path=row.path, query=row.query, scope=scope,
                        created_at=created_at, expires_at=expires_at, revoked_at=_as_utc(row.revoked_at),
                        last_used_at=_as_utc(row.last_used_at), status=status)

    def _record(self, actor: str, action: str, target: str, detail: Mapping[str, Any]) -> None:
        # After the commit: the audit log names only what happened, and on SQLite its own write
        # would wait on the lock this transaction holds.
        if self._audit is not None:
            self._audit(actor, action, target=target, detail=dict(detail))


def _ensure_user(conn: Connection, user_id: str, now: datetime) -> None:
    # Links point at users; a maker who never saved anything may have no row yet.
    dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(dialect_insert(_USERS).values(id=user_id, display_name=user_id, created_at=now)
                 .on_conflict_do_nothing(index_elements=[_USERS.c.id]))
