"""The pivot request: what the API and the pivot page send, validated up front.

Shape (JSON)::

    {
      "dimensions": ["portfolio_manager_id", "asset_class", "symbol"],   # 1..6, no repeats
      "columns": ["exposure_type"],                                       # 0..2, not in dimensions
      "metrics": ["notional", "pnl", "avg_price"],                        # 1..N, no repeats
      "filters": {"trade_date": "2024-01-15" | {"from": "...", "to": "..."},
                  "<dimension>": "value" | ["v1", "v2", ...]},            # <= 10,000 values
      "sort": {"field": "<metric or dimension>", "direction": "asc" | "desc",
               "column": ["<value of columns[0]>", ...]},
                                   # a metric orders siblings at every level; a row
                                   # dimension orders its own level (others ascending);
                                   # ties and no sort: dimension value ascending.
                                   # "column" (only with "columns", one value per column
                                   # dimension) orders by the metric in that split column;
                                   # groups with no value there come last
      "limit": 1000,               # children kept under each parent, 1..10,000
      "exposure": "as_held" | "look_through",
      "stocks": "last" | "average",  # stocks over a date range: as of the last date with
                                   # data under the filters (default), or the daily average
      "cache": true                # for the API's result cache; the engine ignores it
    }

Anything else is refused with a ``pydantic.ValidationError``;
``PivotRequestError.from_validation(exc)`` turns one into a single line that
names each offending field and never repeats the offending input.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from backend.pivot.catalog import (
    DEFAULT_LIMIT,
    DIMENSIONS,
    FUND_TYPES,
    MAX_COLUMN_DIMENSIONS,
    MAX_DIMENSIONS,
    MAX_FILTER_VALUES,
    MAX_LIMIT,
    MAX_VALUE_CHARS,
    METRICS,
    VIEW_TYPES,
    StockMode,
)

Exposure = Literal["as_held", "look_through"]
ALL_EXPOSURE_TYPES = ("Direct", "ETF", "ETC", "Constituent", "Residual")


class PivotRequestError(ValueError):
    """A pivot request the engine refuses; the message names the field, never SQL."""

    @staticmethod
    def from_validation(exc: ValidationError) -> str:
        """One line naming each problem's field, e.g. ``limit: must be at most 10000``."""
        parts: list[str] = []
        for err in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = ".".join(_safe_name(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            elif err["type"] == "missing":
                msg = "is required"
            parts.append(f"{loc}: {msg}" if loc and not msg.startswith(f"{loc}:") else msg)
        return "; ".join(parts[:10])


def _safe_name(part: object) -> str:
    # Unknown keys come from the caller; only identifier-like ones are repeated back.
    text = str(part)
    return text if _NAME.fullmatch(text) else "<unnamed>"


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}|[0-9]{1,6}")
_STRICT = ConfigDict(extra="forbid", frozen=True)


def _iso_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("expected an ISO date YYYY-MM-DD")


class DateRange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: date | None = Field(None, alias="from")
    end: date | None = Field(None, alias="to")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> date | None:
        return None if value is None else _iso_date(value)

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.start is None and self.end is None:
            raise ValueError("give 'from', 'to' or both")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end date {self.end} is before start {self.start}")
        return self


FilterText = Annotated[StrictStr, Field(max_length=MAX_VALUE_CHARS)]
FilterValue = FilterText | Annotated[list[FilterText], Field(min_length=1, max_length=MAX_FILTER_VALUES)]


def _check_filter_value(value: Any) -> Any:
    # Checked here so a bad value gets one plain message instead of one per union branch.
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            raise ValueError(f"a value may be at most {MAX_VALUE_CHARS} characters")
        return value
    if not isinstance(value, list | tuple):
        raise ValueError("expected a string or a list of strings")  # noqa: TRY004 - pydantic reports ValueError only
    if not value:
        raise ValueError("give at least one value (or leave the filter out)")
    if len(value) > MAX_FILTER_VALUES:
        raise ValueError(f"at most {MAX_FILTER_VALUES:,} values (got {len(value):,})")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ValueError(f"value {i} is not a string")  # noqa: TRY004
        if len(item) > MAX_VALUE_CHARS:
            raise ValueError(f"value {i} is longer than {MAX_VALUE_CHARS} characters")
    return list(value)


def check_trade_date(value: Any) -> Any:
    if value is None or isinstance(value, date | DateRange):
        return value
    if isinstance(value, str):
        return _iso_date(value)
    if not isinstance(value, dict):
        raise ValueError("expected an ISO date or {\"from\": date, \"to\": date}")  # noqa: TRY004
    extra = sorted(set(value) - {"from", "to"}, key=str)
    if extra:
        raise ValueError("unknown key in the date range (use 'from' and 'to')")
    start = None if value.get("from") is None else _iso_date(value["from"])
    end = None if value.get("to") is None else _iso_date(value["to"])
    if start is None and end is None:
        raise ValueError("give 'from', 'to' or both")
    if start is not None and end is not None and end < start:
        raise ValueError(f"end date {end} is before start {start}")
    return DateRange(start=start, end=end)


def _filters_model() -> type[BaseModel]:
    names = [name for name in DIMENSIONS if name != "trade_date"]
    fields: dict[str, Any] = {name: (FilterValue | None, None) for name in names}
    fields["trade_date"] = (date | DateRange | None, None)
    return create_model(
        "PivotFilters",
        __config__=_STRICT,
        __validators__={
            "_values": field_validator(*names, mode="before")(
                classmethod(lambda cls, v: _check_filter_value(v))
            ),
            "_trade_date": field_validator("trade_date", mode="before")(
                classmethod(lambda cls, v: check_trade_date(v))
            ),
        },
        **fields,
    )


PivotFilters = _filters_model()


class PivotSort(BaseModel):
    model_config = _STRICT

    field: StrictStr = Field(max_length=64)
    direction: Literal["asc", "desc"] = "desc"
    # The column-dimension values of one split column (as in ``column_values``).
    column: list[Annotated[StrictStr, Field(max_length=MAX_VALUE_CHARS)]] | None = Field(
        None, min_length=1, max_length=MAX_COLUMN_DIMENSIONS
    )

    @field_validator("field")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in METRICS and value not in DIMENSIONS:
            raise ValueError("not a metric or dimension")
        return value


def _unique_known(values: list[str], known: Any, what: str) -> list[str]:
    for i, value in enumerate(values):
        if value not in known:
            raise ValueError(f"item {i} is not a known {what} (choose from {', '.join(known)})")
    if len(set(values)) != len(values):
        raise ValueError(f"each {what} may appear once")
    return values


class PivotRequest(BaseModel):
    model_config = _STRICT

    dimensions: list[Annotated[StrictStr, Field(max_length=64)]] = Field(
        min_length=1, max_length=MAX_DIMENSIONS
    )
    columns: list[Annotated[StrictStr, Field(max_length=64)]] = Field(
        default_factory=list, max_length=MAX_COLUMN_DIMENSIONS
    )
    metrics: list[Annotated[StrictStr, Field(max_length=64)]] = Field(
        min_length=1, max_length=len(METRICS)
    )
    filters: PivotFilters = Field(default_factory=PivotFilters)  # type: ignore[valid-type]
    sort: PivotSort | None = None
    limit: StrictInt = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    exposure: Exposure = "as_held"
    stocks: StockMode = "last"
    cache: StrictBool = True

    @field_validator("dimensions", "columns")
    @classmethod
    def _dimensions(cls, values: list[str]) -> list[str]:
        return _unique_known(values, DIMENSIONS, "dimension")

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, values: list[str]) -> list[str]:
        return _unique_known(values, METRICS, "metric")

    @model_validator(mode="after")
    def _consistent(self) -> PivotRequest:
        both = [c for c in self.columns if c in self.dimensions]
        if both:
            raise ValueError(f"columns: {both[0]} is already a row dimension")
        sort_field = self.sort.field if self.sort is not None else None
        if sort_field in DIMENSIONS and sort_field not in self.dimensions:
            raise ValueError("sort.field: sort by a metric or by one of the row dimensions")
        if self.sort is not None and self.sort.column is not None:
            if not self.columns:
                raise ValueError("sort.column: only a pivot with columns has split columns to sort by")
            if sort_field not in METRICS:
                raise ValueError("sort.column: sort a split column by a metric")
            if len(self.sort.column) != len(self.columns):
                raise ValueError(
                    f"sort.column: give one value per column dimension ({len(self.columns)})"
                )
        check_exposure_filter(self.exposure, self.filter_values("exposure_type"))
        return self

    # -- helpers for the engine ------------------------------------------------
    def filter_values(self, dimension: str) -> tuple[str, ...] | None:
        value = getattr(self.filters, dimension)
        if value is None:
            return None
        return (value,) if isinstance(value, str) else tuple(value)

    def active_filters(self) -> dict[str, Any]:
        return {k: v for k, v in self.filters.model_dump(by_alias=True).items() if v is not None}


def check_exposure_filter(exposure: str, types: tuple[str, ...] | None) -> None:
    """Refuse exposure-type filters that would double count a fund or leave the view."""
    if types is None:
        return
    unknown = sorted({t for t in types if t not in ALL_EXPOSURE_TYPES})
    if unknown:
        raise ValueError(
            "filters.exposure_type: unknown exposure type (choose from "
            + ", ".join(ALL_EXPOSURE_TYPES) + ")"
        )
    funds = sorted({t for t in types if t in FUND_TYPES})
    if funds and "Constituent" in types:
        raise ValueError(
            f"filters.exposure_type: {' and '.join(funds)} together with Constituent counts "
            "the same fund twice (once as held, once looked through); use exposure "
            "'as_held' for Direct/ETF/ETC or 'look_through' for Direct/Constituent/Residual"
        )
    outside = sorted({t for t in types if t not in VIEW_TYPES[exposure]}, key=ALL_EXPOSURE_TYPES.index)
    if outside:
        other = "look_through" if exposure == "as_held" else "as_held"
        raise ValueError(
            f"filters.exposure_type: {', '.join(outside)} is not part of the {exposure} view "
            f"({', '.join(VIEW_TYPES[exposure])}); adding it would double count funds — "
            f"switch exposure to '{other}' instead"
        )
