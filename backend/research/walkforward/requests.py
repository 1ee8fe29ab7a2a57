"""What a walk-forward run is asked with — one model for the form, the API, jobs and the command
line, so each refuses the same things with the same words — and a walk-forward job's parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backend.research.simulator.requests import Costs, first_error
from backend.research.walkforward.audit import IC_LIMIT
from backend.research.walkforward.engine import SEED_MAX, THREADS_MAX, ThresholdRule
from backend.research.walkforward.folds import BARS_MAX, GROUPS_MAX
from backend.research.walkforward.models import ModelSpec
from backend.research.walkforward.targets import TargetSpec

FEATURES_MAX = 200


class RunError(ValueError):
    """A run that cannot be made or found; the message names what is wrong and can be shown."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FoldSpec(_Model):
    """Sizes in bars (``make_folds``' keywords; the horizon is the target's). Rolling and expanding
    folds take ``train`` and ``test``; combinatorial ones ``groups`` and ``test_groups``."""

    train: int | None = Field(None, ge=1, le=BARS_MAX)
    validation: int = Field(ge=1, le=BARS_MAX)
    test: int | None = Field(None, ge=1, le=BARS_MAX)
    purge: int | None = Field(None, ge=0, le=BARS_MAX)  # None: the label horizon
    embargo: int = Field(0, ge=0, le=BARS_MAX)
    mode: Literal["rolling", "expanding", "combinatorial"] = "rolling"
    min_test: int | None = Field(None, ge=1, le=BARS_MAX)
    groups: int | None = Field(None, ge=3, le=GROUPS_MAX)
    test_groups: int | None = Field(None, ge=2, le=GROUPS_MAX - 1)


class WalkForwardRequest(_Model):
    dataset: str = Field(min_length=1, max_length=60)  # a dataset or an indicator version (spx_2)
    symbol: str | None = Field(None, min_length=1, max_length=40)
    start: datetime | None = None
    end: datetime | None = None
    features: tuple[str, ...] = Field(min_length=1, max_length=FEATURES_MAX)
    target: TargetSpec = TargetSpec()
    model: ModelSpec
    folds: FoldSpec
    threshold_rule: ThresholdRule = ThresholdRule()
    costs: Costs = Costs()
    seed: int = Field(0, ge=0, le=SEED_MAX)
    threads: int = Field(1, ge=1, le=THREADS_MAX)
    periods_per_year: float | None = Field(None, gt=0.0, le=1e7, allow_inf_nan=False)
    ic_limit: float = Field(IC_LIMIT, gt=0.0, lt=1.0)


def parse_request(raw: Any) -> WalkForwardRequest:
    """``raw`` as a request, or a ``RunError`` whose message names each field that is wrong."""
    if isinstance(raw, WalkForwardRequest):
        return raw
    try:
        return WalkForwardRequest.model_validate(raw)
    except ValidationError as exc:
        raise RunError(first_error(exc)) from None


class WalkForwardParams(_Model):
    """A walk-forward job: the request, who asked (the record's author) and, for a resumed run, the
    earlier job of the same request whose finished folds are taken up."""

    request: WalkForwardRequest
    created_by: str = Field("", max_length=64)
    resume_from: int | None = Field(None, ge=1, le=10**12)


__all__ = ["FEATURES_MAX", "FoldSpec", "RunError", "WalkForwardParams", "WalkForwardRequest", "parse_request"]
