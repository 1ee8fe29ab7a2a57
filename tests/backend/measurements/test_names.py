"""Measurement names: a dataset's base name and the series numbered from it read back to exactly one
(base, kind, number); names that could be mistaken for another, or climb out of a folder, are refused."""

from __future__ import annotations

import pytest

from backend.measurements.names import MeasurementName, MeasurementNameError, clean_base, derived, parse_name


@pytest.mark.parametrize("name", ["spx", "s", "vn30_minutes", "a" * 40, "spx_run", "spx_sim", "x_1a", "spx_3x",
                                  "ndx_daily_2018_to_2019x"])
def test_base_names_are_datasets(name: str) -> None:
    assert clean_base(name) == name
    assert parse_name(name) == MeasurementName(name, "dataset")


@pytest.mark.parametrize(("name", "expected"), [
    ("spx_3", MeasurementName("spx", "indicators", 3)),
    ("spx_run12", MeasurementName("spx", "run", 12)),
    ("spx_sim40", MeasurementName("spx", "sim", 40)),
    ("vn30_minutes_1", MeasurementName("vn30_minutes", "indicators", 1)),
    ("a_b_run999999999", MeasurementName("a_b", "run", 999_999_999)),
])
def test_derived_names_read_back_to_their_dataset_kind_and_number(name: str, expected: MeasurementName) -> None:
    assert parse_name(name) == expected
    assert expected.name == name
    assert derived(expected.base, expected.kind, expected.number) == expected


@pytest.mark.parametrize("name", [
    "", "Spx", "1spx", "_spx", "spx-1", "spx.parquet", "../etc", "spx/x", "a" * 41, "spx_0", "spx_01", "spx_2_3x_4",
    "spx_run0", "x" * 10_000, "spx\x00", "spx\n", "ｓｐｘ", "spx_12", "spx_run7", "spx_sim7",
])
def test_hostile_or_ambiguous_dataset_names_are_refused(name: str) -> None:
    with pytest.raises(MeasurementNameError):
        clean_base(name)


@pytest.mark.parametrize("value", [None, 3, b"spx", ["spx"], "spx_3\n", "SPX_3", "spx_0", "x" * 200, "../spx_3"])
def test_parse_refuses_what_is_no_name(value: object) -> None:
    with pytest.raises(MeasurementNameError):
        parse_name(value)


@pytest.mark.parametrize(("kind", "number"), [("dataset", 1), ("model", 1), ("run", 0), ("run", -1), ("sim", True),
                                              ("sim", 1.0), ("indicators", 10**9)])
def test_derived_refuses_bad_kinds_and_numbers(kind: str, number: object) -> None:
    with pytest.raises(MeasurementNameError):
        derived("spx", kind, number)  # type: ignore[arg-type]


def test_every_number_of_every_kind_round_trips() -> None:
    for kind in ("indicators", "run", "sim"):
        for number in (1, 9, 10, 99, 100, 12345, 999_999_999):
            made = derived("spx_2018x", kind, number)
            assert parse_name(made.name) == made
