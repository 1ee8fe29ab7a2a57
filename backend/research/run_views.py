"""What the walk-forward pages show, as plain data: the run browser's rows served a block at a
time (sorted, filtered and searched on the server), the parameters that tell chosen runs apart,
a run's fold timeline, thresholds, metrics and importances, the form's fields and back, and the
research job queue. Pure functions of records and frames; nothing here draws.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, get_args

import numpy as np
import pandas as pd

from backend.research.walkforward.models import (
    HistGradientBoostingSpec,
    LightGBMSpec,
    LogisticSpec,
    RidgeSpec,
    SpecBase,
    XGBoostSpec,
)

PARAM: Final = "param."
METRIC: Final = "metric."
# the columns every summary row has, in the order the browser shows them
FIXED: Final = ("name", "created_at", "created_by", "dataset", "symbol", "model", "target", "features", "folds", "seed",
                 "audit")
BLOCK_MAX: Final = 1_000
QUICK_MAX: Final = 100
RESEARCH_KINDS: Final = ("walkforward", "simulation", "sweep")
BANDS: Final = ("train", "purge", "validation", "purge", "test", "embargo")
SPECS: Final[tuple[type[SpecBase], ...]] = (LightGBMSpec, XGBoostSpec, HistGradientBoostingSpec, RidgeSpec,
                                            LogisticSpec)


# -- the run browser -----------------------------------------------------------------------------

def summary_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The summary rows as one frame, the fixed columns first, then parameters, then metrics."""
    frame = pd.DataFrame.from_records(list(rows))
    rest = sorted(c for c in frame.columns if c not in FIXED)
    ordered = [c for c in FIXED if c in frame.columns] + [c for c in rest if c.startswith(PARAM)] + \
        [c for c in rest if c.startswith(METRIC)] + [c for c in rest if not c.startswith((PARAM, METRIC))]
    return frame[ordered] if len(frame.columns) else frame


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _number_mask(column: pd.Series, model: Mapping[str, Any]) -> pd.Series:
    values = pd.to_numeric(column, errors="coerce")
    kind = model.get("type")
    if kind == "blank":
        return values.isna()
    if kind == "notBlank":
        return values.notna()
    low = _float(model.get("filter"))
    if low is None:
        return pd.Series(True, index=column.index)  # a condition still being typed holds nothing back
    if kind == "inRange":
        high = _float(model.get("filterTo"))
        return (values >= low) & (values <= high) if high is not None else values >= low
    tests = {"equals": values == low, "notEqual": values != low, "greaterThan": values > low,
             "greaterThanOrEqual": values >= low, "lessThan": values < low, "lessThanOrEqual": values <= low}
    return tests.get(str(kind), pd.Series(True, index=column.index))


def _text_mask(column: pd.Series, model: Mapping[str, Any]) -> pd.Series:
    text = column.astype("string").str.lower()
    kind = model.get("type")
    if kind == "blank":
        return column.isna() | (text == "")
    if kind == "notBlank":
        return column.notna() & (text != "")
    word = str(model.get("filter") or "").lower()[:QUICK_MAX]
    if not word:
        return pd.Series(True, index=column.index)
    tests = {"contains": text.str.contains(word, regex=False), "notContains": ~text.str.contains(word, regex=False),
             "equals": text == word, "notEqual": text != word, "startsWith": text.str.startswith(word),
             "endsWith": text.str.endswith(word)}
    return tests.get(str(kind), pd.Series(True, index=column.index)).fillna(False).astype(bool)


def _condition(column: pd.Series, model: Mapping[str, Any]) -> pd.Series:
    if isinstance(model.get("conditions"), list):
        masks = [_condition(column, m) for m in model["conditions"][:2] if isinstance(m, Mapping)]
        if not masks:
            return pd.Series(True, index=column.index)
        combined = masks[0]
        for mask in masks[1:]:
            combined = (combined | mask) if model.get("operator") == "OR" else (combined & mask)
        return combined
    if model.get("filterType") == "number":
        return _number_mask(column, model).fillna(False).astype(bool)
    return _text_mask(column, model)


def filter_rows(frame: pd.DataFrame, filter_model: Mapping[str, Any] | None, quick: str = "") -> pd.DataFrame:
    """The rows every column filter (AG Grid's filter model) and the quick search keep; a filter on
    a column the rows lack keeps nothing back. ``frame`` is not changed."""
    keep = pd.Series(True, index=frame.index)
    for column, model in (filter_model or {}).items():
        if column in frame.columns and isinstance(model, Mapping):
            keep &= _condition(frame[column], model)
    words = [w for w in str(quick or "")[:QUICK_MAX].lower().split() if w]
    if words:
        haystack = pd.Series("", index=frame.index, dtype="string")
        for column in (c for c in FIXED if c in frame.columns and not pd.api.types.is_numeric_dtype(frame[c])):
            haystack = haystack + " " + frame[column].astype("string").fillna("").str.lower()
        for word in words:
            keep &= haystack.str.contains(word, regex=False)
    return frame[keep]


def sort_rows(frame: pd.DataFrame, sort_model: Sequence[Mapping[str, Any]] | None) -> pd.DataFrame:
    """``frame`` in AG Grid's sort model order (missing values last either way), newest first
    when there is none."""
    keys = [(m["colId"], m.get("sort") != "desc") for m in sort_model or []
            if isinstance(m, Mapping) and m.get("colId") in frame.columns]
    if not keys and "created_at" in frame.columns:
        keys = [("created_at", False)]
    if not keys:
        return frame
    return frame.sort_values([k for k, _ in keys], ascending=[a for _, a in keys], na_position="last",
                             kind="stable")


def block(frame: pd.DataFrame, *, start: int, end: int, sort_model: Any = None, filter_model: Any = None,
          quick: str = "") -> tuple[list[dict[str, Any]], int]:
    """One block of rows ``[start, end)`` of the filtered, sorted rows, as JSON-ready dicts, and
    how many rows pass the filters."""
    start = max(0, int(start))
    end = max(start, min(int(end), start + BLOCK_MAX))
    chosen = sort_rows(filter_rows(frame, filter_model if isinstance(filter_model, Mapping) else None, quick),
                       sort_model if isinstance(sort_model, list) else None)
    part = chosen.iloc[start:end]
    return [_json_row(r) for r in part.to_dict("records")], len(chosen)


def _json_row(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if (isinstance(value, float) and not math.isfinite(value)) or value is pd.NA or value is pd.NaT:
            value = None
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def _same(a: Any, b: Any) -> bool:
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
    return a == b


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def differing_columns(rows: Sequence[Mapping[str, Any]], prefix: str = PARAM) -> list[str]:
    """The columns starting with ``prefix`` whose values are not all the same across ``rows`` (a
    parameter one run has and another lacks differs)."""
    columns = sorted({k for r in rows for k in r if k.startswith(prefix)})
    return [c for c in columns if any(not _same(rows[0].get(c), r.get(c)) for r in rows[1:])]


def metric_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return sorted({k for r in rows for k in r if k.startswith(METRIC)})


def label(column: str) -> str:
    """A column's heading: ``param.num_leaves`` → ``num leaves``, ``metric.hit_rate`` → ``hit rate``."""
    return column.split(".", 1)[-1].replace("_", " ")


# -- one run ----------------------------------------------------------------------------------------

def _time(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def fold_bands(record: Mapping[str, Any], last: str | None = None) -> list[dict[str, Any]]:
    """Every fold's bands in time order — train | purge | validation | purge | test | embargo —
    as ``{fold, band, start, end, bars}`` from the recorded times and ranges; a band of no bars, or
    past the last bar, is left out. A band running to the end of the data has no next bar to end
    at: it ends at ``last`` (the last bar's time) when given."""
    out = []
    for fold in record.get("folds") or []:
        times = fold.get("times") or {}
        edges = {band: [_time(t) for t in (times.get(band) or [None, None])] for band in ("train", "validation",
                                                                                         "test", "embargo")}
        after = [("validation", edges["validation"][0], edges["validation"][1], fold.get("validation")),
                 ("purge", edges["validation"][1], edges["test"][0], fold.get("purge_test")),
                 ("test", edges["test"][0], edges["test"][1] or edges["embargo"][0], fold.get("test")),
                 ("embargo", edges["embargo"][0], edges["embargo"][1], fold.get("embargo"))]
        trained = times.get("trained")
        if fold.get("split") is not None and isinstance(trained, list):
            # combinatorial: the model trains in stretches on both sides of the test window
            spans = [("train", _time(t[0]), _time(t[1]), [0, t[2]]) for t in trained
                     if isinstance(t, list) and len(t) == 3]
            spans += [after[0], after[2], after[3]]
        else:
            spans = [("train", edges["train"][0], edges["train"][1], fold.get("train")),
                     ("purge", edges["train"][1], edges["validation"][0], fold.get("purge_validation")), *after]
        final = last or edges["test"][1] or edges["test"][0]
        for band, start, end, bars in spans:
            count = int(bars[1] - bars[0]) if isinstance(bars, list | tuple) and len(bars) == 2 else 0
            if count <= 0 or start is None:
                continue
            out.append({"fold": int(fold.get("index", len(out))), "band": band, "start": start,
                        "end": end or final or start, "bars": count})
    return out


def threshold_rows(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for fold in record.get("folds") or []:
        chosen = fold.get("thresholds") or {}
        source = chosen.get("from") or {}
        rows.append({"fold": fold.get("index"), "rule": chosen.get("rule"), "long": chosen.get("long"),
                     "short": chosen.get("short"), "from": f"{source.get('band', '?')} {source.get('range', '')}",
                     "tried": len(chosen.get("tried") or [])})
    return rows


def fold_metrics(record: Mapping[str, Any]) -> pd.DataFrame:
    """One row per fold (its index as ``fold``), one column per recorded test metric."""
    rows = [{"fold": f.get("index"), **(f.get("metrics") or {})} for f in record.get("folds") or []]
    return pd.DataFrame.from_records(rows)


def importances(record: Mapping[str, Any]) -> pd.Series:
    """Each feature's importance share averaged over the folds that report one, largest first."""
    shares = [f.get("importances") for f in record.get("folds") or [] if isinstance(f.get("importances"), Mapping)]
    if not shares:
        return pd.Series(dtype="float64")
    return pd.DataFrame.from_records(shares).mean().sort_values(ascending=False)


def oos_equity(predictions: pd.DataFrame) -> pd.DataFrame:
    """The stitched out-of-sample curve: the test rows' time and equity, in time order."""
    test = predictions[(predictions["band"] == "test") & predictions["equity"].notna()]
    return test[["timestamp", "fold", "equity"]].sort_values("timestamp", kind="stable").reset_index(drop=True)


def oos_curves(name: str, predictions: pd.DataFrame, record: Mapping[str, Any]) -> list[tuple[str, pd.DataFrame]]:
    """The run's out-of-sample curves to draw, each with its label: the stitched curve, or for
    combinatorial folds one curve per backtest path."""
    curve = oos_equity(predictions)
    paths = {int(f["index"]): int(f["path"]) for f in record.get("folds") or []
             if isinstance(f, Mapping) and isinstance(f.get("path"), int) and isinstance(f.get("index"), int)}
    if not paths:
        return [(name, curve)]
    path = curve["fold"].map(paths)
    return [(f"{name} · path {int(p)}", part.reset_index(drop=True)) for p, part in curve.groupby(path, sort=True)]


# -- the form -----------------------------------------------------------------------------------------

def model_kinds() -> list[str]:
    return [kind for spec in SPECS for kind in get_args(spec.model_fields["kind"].annotation)]


def spec_of(kind: str) -> type[SpecBase] | None:
    return next((s for s in SPECS if kind in get_args(s.model_fields["kind"].annotation)), None)


def model_params(kind: str) -> list[dict[str, Any]]:
    """The hyperparameters of model ``kind`` with their defaults and bounds, as the form draws
    them: ``{name, default, min, max, integer}`` (an open bound is left as it is: the check names it)."""
    spec = spec_of(kind)
    if spec is None:
        return []
    out = []
    for name, field in spec.model_fields.items():
        if name == "kind":
            continue
        low = high = None
        for rule in field.metadata:
            low = getattr(rule, "ge", getattr(rule, "gt", low))
            high = getattr(rule, "le", getattr(rule, "lt", high))
        out.append({"name": name, "default": field.default, "min": low, "max": high,
                    "integer": field.annotation is int})
    return out


def task_of(kind: str) -> str:
    return "classification" if kind.endswith("classifier") or kind == "logistic" else "regression"


def form_from_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded request as the form's values, so a run can be made again with changes."""
    folds, target = request.get("folds") or {}, request.get("target") or {}
    rule, model = request.get("threshold_rule") or {}, dict(request.get("model") or {})
    return {"dataset": request.get("dataset"), "symbol": request.get("symbol"),
            "features": list(request.get("features") or []), "target_kind": target.get("kind", "return"),
            "horizon": target.get("horizon", 1), "classes": target.get("classes", 3),
            "model_kind": model.pop("kind", "ridge"), "model_params": model,
            "train": folds.get("train"), "validation": folds.get("validation"), "test": folds.get("test"),
            "purge": folds.get("purge"), "embargo": folds.get("embargo", 0), "mode": folds.get("mode", "rolling"),
            "groups": folds.get("groups") or 6, "test_groups": folds.get("test_groups") or 2,
            "rule_kind": rule.get("kind", "quantile"), "long_quantile": rule.get("long_quantile", 0.7),
            "short": rule.get("short", True), "seed": request.get("seed", 0), "threads": request.get("threads", 1)}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def request_from_form(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The form's values as a raw request for ``parse_request``: blank optional numbers are left
    out (their defaults apply), everything else goes as typed, so the check names what is wrong."""
    params = {k: v for k, v in (fields.get("model_params") or {}).items() if not _blank(v)}
    # combinatorial folds are sized by groups; rolling and expanding ones by train and test bars
    sizes = (("groups", "test_groups", "validation") if fields.get("mode") == "combinatorial"
             else ("train", "validation", "test"))
    folds = {k: fields.get(k) for k in (*sizes, "purge", "embargo", "mode") if not _blank(fields.get(k)) or k in sizes}
    target = {"kind": fields.get("target_kind") or "return", "horizon": fields.get("horizon"),
              **({"classes": fields.get("classes")} if fields.get("target_kind") == "quantile" else {})}
    rule = {"kind": fields.get("rule_kind") or "quantile", "short": bool(fields.get("short"))}
    if not _blank(fields.get("long_quantile")) and rule["kind"] == "quantile":
        rule["long_quantile"] = fields.get("long_quantile")
    raw = {"dataset": fields.get("dataset") or "", "features": list(fields.get("features") or []),
           "target": target, "model": {"kind": fields.get("model_kind"), **params}, "folds": folds,
           "threshold_rule": rule, "seed": fields.get("seed"), "threads": fields.get("threads")}
    if not _blank(fields.get("symbol")):
        raw["symbol"] = fields.get("symbol")
    return raw


FIELD_LABELS: Final = {"dataset": "Dataset", "symbol": "Symbol", "features": "Features", "target": "Target",
                       "target.horizon": "Horizon", "target.classes": "Classes", "target.kind": "Target",
                       "model": "Model", "model.kind": "Model", "folds": "Folds", "folds.train": "Train bars",
                       "folds.validation": "Validation bars", "folds.test": "Test bars", "folds.purge": "Purge bars",
                       "folds.embargo": "Embargo bars", "folds.mode": "Window", "folds.groups": "Groups",
                       "folds.test_groups": "Test groups", "groups": "Groups", "test_groups": "Test groups",
                       "threshold_rule": "Threshold rule",
                       "threshold_rule.long_quantile": "Long quantile", "seed": "Seed", "threads": "Threads",
                       "n": "Bars", "train": "Train bars", "validation": "Validation bars", "test": "Test bars",
                       "purge": "Purge bars", "embargo": "Embargo bars", "horizon": "Horizon"}


def error_lines(message: str) -> list[tuple[str, str]]:
    """A check's message as ``(field, text)`` pairs, the field named as the form names it
    (``folds.train`` → ``Train bars``; a model hyperparameter by its own name)."""
    out = []
    for part in str(message).split("; "):
        where, sep, text = part.partition(": ")
        if not sep:
            out.append(("", part))
            continue
        key = where
        if where == "folds" and text.startswith("n: "):
            # too few bars for one fold: said of the folds, shown by the training size
            out.append(("n", f"Folds: {text.removeprefix('n: ')}"))
            continue
        if where.startswith("model.") and where not in FIELD_LABELS:
            key = where.split(".")[-1]
            out.append((key, f"{key}: {text}"))
            continue
        if where.startswith("model.") and where.count(".") >= 2:
            key = where.split(".")[-1]
        name = FIELD_LABELS.get(key, FIELD_LABELS.get(where.split(".")[0], where))
        out.append((key, f"{name}: {text}"))
    return out


_FIELD_OF: Final = {"model": "model_kind", "model.kind": "model_kind", "target": "target_kind",
                    "target.kind": "target_kind", "threshold_rule": "rule_kind", "threshold_rule.kind": "rule_kind",
                    "folds.mode": "mode", "n": "train"}


def field_of(key: str, params: Iterable[str] = ()) -> str | None:
    """The form field an error's key points at (``folds.train`` → ``train``), or None for the
    request as a whole."""
    if key in _FIELD_OF:
        return _FIELD_OF[key]
    last = key.split(".")[-1]
    if key in params or last in params:
        return "param:" + last
    known = {"dataset", "symbol", "features", "horizon", "classes", "train", "validation", "test", "purge",
             "embargo", "long_quantile", "seed", "threads"}
    return last if last in known else None


# -- the job queue ------------------------------------------------------------------------------------

def job_rows(jobs: Iterable[Any]) -> list[dict[str, Any]]:
    """The research jobs (walk-forward runs, simulations, sweeps) as rows of the queue, newest first;
    ``result`` names what a finished job made and ``rerun`` the run a walk-forward job can be made
    again from."""
    rows = []
    for job in jobs:
        if job.kind not in RESEARCH_KINDS:
            continue
        result = job.result or {}
        made = result.get("run") or result.get("simulation") or result.get("name")
        params = job.parameters or {}
        rows.append({"id": job.id, "kind": job.kind, "state": job.state.value, "progress": round(job.progress * 100),
                     "message": job.error or job.message or "", "owner": job.owner,
                     "dataset": (params.get("request") or {}).get("dataset"),
                     "created_at": _iso(job.created_at), "finished_at": _iso(job.finished_at),
                     "result": made if isinstance(made, str) else None,
                     "log": job.log_tail or "", "active": not job.finished})
    return sorted(rows, key=lambda r: r["id"], reverse=True)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


__all__ = ["BANDS", "FIXED", "METRIC", "PARAM", "RESEARCH_KINDS", "block", "differing_columns", "error_lines",
           "field_of", "filter_rows", "fold_bands", "fold_metrics", "form_from_request", "importances", "job_rows", "label",
           "metric_columns", "model_kinds", "model_params", "oos_curves", "oos_equity", "request_from_form", "sort_rows",
           "spec_of", "summary_frame", "task_of", "threshold_rows"]
