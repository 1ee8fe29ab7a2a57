"""Personal API tokens on SQLite and PostgreSQL: shown once, hashed at rest, refused when
revoked, expired, malformed or owned by a disabled user."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from backend.access.accounts import AccountNotFoundError, Accounts, InvalidAccountError
from backend.access.audit import Audit
from backend.access.passwords import make_hasher
from backend.access.permissions import BUILT_IN_ROLES
from backend.access.principal import DataScope
from backend.access.roles import Roles
from backend.access.tokens import (
    LIVE_TOKENS_MAX,
    InvalidTokenRequestError,
    TokenNotFoundError,
    Tokens,
    TooManyTokensError,
)
from backend.config import AccessSettings
from backend.meta.store import MetaStore
from tests.backend.access.flag_link_support import Clock

PASSWORD = "correct staple 2024"



@pytest.fixture
def tokens(meta: MetaStore, clock: Clock) -> Tokens:
    audit = Audit(meta, clock=clock)
    accounts = Accounts(meta, AccessSettings(), Roles(meta, audit, clock=clock), audit, clock=clock,
                        hasher=make_hasher(time_cost=1, memory_cost=8))
    accounts.create_user("ana", password=PASSWORD, roles=["analyst"], actor="ana",
                         scope=DataScope(desks=frozenset({"Rates"})))
    accounts.create_user("bo", password=PASSWORD, actor="bo")
    return Tokens(meta, accounts, audit, clock=clock)


def count_queries(meta: MetaStore) -> list[str]:
    seen: list[str] = []
    event.listen(meta.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_a_token_is_shown_once_and_signs_in_as_its_owner(tokens: Tokens, clock: Clock) -> None:
    raw, info = tokens.create("ana", "  nightly export  ")
    assert raw.startswith("dsk_") and len(raw) == 47
    assert (info.user_id, info.name, info.prefix, info.expires_at) == ("ana", "nightly export", raw[:8], None)
    assert info.live(clock.now)
    principal = tokens.verify(raw)
    assert principal is not None
    assert (principal.id, principal.via) == ("ana", "token")
    assert principal.permissions == BUILT_IN_ROLES["analyst"]
    assert principal.scope == DataScope(desks=frozenset({"Rates"}))
    assert tokens.list("ana") == [tokens.list("ana")[0]]
    assert tokens.list("ana")[0].last_used_at == clock.now
    assert tokens.list("bo") == []


def test_tokens_are_stored_only_as_hashes(tokens: Tokens, meta: MetaStore, meta_url: str) -> None:
    made = [tokens.create("ana", f"t{i}")[0] for i in range(3)]
    with meta.read() as conn:
        rows = conn.execute(text("SELECT * FROM api_tokens")).all()
        audit = conn.execute(text("SELECT * FROM audit_log")).all()
    dump = repr(rows) + repr(audit)
    for raw in made:
        assert raw not in dump
        assert raw[8:] not in dump  # not even the secret part beyond the shown prefix
        assert hashlib.sha256(raw.encode()).hexdigest() in dump
    if meta_url.startswith("sqlite"):
        base = Path(meta_url.removeprefix("sqlite:///"))
        data = b"".join(p.read_bytes() for p in (base, base.with_name(base.name + "-wal")) if p.exists())
        assert all(raw[8:].encode() not in data for raw in made)


def test_revoked_expired_and_disabled_tokens_sign_nothing_in(tokens: Tokens, clock: Clock) -> None:
    revoked, info = tokens.create("ana", "old script")
    tokens.revoke("ana", info.id, actor="ana")
    assert tokens.verify(revoked) is None
    tokens.revoke("ana", info.id, actor="ana")  # again: no change, no error
    expiring, _ = tokens.create("ana", "week", expires_days=7)
    clock.advance(days=6, hours=23)
    assert tokens.verify(expiring) is not None
    clock.advance(hours=1)
    assert tokens.verify(expiring) is None
    kept, _ = tokens.create("ana", "kept")
    tokens.accounts.set_disabled("ana", True, actor="admin")
    assert tokens.verify(kept) is None
    tokens.accounts.set_disabled("ana", False, actor="admin")
    assert tokens.verify(kept) is not None
    assert [e.action for e in tokens.audit.list(actor="ana", limit=10)].count("token.revoke") == 1


def test_another_users_token_cannot_be_revoked_through_ones_own_name(tokens: Tokens) -> None:
    raw, info = tokens.create("ana", "mine")
    with pytest.raises(TokenNotFoundError):
        tokens.revoke("bo", info.id, actor="bo")
    assert tokens.verify(raw) is not None
    tokens.revoke("ana", info.id, actor="admin")  # an admin names the owner
    assert tokens.audit.list(action="token.revoke")[0].actor == "admin"


HOSTILE_TOKENS: list[Any] = [None, 42, b"dsk_" + b"a" * 43, "", "dsk_", "abc_" + "a" * 43, "dsk_" + "a" * 42,
                             "dsk_" + "a" * 44, "dsk_" + "é" * 43, "dsk_" + "a" * 10_000, "dsk_" + "a" * 42 + "\n",
                             "dsk_' or 1=1 --" + "a" * 28, "DSK_" + "a" * 43]


def test_malformed_tokens_are_refused_without_a_query(tokens: Tokens, meta: MetaStore) -> None:
    queries = count_queries(meta)
    for raw in HOSTILE_TOKENS:
        assert tokens.verify(raw) is None, raw
    assert queries == []
    assert tokens.verify("dsk_" + "a" * 43) is None  # well formed, unknown: one lookup
    assert [q for q in queries if q.startswith("SELECT")] == [queries[-1]]


def test_last_use_is_stamped_at_most_once_a_minute(tokens: Tokens, meta: MetaStore, clock: Clock) -> None:
    raw, _ = tokens.create("ana", "busy script")
    tokens.verify(raw)
    first = tokens.list("ana")[0].last_used_at
    queries = count_queries(meta)
    clock.advance(seconds=30)
    for _ in range(5):
        tokens.verify(raw)
    assert not any(q.lstrip().upper().startswith("UPDATE") for q in queries)
    assert tokens.list("ana")[0].last_used_at == first
    clock.advance(seconds=30)
    tokens.verify(raw)
    assert tokens.list("ana")[0].last_used_at == clock.now


def test_at_most_twenty_live_tokens_per_user(tokens: Tokens, clock: Clock) -> None:
    made = [tokens.create("ana", f"t{i}", expires_days=1 if i == 0 else None)[1] for i in range(LIVE_TOKENS_MAX)]
    with pytest.raises(TooManyTokensError, match="at most 20"):
        tokens.create("ana", "one more")
    tokens.revoke("ana", made[5].id, actor="ana")
    tokens.create("ana", "after a revoke")
    clock.advance(days=1)  # the first one expired: room for one more
    tokens.create("ana", "after an expiry")
    with pytest.raises(TooManyTokensError):
        tokens.create("ana", "still too many")
    assert len(tokens.list("ana")) == LIVE_TOKENS_MAX + 2
    tokens.create("bo", "bo's own")


BAD_REQUESTS: list[tuple[Any, Any, Any, type]] = [
    ("ana", "", None, InvalidTokenRequestError), ("ana", "  ", None, InvalidTokenRequestError),
    ("ana", None, None, InvalidTokenRequestError), ("ana", "x" * 121, None, InvalidTokenRequestError),
    ("ana", "two\nlines", None, InvalidTokenRequestError), ("ana", "t", 0, InvalidTokenRequestError),
    ("ana", "t", -5, InvalidTokenRequestError), ("ana", "t", 10**6, InvalidTokenRequestError),
    ("ana", "t", "7", InvalidTokenRequestError), ("ana", "t", 1.5, InvalidTokenRequestError),
    ("ana", "t", True, InvalidTokenRequestError), ("ghost", "t", None, AccountNotFoundError),
    ("' or 1=1 --", "t", None, InvalidAccountError), (None, "t", None, InvalidAccountError),
]


def test_bad_token_requests_are_refused_and_nothing_is_written(tokens: Tokens, meta: MetaStore) -> None:
    # One store for all cases: a PostgreSQL database per case would make the suite slow.
    for user, name, days, error in BAD_REQUESTS:
        with pytest.raises(error):
            tokens.create(user, name, expires_days=days)
    with meta.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM api_tokens")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM audit_log WHERE action = 'token.create'")).scalar_one() == 0


def test_bad_revoke_requests_are_refused(tokens: Tokens) -> None:
    _, info = tokens.create("ana", "t")
    for token_id in [0, -1, "1", None, True, 2**40]:
        with pytest.raises(InvalidTokenRequestError):
            tokens.revoke("ana", token_id, actor="ana")
    with pytest.raises(TokenNotFoundError):
        tokens.revoke("ana", info.id + 1000, actor="ana")
    with pytest.raises(InvalidTokenRequestError):
        tokens.revoke("ana", info.id, actor="")
    assert tokens.list("ana")[0].revoked_at is None
