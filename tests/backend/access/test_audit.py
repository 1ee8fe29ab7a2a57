"""The audit log on SQLite and PostgreSQL: entries newest first and paged, odd values stored
rather than failing the action, big details truncated, and no secret ever stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from backend.access.accounts import Accounts
from backend.access.audit import DETAIL_MAX_BYTES, REDACTED, Audit, AuditQueryError
from backend.access.passwords import make_hasher
from backend.access.roles import Roles
from backend.access.tokens import Tokens
from backend.config import AccessSettings
from backend.meta.store import MetaStore
from tests.backend.access.flag_link_support import Clock


@pytest.fixture
def audit(meta: MetaStore, clock: Clock) -> Audit:
    return Audit(meta, clock=clock)


def test_entries_come_newest_first_filtered_and_paged(audit: Audit, clock: Clock) -> None:
    for i in range(25):
        audit.record("root" if i % 2 else "ops", "user.create" if i % 3 else "user.roles", target=f"u{i}",
                     detail={"i": i}, address="10.1.2.3", request_id=f"r{i}")
        clock.now += timedelta(minutes=1)
    everything = audit.list()
    assert [e.target for e in everything] == [f"u{i}" for i in reversed(range(25))]
    first = everything[-1]
    assert (first.actor, first.action, first.detail, first.address, first.request_id) == (
        "ops", "user.roles", {"i": 0}, "10.1.2.3", "r0")
    assert first.at == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    pages, before = [], None
    while True:
        page = audit.list(limit=10, before_id=before)
        if not page:
            break
        pages.append(page)
        before = page[-1].id
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [e for p in pages for e in p] == everything
    assert {e.actor for e in audit.list(actor="root")} == {"root"}
    assert len(audit.list(actor="root")) == 12
    assert all(e.action == "user.roles" for e in audit.list(action="user.roles"))
    since = datetime(2026, 12, 2, 8, 20, tzinfo=UTC)
    assert [e.target for e in audit.list(since=since)] == [f"u{i}" for i in reversed(range(20, 25))]
    # another time zone names the same instant
    assert audit.list(since=since.astimezone(timezone(timedelta(hours=7)))) == audit.list(since=since)
    assert audit.list(actor="' or 1=1 --") == []


BAD_FILTERS: list[dict[str, Any]] = [
    {"limit": 0}, {"limit": 1001}, {"limit": "10"}, {"limit": True}, {"before_id": 0}, {"before_id": "5"},
    {"actor": 5}, {"actor": "x" * 65}, {"action": ["a"]}, {"since": "2026-01-01"},
    {"since": datetime(2026, 1, 1)},
]


def test_bad_listing_filters_are_refused(audit: Audit) -> None:
    for kwargs in BAD_FILTERS:
        with pytest.raises(AuditQueryError):
            audit.list(**kwargs)


def test_odd_values_are_stored_as_text_rather_than_failing_the_action(audit: Audit) -> None:
    audit.record(None, 42, target="t" * 1000, detail={"when": datetime(2026, 1, 1, tzinfo=UTC), "set": {"b", "a"},
                                                      "obj": object, 5: "int key"},  # type: ignore[arg-type, dict-item]
                 address="a" * 500, request_id=None)  # type: ignore[arg-type]
    entry = audit.list()[0]
    assert (entry.actor, entry.action, len(entry.target), len(entry.address), entry.request_id) == ("", "42", 200, 64, "")
    assert entry.detail["when"] == "2026-01-01 00:00:00+00:00"
    assert entry.detail["set"] == ["a", "b"]
    assert entry.detail["5"] == "int key"
    audit.record("root", "x", detail="not a mapping")  # type: ignore[arg-type]
    assert audit.list()[0].detail == {"value": "not a mapping"}


def test_a_big_detail_is_truncated_not_refused(audit: Audit) -> None:
    audit.record("root", "user.scope", detail={"desks": [f"desk {i}" for i in range(100_000)]})
    entry = audit.list()[0]
    assert entry.detail["truncated"] is True
    assert entry.detail["preview"].startswith('{"desks":["desk 0","desk 1"')
    assert len(json.dumps(entry.detail, ensure_ascii=False).encode()) <= DETAIL_MAX_BYTES
    nested: dict[str, Any] = {}
    inner = nested
    for _ in range(200):
        inner["next"] = {}
        inner = inner["next"]
    audit.record("root", "deep", detail=nested)
    assert audit.list()[0].action == "deep"


def test_secret_looking_details_are_redacted(audit: Audit) -> None:
    audit.record("root", "x", detail={"password": "hunter2hunter2", "new_password": "p" * 20,
                                      "nested": [{"api_token": "dsk_secretsecret", "token_hash": "ab" * 32}],
                                      "Secret": "s3cr3t-value", "name": "kept"})
    entry = audit.list()[0]
    assert entry.detail == {"password": REDACTED, "new_password": REDACTED, "nested": [{"api_token": REDACTED,
                            "token_hash": REDACTED}], "Secret": REDACTED, "name": "kept"}


def test_no_password_link_or_token_reaches_the_store_through_any_action(meta: MetaStore, clock: Clock,
                                                                      meta_url: str) -> None:
    audit = Audit(meta, clock=clock)
    accounts = Accounts(meta, AccessSettings(lockout_attempts=2), Roles(meta, audit, clock=clock), audit,
                        clock=clock, hasher=make_hasher(time_cost=1, memory_cost=8))
    tokens = Tokens(meta, accounts, audit, clock=clock)
    secrets: list[str] = ["first secret phrase 1", "second secret phrase 2", "third secret phrase 3",
                          "failed guess phrase 4"]
    accounts.create_user("ana", password=secrets[0], actor="root")
    accounts.set_password("ana", secrets[1], actor="root")
    accounts.change_password("ana", secrets[1], secrets[2])
    for _ in range(2):
        with pytest.raises(ValueError):
            accounts.authenticate("ana", secrets[3])
    secrets.append(accounts.issue_reset("ana", actor="root"))
    secrets.append(accounts.issue_sign_in_link("ana", actor="root", minutes=10))
    accounts.redeem_link(secrets[-1])
    raw, info = tokens.create("ana", "script")
    secrets.append(raw)
    assert tokens.verify(raw) is not None
    tokens.revoke("ana", info.id, actor="ana")
    with meta.read() as conn:
        dump = "\n".join(repr(conn.execute(text(f"SELECT * FROM {t}")).all())
                         for t in ("audit_log", "user_credentials", "sign_in_links", "api_tokens", "users"))
    assert len(audit.list()) >= 9
    for secret in secrets:
        assert secret not in dump
    assert raw[8:] not in dump
    if meta_url.startswith("sqlite"):
        base = Path(meta_url.removeprefix("sqlite:///"))
        data = b"".join(p.read_bytes() for p in (base, base.with_name(base.name + "-wal")) if p.exists())
        for secret in secrets:
            assert secret.encode()[4:] not in data
