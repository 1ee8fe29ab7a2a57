"""What the order ticket shows as the trader types: the symbol's band and tick, what is wrong
with the order so far, and what it would cost at the board's prices now — the shares each level
would give, the gross amount, the commission, the sales tax and the cash moved."""

from __future__ import annotations

from typing import Any

from backend.market.reference import LOT_SIZE, tick_size
from backend.paper.matching import walk
from backend.paper.money import Charges
from backend.paper.orders import OrderError, check_prices, parse_order
from backend.paper.quotes import Quote


def ticket_order(fields: dict[str, Any]) -> dict[str, Any]:
    """The ticket's fields (lots, not shares; blank prices left out) as an order for ``parse_order``."""
    order: dict[str, Any] = {"symbol": fields.get("symbol") or "", "side": fields.get("side") or "buy",
                             "type": fields.get("type") or "limit",
                             "time_in_force": fields.get("time_in_force") or "day"}
    lots = fields.get("lots")
    order["quantity"] = lots * LOT_SIZE if isinstance(lots, int) and not isinstance(lots, bool) else lots
    for name in ("limit_price", "stop_price"):
        value = fields.get(name)
        if value not in (None, ""):
            order[name] = int(value) if isinstance(value, float) and value.is_integer() else value
    return order


def preview(fields: dict[str, Any], quote: Quote | None, charges: Charges) -> dict[str, Any]:
    """``{band, problem, estimate}``: the band and tick line, the first problem (None when the
    order can be sent) and, when it can, the estimate of what it would do now."""
    band = None
    if quote is not None:
        price = (fields.get("limit_price") or quote.last or quote.ref)
        band = (f"Floor {quote.floor:,} · reference {quote.ref:,} · ceiling {quote.ceiling:,} · "
                f"tick {tick_size(price if isinstance(price, int | float) and price > 0 else quote.ref):,}")
    try:
        order = parse_order(ticket_order(fields))
        if quote is None:
            raise OrderError(f"symbol: {order.symbol} is not on the board")
        check_prices(order, quote)
    except OrderError as exc:
        return {"band": band, "problem": str(exc), "estimate": None}
    fills = walk(order.side, order.quantity, order.limit_price, quote) if order.type in ("market", "limit") else []
    filled = sum(q for _, q in fills)
    gross = sum(p * q for p, q in fills)
    fee = sum(charges.fee(p * q) for p, q in fills)
    tax = sum(charges.tax(p * q, order.side) for p, q in fills)
    rest = order.quantity - filled
    rest_price = order.limit_price if order.limit_price is not None else (fills[-1][0] if fills else None)
    estimate = {"fills": [{"price": p, "quantity": q} for p, q in fills], "filled": filled, "gross": gross,
                "fee": fee, "tax": tax, "cash": (gross - fee - tax) if order.side == "sell" else -(gross + fee),
                "resting": rest, "resting_price": rest_price,
                "resting_hold": (rest * rest_price + charges.fee(rest * rest_price))
                if order.side == "buy" and rest and rest_price else 0}
    return {"band": band, "problem": None, "estimate": estimate}


__all__ = ["preview", "ticket_order"]
