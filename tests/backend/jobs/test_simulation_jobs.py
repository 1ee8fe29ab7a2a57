"""Simulations and sweeps on the embedded job runner: a sweep reports progress and ends with its
record; a cancelled sweep stops at its next report and records nothing; a bad request fails with
the message naming the field, before anything is written."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from backend.config import Settings
from backend.jobs import JobRunner, JobState
from backend.jobs.states import InvalidJobError
from backend.meta import open_meta
from backend.research.demo import demo_bars
from backend.research.runtime import open_datasets
from backend.research.simulation_service import Simulations
from tests.backend.jobs.conftest import wait_for, wait_state

SMA = {"kind": "sma_cross", "fast": 10, "slow": 50}


@pytest.fixture
def sims(job_app_settings: Settings) -> Simulations:
    datasets = open_datasets(job_app_settings, open_meta(job_app_settings.meta_database_url), None)
    datasets.add("sp500", demo_bars("sp500"), source="arch")
    return Simulations(datasets)


def _grid(xs: int, ys: int) -> dict:
    return {"x": {"param": "fast", "values": list(range(2, 2 + xs))},
            "y": {"param": "slow", "values": list(range(60, 60 + 5 * ys, 5))}}


def test_a_sweep_job_reports_progress_and_records_its_sweep(make_runner: Callable[..., JobRunner],
                                                            sims: Simulations) -> None:
    runner = make_runner()
    job = runner.submit("sweep", {"request": {"dataset": "sp500", "strategy": SMA, "grid": _grid(20, 20)},
                                  "created_by": "ana"}, "ana")
    seen: set[float] = set()

    def done() -> bool:
        current = runner.get(job.id)
        if current.state == JobState.RUNNING:
            seen.add(current.progress)
        return current.finished

    wait_for(done, 120, "the sweep to finish")
    final = runner.get(job.id)
    assert final.state == JobState.COMPLETED, final.error
    assert any(0 < p < 1 for p in seen), seen
    name = final.result["simulation"]
    record = sims.get(name)
    assert record["type"] == "sweep" and record["created_by"] == "ana"
    assert len(record["cells"]) == 400 and record["trials"]["count"] == 400


def test_a_cancelled_sweep_records_nothing(make_runner: Callable[..., JobRunner], sims: Simulations) -> None:
    runner = make_runner()
    job = runner.submit("sweep", {"request": {"dataset": "sp500", "strategy": SMA, "grid": _grid(50, 50)}}, "ana")
    wait_for(lambda: runner.get(job.id).progress >= 0.3, 120, "the sweep to get going")
    runner.cancel(job.id, "ana")
    final = wait_state(runner, job.id, JobState.CANCELLED, JobState.COMPLETED, JobState.FAILED, timeout=120)
    assert final.state == JobState.CANCELLED
    assert [r.kind for r in sims.records.list(include_deleted=True)] == ["dataset"]


def test_a_simulation_job_on_an_unknown_symbol_fails_with_a_clear_reason(make_runner: Callable[..., JobRunner],
                                                                          sims: Simulations) -> None:
    runner = make_runner()
    job = runner.submit("simulation", {"request": {"dataset": "sp500", "symbol": "AAPL", "strategy": SMA}}, "ana")
    final = wait_state(runner, job.id, JobState.FAILED, JobState.COMPLETED, timeout=60)
    assert final.state == JobState.FAILED
    assert final.error == "symbol: sp500 holds one series; leave the symbol out"
    assert [r.kind for r in sims.records.list(include_deleted=True)] == ["dataset"]


def test_a_malformed_job_is_refused_at_submission(make_runner: Callable[..., JobRunner]) -> None:
    runner = make_runner()
    with pytest.raises(InvalidJobError, match="fast"):
        runner.submit("sweep", {"request": {"dataset": "sp500", "strategy": {**SMA, "fast": "ten"},
                                            "grid": _grid(2, 2)}}, "ana")
