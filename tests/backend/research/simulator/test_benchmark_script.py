"""The simulator benchmark runs end to end on tiny inputs: every figure prints its line. Its
timings are not checked (a loaded machine would fail them); the reference side needs vectorbt,
a benchmark-only dependency, and reads "not installed" without it. The two runs of the script
are marked slow: they start fresh interpreters and import vectorbt."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import simulator as bench

HAS_VECTORBT = bench.load_vectorbt() is not None


def run(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert bench.main(["--bars", "2000", "--runs", "1", "--quiet", *args]) == 0
    return capsys.readouterr().out.splitlines()


@pytest.mark.slow
def test_reference_figures_print_ratios_or_say_vectorbt_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    lines = run(capsys, "--only", "check", "--only", "single", "--only", "sweep", "--columns", "3")
    figures = [line for line in lines if line.startswith(("check", "2,000 bars", "sweep"))]
    assert len(figures) == 4, lines
    for line in figures:
        if HAS_VECTORBT:
            assert "against reference" in line or "relative difference" in line, line
        else:
            assert bench.NOT_INSTALLED in line and "not measured" in line, line
    if HAS_VECTORBT:
        # the two setups are meant to fill at the same prices: the check must hold, whatever the speed
        assert "· met" in figures[0], figures[0]
    assert lines[-1].startswith("budgets met:")


def test_without_vectorbt_our_figures_still_print(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "load_vectorbt", lambda: None)
    lines = run(capsys, "--only", "check", "--only", "single", "--only", "columns", "--columns", "3")
    figures = [line for line in lines if line.startswith(("check", "2,000 bars"))]
    assert len(figures) == 4, lines
    assert all(bench.NOT_INSTALLED in line and line.endswith("not measured") for line in figures), figures
    assert lines[-1] == "budgets met: 0 of 0"


@pytest.mark.slow
def test_own_figures_and_fresh_processes_run(capsys: pytest.CaptureFixture[str]) -> None:
    lines = run(capsys, "--only", "stats", "--only", "first-call", "--only", "memory")
    text = "\n".join(lines)
    assert "statistics, 2,000 bars" in text
    assert "first call in a fresh process" in text and "cache hit" in text
    assert "sweep peak memory, 400 cells on 1,000 bars" in text and "vectorbt not loaded" in text


def test_sweep_signals_are_crossovers_of_each_pair() -> None:
    close = 100 + np.sin(np.linspace(0, 40, 3_000)) * 5
    entries, exits = bench.sma_grid(close)
    assert entries.shape == exits.shape == (3_000, len(bench.FAST) * len(bench.SLOW))
    # column a × 20 + b is FAST[a] against SLOW[b], the same as a single pair's crossovers
    a, b = 3, 7
    import talib

    one = bench.crossovers(talib.SMA(close, timeperiod=bench.FAST[a]), talib.SMA(close, timeperiod=bench.SLOW[b]))
    column = a * len(bench.SLOW) + b
    assert (entries[:, column] == one[0][:, 0]).all() and (exits[:, column] == one[1][:, 0]).all()
    assert entries[:, column].any() and not (entries & exits).any()
