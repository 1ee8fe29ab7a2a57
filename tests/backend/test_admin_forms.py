"""The user-admin form's meaning: scopes only from values the warehouse holds, role lists, and
how a scope reads in the users table."""

from __future__ import annotations

import pytest

from backend.access.principal import EVERYTHING, DataScope
from backend.admin_forms import FormError, roles_from_form, scope_choices, scope_from_form, scope_text
from backend.warehouse import Warehouse

CHOICES = {"portfolio_managers": ["PM01", "PM02"], "desks": ["Commodities", "Global Macro"], "books": ["B1"]}


def test_nothing_chosen_leaves_every_dimension_open() -> None:
    assert scope_from_form(CHOICES, {}) == EVERYTHING
    assert scope_from_form(CHOICES, {"desks": [], "books": None}) == EVERYTHING


def test_chosen_values_restrict_their_dimension_only() -> None:
    got = scope_from_form(CHOICES, {"desks": ["Commodities"], "portfolio_managers": ["PM01", "PM02"]})
    assert got == DataScope(portfolio_managers=frozenset({"PM01", "PM02"}), desks=frozenset({"Commodities"}))
    assert scope_text(got) == "portfolio managers: PM01, PM02; desks: Commodities"
    assert scope_text(EVERYTHING) == "all rows"
    assert scope_text(DataScope(books=frozenset())) == "books: none"


@pytest.mark.parametrize(("values", "message"), [
    ({"desks": ["Commodities", "Nowhere"]}, "desks: not in the warehouse: 'Nowhere'"),
    ({"desks": "Commodities"}, "desks: expected a list of names"),
    ({"books": [1]}, "books: expected a list of names"),
    ({"portfolio_managers": ["PM01"] * 5001}, "portfolio managers: at most 5000 values"),
    ({"desks": ["commodities"]}, "not in the warehouse"),  # the warehouse's own spelling only
])
def test_values_the_warehouse_does_not_hold_or_malformed_lists_are_named(values, message) -> None:
    with pytest.raises(FormError, match=message):
        scope_from_form(CHOICES, values)


def test_roles_need_at_least_one_name() -> None:
    assert roles_from_form(["viewer"]) == ["viewer"]
    for bad in ([], None, "viewer", [None]):
        with pytest.raises(FormError):
            roles_from_form(bad)


def test_choices_are_the_fixture_warehouse_values(loaded_warehouse: Warehouse, trades_folder) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{trades_folder}/trades_1d/*.parquet')")
    want = {name: sorted(str(r[0]) for r in con.execute(f"SELECT DISTINCT {column} FROM t").fetchall())
            for name, column in (("portfolio_managers", "portfolio_manager_id"), ("desks", "desk"),
                                 ("books", "book"))}
    assert scope_choices(loaded_warehouse) == want
