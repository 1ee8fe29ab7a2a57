"""Parameters of each job kind, validated before a job is queued.

Kept free of heavy imports: worker processes import this module to check what
they were given, and they never load the warehouse client.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator

from backend.access.principal import DataScope

VIEW_MAX_CHARS = 8_000
PROBE_MAX_SECONDS = 3_600
# Values a job's data scope may name per dimension (a scope is a principal's, not typed by hand).
SCOPE_MAX_VALUES = 100_000
SCOPE_VALUE_CHARS = 200
ScopeValues = list[Annotated[StrictStr, Field(max_length=SCOPE_VALUE_CHARS)]] | None


class JobScope(BaseModel):
    """The rows a job may read: the submitter's data scope (``DataScope.as_dict()``); ``null`` = every value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    portfolio_managers: ScopeValues = Field(None, max_length=SCOPE_MAX_VALUES)
    desks: ScopeValues = Field(None, max_length=SCOPE_MAX_VALUES)
    books: ScopeValues = Field(None, max_length=SCOPE_MAX_VALUES)

    def data_scope(self) -> DataScope:
        return DataScope.from_dict(self.model_dump())


class TradesCsvParams(BaseModel):
    """Every trade of a pivot view's filters, written to a CSV file.

    Give either ``view`` (the pivot page's query string, as the streamed route
    reads it; an absent date means the latest trade date when the job runs) or
    ``request`` (a pivot request body) with an optional row ``path`` and
    ``column_path``, as the drill-through takes them. ``scope`` is the submitter's
    data scope: the job kind sets it at submission (``JobKind.validate``) and the
    export reads only the rows it allows, wherever the job runs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    view: str | None = Field(None, max_length=VIEW_MAX_CHARS)
    request: dict[str, Any] | None = None
    path: list[Any] = Field(default_factory=list, max_length=10)
    column_path: list[Any] = Field(default_factory=list, max_length=10)
    # At most this many rows per bounded warehouse query; the engine is never held for the whole export.
    chunk_rows: int = Field(250_000, ge=1_000, le=2_000_000)
    scope: JobScope | None = None

    @field_validator("view")
    @classmethod
    def _plain_query(cls, value: str | None) -> str | None:
        if value is not None and any(ord(ch) < 32 for ch in value):
            raise ValueError("control characters are not allowed in a query string")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.view is None) == (self.request is None):
            raise ValueError("give either view (a pivot query string) or request (a pivot request), not both")
        if self.view is not None and (self.path or self.column_path):
            raise ValueError("path and column_path go with request, not with view")
        if self.request is not None:
            # Checked now so a bad request is refused before it is queued.
            from backend.pivot.drill import DrillError, drill_scope

            try:
                drill_scope(self.request, self.path, self.column_path)
            except DrillError as exc:
                raise ValueError(f"request: {exc}") from None
        return self


class ProbeParams(BaseModel):
    """A check of the job runner itself: steps of a given length, each reported as progress.

    It shows, on a real deployment, that workers start jobs, report progress,
    honour cancellation and report failures (``fail_at_step``) with their log.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(10, ge=1, le=10_000)
    step_seconds: float = Field(0.1, ge=0, le=60)
    fail_at_step: int | None = Field(None, ge=1, le=10_000)

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        # A check, not a way to hold one of the few job slots for days.
        if self.steps * self.step_seconds > PROBE_MAX_SECONDS:
            raise ValueError(f"steps × step_seconds must be at most {PROBE_MAX_SECONDS:,} seconds")
        return self
