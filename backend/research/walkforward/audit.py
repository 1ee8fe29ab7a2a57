"""The leakage audit of a walk-forward run, read from what the run recorded and nothing else.

A run's record keeps every fold's bands as bar ranges, its label horizon, where its thresholds
came from and its test metrics. From those alone the audit checks that:

- ``label_overlap``: no training label window — a training bar ``i`` and the ``horizon`` bars its
  label looks ahead to, ``[i, i + horizon]`` — reaches a validation or test bar, and no
  validation label reaches a test bar (thresholds are chosen on validation labels);
- ``thresholds_source``: each fold's thresholds came from its own validation window;
- ``implausible_skill``: the pooled out-of-sample information coefficient is not above
  ``ic_limit`` (0.3 by default) in size — a look-ahead feature with its sign flipped is as suspect. Daily returns are rarely predicted with an IC above a few
  hundredths; far above that, a feature most likely looks ahead (the target shifted into it).
  The pooled IC is judged rather than each fold's, since one short window's IC is noisy;
  folds above the limit are listed with the flag.

A problem with the ranges fails the audit; implausible skill is a flag for a person to look at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

IC_LIMIT: Final = 0.3


@dataclass(frozen=True)
class Finding:
    check: str
    fold: int | None
    detail: str

    def public(self) -> dict[str, Any]:
        return {"check": self.check, "fold": self.fold, "detail": self.detail}


@dataclass(frozen=True)
class AuditReport:
    problems: tuple[Finding, ...] = ()
    flags: tuple[Finding, ...] = ()
    checked: tuple[str, ...] = field(default=("label_overlap", "thresholds_source", "implausible_skill"))

    @property
    def passed(self) -> bool:
        return not self.problems

    def public(self) -> dict[str, Any]:
        return {"passed": self.passed, "problems": [p.public() for p in self.problems],
                "flags": [f.public() for f in self.flags], "checked": list(self.checked)}


def _last_train_row(fold: Mapping[str, Any]) -> int | None:
    """The last bar trained on: the training window's last bar not inside an embargoed range."""
    start, stop = fold["train"]
    row = stop - 1
    for a, b in sorted((tuple(r) for r in fold.get("embargoed") or []), reverse=True):
        if a <= row < b:
            row = a - 1
    return row if row >= start else None


def _overlaps(fold: Mapping[str, Any]) -> list[Finding]:
    horizon = int(fold["horizon"])
    index = int(fold["index"])
    found = []
    last = _last_train_row(fold)
    if last is not None:
        reach = last + horizon  # the last bar a training label reads
        for band in ("validation", "test"):
            start, stop = fold[band]
            if reach >= start and last < stop:
                found.append(Finding("label_overlap", index, f"training bar {last}'s label reads bar {reach}, "
                                     f"inside the {band} window [{start}, {stop})"))
    v_start, v_stop = fold["validation"]
    t_start, _ = fold["test"]
    if v_stop > v_start and v_stop - 1 + horizon >= t_start:
        found.append(Finding("label_overlap", index, f"validation bar {v_stop - 1}'s label reads bar "
                             f"{v_stop - 1 + horizon}, inside the test window starting at {t_start}"))
    return found


def _threshold_source(fold: Mapping[str, Any]) -> list[Finding]:
    source = (fold.get("thresholds") or {}).get("from") or {}
    if source.get("band") != "validation" or list(source.get("range") or []) != list(fold["validation"]):
        return [Finding("thresholds_source", int(fold["index"]),
                        f"thresholds were taken from {source.get('band')!r} {source.get('range')}, not the "
                        f"fold's validation window {list(fold['validation'])}")]
    return []


def audit(folds: Sequence[Mapping[str, Any]], *, pooled_ic: float | None,
          ic_limit: float = IC_LIMIT) -> AuditReport:
    """The audit of the recorded ``folds`` (``Fold.ranges()`` with ``thresholds`` and ``metrics``)
    and the run's pooled test IC."""
    if not 0.0 < ic_limit < 1.0:
        raise ValueError(f"ic_limit: above 0 and below 1, got {ic_limit!r}")
    problems: list[Finding] = []
    for fold in folds:
        problems += _overlaps(fold)
        problems += _threshold_source(fold)
    flags: list[Finding] = []
    if pooled_ic is not None and abs(pooled_ic) > ic_limit:
        high = [int(f["index"]) for f in folds if abs((f.get("metrics") or {}).get("ic") or 0.0) > ic_limit]
        flags.append(Finding("implausible_skill", None,
                             f"out-of-sample IC {pooled_ic:.3f} is beyond ±{ic_limit:g} (folds above it: "
                             f"{', '.join(map(str, high)) or 'none'}): a feature likely looks ahead"))
    return AuditReport(tuple(problems), tuple(flags))


__all__ = ["IC_LIMIT", "AuditReport", "Finding", "audit"]
