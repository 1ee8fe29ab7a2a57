"""Simulations and sweeps as jobs: the same service calls, with progress and cancel.

A job reads the datasets through the settings it runs with (the Parquet store needs no
warehouse, so it runs in any worker; a ClickHouse store is reached where the job runner
gives a warehouse). Progress reports double as cancellation checks, so a cancelled sweep
stops at its next report and records nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backend.jobs.states import JobError
from backend.meta import open_meta
from backend.research.runtime import open_datasets
from backend.research.simulation_service import SimulationError, Simulations
from backend.research.simulator.requests import SimulationParams, SweepParams

if TYPE_CHECKING:
    from backend.jobs.context import JobContext


def _simulations(ctx: JobContext) -> Simulations:
    settings = ctx.settings
    warehouse = ctx.warehouse() if settings.research.measurements == "clickhouse" else None
    return Simulations(open_datasets(settings, open_meta(settings.meta_database_url), warehouse))


def run_simulation(ctx: JobContext, params: SimulationParams) -> dict[str, Any]:
    ctx.progress(0.0, "reading the bars", force=True)
    try:
        outcome = _simulations(ctx).run(params.request, created_by=params.created_by,
                                        progress=lambda share, words: ctx.progress(share, words))
    except SimulationError as exc:
        raise JobError(str(exc)) from None
    return {"simulation": outcome.name, "summary": f"{outcome.name}: {outcome.inputs['label']}"}


def run_sweep(ctx: JobContext, params: SweepParams) -> dict[str, Any]:
    ctx.progress(0.0, "reading the bars", force=True)
    try:
        made = _simulations(ctx).sweep(params.request, created_by=params.created_by,
                                       progress=lambda share, words: ctx.progress(share, words))
    except SimulationError as exc:
        raise JobError(str(exc)) from None
    return {"simulation": made["name"], "summary": f"{made['name']}: sweep of {len(made['cells'])} cells"}
