"""The leakage audit of a walk-forward run, read from what the run recorded and nothing else.

A run's record keeps every fold's bands as bar ranges, its label horizon, where its thresholds
came from and its test metrics. From those alone the audit checks that:

- ``label_overlap``: no training label window — a training bar ``i`` and the ``horizon`` bars its
  label looks ahead to, ``[i, i + horizon]`` — reaches a validation or test bar, and no
  validation label reaches a test bar (thresholds are chosen on validation labels). The bars
  trained on are the training window less its embargoed and (combinatorial folds) excluded ranges,
  wherever they lie — before the test window or, in combinatorial folds, after it;
- ``embargo``: no bar trained on lies in an embargo after a test window — the fold's own, an
  earlier fold's when walking forward, or another test group's of the same combinatorial split;
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
    checked: tuple[str, ...] = field(default=("label_overlap", "embargo", "thresholds_source", "implausible_skill"))

    @property
    def passed(self) -> bool:
        return not self.problems

    def public(self) -> dict[str, Any]:
        return {"passed": self.passed, "problems": [p.public() for p in self.problems],
                "flags": [f.public() for f in self.flags], "checked": list(self.checked)}


def _trained(fold: Mapping[str, Any]) -> list[tuple[int, int]]:
    """The bars trained on, as ranges: the training window less its embargoed and excluded ranges."""
    start, stop = (int(v) for v in fold["train"])
    held = sorted((int(a), int(b)) for a, b in [*(fold.get("embargoed") or []), *(fold.get("excluded") or [])])
    out, at = [], start
    for a, b in held:
        if a > at:
            out.append((at, min(a, stop)))
        at = max(at, b)
    if at < stop:
        out.append((at, stop))
    return [(a, b) for a, b in out if b > a]


def _overlaps(fold: Mapping[str, Any], embargoes: Sequence[tuple[int, int]]) -> list[Finding]:
    horizon = int(fold["horizon"])
    index = int(fold["index"])
    found = []
    for a, b in _trained(fold):
        last = b - 1
        for band in ("validation", "test"):
            start, stop = fold[band]
            # bars a..last have labels reading up to ``horizon`` bars on: do any reach [start, stop)?
            if a < stop and last + horizon >= start:
                row = max(a, start - horizon)
                found.append(Finding("label_overlap", index, f"training bar {row}'s label reads bar "
                                     f"{row + horizon}, inside the {band} window [{start}, {stop})"))
        t_start, t_stop = fold["test"]
        if a < t_stop + horizon and b > t_stop:  # a test label reads a bar trained on after the window
            row = max(a, t_stop)
            found.append(Finding("label_overlap", index, f"test bar {t_stop - 1}'s label reads bar "
                                 f"{t_stop - 1 + horizon}, and training bar {row} lies inside it"))
        for start, stop in embargoes:
            if a < stop and start < b:
                found.append(Finding("embargo", index, f"training bars [{max(a, start)}, {min(b, stop)}) lie in "
                                     f"the embargo [{start}, {stop}) after a test window"))
    v_start, v_stop = fold["validation"]
    t_start, _ = fold["test"]
    if v_stop > v_start and v_start < fold["test"][1] and v_stop - 1 + horizon >= t_start:
        found.append(Finding("label_overlap", index, f"validation bar {v_stop - 1}'s label reads bar "
                             f"{v_stop - 1 + horizon}, inside the test window starting at {t_start}"))
    return found


def _embargoes(fold: Mapping[str, Any], folds: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """The embargoes the fold's training must keep clear of: its own and, walking forward, every
    earlier fold's; in a combinatorial split, those of the split's other test groups."""
    split = fold.get("split")
    if split is not None:
        chosen = [f for f in folds if f.get("split") == split]
    else:
        chosen = [f for f in folds if int(f["index"]) <= int(fold["index"])]
    return [(int(a), int(b)) for f in chosen for a, b in [f.get("embargo") or (0, 0)] if b > a]


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
        problems += _overlaps(fold, _embargoes(fold, folds))
        problems += _threshold_source(fold)
    flags: list[Finding] = []
    if pooled_ic is not None and abs(pooled_ic) > ic_limit:
        high = [int(f["index"]) for f in folds if abs((f.get("metrics") or {}).get("ic") or 0.0) > ic_limit]
        flags.append(Finding("implausible_skill", None,
                             f"out-of-sample IC {pooled_ic:.3f} is beyond ±{ic_limit:g} (folds above it: "
                             f"{', '.join(map(str, high)) or 'none'}): a feature likely looks ahead"))
    return AuditReport(tuple(problems), tuple(flags))


__all__ = ["IC_LIMIT", "AuditReport", "Finding", "audit"]
