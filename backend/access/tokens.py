"""Personal API tokens: ``dsk_`` and 32 random bytes, shown once, stored only as a sha256 hash.

A request's token is looked up by its hash (an index lookup, no comparison of secrets in
Python), and answers with the owner's principal as it is now: a disabled owner, a revoked
or an expired token signs nothing in. Malformed tokens are refused before any query.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, insert, select, update

from backend.access.accounts import AccountNotFoundError, Accounts, clean_user_id
from backend.access.audit import Audit
from backend.access.principal import Principal
from backend.meta.models import ApiToken, UserCredentials, utc_now
from backend.meta.store import MetaStore

TOKEN_PREFIX: Final = "dsk_"
TOKEN_BYTES: Final = 32
# "dsk_" + 43 characters of urlsafe base64 (32 bytes, no padding).
TOKEN: Final = re.compile(r"^dsk_[A-Za-z0-9_-]{43}$")
TOKEN_MAX_CHARS: Final = 100
SHOWN_PREFIX_CHARS: Final = 8
LIVE_TOKENS_MAX: Final = 20
EXPIRES_DAYS_MAX: Final = 3660
NAME_MAX: Final = 120
# last_used_at is a hint for the user, not a log: stamping it once a minute keeps a busy
# script from writing to the records store on every request.
STAMP_EVERY: Final = timedelta(minutes=1)
_TOKENS = ApiToken.__table__
_CREDS = UserCredentials.__table__


class TokenError(ValueError):
    """A token request that cannot be carried out; the message can be shown to the user."""


class InvalidTokenRequestError(TokenError):
    pass


class TooManyTokensError(TokenError):
    pass


class TokenNotFoundError(TokenError):
    pass


@dataclass(frozen=True)
class TokenInfo:
    """What a token list shows: never the token or its hash."""

    id: int
    user_id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def live(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("ascii")).hexdigest()


def well_formed(raw: object) -> bool:
    return isinstance(raw, str) and len(raw) <= TOKEN_MAX_CHARS and raw.isascii() and bool(TOKEN.match(raw))


def clean_token_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidTokenRequestError("name: give the token a name")
    cleaned = unicodedata.normalize("NFC", name).strip()
    if not cleaned:
        raise InvalidTokenRequestError("name: give the token a name")
    if len(cleaned) > NAME_MAX:
        raise InvalidTokenRequestError(f"name: at most {NAME_MAX} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in cleaned):
        raise InvalidTokenRequestError("name: control characters and line breaks are not allowed")
    return cleaned


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _info(row: Any) -> TokenInfo:
    return TokenInfo(id=row.id, user_id=row.user_id, name=row.name, prefix=row.prefix,
                     created_at=_as_utc(row.created_at), expires_at=_as_utc(row.expires_at),  # type: ignore[arg-type]
                     last_used_at=_as_utc(row.last_used_at), revoked_at=_as_utc(row.revoked_at))


class Tokens:
    """Create, verify, list and revoke personal API tokens."""

    def __init__(self, meta: MetaStore, accounts: Accounts, audit: Audit, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.meta = meta
        self.accounts = accounts
        self.audit = audit
        self.clock = clock

    def create(self, user_id: str, name: str, *, expires_days: int | None = None) -> tuple[str, TokenInfo]:
        """A new token for the user: (the raw token, to show once; what the list will show)."""
        user_id, name = clean_user_id(user_id), clean_token_name(name)
        if expires_days is not None and (isinstance(expires_days, bool) or not isinstance(expires_days, int)
                                         or not 1 <= expires_days <= EXPIRES_DAYS_MAX):
            raise InvalidTokenRequestError(f"expires_days: a whole number of days from 1 to {EXPIRES_DAYS_MAX}")
        raw = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        now = self.clock()
        expires_at = None if expires_days is None else now + timedelta(days=expires_days)
        with self.meta.write() as conn:
            if conn.execute(select(_CREDS.c.user_id).where(_CREDS.c.user_id == user_id)).first() is None:
                raise AccountNotFoundError(f"there is no user {user_id!r}")
            live = conn.execute(select(func.count()).select_from(_TOKENS).where(
                _TOKENS.c.user_id == user_id, _TOKENS.c.revoked_at.is_(None),
                (_TOKENS.c.expires_at.is_(None)) | (_TOKENS.c.expires_at > now))).scalar_one()
            if live >= LIVE_TOKENS_MAX:
                raise TooManyTokensError(f"at most {LIVE_TOKENS_MAX} tokens at a time: revoke one you no longer use")
            token_id = conn.execute(insert(_TOKENS).values(
                user_id=user_id, name=name, token_hash=token_hash(raw), prefix=raw[:SHOWN_PREFIX_CHARS],
                created_at=now, expires_at=expires_at).returning(_TOKENS.c.id)).scalar_one()
            self.audit.write(conn, user_id, "token.create", target=user_id,
                             detail={"id": token_id, "name": name, "expires_days": expires_days})
            row = conn.execute(select(_TOKENS).where(_TOKENS.c.id == token_id)).one()
        return raw, _info(row)

    def verify(self, raw: str) -> Principal | None:
        """The owner's principal (via "token") for a live token; None for anything else."""
        if not well_formed(raw):
            return None
        now = self.clock()
        with self.meta.read() as conn:
            row = conn.execute(select(_TOKENS).where(_TOKENS.c.token_hash == token_hash(raw))).first()
        if row is None or row.revoked_at is not None:
            return None
        expires_at = _as_utc(row.expires_at)
        if expires_at is not None and expires_at <= now:
            return None
        principal = self.accounts.principal(row.user_id)
        if principal is None:
            return None
        last_used = _as_utc(row.last_used_at)
        if last_used is None or now - last_used >= STAMP_EVERY:
            with self.meta.write() as conn:
                conn.execute(update(_TOKENS).where(
                    _TOKENS.c.id == row.id,
                    (_TOKENS.c.last_used_at.is_(None)) | (_TOKENS.c.last_used_at <= now - STAMP_EVERY),
                ).values(last_used_at=now))
        return replace(principal, via="token")

    def revoke(self, user_id: str, token_id: int, *, actor: str) -> None:
        user_id = clean_user_id(user_id)
        if isinstance(token_id, bool) or not isinstance(token_id, int) or not 0 < token_id < 2**31:
            raise InvalidTokenRequestError("id: expected a token id")
        if not isinstance(actor, str) or not actor.strip():
            raise InvalidTokenRequestError("actor: expected who revokes the token")
        with self.meta.write() as conn:
            changed = conn.execute(update(_TOKENS).where(
                _TOKENS.c.id == token_id, _TOKENS.c.user_id == user_id, _TOKENS.c.revoked_at.is_(None),
            ).values(revoked_at=self.clock())).rowcount
            if changed == 0:
                exists = conn.execute(select(_TOKENS.c.id).where(
                    _TOKENS.c.id == token_id, _TOKENS.c.user_id == user_id)).first()
                if exists is None:
                    raise TokenNotFoundError(f"{user_id!r} has no token with id {token_id}")
                return  # revoked already: revoking again changes nothing
            self.audit.write(conn, actor, "token.revoke", target=user_id, detail={"id": token_id})

    def list(self, user_id: str) -> list[TokenInfo]:
        """The user's tokens, newest first, revoked and expired ones included (marked by their dates)."""
        user_id = clean_user_id(user_id)
        with self.meta.read() as conn:
            rows = conn.execute(select(_TOKENS).where(_TOKENS.c.user_id == user_id)
                                .order_by(_TOKENS.c.id.desc())).all()
        return [_info(r) for r in rows]
