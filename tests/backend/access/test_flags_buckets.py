"""Rollout buckets: stable per user across calls and processes, close to the percentage, independent per flag.

Bucketing is checked against the rule written out here (first 8 bytes of sha256("key:user")
mod 100, read from the hex digest), not against the service's own function.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.access.flags import Flags, bucket
from backend.access.principal import Principal
from backend.meta import open_meta

USERS = [f"user{i:05d}" for i in range(10_000)]
ROOT = Path(__file__).resolve().parents[3]


def expected_bucket(key: str, user: str) -> int:
    return int(hashlib.sha256(f"{key}:{user}".encode()).hexdigest()[:16], 16) % 100


@pytest.fixture
def flags(tmp_path: Path) -> Flags:
    return Flags(open_meta(f"sqlite:///{tmp_path / 'flags.sqlite3'}"))


def _on(flags: Flags, key: str, users: list[str] = USERS) -> set[str]:
    return {u for u in users if flags.is_on(key, Principal(id=u))}


def test_the_bucket_follows_the_documented_rule() -> None:
    for key in ("new.grid", "a1", "x" * 64):
        assert [bucket(key, u) for u in USERS[:2_000]] == [expected_bucket(key, u) for u in USERS[:2_000]]
    assert bucket("k1", "Đức Nguyễn") == expected_bucket("k1", "Đức Nguyễn")


def test_a_user_keeps_their_bucket_in_another_process() -> None:
    code = ("import json, sys; from backend.access.flags import bucket; "
            "print(json.dumps([bucket('new.grid', f'user{i:05d}') for i in range(500)]))")
    # Another hash seed: nothing of the bucket may depend on Python's per-process hashing.
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert json.loads(out) == [bucket("new.grid", u) for u in USERS[:500]]
    assert [bucket("new.grid", u) for u in USERS[:500]] == [bucket("new.grid", u) for u in USERS[:500]]


@pytest.mark.parametrize("rollout", [5, 25, 50, 90])
def test_the_share_of_users_on_is_within_one_point_of_the_rollout(flags: Flags, rollout: int) -> None:
    key = f"rollout.p{rollout}"
    flags.create(key, enabled=True, rollout=rollout, actor="admin")
    on = _on(flags, key)
    share = 100 * len(on) / len(USERS)
    assert abs(share - rollout) <= 1.0, share
    assert on == {u for u in USERS if expected_bucket(key, u) < rollout}
    assert _on(flags, key) == on  # the same users on every call


@pytest.mark.parametrize("rollout", [5, 25, 50, 90])
def test_over_many_flags_the_share_strays_from_the_rollout_only_by_sampling_error(rollout: int) -> None:
    # One point is two standard errors at 50% over 10,000 users: a given flag may stray that far
    # by chance (one in twenty). Over 20 flags every share stays within four standard errors and
    # their average within one.
    error = 100 * math.sqrt(rollout / 100 * (1 - rollout / 100) / len(USERS))
    shares = [100 * sum(bucket(f"flag.{n}", u) < rollout for u in USERS) / len(USERS) for n in range(20)]
    assert max(abs(s - rollout) for s in shares) <= 4 * error, shares
    assert abs(sum(shares) / len(shares) - rollout) <= error, shares


def test_raising_the_rollout_only_adds_users_and_the_ends_are_none_and_all(flags: Flags) -> None:
    flags.create("grow", enabled=True, rollout=0, actor="admin")
    seen: set[str] = set()
    for rollout in (0, 10, 30, 60, 100):
        version = flags.get("grow").version
        flags.update("grow", version, rollout=rollout, actor="admin")
        on = _on(flags, "grow", USERS[:3_000])
        assert seen <= on
        seen = on
        if rollout == 0:
            assert on == set()
    assert seen == set(USERS[:3_000])


def test_two_flags_bucket_users_independently(flags: Flags) -> None:
    flags.create("first.flag", enabled=True, rollout=50, actor="admin")
    flags.create("second.flag", enabled=True, rollout=50, actor="admin")
    first, second = _on(flags, "first.flag"), _on(flags, "second.flag")
    both = len(first & second) / len(USERS)
    # Independent halves overlap on a quarter; the same bucketing for both would overlap on a half.
    assert abs(both - 0.25) <= 0.015, both
    neither = len(set(USERS) - first - second) / len(USERS)
    assert abs(neither - 0.25) <= 0.015, neither
