"""Walk-forward runs as jobs: progress after every fold ("fold k of K"), cancel at the next fold,
and resume.

Each finished fold is kept in the job's result folder as it is made (``checkpoints``); a job that
does not complete keeps them (until the results' retention time), so a job resuming it
(``resume_from``) takes its finished folds up and fits only the rest. A run is recorded only once
every fold is done; the checkpoints, no longer needed then, are removed.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

from backend.jobs.context import CHECKPOINTS, result_dir
from backend.jobs.states import JobError, JobNotFoundError, JobState
from backend.meta import open_meta
from backend.research.runtime import open_datasets
from backend.research.walkforward.requests import RunError, WalkForwardParams
from backend.research.walkforward.service import Runs

if TYPE_CHECKING:
    from pathlib import Path

    from backend.jobs.context import JobContext

KIND = "walkforward"
RESUMABLE = (JobState.FAILED, JobState.CANCELLED)


def _runs(ctx: JobContext) -> Runs:
    settings = ctx.settings
    warehouse = ctx.warehouse() if settings.research.measurements == "clickhouse" else None
    return Runs(open_datasets(settings, open_meta(settings.meta_database_url), warehouse))


def _earlier(ctx: JobContext, job_id: int) -> Path:
    """The checkpoints of the job resumed: one of the same owner, a walk-forward job that ended
    without completing."""
    try:
        earlier = ctx.store.get(job_id)
    except JobNotFoundError:
        raise JobError(f"resume_from: there is no job {job_id}") from None
    if earlier.kind != KIND or earlier.owner != ctx.job.owner:
        raise JobError(f"resume_from: job {job_id} is not a walk-forward job of yours")
    if earlier.state not in RESUMABLE:
        raise JobError(f"resume_from: job {job_id} is {earlier.state.value}; only a failed or cancelled run "
                       "is resumed")
    return result_dir(ctx.settings.data_dir, job_id) / CHECKPOINTS


def run_walkforward(ctx: JobContext, params: WalkForwardParams) -> dict[str, Any]:
    ctx.progress(0.0, "reading the bars", force=True)
    earlier = _earlier(ctx, params.resume_from) if params.resume_from is not None else None
    mine = ctx.result_dir() / CHECKPOINTS
    try:
        # every fold's report is written at once: a fold is seen finished as soon as it is
        outcome = _runs(ctx).run(params.request, created_by=params.created_by, checkpoint=mine,
                                 resume_from=earlier, progress=lambda share, words: ctx.progress(share, words,
                                                                                                  force=True))
    except RunError as exc:
        raise JobError(str(exc)) from None
    for folder in (mine, earlier):
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    folds = len(outcome.result.folds)
    resumed = outcome.inputs.get("resumed_folds", 0)
    words = f"{outcome.name}: {folds} folds" + (f" ({resumed} taken up from job {params.resume_from})"
                                                  if params.resume_from is not None else "")
    return {"run": outcome.name, "summary": words, "folds": folds, "resumed_folds": resumed,
            "resumed_from": params.resume_from}
