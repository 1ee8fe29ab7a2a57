"""The kinds of job there are: a whitelist, each with its parameters and where it may run.

A kind that reads the warehouse (``needs_warehouse``) never runs in an embedded
worker process: chDB belongs to the web process, so there it runs on one of the
web process's threads; with a warehouse server it runs on the runner's workers
like any other kind. The function that does the work is named by import path and
imported only where it runs, so worker processes load only what they execute.

A kind that reads trades (``scoped``) carries its submitter's data scope in its
parameters: at submission the caller's ``current_scope()`` is written into them
(a scope given by the caller may only narrow it), and where the job runs — a
worker with no request — the stored scope is what the job reads within.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ValidationError

from backend.access.current import current_scope
from backend.backup.job import BackupParams
from backend.jobs.params import ProbeParams, TradesCsvParams
from backend.jobs.states import InvalidJobError
from backend.research.simulator.requests import SimulationParams, SweepParams
from backend.research.walkforward.requests import WalkForwardParams

if TYPE_CHECKING:
    from backend.jobs.context import JobContext


class Placement(StrEnum):
    WORKER = "worker"  # a worker process (embedded) or a Celery worker (server)
    WEB = "web"  # a thread of the web process, which holds the embedded warehouse


@dataclass(frozen=True)
class JobKind:
    name: str
    title: str
    parameters: type[BaseModel]
    target: str  # "module:function", called as function(context, parameters) -> result dict
    needs_warehouse: bool
    # Reads trades: its parameters carry a ``scope`` (the submitter's data scope).
    scoped: bool = False

    def validate(self, raw: object) -> BaseModel:
        if not isinstance(raw, Mapping):
            raise InvalidJobError("expected a JSON object", "parameters")
        raw = dict(raw)
        caller = current_scope()
        if self.scoped and raw.get("scope") is None:
            # Submission: the job reads what its submitter may see. Where it runs (no request,
            # the local user) the stored scope is already there and is kept.
            raw["scope"] = caller.as_dict()
        try:
            params = self.parameters.model_validate(raw)
        except ValidationError as exc:
            raise InvalidJobError(describe(exc, "parameters")) from None
        if self.scoped and not params.scope.data_scope().within(caller):  # type: ignore[attr-defined]
            raise InvalidJobError("parameters.scope: names rows outside the ones you may see")
        return params

    def function(self) -> Callable[[JobContext, Any], dict[str, Any]]:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


KINDS: Final[dict[str, JobKind]] = {
    kind.name: kind
    for kind in (
        JobKind("trades_csv", "Raw trades CSV export", TradesCsvParams, "backend.jobs.export:run_trades_csv",
                needs_warehouse=True, scoped=True),
        JobKind("probe", "Job runner check", ProbeParams, "backend.jobs.probe:run_probe", needs_warehouse=False),
        # Reads through the app's own open warehouse, so it runs where the warehouse is.
        JobKind("backup", "Backup of the data directory", BackupParams, "backend.backup.job:run_backup",
                needs_warehouse=True),
        JobKind("simulation", "Trading simulation", SimulationParams, "backend.research.simulation_job:run_simulation",
                needs_warehouse=False),
        JobKind("sweep", "Parameter sweep", SweepParams, "backend.research.simulation_job:run_sweep",
                needs_warehouse=False),
        JobKind("walkforward", "Walk-forward run", WalkForwardParams,
                "backend.research.walkforward.job:run_walkforward", needs_warehouse=False),
    )
}


def get_kind(name: object) -> JobKind:
    kind = KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise InvalidJobError(f"unknown job kind (choose one of {', '.join(sorted(KINDS))})", "kind")
    return kind


def describe(exc: ValidationError, prefix: str) -> str:
    """One line per problem, each naming the field under ``prefix`` (caller text is never echoed)."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) if isinstance(p, int) or str(p).isidentifier() and len(str(p)) <= 40 else "<unnamed>"
                       for p in (prefix, *err["loc"]))
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts[:10])
