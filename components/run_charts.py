"""Figures of the walk-forward pages as plain dicts: a run's fold timeline, its per-fold metrics,
its feature importances and its out-of-sample equity; and, comparing runs, the parameters that
differ on parallel axes, per-fold metrics overlaid and the runs' curves. Colours follow the theme
as the other research charts do."""

from __future__ import annotations

from typing import Any, Final

import pandas as pd

from backend.research.run_views import label
from components.market_charts import THEMES
from components.research_charts import DARK_LINE_COLOURS, LINE_COLOURS, _axis
from components.simulation_charts import _base, _line, _times

# The timeline's bands: the model learns on train, thresholds come from validation, judged on test;
# purge and embargo are gaps, drawn faint so the eye reads them as nothing.
BAND_COLOURS: Final = {"train": 0, "validation": 2, "test": 1}


def _palette(dark: bool) -> list[str]:
    return DARK_LINE_COLOURS if dark else LINE_COLOURS


def timeline_figure(bands: list[dict[str, Any]], *, dark: bool) -> dict[str, Any]:
    """One row per fold, its bands as horizontal bars in time (a trace per band kind, so the legend
    names them)."""
    colours = THEMES["dark" if dark else "light"]
    palette = _palette(dark)
    fill = {"train": palette[BAND_COLOURS["train"]], "validation": palette[BAND_COLOURS["validation"]],
            "test": palette[BAND_COLOURS["test"]], "purge": colours["grid"], "embargo": colours["muted"]}
    data = []
    for band in ("train", "purge", "validation", "test", "embargo"):
        part = [b for b in bands if b["band"] == band]
        if not part:
            continue
        starts = pd.to_datetime([b["start"] for b in part], utc=True)
        ends = pd.to_datetime([b["end"] for b in part], utc=True)
        data.append({"type": "bar", "orientation": "h", "name": band, "base": _times(starts, "UTC"),
                     "x": [(e - s).total_seconds() * 1000 for s, e in zip(starts, ends, strict=True)],
                     "y": [f"fold {b['fold']}" for b in part],
                     "customdata": [[b["bars"], str(b["start"])[:10], str(b["end"])[:10]] for b in part],
                     "marker": {"color": fill[band], "line": {"width": 0}},
                     "hovertemplate": f"%{{y}} {band}: %{{customdata[1]}} → %{{customdata[2]}} · %{{customdata[0]}} bars"
                                      "<extra></extra>"})
    folds = sorted({b["fold"] for b in bands})
    return {"data": data, "layout": _base(
        colours, barmode="overlay", bargap=0.35, hovermode="closest",
        xaxis=_axis(colours, type="date"),
        yaxis=_axis(colours, type="category", autorange="reversed",
                    categoryarray=[f"fold {f}" for f in folds], categoryorder="array"))}


def fold_metric_figure(metrics: pd.DataFrame, keys: list[str], *, dark: bool) -> dict[str, Any]:
    """Each chosen metric per fold, grouped bars."""
    colours = THEMES["dark" if dark else "light"]
    palette = _palette(dark)
    data = [{"type": "bar", "name": label(key), "x": [f"fold {f}" for f in metrics["fold"]],
             "y": [None if pd.isna(v) else float(v) for v in metrics[key]], "marker": {"color": palette[i % len(palette)]}}
            for i, key in enumerate(k for k in keys if k in metrics.columns)]
    return {"data": data, "layout": _base(colours, barmode="group", xaxis=_axis(colours, type="category"),
                                          yaxis=_axis(colours, zeroline=True))}


def importance_figure(shares: pd.Series, *, dark: bool, top: int = 25) -> dict[str, Any]:
    colours = THEMES["dark" if dark else "light"]
    shown = shares.head(top)[::-1]
    data = [{"type": "bar", "orientation": "h", "x": [round(float(v), 6) for v in shown], "y": list(shown.index),
             "marker": {"color": _palette(dark)[0]}, "hovertemplate": "%{y}: %{x:.1%}<extra></extra>"}]
    return {"data": data, "layout": _base(colours, showlegend=False, margin={"l": 120, "r": 16, "t": 8, "b": 32},
                                          xaxis=_axis(colours, tickformat=".0%"), yaxis=_axis(colours))}


def equity_figure(curves: list[tuple[str, pd.DataFrame]], *, dark: bool) -> dict[str, Any]:
    """Stitched out-of-sample equity of one or more runs."""
    colours = THEMES["dark" if dark else "light"]
    palette = _palette(dark)
    data = [_line(_times(frame["timestamp"], "UTC"), frame["equity"].round(4).tolist(), name, palette[i % len(palette)])
            for i, (name, frame) in enumerate(curves)]
    return {"data": data, "layout": _base(colours, hovermode="x unified", xaxis=_axis(colours, type="date"),
                                          yaxis=_axis(colours, title={"text": "equity (test windows)"}))}


def parcoords_figure(rows: list[dict[str, Any]], columns: list[str], colour_by: str, *, dark: bool) -> dict[str, Any]:
    """Parallel axes over ``columns`` (the parameters that differ, then a metric), one line per run,
    coloured by ``colour_by``. A text parameter is drawn as numbered categories."""
    colours = THEMES["dark" if dark else "light"]
    dimensions = []
    for column in columns:
        values = [r.get(column) for r in rows]
        if all(isinstance(v, int | float) and not isinstance(v, bool) or v is None for v in values):
            dimensions.append({"label": label(column), "values": [v for v in values]})
        else:
            texts = sorted({str(v) for v in values})
            dimensions.append({"label": label(column), "values": [texts.index(str(v)) for v in values],
                               "tickvals": list(range(len(texts))), "ticktext": texts})
    shade = [r.get(colour_by) for r in rows]
    line: dict[str, Any] = {"color": [v if isinstance(v, int | float) else 0 for v in shade],
                            "colorscale": [[0, colours["down"]], [0.5, colours["muted"]], [1, colours["up"]]],
                            "showscale": True, "colorbar": {"title": {"text": label(colour_by)}, "thickness": 10}}
    return {"data": [{"type": "parcoords", "dimensions": dimensions, "line": line,
                      "labelfont": {"color": colours["font"]}, "tickfont": {"color": colours["font"]}}],
            "layout": _base(colours, margin={"l": 60, "r": 60, "t": 48, "b": 24})}


def fold_compare_figure(per_run: list[tuple[str, pd.DataFrame]], key: str, *, dark: bool) -> dict[str, Any]:
    """One metric per fold, a line per run, overlaid."""
    colours = THEMES["dark" if dark else "light"]
    palette = _palette(dark)
    data = [{"type": "scatter", "mode": "lines+markers", "name": name, "x": metrics["fold"].tolist(),
             "y": [None if pd.isna(v) else float(v) for v in metrics.get(key, pd.Series(index=metrics.index))],
             "line": {"color": palette[i % len(palette)], "width": 1.4}}
            for i, (name, metrics) in enumerate(per_run)]
    return {"data": data, "layout": _base(colours, hovermode="x unified",
                                          xaxis=_axis(colours, title={"text": "fold"}, dtick=1),
                                          yaxis=_axis(colours, title={"text": label(key)}, zeroline=True))}
