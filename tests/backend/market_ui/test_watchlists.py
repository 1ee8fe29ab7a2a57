"""Watchlists and price rules in their SQLite file."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from backend.market.reference import VN30_SYMBOLS
from backend.market.watchlists import MAX_SYMBOLS, VN30_ID, UserData, UserDataError


def test_vn30_is_the_default_list_and_user_lists_survive_a_reopen(tmp_path: Path) -> None:
    data = UserData(tmp_path / "user.sqlite3")
    assert data.watchlist(None).symbols == tuple(sorted(VN30_SYMBOLS))
    saved = data.save_watchlist("  My   banks ", ["vcb", "BID", "VCB", " ctg "])
    assert saved.name == "My banks" and saved.symbols == ("VCB", "BID", "CTG")
    again = UserData(tmp_path / "user.sqlite3")
    assert again.watchlist(saved.id) == saved
    assert [w.id for w in again.watchlists()] == [VN30_ID, saved.id]
    again.save_watchlist("My banks", ["ACB"], watchlist_id=saved.id)
    assert again.watchlist(saved.id).symbols == ("ACB",)
    assert again.delete_watchlist(saved.id) and again.watchlist(saved.id) is None


@pytest.mark.parametrize(
    ("name", "symbols"),
    [
        ("", ["FPT"]),
        ("x" * 61, ["FPT"]),
        ("bad\x00name", ["FPT"]),
        ("ok", []),
        ("ok", ["FPT'; DROP TABLE watchlists; --"]),
        ("ok", ["<script>"]),
        ("ok", [f"S{i}" for i in range(MAX_SYMBOLS + 1)]),
        ("ok", [1]),
    ],
)
def test_bad_watchlists_are_refused_and_nothing_is_written(tmp_path: Path, name, symbols) -> None:
    data = UserData(tmp_path / "user.sqlite3")
    with pytest.raises(UserDataError):
        data.save_watchlist(name, symbols)
    assert len(data.watchlists()) == 1
    rows = sqlite3.connect(tmp_path / "user.sqlite3").execute("SELECT count(*) FROM watchlists").fetchone()
    assert rows == (0,)


def test_the_vn30_list_cannot_be_changed_and_bad_ids_are_not_found(tmp_path: Path) -> None:
    data = UserData(tmp_path / "user.sqlite3")
    with pytest.raises(UserDataError):
        data.save_watchlist("VN30", ["FPT"], watchlist_id=VN30_ID)
    with pytest.raises(UserDataError):
        data.delete_watchlist(VN30_ID)
    assert data.watchlist("../../etc/passwd") is None
    assert data.watchlist("w-' OR 1=1") is None


def test_price_rules_are_kept_and_validated(tmp_path: Path) -> None:
    data = UserData(tmp_path / "user.sqlite3")
    rule = data.add_rule("fpt", "above", 131_000, "breakout")
    assert data.rules() == [rule] and rule.symbol == "FPT"
    for bad in (("FPT", "near", 1.0), ("FPT", "above", 0), ("FPT", "above", float("nan")),
                ("FPT", "above", True), ("F P T", "above", 1.0), ("FPT", "above", "100")):
        with pytest.raises(UserDataError):
            data.add_rule(*bad)
    assert data.delete_rule(rule.id) and data.rules() == []
    assert not data.delete_rule(rule.id)


def test_concurrent_writers_do_not_lose_lists(tmp_path: Path) -> None:
    data = UserData(tmp_path / "user.sqlite3")

    def write(n: int) -> None:
        for i in range(10):
            data.save_watchlist(f"list {n}-{i}", ["FPT"])

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(data.watchlists()) == 41
