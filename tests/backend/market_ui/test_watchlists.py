"""Watchlists and price rules in the records store (SQLite and PostgreSQL), and rule prices."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from backend.market.reference import VN30_SYMBOLS
from backend.market.watchlists import (
    MAX_RULES,
    MAX_SYMBOLS,
    MAX_WATCHLISTS,
    VN30_ID,
    PriceBand,
    UserData,
    UserDataError,
    check_rule_price,
    price_from_board_units,
)
from backend.meta import close_meta, open_meta


@pytest.fixture
def meta_db_prefix() -> str:
    return "wl"


@pytest.fixture
def data(meta_url: str) -> UserData:
    return UserData(open_meta(meta_url))


def _count(data: UserData, table: str) -> int:
    with data.store.read() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # table: a test constant


def test_vn30_is_the_default_list_and_user_lists_survive_a_reopen(meta_url: str) -> None:
    data = UserData(open_meta(meta_url))
    assert data.watchlist(None).symbols == tuple(sorted(VN30_SYMBOLS))
    saved = data.save_watchlist("  My   banks ", ["vcb", "BID", "VCB", " ctg "])
    assert saved.name == "My banks" and saved.symbols == ("VCB", "BID", "CTG")
    close_meta(meta_url)
    again = UserData(open_meta(meta_url))
    assert again.watchlist(saved.id) == saved
    assert [w.id for w in again.watchlists()] == [VN30_ID, saved.id]
    again.save_watchlist("My banks", ["ACB"], watchlist_id=saved.id)
    assert again.watchlist(saved.id).symbols == ("ACB",)
    assert again.delete_watchlist(saved.id) and again.watchlist(saved.id) is None


def test_a_path_opens_a_records_database_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "tool.sqlite3"
    try:
        saved = UserData(path).save_watchlist("Tech", ["FPT", "CMG"])
        assert UserData(path).watchlist(saved.id) == saved
    finally:
        close_meta(f"sqlite:///{path}")


def test_lists_and_rules_come_back_in_the_same_order_on_every_backend(data: UserData) -> None:
    for name in ("b", "B", "a", "Ä", "_x", "a"):
        data.save_watchlist(name, ["FPT"])
    names = [w.name for w in data.watchlists()[1:]]
    assert names == sorted(names)  # code-point order, whatever the database's collation
    for symbol, price in (("VNM", 70_000), ("FPT", 131_000), ("FPT", 120_000)):
        data.add_rule(symbol, "above", price)
    assert [(r.symbol, r.price) for r in data.rules()] == [("FPT", 120_000), ("FPT", 131_000), ("VNM", 70_000)]


@pytest.mark.parametrize(
    ("name", "symbols"),
    [
        ("", ["FPT"]),
        ("x" * 61, ["FPT"]),
        ("bad\x00name", ["FPT"]),
        ("del\x7fchar", ["FPT"]),
        ("lone \ud800 surrogate", ["FPT"]),
        ("ok", []),
        ("ok", ["FPT'; DROP TABLE watchlists; --"]),
        ("ok", ["<script>"]),
        ("ok", ["FPT\x00"]),
        ("ok", ["X" * 10_000]),
        ("ok", [f"S{i}" for i in range(MAX_SYMBOLS + 1)]),
        ("ok", [1]),
        ("ok", "FPT"),
    ],
)
def test_bad_watchlists_are_refused_and_nothing_is_written(data: UserData, name, symbols) -> None:
    with pytest.raises(UserDataError):
        data.save_watchlist(name, symbols)
    assert len(data.watchlists()) == 1
    assert _count(data, "watchlists") == 0


def test_hostile_but_valid_names_are_kept_exactly(data: UserData) -> None:
    names = ["Robert'); DROP TABLE watchlists;--", "ngân hàng 🏦 \"quoted\"", "%_\\ like", "x" * 60]
    saved = [data.save_watchlist(n, ["FPT"]) for n in names]
    assert sorted(w.name for w in data.watchlists()[1:]) == sorted(names)
    assert all(data.watchlist(s.id) == s for s in saved)


def test_the_vn30_list_cannot_be_changed_and_bad_ids_are_not_found(data: UserData) -> None:
    with pytest.raises(UserDataError):
        data.save_watchlist("VN30", ["FPT"], watchlist_id=VN30_ID)
    with pytest.raises(UserDataError):
        data.delete_watchlist(VN30_ID)
    for bad in ("../../etc/passwd", "w-' OR 1=1", "w-\x00", "w" * 10_000):
        assert data.watchlist(bad) is None
        assert data.delete_watchlist(bad) is False
    for bad_id in ("Upper", "w-\x00", 7):
        with pytest.raises(UserDataError):
            data.save_watchlist("ok", ["FPT"], watchlist_id=bad_id)


def test_price_rules_are_kept_and_validated(data: UserData) -> None:
    rule = data.add_rule("fpt", "above", 131_000, "breakout")
    assert data.rules() == [rule] and rule.symbol == "FPT"
    for bad in (("FPT", "near", 1.0), ("FPT", "above", 0), ("FPT", "above", float("nan")),
                ("FPT", "above", float("inf")), ("FPT", "above", True), ("F P T", "above", 1.0),
                ("FPT", "above", "100"), ("FPT", "above", 1.0, "n" * 201), ("FPT", "above", 1.0, "nul\x00"),
                ("FPT", "above", 1.0, "two\nlines"), ("FPT", "above", 1.0, 5), ("FPT\x00", "above", 1.0),
                ("A-B", "above", 1.0), ("VN.30", "above", 1.0)):
        with pytest.raises(UserDataError):
            data.add_rule(*bad)
    assert data.rules() == [rule]
    assert data.delete_rule(rule.id) and data.rules() == []
    assert not data.delete_rule(rule.id)
    assert not data.delete_rule("p-\x00") and not data.delete_rule("p" * 10_000)


def test_a_note_of_the_longest_allowed_length_is_kept_exactly(data: UserData) -> None:
    note = ("ghi chú 📈 '\"; --" * 20)[:200]
    rule = data.add_rule("FPT", "below", 120_000, note)
    assert data.rules()[0].note == note == rule.note


def test_concurrent_writers_do_not_lose_lists_or_rules(data: UserData) -> None:
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(10):
                data.save_watchlist(f"list {n}-{i}", ["FPT"])
                data.add_rule("FPT", "above", 100_000 + n * 100 + i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(data.watchlists()) == 41 and len(data.rules()) == 40


def test_concurrent_writers_never_pass_the_limits(data: UserData) -> None:
    for i in range(MAX_WATCHLISTS - 5):
        data.save_watchlist(f"pre {i}", ["FPT"])
    refused: list[str] = []

    def write(n: int) -> None:
        for i in range(5):
            try:
                data.save_watchlist(f"race {n}-{i}", ["FPT"])
            except UserDataError as exc:
                refused.append(str(exc))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _count(data, "watchlists") == MAX_WATCHLISTS
    assert len(refused) == 15 and all("at most" in r for r in refused)
    assert MAX_RULES == 1_000  # the same count-under-lock guards the rules


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


def test_processes_writing_at_once_lose_nothing(meta_url: str, tmp_path: Path) -> None:
    # Web workers and the feed process write the same records; each waits for a start signal.
    open_meta(meta_url)
    go = tmp_path / "go"
    code = (
        "import os, sys, time\n"
        "from backend.market.watchlists import UserData\n"
        "from backend.meta import open_meta\n"
        "data = UserData(open_meta(sys.argv[1]))\n"
        "while not os.path.exists(sys.argv[2]): time.sleep(0.001)\n"
        "for i in range(10):\n"
        "    data.save_watchlist(f'p{sys.argv[3]}-{i}', ['FPT'])\n"
        "    data.add_rule('FPT', 'above', 100000 + int(sys.argv[3]) * 1000 + i * 10)\n"
    )
    root = Path(__file__).resolve().parents[3]
    procs = [subprocess.Popen([sys.executable, "-c", code, meta_url, str(go), str(n)], cwd=root,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(3)]
    time.sleep(2.0)
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err[-600:] for _, err in results]
    data = UserData(open_meta(meta_url))
    assert len(data.watchlists()) == 31 and len(data.rules()) == 30
    assert len({r.id for r in data.rules()}) == 30
