"""Watchlists and price rules in their SQLite file."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from backend.market.reference import VN30_SYMBOLS
from backend.market.watchlists import (
    MAX_SYMBOLS,
    VN30_ID,
    PriceBand,
    UserData,
    UserDataError,
    check_rule_price,
    price_from_board_units,
)


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


@pytest.mark.parametrize(
    ("price", "accepted"),
    [(9_990, True), (9_995, False), (10_000, True), (10_050, True), (10_020, False), (49_950, True),
     (50_000, True), (50_050, False), (50_100, True), (9_300, True), (10_700, True), (10_750, True), (10_730, False)],
)
def test_rule_prices_follow_the_hose_tick_grid_by_price_level(price: int, accepted: bool) -> None:
    band = PriceBand(floor=9_300, ceiling=60_000, future=False)
    if accepted:
        check_rule_price("TST", price, band)
    else:
        with pytest.raises(UserDataError, match="not on TST's price grid"):
            check_rule_price("TST", price, band)


def test_the_nearest_valid_prices_stay_inside_the_band() -> None:
    band = PriceBand(floor=120_900, ceiling=139_100, future=False)
    with pytest.raises(UserDataError, match=r"nearest valid prices are 139.00 or 139.10$"):
        check_rule_price("FPT", 139_050, band)
    with pytest.raises(UserDataError, match=r"the nearest valid price is 139.10"):
        check_rule_price("FPT", 139_150, band)
    # A band edge the feed sent off the grid: only the neighbour inside the band is offered.
    odd = PriceBand(floor=120_950, ceiling=139_150, future=False)
    with pytest.raises(UserDataError, match=r"nearest valid prices are 139.10$"):
        check_rule_price("FPT", 139_120, odd)
    with pytest.raises(UserDataError, match=r"nearest valid prices are 121.00$"):
        check_rule_price("FPT", 120_980, odd)


def test_a_band_comes_from_the_row_or_its_reference_and_none_without_either() -> None:
    assert PriceBand.of_row("FPT", {"ref": 130_000, "ceiling": 139_100, "floor": 120_900}) == PriceBand(
        120_900, 139_100, False)
    assert PriceBand.of_row("FPT", {"ref": 130_000}) == PriceBand(120_900, 139_100, False)
    assert PriceBand.of_row("VN30F2412", {"ref": 1_300.0}) == PriceBand(1_209.0, 1_391.0, True)
    assert PriceBand.of_row("FPT", None) is None and PriceBand.of_row("FPT", {"last": 1}) is None
    with pytest.raises(UserDataError, match="no price band for FPT"):
        check_rule_price("FPT", 130_000, None)


@pytest.mark.parametrize(
    ("raw", "feed"), [("131.5", 131_500.0), (" 131.5 ", 131_500.0), (131.5, 131_500.0), (131, 131_000.0),
                      ("0.01", 10.0), ("131.2345", 131_234.5)],
)
def test_prices_typed_as_the_board_shows_them_become_feed_units(raw, feed: float) -> None:
    assert price_from_board_units("FPT", raw) == feed
    assert price_from_board_units("VN30F2412", "1301.2") == 1301.2
