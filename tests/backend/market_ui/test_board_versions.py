"""Board versioning: a client at version v gets exactly the rows changed since v."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from backend.market.board import BoardState, parse_version

SYMBOLS = [f"S{i:02d}" for i in range(30)]
FIELDS = ("symbol", "last", "bid1_vol", "ask1")


class FakeClock:
    """Milliseconds that only move when told, so version numbers are predictable."""

    def __init__(self, start: int = 1_700_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


def _random_tick(rng: random.Random) -> tuple[list[dict[str, Any]], bool]:
    complete = rng.random() < 0.15
    rows = []
    pool = rng.sample(SYMBOLS, rng.randint(20, 30)) if complete else rng.sample(SYMBOLS, rng.randint(0, 6))
    for symbol in pool:
        row: dict[str, Any] = {"symbol": symbol}
        # Small value ranges so rows often "change" to the value they already have.
        row["last"] = rng.choice([10_000, 10_050, 10_100])
        if rng.random() < 0.5:
            row["bid1_vol"] = rng.choice([100, 200])
        rows.append(row)
    return rows, complete


def _replay(ticks: list[tuple[list[dict[str, Any]], bool]]) -> list[dict[str, dict[str, Any]]]:
    """Independent model: the full board after each tick, built with plain dicts."""
    boards: list[dict[str, dict[str, Any]]] = [{}]
    for rows, complete in ticks:
        board = {s: dict(r) for s, r in boards[-1].items()}
        if complete:
            board = {s: r for s, r in board.items() if s in {row["symbol"] for row in rows}}
        for row in rows:
            base = board.get(row["symbol"]) or dict.fromkeys(FIELDS)
            board[row["symbol"]] = {**base, **row}
        boards.append(board)
    return boards


def test_a_client_at_any_version_gets_exactly_the_rows_changed_since() -> None:
    rng = random.Random(5)
    clock = FakeClock()
    board = BoardState(fields=FIELDS, clock_ms=clock)
    ticks = []
    versions = [board.version]
    for _ in range(300):
        clock.now += rng.choice([0, 1, 250])
        tick = _random_tick(rng)
        ticks.append(tick)
        versions.append(board.publish(tick[0], complete=tick[1]))
    boards = _replay(ticks)
    assert {r["symbol"]: r for r in board.rows()} == boards[-1]

    for i in range(len(versions)):
        diff = board.changes_since(versions[i])
        # Expected: every symbol whose row differed between consecutive boards after tick i.
        changed, removed = set(), set()
        for before, after in zip(boards[i:], boards[i + 1:], strict=False):
            changed |= {s for s in after if before.get(s) != after[s]}
            removed |= {s for s in before if s not in after}
        changed &= set(boards[-1])
        removed -= set(boards[-1])
        assert not diff.full
        assert diff.version == versions[-1]
        assert {r["symbol"] for r in diff.rows} == changed, f"at tick {i}"
        assert set(diff.removed) == removed, f"at tick {i}"
        # Applying the diff to what the client held reproduces the current board.
        held = dict(boards[i])
        for symbol in diff.removed:
            held.pop(symbol, None)
        held.update({r["symbol"]: r for r in diff.rows})
        assert held == boards[-1]


def test_versions_only_move_when_something_changed_and_never_go_back() -> None:
    clock = FakeClock()
    board = BoardState(clock_ms=clock)
    v1 = board.publish([{"symbol": "FPT", "last": 100_000}])
    assert board.publish([{"symbol": "FPT", "last": 100_000}]) == v1
    clock.now -= 10_000  # the wall clock stepping back must not reuse versions
    v2 = board.publish([{"symbol": "FPT", "last": 100_100}])
    assert v2 == v1 + 1
    assert board.changes_since(v2).rows == ()
    assert [r["symbol"] for r in board.changes_since(v1).rows] == ["FPT"]


@pytest.mark.parametrize(
    "since",
    [None, "", "abc", "-1", "1e9", "1.5", "9" * 21, "12 ", "0x10", [], {}, True, -5, "١٢٣"],
)
def test_a_missing_or_malformed_version_gets_the_full_board(since: object) -> None:
    board = BoardState()
    board.publish([{"symbol": "AAA", "last": 1}, {"symbol": "BBB", "last": 2}])
    diff = board.changes_since(since)
    assert diff.full
    assert [r["symbol"] for r in diff.rows] == ["AAA", "BBB"]


def test_a_future_version_or_one_from_an_earlier_run_gets_the_full_board() -> None:
    clock = FakeClock()
    board = BoardState(clock_ms=clock)
    board.publish([{"symbol": "AAA", "last": 1}])
    assert board.changes_since(board.version + 1).full
    assert board.changes_since(str(board.version + 10**6)).full
    assert board.changes_since(clock.now - 5_000).full  # before this board existed
    assert not board.changes_since(board.version).full


def test_a_client_older_than_the_forgotten_removals_gets_the_full_board() -> None:
    clock = FakeClock()
    board = BoardState(max_tombstones=2, clock_ms=clock)
    board.publish([{"symbol": s, "last": 1} for s in "ABCDE"])
    old = board.version
    for keep in ("ABCD", "ABC", "AB", "A"):
        board.publish([{"symbol": s, "last": 1} for s in keep], complete=True)
    diff = board.changes_since(old)
    assert diff.full and [r["symbol"] for r in diff.rows] == ["A"]
    recent = board.changes_since(board.version - 1)
    assert not recent.full and recent.removed == ("B",)


def test_clients_at_the_same_version_share_one_answer() -> None:
    board = BoardState()
    board.publish([{"symbol": s, "last": 1} for s in SYMBOLS])
    v = board.version
    board.publish([{"symbol": "S01", "last": 2}])
    assert board.changes_since(v) is board.changes_since(str(v))
    assert board.changes_since(None) is board.changes_since("garbage")


@pytest.mark.parametrize(
    "rows",
    [[{"last": 1}], [{"symbol": "", "last": 1}], [{"symbol": 5}], [{"symbol": "A", "nonsense": 1}]],
)
def test_bad_rows_are_refused_and_leave_the_board_untouched(rows: list[dict[str, Any]]) -> None:
    board = BoardState(fields=FIELDS)
    board.publish([{"symbol": "A", "last": 1}])
    before = (board.version, board.rows())
    with pytest.raises(ValueError):
        board.publish([{"symbol": "A", "last": 99}, *rows])
    assert (board.version, board.rows()) == before


def test_readers_never_see_a_half_applied_tick() -> None:
    board = BoardState()
    stop = threading.Event()
    problems: list[str] = []

    def read() -> None:
        while not stop.is_set():
            lasts = {r["last"] for r in board.changes_since(None).rows}
            if len(lasts) > 1:
                problems.append(f"mixed ticks {lasts}")

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    for tick in range(300):
        board.publish([{"symbol": s, "last": tick} for s in SYMBOLS])
    stop.set()
    for t in readers:
        t.join()
    assert problems == []


def test_parse_version_accepts_only_plain_non_negative_integers() -> None:
    assert parse_version("123") == 123
    assert parse_version(7) == 7
    assert parse_version("+3") is None
    assert parse_version(" 3") is None


def test_a_snapshot_stays_as_it_was_while_the_board_moves_on() -> None:
    clock = FakeClock()
    board = BoardState(clock_ms=clock)
    board.publish([{"symbol": "B", "last": 1}, {"symbol": "A", "last": 2}])
    snap = board.snapshot()
    clock.now += 5
    board.publish([{"symbol": "A", "last": 3}, {"symbol": "C", "last": 4}])
    assert [r["symbol"] for r in snap.ordered_rows()] == ["A", "B"] and snap.row("A")["last"] == 2
    assert [r["symbol"] for r in snap.ordered_rows(["C", "B", "A", "Z"])] == ["A", "B"]
    assert snap.changes_since(None).version == snap.version < board.version
    assert board.snapshot().row("A")["last"] == 3 and board.changes_since(snap.version).rows[0]["symbol"] == "A"
