"""What an order may be, by the exchange's rules and the ledger's.

``OrderRequest`` is the order as asked (from the ticket, the API or a strategy): its shape is
checked first — side, type, whole lots of 100 shares up to HOSE's 500,000 a order, the prices a
type needs and no others, a day or good-till-cancelled order. ``check_prices`` then holds the
prices against the symbol's day: on the tick grid and inside the floor and ceiling. Each refusal
says why, in words a trader reads. ``AmendRequest`` is what an amend may change of a working
order: its quantity and its prices.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from backend.market.reference import LOT_SIZE, is_on_tick, tick_size
from backend.paper.quotes import Quote

QUANTITY_MAX: Final = 500_000  # HOSE's largest order
SYMBOL_PATTERN: Final = r"^[A-Z0-9]{3,10}$"


class OrderError(ValueError):
    """An order refused; the message says why and nothing was changed."""


class OrderNotWorking(OrderError):
    """An order that is filled, cancelled or expired: nothing is left of it to change."""


class OrderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str = Field(pattern=SYMBOL_PATTERN)
    side: Literal["buy", "sell"]
    quantity: StrictInt = Field(ge=LOT_SIZE, le=QUANTITY_MAX)
    type: Literal["market", "limit", "stop", "stop_limit"] = "limit"
    limit_price: StrictInt | None = Field(None, gt=0, le=10_000_000)
    stop_price: StrictInt | None = Field(None, gt=0, le=10_000_000)
    time_in_force: Literal["day", "gtc"] = "day"
    # outside the sessions (lunch, after the close, before the open): wait for the next one, or refuse
    outside_hours: Literal["queue", "reject"] = "queue"
    idempotency_key: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")

    @model_validator(mode="after")
    def _shape(self) -> OrderRequest:
        if self.quantity % LOT_SIZE:
            raise ValueError(f"quantity: whole lots of {LOT_SIZE} shares, got {self.quantity}")
        needs_limit = self.type in ("limit", "stop_limit")
        needs_stop = self.type in ("stop", "stop_limit")
        if needs_limit != (self.limit_price is not None):
            raise ValueError(f"limit_price: {'needed' if needs_limit else 'not taken'} by a {self.type} order")
        if needs_stop != (self.stop_price is not None):
            raise ValueError(f"stop_price: {'needed' if needs_stop else 'not taken'} by a {self.type} order")
        return self


class AmendRequest(BaseModel):
    """What an amend changes of a working order — at least one of its quantity and prices. The
    order is cancelled and a replacement placed with these (its symbol, side, type and time in
    force kept); ``quantity`` is what the replacement trades, so of a partly filled order it is
    the new size of what was left (by default, all that was left)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quantity: StrictInt | None = Field(None, ge=LOT_SIZE, le=QUANTITY_MAX,
                                       description="shares the replacement trades; default: what is left")
    limit_price: StrictInt | None = Field(None, gt=0, le=10_000_000)
    stop_price: StrictInt | None = Field(None, gt=0, le=10_000_000)
    idempotency_key: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$",
                                        description="the replacement's: an amend sent again with it changes nothing")

    @model_validator(mode="after")
    def _shape(self) -> AmendRequest:
        if self.quantity is None and self.limit_price is None and self.stop_price is None:
            raise ValueError("amend: change at least one of quantity, limit_price and stop_price")
        if self.quantity is not None and self.quantity % LOT_SIZE:
            raise ValueError(f"quantity: whole lots of {LOT_SIZE} shares, got {self.quantity}")
        return self


def parse_order(raw: Any) -> OrderRequest:
    """``raw`` as an order, or an ``OrderError`` naming the first field that is wrong."""
    if isinstance(raw, OrderRequest):
        return raw
    if not isinstance(raw, dict):
        raise OrderError("order: a JSON object")
    try:
        return OrderRequest.model_validate(raw)
    except ValidationError as exc:
        raise _refusal(exc, "order") from None


def parse_amend(raw: Any) -> AmendRequest:
    """``raw`` as an amend, or an ``OrderError`` naming the first field that is wrong."""
    if isinstance(raw, AmendRequest):
        return raw
    if not isinstance(raw, dict):
        raise OrderError("amend: a JSON object")
    try:
        return AmendRequest.model_validate(raw)
    except ValidationError as exc:
        raise _refusal(exc, "amend") from None


def _refusal(exc: ValidationError, whole: str) -> OrderError:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or whole
    message = str(error["msg"]).removeprefix("Value error, ")
    if message.startswith(("quantity:", "limit_price:", "stop_price:", f"{whole}:")):
        return OrderError(message)
    return OrderError(f"{where}: {message}")


def check_prices(order: OrderRequest, quote: Quote) -> None:
    """The order's prices against the symbol's day: on the tick grid, inside the band."""
    if not quote.stock:
        raise OrderError(f"symbol: {order.symbol} is not a stock; paper orders trade stocks only")
    for name, price in (("limit_price", order.limit_price), ("stop_price", order.stop_price)):
        if price is None:
            continue
        if not quote.floor <= price <= quote.ceiling:
            raise OrderError(f"{name}: {price:,} is outside today's band for {order.symbol}, "
                             f"floor {quote.floor:,} to ceiling {quote.ceiling:,}")
        if not is_on_tick(price):
            tick = tick_size(price)
            below = price // tick * tick
            raise OrderError(f"{name}: {price:,} is off the tick grid ({tick:,} đồng at this price): "
                             f"{below:,} or {below + tick:,}")


__all__ = ["QUANTITY_MAX", "AmendRequest", "OrderError", "OrderNotWorking", "OrderRequest", "check_prices",
           "parse_amend", "parse_order"]
