"""The saved-views panel's actions over a real records store (SQLite and PostgreSQL)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from backend.meta import open_meta
from backend.meta import view_panel as panel
from backend.meta.view_panel import SavedViewsPanel
from backend.meta.views import LOCAL_OWNER, SavedViews

PAGE = "/pivot"


@pytest.fixture
def service(meta_url: str) -> SavedViews:
    return SavedViews(open_meta(meta_url))


@pytest.fixture
def mine(service: SavedViews) -> SavedViewsPanel:
    return SavedViewsPanel(service, "local")


def test_save_lists_the_new_view_selected_with_its_link(mine: SavedViewsPanel) -> None:
    state = mine.save(PAGE, " Daily ", "?rows=symbol&f.desk=Rates&f.desk=FX")
    assert state.ok and state.message == "Saved “Daily”."
    [listed] = state.views
    assert state.selected == listed["id"] and state.selected_value == str(listed["id"])
    assert state.options == [{"value": str(listed["id"]), "label": "Daily"}]
    assert parse_qs(urlsplit(listed["href"]).query) == {"rows": ["symbol"], "f.desk": ["Rates", "FX"]}
    assert state.placeholder == "Choose a saved view (1)"


def test_refusals_come_back_as_messages_with_the_list_unchanged(mine: SavedViewsPanel) -> None:
    mine.save(PAGE, "Daily", "?a=1")
    before = mine.load(PAGE).views
    for state in (
        mine.save(PAGE, "Daily", "?b=2"),
        mine.save(PAGE, "", "?b=2"),
        mine.save(PAGE, "x\x00y", "?b=2"),
        mine.save(PAGE, "Big", "?x=" + "a" * 70_000),
        mine.rename(PAGE, before, None, "New"),
        mine.delete(PAGE, before, 12345),
    ):
        assert not state.ok and state.message
        assert state.views == before


def test_rename_and_delete_use_the_version_the_panel_showed(service: SavedViews, mine: SavedViewsPanel) -> None:
    shown = mine.save(PAGE, "Mine", "?a=1")
    view_id = shown.selected
    service.rename("local", view_id, "Changed in another tab", 1)
    stale_rename = mine.rename(PAGE, shown.views, view_id, "Mine again")
    assert not stale_rename.ok and "changed by someone else" in stale_rename.message
    stale_delete = mine.delete(PAGE, shown.views, view_id)
    assert not stale_delete.ok
    assert [v["name"] for v in stale_delete.views] == ["Changed in another tab"]
    fresh = mine.delete(PAGE, stale_delete.views, view_id)
    assert fresh.ok and fresh.views == [] and fresh.placeholder == "No saved views yet"


def test_open_reads_the_stored_link_fresh(service: SavedViews, mine: SavedViewsPanel) -> None:
    saved = mine.save(PAGE, "V", "?rows=desk")
    assert mine.open_href(saved.selected) == ("/pivot?rows=desk", "")
    service.delete("local", saved.selected)
    href, problem = mine.open_href(saved.selected)
    assert href is None and "no saved view" in problem
    assert mine.open_href(None) == (None, "Choose a saved view to open.")


@pytest.mark.parametrize(("value", "expected"), [("12", 12), ("0", 0), ("", None), ("1e3", None), (None, None),
                                                 (12, None), ("-1", None), ("9" * 11, None)])
def test_select_values_are_parsed_strictly(value: object, expected: int | None) -> None:
    assert panel.parse_selected(value) == expected


def test_absolute_links_stay_on_the_current_site() -> None:
    assert panel.absolute_link("https://desk.example/pivot?x=1", "/pivot?rows=desk") == (
        "https://desk.example/pivot?rows=desk"
    )
    assert panel.absolute_link(None, "/pivot?a=1") == "/pivot?a=1"
    assert panel.absolute_link("javascript:alert(1)", "/pivot") == "/pivot"


def test_find_ignores_malformed_browser_data() -> None:
    views = [{"id": 1, "name": "a"}, "junk", None, {"name": "no id"}]
    assert panel.find(views, 1) == {"id": 1, "name": "a"}
    assert panel.find(views, 2) is None
    assert panel.find(None, 1) is None


def test_the_panel_is_handed_its_service_and_without_one_says_so(service: SavedViews,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from components import saved_views as component

    monkeypatch.setattr(component, "_source", [])
    shown = component._act({"search": "?rows=desk"}, None, None, "Desk", None, [], PAGE)
    assert shown == {"views": [], "options": [], "selected": None, "placeholder": component.UNAVAILABLE,
                     "message": component.UNAVAILABLE, "message_color": "red", "confirm_opened": False}
    assert set(shown) == set(component.ACT_OUT)
    assert component._open(1, "1") == (component.UNAVAILABLE, "red")
    assert service.list("local") == []  # nothing written anywhere

    handed = SavedViewsPanel(service)
    component.use_service(lambda: handed)
    assert component._service() is handed
    handed.save(PAGE, "Desk", "?rows=desk")
    [listed] = handed.load(PAGE).views
    assert component._show_selected(str(listed["id"]), [listed], "https://desk.example/pivot") == (
        "Desk", "https://desk.example/pivot?rows=desk")
    assert component._open(1, "not-an-id") == ("Choose a saved view to open.", "red")


def test_a_panel_acts_for_its_owner_only(service: SavedViews) -> None:
    assert SavedViewsPanel(service).owner == LOCAL_OWNER  # until sign-in, the records store's local user
    mine, theirs = SavedViewsPanel(service, "local"), SavedViewsPanel(service, "someone-else")
    saved = mine.save(PAGE, "Mine", "?rows=desk")
    assert theirs.load(PAGE).views == []
    href, problem = theirs.open_href(saved.selected)
    assert href is None and "no saved view" in problem
    refused = theirs.delete(PAGE, saved.views, saved.selected)
    assert not refused.ok and refused.views == []
    assert [v.name for v in service.list("local", PAGE)] == ["Mine"]


@pytest.mark.parametrize("module", ["components.saved_views", "components.job_progress", "components.pivot_drill"])
def test_components_import_neither_the_records_store_nor_the_warehouse(module: str) -> None:
    import ast
    import importlib
    from pathlib import Path

    tree = ast.parse(Path(importlib.import_module(module).__file__).read_text(encoding="utf-8"))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert imported and not [name for name in imported if name.startswith(("backend.meta", "backend.warehouse"))]
