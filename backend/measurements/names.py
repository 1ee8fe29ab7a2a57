"""Names of research measurements: a base dataset and the series derived from it.

A dataset is named by a *base* name (``spx``, ``vn30_minutes``): a lowercase letter, then
lowercase letters, digits and underscores, 40 characters at most, and never ending the way a
derived name ends. What is computed from it is numbered per base and kind:

- ``<base>_<n>``: an indicator version (the dataset with indicator columns);
- ``<base>_run<n>``: a walk-forward run's predictions;
- ``<base>_sim<n>``: a simulation's trades and equity.

So every name reads back to exactly one (base, kind, number), and a base name can never be
mistaken for a derived one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

BASE_MAX: Final = 40
NUMBER_MAX: Final = 999_999_999
_BASE: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")  # whole names only: fullmatch
_DERIVED_END: Final = re.compile(r"_(?:run|sim)?[0-9]+\Z")
_DERIVED: Final = re.compile(r"(?P<base>[a-z][a-z0-9_]{0,39})_(?P<tag>run|sim)?(?P<number>[1-9][0-9]{0,8})")

Kind = Literal["dataset", "indicators", "run", "sim"]
KINDS: Final[tuple[Kind, ...]] = ("dataset", "indicators", "run", "sim")
_TAGS: Final[dict[str, str]] = {"indicators": "", "run": "run", "sim": "sim"}
_KIND_OF_TAG: Final[dict[str | None, Kind]] = {None: "indicators", "run": "run", "sim": "sim"}


class MeasurementNameError(ValueError):
    """A name that is not a measurement name; the message says why and can be shown."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 50 else text[:47] + "..."


def clean_base(name: object) -> str:
    """``name`` when it can name a dataset; otherwise a ``MeasurementNameError`` saying why."""
    if not isinstance(name, str):
        raise MeasurementNameError(f"a dataset name is text, got {_shown(name)}")
    if not _BASE.fullmatch(name):
        raise MeasurementNameError(
            f"{_shown(name)} is not a dataset name: a lowercase letter, then lowercase letters, digits "
            f"and underscores, {BASE_MAX} characters at most")
    if _DERIVED_END.search(name):
        raise MeasurementNameError(
            f"{_shown(name)} ends like a derived series (_<n>, _run<n>, _sim<n>): choose another dataset name")
    return name


@dataclass(frozen=True)
class MeasurementName:
    base: str
    kind: Kind
    number: int | None = None  # None for the dataset itself

    @property
    def name(self) -> str:
        if self.kind == "dataset":
            return self.base
        return f"{self.base}_{_TAGS[self.kind]}{self.number}"


def derived(base: str, kind: Kind, number: int) -> MeasurementName:
    """The name of series ``number`` of ``kind`` computed from dataset ``base``."""
    base = clean_base(base)
    if kind not in _TAGS:
        raise MeasurementNameError(f"{_shown(kind)} is not a kind of derived series (indicators, run, sim)")
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= NUMBER_MAX:
        raise MeasurementNameError(f"a series number is a whole number from 1 to {NUMBER_MAX:,}, got {_shown(number)}")
    return MeasurementName(base, kind, number)


def parse_name(name: object) -> MeasurementName:
    """What ``name`` names: a dataset, or series n of a kind computed from one."""
    if not isinstance(name, str) or len(name) > BASE_MAX + 13:
        raise MeasurementNameError(f"{_shown(name)} is not a measurement name")
    match = _DERIVED.fullmatch(name)
    if match is not None:
        base = match["base"]
        if _BASE.fullmatch(base) and not _DERIVED_END.search(base):
            return MeasurementName(base, _KIND_OF_TAG[match["tag"]], int(match["number"]))
    return MeasurementName(clean_base(name), "dataset")


TABLE_PREFIX: Final = "m_"


def table_name(name: str) -> str:
    """The table a database store keeps measurement ``name`` in: ``m_`` and the checked name, so
    a table of measurements never meets another table of the same database, and the name is safe
    to quote as an identifier."""
    return TABLE_PREFIX + parse_name(name).name

