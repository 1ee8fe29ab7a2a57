"""Feature flags on SQLite and on the real PostgreSQL server: writes, refusals, targeting, cache.

After every refused write the stored flags are compared with a snapshot taken before it, and
the audit log is checked to hold nothing for it.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from backend.access.flags import (
    DuplicateFlagError,
    FlagNotFoundError,
    Flags,
    InvalidFlagError,
    StaleFlagError,
    bucket,
)
from backend.access.principal import Principal
from backend.meta import open_meta
from tests.backend.access.flag_link_support import AuditLog, Clock

HOSTILE_KEYS = ["", "a", "A", "Ab", "1abc", "_x", ".x", "-x", "a" * 65, "a b", "a/b", "../etc", "a\u0000b",
                "ключ", "a;DROP", "' OR 1=1 --", "<script>", "a\nb", "aé", None, 5, ["ab"], b"ab"]


@pytest.fixture
def meta_db_prefix() -> str:
    return "flags"


class Ticker:
    """A monotonic clock the test moves by hand (the cache's age)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def audit() -> AuditLog:
    return AuditLog()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ticker() -> Ticker:
    return Ticker()


@pytest.fixture
def flags(meta_url: str, audit: AuditLog, clock: Clock, ticker: Ticker) -> Flags:
    return Flags(open_meta(meta_url), audit=audit, clock=clock, monotonic=ticker)


def snapshot(service: Flags) -> list[tuple[str, ...]]:
    with service.meta.read() as conn:
        rows = conn.execute(text("SELECT * FROM feature_flags ORDER BY key")).all()
    return [tuple(str(v) for v in r) for r in rows]


def _user(user_id: str, *roles: str) -> Principal:
    return Principal(id=user_id, roles=frozenset(roles))


# -- writing ------------------------------------------------------------------------------------
def test_a_flag_is_created_read_and_listed_by_key(flags: Flags, audit: AuditLog, clock: Clock) -> None:
    made = flags.create("new.grid", description="  The new grid  ", enabled=True, rollout=25,
                        roles=["trader", "analyst", "trader"], users=["ana"], actor="admin")
    flags.create("a-first_flag", actor="admin")
    assert made.description == "The new grid" and made.roles == ("trader", "analyst") and made.users == ("ana",)
    assert made.version == 1 and made.updated_by == "admin" and made.updated_at == clock.now
    assert flags.get("new.grid") == made
    assert [f.key for f in flags.list()] == ["a-first_flag", "new.grid"]
    default = flags.get("a-first_flag")
    assert (default.enabled, default.rollout, default.roles, default.users) == (False, 100, (), ())
    assert audit.actions() == [("admin", "flag.create", "new.grid"), ("admin", "flag.create", "a-first_flag")]
    assert audit.entries[0]["detail"]["flag"] == {"description": "The new grid", "enabled": True, "rollout": 25,
                                                  "roles": ["trader", "analyst"], "users": ["ana"]}
    assert made.public()["updated_at"] == clock.now.isoformat()


def test_a_duplicate_key_is_refused_and_nothing_changes(flags: Flags, audit: AuditLog) -> None:
    flags.create("dup", enabled=True, actor="admin")
    before = snapshot(flags)
    with pytest.raises(DuplicateFlagError, match="'dup' already exists"):
        flags.create("dup", enabled=False, rollout=1, actor="other")
    assert snapshot(flags) == before and len(audit.entries) == 1


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_keys_are_refused_everywhere(flags: Flags, audit: AuditLog, key: Any) -> None:
    flags.create("kept", actor="admin")
    before = snapshot(flags)
    for call in (lambda: flags.create(key, actor="admin"), lambda: flags.get(key),
                 lambda: flags.update(key, 1, enabled=True, actor="admin"), lambda: flags.delete(key, actor="admin")):
        with pytest.raises(InvalidFlagError, match="^key: "):
            call()
    if isinstance(key, str):
        assert not flags.is_on(key, _user("ana"))
    assert snapshot(flags) == before and len(audit.entries) == 1


def test_the_longest_and_shortest_keys_are_accepted(flags: Flags) -> None:
    for key in ("ab", "a" + "z" * 63, "a0_.-9"):
        assert flags.create(key, actor="admin").key == key


@pytest.mark.parametrize(("values", "field"), [
    ({"rollout": -1}, "rollout"), ({"rollout": 101}, "rollout"), ({"rollout": 50.5}, "rollout"),
    ({"rollout": True}, "rollout"), ({"rollout": "50"}, "rollout"), ({"rollout": None}, "rollout"),
    ({"enabled": "yes"}, "enabled"), ({"enabled": 1}, "enabled"), ({"enabled": None}, "enabled"),
    ({"roles": "trader"}, "roles"), ({"roles": [1]}, "roles"), ({"roles": ["a" * 65]}, "roles"),
    ({"roles": [f"r{i}" for i in range(201)]}, "roles"), ({"roles": ["<script>"]}, "roles"), ({"roles": [""]}, "roles"),
    ({"roles": ["ok", None]}, "roles"), ({"roles": {"trader": 1}}, "roles"), ({"roles": None}, "roles"),
    ({"users": ["x'; DROP TABLE users; --"]}, "users"), ({"users": ["a\nb"]}, "users"), ({"users": 5}, "users"),
    ({"users": ["u"] * 201}, "users"),
    ({"description": "d" * 501}, "description"), ({"description": "a\u0000b"}, "description"),
    ({"description": "line\nbreak"}, "description"), ({"description": 5}, "description"),
])
def test_bad_values_are_refused_naming_the_field(flags: Flags, audit: AuditLog, values: dict, field: str) -> None:
    flags.create("target", enabled=True, actor="admin")
    before = snapshot(flags)
    with pytest.raises(InvalidFlagError, match=f"^{field}: "):
        flags.create("other", actor="admin", **values)
    with pytest.raises(InvalidFlagError, match=f"^{field}: "):
        flags.update("target", 1, actor="admin", **values)
    assert snapshot(flags) == before and len(audit.entries) == 1


def test_the_largest_lists_are_accepted(flags: Flags) -> None:
    roles = [f"role{i}" for i in range(200)]
    users = [f"user.{i}@desk" + "x" * (64 - len(f"user.{i}@desk")) for i in range(200)]
    made = flags.create("big", roles=roles, users=users, description="d" * 500, actor="admin")
    assert list(made.roles) == roles and list(made.users) == users and all(len(u) == 64 for u in made.users)


def test_a_change_needs_the_current_version_and_a_stale_one_changes_nothing(flags: Flags, audit: AuditLog,
                                                                            clock: Clock) -> None:
    flags.create("f1", rollout=10, actor="admin")
    clock.advance(minutes=1)
    changed = flags.update("f1", 1, enabled=True, rollout=40, roles=["trader"], actor="bob")
    assert (changed.enabled, changed.rollout, changed.roles, changed.version) == (True, 40, ("trader",), 2)
    assert changed.updated_by == "bob" and changed.updated_at == clock.now
    before = snapshot(flags)
    with pytest.raises(StaleFlagError, match="now version 2"):
        flags.update("f1", 1, rollout=99, actor="carol")
    assert snapshot(flags) == before
    assert audit.actions() == [("admin", "flag.create", "f1"), ("bob", "flag.update", "f1")]
    assert audit.entries[1]["detail"] == {"version": 2, "changes": {
        "enabled": {"from": False, "to": True}, "rollout": {"from": 10, "to": 40},
        "roles": {"from": [], "to": ["trader"]}}}


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda f: f.update("f1", 1, actor="admin"), InvalidFlagError, "at least one"),
    (lambda f: f.update("f1", 1, updated_by="mallory", actor="admin"), InvalidFlagError, "^updated_by: not a field"),
    (lambda f: f.update("f1", 0, enabled=True, actor="admin"), InvalidFlagError, "^version: "),
    (lambda f: f.update("f1", True, enabled=True, actor="admin"), InvalidFlagError, "^version: "),
    (lambda f: f.update("f1", "1", enabled=True, actor="admin"), InvalidFlagError, "^version: "),
    (lambda f: f.update("nope", 1, enabled=True, actor="admin"), FlagNotFoundError, "no flag 'nope'"),
    (lambda f: f.update("f1", 1, enabled=True, actor=""), InvalidFlagError, "^actor: "),
    (lambda f: f.update("f1", 1, enabled=True, actor="x" * 65), InvalidFlagError, "^actor: "),
    (lambda f: f.delete("nope", actor="admin"), FlagNotFoundError, "no flag"),
    (lambda f: f.delete("f1", actor="admin", version=7), StaleFlagError, "now version 1"),
    (lambda f: f.create("f2", actor=None), InvalidFlagError, "^actor: "),
])
def test_bad_changes_are_refused_and_nothing_changes(flags: Flags, audit: AuditLog, call, error, message) -> None:
    flags.create("f1", actor="admin")
    before = snapshot(flags)
    with pytest.raises(error, match=message):
        call(flags)
    assert snapshot(flags) == before and len(audit.entries) == 1


def test_delete_removes_the_flag_and_checks_find_it_off(flags: Flags, audit: AuditLog) -> None:
    flags.create("gone", enabled=True, users=["ana"], actor="admin")
    assert flags.is_on("gone", _user("ana"))
    deleted = flags.delete("gone", actor="admin", version=1)
    assert deleted.key == "gone" and snapshot(flags) == []
    assert not flags.is_on("gone", _user("ana"))
    with pytest.raises(FlagNotFoundError):
        flags.get("gone")
    assert audit.actions()[-1] == ("admin", "flag.delete", "gone")
    assert audit.entries[-1]["detail"]["flag"]["users"] == ["ana"]


# -- who is on ----------------------------------------------------------------------------------
def test_a_missing_or_disabled_flag_is_off_for_everyone(flags: Flags) -> None:
    assert not flags.is_on("missing", _user("ana", "admin"))
    flags.create("off", enabled=False, rollout=100, users=["ana"], roles=["admin"], actor="admin")
    assert not flags.is_on("off", _user("ana", "admin"))


def test_a_listed_user_is_on_whatever_the_roles_and_rollout(flags: Flags) -> None:
    flags.create("beta", enabled=True, rollout=0, roles=["trader"], users=["ana"], actor="admin")
    assert flags.is_on("beta", _user("ana", "viewer"))
    assert not flags.is_on("beta", _user("bob", "trader"))  # eligible, but the rollout is 0


def test_roles_limit_who_is_eligible_and_the_rollout_splits_them(flags: Flags) -> None:
    flags.create("traders", enabled=True, rollout=100, roles=["trader", "admin"], actor="admin")
    assert flags.is_on("traders", _user("t1", "trader"))
    assert flags.is_on("traders", _user("a1", "viewer", "admin"))
    assert not flags.is_on("traders", _user("v1", "viewer"))
    assert not flags.is_on("traders", _user("n1"))
    flags.update("traders", 1, rollout=30, actor="admin")
    users = [f"u{i}" for i in range(400)]
    on = {u for u in users if flags.is_on("traders", _user(u, "trader"))}
    assert on == {u for u in users if bucket("traders", u) < 30}
    assert not any(flags.is_on("traders", _user(u, "viewer")) for u in users)


# -- the cache ----------------------------------------------------------------------------------
def test_checks_read_the_store_once_per_cache_period_and_local_writes_show_at_once(
        meta_url: str, flags: Flags, ticker: Ticker) -> None:
    flags.create("cached", enabled=True, actor="admin")
    other_host = Flags(open_meta(meta_url), monotonic=ticker)
    assert flags.is_on("cached", _user("ana"))
    other_host.update("cached", 1, enabled=False, actor="admin")
    ticker.now += 1.9
    assert flags.is_on("cached", _user("ana"))  # another host's change: seen after the cache period
    ticker.now += 0.2
    assert not flags.is_on("cached", _user("ana"))
    flags.update("cached", 2, enabled=True, actor="admin")  # this host's own change: at once
    assert flags.is_on("cached", _user("ana"))
    reads = []
    original = flags.list
    flags.list = lambda: reads.append(1) or original()  # type: ignore[method-assign]
    for _ in range(1_000):
        flags.is_on("cached", _user("ana"))
    assert len(reads) <= 1


def test_a_local_write_during_a_read_is_not_hidden_behind_the_older_copy(flags: Flags) -> None:
    flags.create("race", enabled=False, actor="admin")
    original = flags.list

    def read_while_this_process_writes() -> list:
        flags_read = original()
        flags.update("race", 1, enabled=True, actor="admin")
        return flags_read

    flags.list = read_while_this_process_writes  # type: ignore[method-assign]
    assert not flags.is_on("race", _user("ana"))  # the answer of the read in flight
    flags.list = original  # type: ignore[method-assign]
    assert flags.is_on("race", _user("ana"))  # read again at once, not after the cache period


def test_checks_keep_working_while_the_store_cannot_be_read(flags: Flags, ticker: Ticker,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    flags.create("steady", enabled=True, actor="admin")
    assert flags.is_on("steady", _user("ana"))
    original = flags.list

    def unreachable() -> list:
        raise OperationalError("SELECT ...", {}, Exception("connection refused"))

    flags.list = unreachable  # type: ignore[method-assign]
    ticker.now += 5
    assert flags.is_on("steady", _user("ana"))  # the last flags read
    assert "cannot read the records store" in caplog.text and "SELECT" not in caplog.text
    flags.list = original  # type: ignore[method-assign]
    flags.update("steady", 1, enabled=False, actor="admin")
    assert not flags.is_on("steady", _user("ana"))

    fresh = Flags(flags.meta, monotonic=ticker)
    fresh.list = unreachable  # type: ignore[method-assign]
    assert not fresh.is_on("steady", _user("ana"))  # nothing read yet: every flag off, no error


def test_of_concurrent_creates_and_changes_at_one_version_exactly_one_wins(flags: Flags, audit: AuditLog) -> None:
    def race(action) -> list[str]:
        results: list[str] = []
        barrier = threading.Barrier(6)

        def run(n: int) -> None:
            barrier.wait()
            try:
                action(n)
                results.append("ok")
            except (DuplicateFlagError, StaleFlagError) as exc:
                results.append(type(exc).__name__)

        threads = [threading.Thread(target=run, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        return sorted(results)

    created = race(lambda n: flags.create("contested", rollout=n, actor=f"admin{n}"))
    assert created == ["DuplicateFlagError"] * 5 + ["ok"]
    changed = race(lambda n: flags.update("contested", 1, rollout=50 + n, actor=f"admin{n}"))
    assert changed == ["StaleFlagError"] * 5 + ["ok"]
    final = flags.get("contested")
    assert final.version == 2 and final.rollout - 50 == int(final.updated_by.removeprefix("admin"))
    assert [a for _, a, _ in audit.actions()] == ["flag.create", "flag.update"]
