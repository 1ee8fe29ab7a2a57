"""Saved views service on SQLite and on the real PostgreSQL server.

After every refused request the stored rows are compared with a snapshot taken
before it: a refusal must leave nothing half-written.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from backend.meta import open_meta
from backend.meta.views import (
    STATE_MAX_BYTES,
    DuplicateViewNameError,
    InvalidViewError,
    SavedViews,
    StaleViewError,
    ViewNotFoundError,
    search_from_state,
    state_from_search,
)

PIVOT_STATE = {"dims": "portfolio_manager_id,symbol", "date": "2024-02-29", "f.symbol": ["AAPL", "MSFT"]}


@pytest.fixture
def views(meta_url: str) -> SavedViews:
    return SavedViews(open_meta(meta_url))


def snapshot(service: SavedViews) -> list[tuple[Any, ...]]:
    with service.store.read() as conn:
        users = conn.execute(text("SELECT id, display_name FROM users ORDER BY id")).all()
        rows = conn.execute(text(
            "SELECT id, owner, name, page, state, version, updated_at FROM saved_views ORDER BY id"
        )).all()
    return [tuple(u) for u in users] + [tuple(str(v) for v in r) for r in rows]


def test_a_saved_view_opens_at_the_url_it_was_saved_from(views: SavedViews) -> None:
    search = "?dims=portfolio_manager_id%2Csymbol&date=2024-02-29&f.symbol=AAPL&f.symbol=MSFT"
    saved = views.create_from_search("local", "  Tech longs  ", "/pivot", search)
    again = views.get("local", saved.id)
    assert again == saved
    assert again.name == "Tech longs"
    assert again.version == 1
    assert again.state == PIVOT_STATE
    parts = urlsplit(again.href)
    assert parts.path == "/pivot"
    assert parse_qs(parts.query) == parse_qs(search[1:])
    assert again.created_at.tzinfo is not None


def test_views_are_listed_per_owner_and_page_in_name_order(views: SavedViews) -> None:
    views.create("local", "b", "/pivot", {})
    views.create("local", "A", "/pivot", {})
    views.create("local", "c", "/board", {})
    views.create("ana", "b", "/pivot", {"x": "1"})
    assert [v.name for v in views.list("local", "/pivot")] == sorted(["b", "A"])
    assert sorted(v.name for v in views.list("local")) == ["A", "b", "c"]
    assert [(v.owner, v.state) for v in views.list("ana")] == [("ana", {"x": "1"})]


def test_a_duplicate_name_is_refused_and_nothing_changes(views: SavedViews) -> None:
    views.create("local", "Daily", "/pivot", PIVOT_STATE)
    before = snapshot(views)
    with pytest.raises(DuplicateViewNameError, match="'Daily' already exists"):
        views.create("local", " Daily ", "/board", {"other": "state"})
    assert snapshot(views) == before
    assert views.create("ana", "Daily", "/pivot", {}).owner == "ana"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "give the view a name"),
        ("   \t ", "control characters|give the view a name"),
        ("x" * 121, "at most 120 characters"),
        ("bad\x00name", "control characters"),
        ("two\nlines", "control characters"),
        ("bell\x07", "control characters"),
        ("para\u2029graph", "control characters"),
        (None, "give the view a name"),
        (42, "give the view a name"),
    ],
)
def test_bad_names_are_refused_and_nothing_is_written(views: SavedViews, name: Any, message: str) -> None:
    views.create("local", "existing", "/pivot", {})
    before = snapshot(views)
    with pytest.raises(InvalidViewError, match=message):
        views.create("local", name, "/pivot", {})
    assert snapshot(views) == before


def test_names_up_to_120_characters_of_any_script_are_kept_verbatim(views: SavedViews) -> None:
    longest = "x" * 120
    hostile = "'); DROP TABLE saved_views; --"
    for name in (longest, "Lãi lỗ VN30 — tuần", hostile, "📈 momentum"):
        assert views.create("local", name, "/pivot", {}).name == name
    assert {v.name for v in views.list("local")} == {longest, "Lãi lỗ VN30 — tuần", hostile, "📈 momentum"}


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ([], "JSON object"),
        ("dims=symbol", "JSON object"),
        (None, "JSON object"),
        ({"dims": 3}, "must be text"),
        ({"dims": {"nested": "x"}}, "must be text"),
        ({"dims": ["a", 1]}, "must be text"),
        ({"": "x"}, "parameter names"),
        ({"k" * 201: "x"}, "parameter names"),
        ({"blob": "x" * STATE_MAX_BYTES}, "too large"),
        ({f"p{i}": "1" for i in range(201)}, "at most 200 parameters"),
    ],
)
def test_bad_states_are_refused_and_nothing_is_written(views: SavedViews, state: Any, message: str) -> None:
    kept = views.create("local", "kept", "/pivot", PIVOT_STATE)
    before = snapshot(views)
    with pytest.raises(InvalidViewError, match=message):
        views.create("local", "new", "/pivot", state)
    with pytest.raises(InvalidViewError, match=message):
        views.overwrite("local", kept.id, state, kept.version)
    assert snapshot(views) == before


def test_a_state_just_under_64_kb_is_stored_whole(views: SavedViews) -> None:
    # {"blob":"…"} is 11 bytes of JSON around the value.
    value = "é" * ((STATE_MAX_BYTES - 11) // 2)
    saved = views.create("local", "big", "/pivot", {"blob": value})
    assert views.get("local", saved.id).state == {"blob": value}


@pytest.mark.parametrize("page", ["pivot", "", "/pivot?x=1", "//evil.example/x", "/a b", "https://x.y/", "/" + "p" * 200])
def test_bad_pages_are_refused(views: SavedViews, page: str) -> None:
    with pytest.raises(InvalidViewError, match="page path"):
        views.create("local", "v", page, {})
    assert snapshot(views) == []


@pytest.mark.parametrize("owner", ["", "has space", "x" * 65, None, "-leading"])
def test_bad_owners_are_refused(views: SavedViews, owner: Any) -> None:
    with pytest.raises(InvalidViewError, match="owner"):
        views.create(owner, "v", "/pivot", {})
    assert snapshot(views) == []


def test_rename_bumps_the_version_and_keeps_the_state(views: SavedViews) -> None:
    saved = views.create("local", "old", "/pivot", PIVOT_STATE)
    renamed = views.rename("local", saved.id, " new ", saved.version)
    assert (renamed.name, renamed.version, renamed.state, renamed.page) == ("new", 2, PIVOT_STATE, "/pivot")
    assert renamed.updated_at >= saved.updated_at
    assert [v.name for v in views.list("local")] == ["new"]


def test_rename_to_a_taken_name_is_refused_and_both_views_are_unchanged(views: SavedViews) -> None:
    first = views.create("local", "first", "/pivot", {"a": "1"})
    views.create("local", "second", "/pivot", {"b": "2"})
    before = snapshot(views)
    with pytest.raises(DuplicateViewNameError, match="'second' already exists"):
        views.rename("local", first.id, "second", first.version)
    assert snapshot(views) == before


def test_rename_with_a_stale_version_is_a_conflict(views: SavedViews) -> None:
    saved = views.create("local", "shared", "/pivot", {})
    views.rename("local", saved.id, "renamed by someone else", saved.version)
    before = snapshot(views)
    with pytest.raises(StaleViewError, match="changed by someone else"):
        views.rename("local", saved.id, "mine", saved.version)
    with pytest.raises(StaleViewError):
        views.overwrite("local", saved.id, {"x": "1"}, saved.version)
    with pytest.raises(StaleViewError):
        views.delete("local", saved.id, saved.version)
    assert snapshot(views) == before


def test_concurrent_renames_from_the_same_version_let_exactly_one_win(views: SavedViews) -> None:
    saved = views.create("local", "contested", "/pivot", {})
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def rename(i: int) -> None:
        start.wait()
        try:
            views.rename("local", saved.id, f"name {i}", saved.version)
            result = "won"
        except StaleViewError:
            result = "stale"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=rename, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["stale"] * 5 + ["won"]
    final = views.get("local", saved.id)
    assert final.version == 2 and final.name.startswith("name ")


def test_overwrite_replaces_the_state_and_keeps_name_and_page(views: SavedViews) -> None:
    saved = views.create("local", "v", "/pivot", {"a": "1"})
    updated = views.overwrite("local", saved.id, {"b": ["2", "3"]}, saved.version)
    assert (updated.name, updated.page, updated.state, updated.version) == ("v", "/pivot", {"b": ["2", "3"]}, 2)


def test_delete_removes_only_that_view(views: SavedViews) -> None:
    gone = views.create("local", "gone", "/pivot", {})
    kept = views.create("local", "kept", "/pivot", {})
    views.delete("local", gone.id, gone.version)
    assert [v.id for v in views.list("local")] == [kept.id]
    with pytest.raises(ViewNotFoundError):
        views.get("local", gone.id)


def test_unknown_ids_and_other_owners_views_are_not_found(views: SavedViews) -> None:
    theirs = views.create("ana", "private", "/pivot", {})
    before = snapshot(views)
    for action in (
        lambda: views.delete("local", 999_999),
        lambda: views.delete("local", theirs.id),
        lambda: views.rename("local", theirs.id, "stolen", theirs.version),
        lambda: views.overwrite("local", theirs.id, {}, theirs.version),
        lambda: views.get("local", theirs.id),
    ):
        with pytest.raises(ViewNotFoundError, match="no saved view with id"):
            action()
    assert snapshot(views) == before


@pytest.mark.parametrize("bad_id", [0, -1, 2**31, "1", 1.5, True, None])
def test_malformed_ids_and_versions_are_refused(views: SavedViews, bad_id: Any) -> None:
    saved = views.create("local", "v", "/pivot", {})
    before = snapshot(views)
    with pytest.raises(InvalidViewError, match="id"):
        views.delete("local", bad_id)
    with pytest.raises(InvalidViewError, match="version"):
        views.rename("local", saved.id, "w", bad_id)
    assert snapshot(views) == before


# -- URL query state (pure) ------------------------------------------------------
@pytest.mark.parametrize(
    "search",
    [
        "",
        "?",
        "?dims=symbol",
        "?dims=symbol&f.symbol=A&f.symbol=B&date=2024-01-02",
        "?q=%E2%82%AC%20%26%3D%3F&empty=",
        "?x=%27%3B+DROP+TABLE+saved_views%3B--",
    ],
)
def test_state_and_search_round_trip_to_the_same_parameters(search: str) -> None:
    state = state_from_search(search)
    assert parse_qs(search_from_state(state)[1:], keep_blank_values=True) == parse_qs(
        search[1:], keep_blank_values=True
    )


def test_repeated_parameters_become_lists_in_order() -> None:
    assert state_from_search("?a=1&b=2&a=3") == {"a": ["1", "3"], "b": "2"}
    assert search_from_state({"a": ["1", "3"], "b": "2"}) == "?a=1&a=3&b=2"
    assert search_from_state({}) == ""


def test_an_oversized_url_is_refused() -> None:
    with pytest.raises(InvalidViewError, match="too long"):
        state_from_search("?x=" + "a" * STATE_MAX_BYTES)
    with pytest.raises(InvalidViewError, match="URL query string"):
        state_from_search(12)  # type: ignore[arg-type]
