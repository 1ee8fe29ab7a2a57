"""What a simulation or a sweep is asked with — the same model for the form, the API, jobs and
the command line, so each refuses the same things with the same words."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from backend.research.simulator.engine import Simulator
from backend.research.simulator.strategies import Grid, Strategy

# A single simulation this large (bars) goes to the job runner instead of answering the request.
DIRECT_BARS_MAX: Final = 2_000_000
DIRECT_CELLS_BARS_MAX: Final = 4_000_000  # cells × bars of a sweep answered directly


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Costs(_Model):
    """Fills, costs and sizing (``Simulator``'s keywords, checked the same way)."""

    fill: Literal["next_open", "close"] = "next_open"
    fees: float = Field(0.0, ge=0.0, le=0.5, allow_inf_nan=False)
    fixed_fee: float = Field(0.0, ge=0.0, le=1e15, allow_inf_nan=False)
    slippage_bps: float = Field(0.0, ge=0.0, le=5_000.0, allow_inf_nan=False)
    init_cash: float = Field(100_000.0, gt=0.0, le=1e15, allow_inf_nan=False)
    sizing: Literal["all_in", "fraction", "units"] = "all_in"
    size: float = Field(1.0, gt=0.0, le=1e12, allow_inf_nan=False)
    fractional: bool = False
    lot: int = Field(1, ge=1, le=1_000_000)
    stop_loss: float | None = Field(None, gt=0.0, lt=1.0, allow_inf_nan=False)
    take_profit: float | None = Field(None, gt=0.0, le=100.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _simulator_accepts(self) -> Costs:
        self.simulator()  # one place decides what is valid: the simulator's constructor
        return self

    def simulator(self) -> Simulator:
        return Simulator(**self.model_dump())


class SimulationRequest(_Model):
    dataset: str = Field(min_length=1, max_length=60)  # a dataset or an indicator version (spx_2)
    symbol: str | None = Field(None, min_length=1, max_length=40)  # one symbol of a panel dataset
    strategy: Strategy
    costs: Costs = Costs()
    periods_per_year: float | None = Field(None, gt=0.0, le=1e7, allow_inf_nan=False)
    start: datetime | None = None
    end: datetime | None = None


class SweepRequest(SimulationRequest):
    grid: Grid


class SimulationParams(_Model):
    """A simulation job: the request and who asked (the record's author)."""

    request: SimulationRequest
    created_by: str = Field("", max_length=64)


class SweepParams(_Model):
    request: SweepRequest
    created_by: str = Field("", max_length=64)


def first_error(exc: ValidationError, prefix: str = "") -> str:
    """One line per problem (at most five), each naming its field; the caller's text is never echoed."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(p) for p in (prefix, *err["loc"]) if str(p) != "" and len(str(p)) <= 40)
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def parse(model: type[SimulationRequest], raw: Any) -> SimulationRequest:
    """``raw`` as a request, or a ``ValueError`` whose message names each field that is wrong."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(first_error(exc)) from None
