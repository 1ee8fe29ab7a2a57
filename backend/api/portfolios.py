"""Paper portfolios and their orders over HTTP, at the live board's prices.

    POST   /api/v1/portfolios                         {name, cash?, commission?, sales_tax?} → 201, the portfolio
    GET    /api/v1/portfolios                         the caller's portfolios
    GET    /api/v1/portfolios/<id>                    cash, equity and positions marked at the board's last price
    POST   /api/v1/portfolios/<id>/cash               {kind: deposit|withdrawal, amount}
    POST   /api/v1/portfolios/<id>/reset              back to the opening cash, orders and fills gone
    POST   /api/v1/portfolios/<id>/orders             an order → 201 with its fills (200: the idempotency key
                                                      had been used, and this is that order, unchanged)
    GET    /api/v1/portfolios/<id>/orders             ?status=working|done|all
    PATCH  /api/v1/portfolios/<id>/orders/<order_id>  {quantity?, limit_price?, stop_price?, idempotency_key?}:
                                                      amend — cancel it and place its replacement, as one change
                                                      (409: it is filled, cancelled or expired)
    DELETE /api/v1/portfolios/<id>/orders/<order_id>  cancel what is left of it
    GET    /api/v1/portfolios/<id>/history            every fill with its cash, fee, tax and realised P&L

Amounts and prices are whole đồng. A portfolio is its owner's: another user's is not found.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from flask import Blueprint, Response, jsonify, url_for
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt
from spectree import Response as Responses
from spectree.models import Tag

from backend.access.current import current_principal
from backend.api.errors import install
from backend.api.spec import Body, ErrorBody, Query, spec
from backend.api.types import whole_number
from backend.paper.engine import StrategyBook
from backend.paper.ledger import CASH_MAX, DEFAULT_CASH, NAME_PATTERN, PortfolioNotFound
from backend.paper.orders import AmendRequest, OrderError, OrderNotWorking, OrderRequest
from backend.paper.runtime import board_price, board_quote, current_ledger

portfolios_api = Blueprint("portfolios_api", __name__, url_prefix="/api/v1")
install(portfolios_api)

TAG = Tag(name="paper trading", description="Paper portfolios and orders at the live board's prices")
NOT_FOUND = (ErrorBody, "no such portfolio (or order) of the caller's")
BODY_MAX_BYTES = 4 * 1024  # an order is a few hundred bytes


class PaperPortfolioBody(Body):
    max_body_bytes: ClassVar[int] = BODY_MAX_BYTES

    name: str = Field(min_length=1, max_length=80, pattern=NAME_PATTERN,
                      description="letters, digits, spaces and . , - _ ( ) &")
    cash: StrictInt = Field(DEFAULT_CASH, ge=0, le=CASH_MAX, description="opening cash in đồng")
    commission: str = Field("0.0015", max_length=12, description="broker commission on each fill, as a fraction")
    sales_tax: str = Field("0.001", max_length=12, description="tax on each sale, as a fraction")


class PaperCashBody(Body):
    max_body_bytes: ClassVar[int] = BODY_MAX_BYTES

    kind: Literal["deposit", "withdrawal"]
    amount: StrictInt = Field(ge=1, le=CASH_MAX, description="đồng")


class PaperResetBody(Body):
    max_body_bytes: ClassVar[int] = BODY_MAX_BYTES
    body_optional: ClassVar[bool] = True

    cash: StrictInt | None = Field(None, ge=0, le=CASH_MAX, description="default: the opening cash")


class PaperOrderBody(OrderRequest, Body):
    """An order: whole lots of 100 shares; prices on the tick grid inside the day's band."""

    max_body_bytes: ClassVar[int] = BODY_MAX_BYTES


class PaperAmendBody(AmendRequest, Body):
    """What an amend changes: at least one of quantity (the shares the replacement trades — of a
    partly filled order, of what is left), limit_price and stop_price."""

    max_body_bytes: ClassVar[int] = BODY_MAX_BYTES


class StrategyBody(Body):
    max_body_bytes: ClassVar[int] = BODY_MAX_BYTES

    portfolio_id: StrictInt = Field(ge=1)
    kind: Literal["ma_cross", "vwap_deviation", "volume_spike"]
    parameters: dict[str, StrictInt | float] = Field(default_factory=dict, max_length=10)
    symbols: list[str] = Field(default_factory=list, max_length=500, description="none: every stock on the board")
    auto_execute: StrictBool = Field(False, description="place its signals as market orders (where the paper_auto "
                                                         "flag is on)")
    lots: StrictInt = Field(1, ge=1, le=5_000)


class StrategyChangeBody(Body):
    max_body_bytes: ClassVar[int] = BODY_MAX_BYTES

    active: StrictBool | None = None
    parameters: dict[str, StrictInt | float] | None = Field(None, max_length=10)
    symbols: list[str] | None = Field(None, max_length=500)
    auto_execute: StrictBool | None = None
    lots: StrictInt | None = Field(None, ge=1, le=5_000)


class PaperStrategyModel(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    portfolio_id: int
    kind: str
    active: bool


class PaperStrategies(BaseModel):
    strategies: list[dict[str, Any]]


class PaperSignals(BaseModel):
    signals: list[dict[str, Any]] = Field(description="newest first; order_id and outcome when it traded by itself")


class StrategiesQuery(Query):
    portfolio: whole_number(1, 10**12, "only this portfolio's") | None = None  # type: ignore[valid-type]


class SignalsQuery(Query):
    limit: whole_number(1, 1_000, "signals at most") = 200  # type: ignore[valid-type]


class PaperPortfolio(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    name: str
    cash: int
    net_deposits: int
    realized_pnl: int
    fees: int
    taxes: int


class PaperPerformance(BaseModel):
    model_config = ConfigDict(extra="allow")

    days: int
    return_pct: float | None = Field(description="time-weighted: deposits and withdrawals are not returns")
    max_drawdown_pct: float | None
    sharpe: float | None = Field(description="daily returns, 252 a year")
    win_rate_pct: float | None = Field(description="sell fills that realised a gain")
    curve: list[dict[str, Any]] = Field(description="one point a trading day: equity, net deposits, growth, drawdown")


class PaperPortfolioList(BaseModel):
    portfolios: list[dict[str, Any]]


class PlacedOrder(BaseModel):
    order: dict[str, Any]
    fills: list[dict[str, Any]]
    repeated: bool = Field(description="true when the idempotency key had been used: nothing new was traded")


class AmendedOrder(BaseModel):
    order: dict[str, Any] = Field(description="the replacement, with replaces naming the order it replaced")
    fills: list[dict[str, Any]] = Field(description="what the replacement filled on the board now")
    repeated: bool = Field(description="true when the idempotency key had been used: nothing new was done")
    replaced: dict[str, Any] = Field(description="the amended order, cancelled")


class PaperOrders(BaseModel):
    orders: list[dict[str, Any]]


class PaperHistory(BaseModel):
    fills: list[dict[str, Any]]


class PaperOrdersQuery(Query):
    status: Literal["working", "done", "all"] = "all"


class PaperNoQuery(Query):
    """No query parameters."""


@portfolios_api.errorhandler(OrderError)
def _refused(exc: OrderError) -> tuple[Response, int]:
    return jsonify({"error": str(exc)}), 400


@portfolios_api.errorhandler(OrderNotWorking)
def _not_working(exc: OrderNotWorking) -> tuple[Response, int]:
    return jsonify({"error": str(exc)}), 409


@portfolios_api.errorhandler(PortfolioNotFound)
def _not_found(exc: PortfolioNotFound) -> tuple[Response, int]:
    return jsonify({"error": str(exc)}), 404


def _owner() -> str:
    return current_principal().id


def _held(pid: int) -> dict[str, Any]:
    return current_ledger().positions(pid, _owner(), board_price)


@portfolios_api.post("/portfolios")
@spec.validate(resp=Responses(HTTP_201=(PaperPortfolio, "made; Location names it"), HTTP_400=ErrorBody,
                              HTTP_413=ErrorBody), tags=[TAG])
def create_portfolio(json: PaperPortfolioBody) -> tuple[Response, int, dict[str, str]]:
    """A new paper portfolio with its opening cash (1,000,000,000 đồng unless said)."""
    made = current_ledger().create(_owner(), json.name, json.cash, commission=json.commission,
                                   sales_tax=json.sales_tax)
    return jsonify(made), 201, {"Location": url_for("portfolios_api.get_portfolio", pid=made["id"])}


@portfolios_api.get("/portfolios")
@spec.validate(query=PaperNoQuery, resp=Responses(HTTP_200=PaperPortfolioList, HTTP_400=ErrorBody), tags=[TAG])
def list_portfolios() -> Response:
    """The caller's portfolios."""
    return jsonify({"portfolios": current_ledger().portfolios(_owner())})


@portfolios_api.get("/portfolios/<int:pid>")
@spec.validate(query=PaperNoQuery, resp=Responses(HTTP_200=PaperPortfolio, HTTP_400=ErrorBody, HTTP_404=NOT_FOUND), tags=[TAG])
def get_portfolio(pid: int) -> Response:
    """Cash, equity and positions (quantity, sellable quantity, average price, market price and
    value, unrealised and realised P&L) marked at the board's last matched price."""
    return jsonify(_held(pid))


@portfolios_api.post("/portfolios/<int:pid>/cash")
@spec.validate(resp=Responses(HTTP_200=PaperPortfolio, HTTP_400=ErrorBody, HTTP_404=NOT_FOUND, HTTP_413=ErrorBody),
               tags=[TAG])
def move_cash(pid: int, json: PaperCashBody) -> Response:
    """Deposit, or withdraw cash not held by working buy orders."""
    current_ledger().move_cash(pid, _owner(), json.amount, json.kind)
    return jsonify(_held(pid))


@portfolios_api.post("/portfolios/<int:pid>/reset")
@spec.validate(resp=Responses(HTTP_200=PaperPortfolio, HTTP_400=ErrorBody, HTTP_404=NOT_FOUND, HTTP_413=ErrorBody),
               tags=[TAG])
def reset_portfolio(pid: int, json: PaperResetBody) -> Response:
    """Start again from the opening cash (or ``cash``): orders, fills and positions are gone."""
    current_ledger().reset(pid, _owner(), json.cash)
    return jsonify(_held(pid))


@portfolios_api.post("/portfolios/<int:pid>/orders")
@spec.validate(resp=Responses(HTTP_201=(PlacedOrder, "placed; its fills so far"),
                              HTTP_200=(PlacedOrder, "the idempotency key had been used: the first order, unchanged"),
                              HTTP_400=(ErrorBody, "refused, with the reason; nothing was changed"),
                              HTTP_404=NOT_FOUND, HTTP_413=ErrorBody), tags=[TAG])
def place_order(pid: int, json: PaperOrderBody) -> tuple[Response, int]:
    """Place an order at the board's prices: buys at the asks, sells at the bids, three levels
    deep; what is left rests. PaperOrders outside the sessions wait for the next one, or are refused
    with ``outside_hours: reject``."""
    order = OrderRequest.model_validate(json.model_dump())
    placed = current_ledger().place(pid, _owner(), order, board_quote(order.symbol))
    return jsonify({"order": placed.order, "fills": placed.fills, "repeated": placed.repeated}), (
        200 if placed.repeated else 201)


@portfolios_api.get("/portfolios/<int:pid>/orders")
@spec.validate(query=PaperOrdersQuery, resp=Responses(HTTP_200=PaperOrders, HTTP_400=ErrorBody, HTTP_404=NOT_FOUND),
               tags=[TAG])
def list_orders(pid: int, query: PaperOrdersQuery) -> Response:
    """The portfolio's orders, newest first: working ones, finished ones, or all."""
    working = {"working": True, "done": False, "all": None}[query.status]
    return jsonify({"orders": current_ledger().orders(pid, _owner(), working=working)})


@portfolios_api.delete("/portfolios/<int:pid>/orders/<int:oid>")
@spec.validate(query=PaperNoQuery, resp=Responses(HTTP_200=(PaperOrders, "the cancelled order"), HTTP_400=ErrorBody,
                                             HTTP_404=NOT_FOUND), tags=[TAG])
def cancel_order(pid: int, oid: int) -> Response:
    """Cancel what is left of a working order."""
    return jsonify({"orders": [current_ledger().cancel(pid, _owner(), oid)]})


@portfolios_api.patch("/portfolios/<int:pid>/orders/<int:oid>")
@spec.validate(resp=Responses(HTTP_200=(AmendedOrder, "amended: the replacement, its fills and the cancelled order"),
                              HTTP_400=(ErrorBody, "refused, with the reason; nothing was changed"),
                              HTTP_404=NOT_FOUND, HTTP_409=(ErrorBody, "the order is filled, cancelled or expired"),
                              HTTP_413=ErrorBody), tags=[TAG])
def amend_order(pid: int, oid: int, json: PaperAmendBody) -> Response:
    """Amend a working order: it is cancelled and a replacement placed with the new quantity or
    prices — same symbol, side, type and time in force — in one transaction, checked like a new
    order (what the cancelled order held counts as free). A refused replacement changes nothing.
    Of a partly filled order the amend applies to the remaining quantity: ``quantity`` is what
    the replacement trades (by default, all that was left)."""
    change = AmendRequest.model_validate(json.model_dump())
    amended = current_ledger().amend(pid, _owner(), oid, change, board_quote)
    return jsonify({"order": amended.order, "fills": amended.fills, "repeated": amended.repeated,
                    "replaced": amended.replaced})


@portfolios_api.get("/portfolios/<int:pid>/performance")
@spec.validate(query=PaperNoQuery, resp=Responses(HTTP_200=PaperPerformance, HTTP_400=ErrorBody, HTTP_404=NOT_FOUND),
               tags=[TAG])
def portfolio_performance(pid: int) -> Response:
    """Return, max drawdown, win rate and Sharpe from the daily equity (the value snapshots, the
    last of each trading day, with the value now as today's), and the equity curve."""
    return jsonify(current_ledger().performance(pid, _owner(), board_price))


@portfolios_api.get("/portfolios/<int:pid>/history")
@spec.validate(query=PaperNoQuery, resp=Responses(HTTP_200=PaperHistory, HTTP_400=ErrorBody, HTTP_404=NOT_FOUND), tags=[TAG])
def order_history(pid: int) -> Response:
    """Every fill, oldest first, with its cash, fee, tax and the P&L it realised (FIFO)."""
    return jsonify({"fills": current_ledger().history(pid, _owner())})




def _book() -> StrategyBook:
    return StrategyBook(current_ledger().meta)


@portfolios_api.errorhandler(ValueError)
def _bad_value(exc: ValueError) -> tuple[Response, int]:
    return jsonify({"error": str(exc)}), 400


@portfolios_api.get("/strategies")
@spec.validate(query=StrategiesQuery, resp=Responses(HTTP_200=PaperStrategies, HTTP_400=ErrorBody), tags=[TAG])
def list_strategies(query: StrategiesQuery) -> Response:
    """The caller's strategies (of one portfolio with ``portfolio``)."""
    return jsonify({"strategies": _book().strategies(_owner(), query.portfolio)})


@portfolios_api.post("/strategies")
@spec.validate(resp=Responses(HTTP_201=PaperStrategyModel, HTTP_400=ErrorBody, HTTP_404=NOT_FOUND,
                              HTTP_413=ErrorBody), tags=[TAG])
def create_strategy(json: StrategyBody) -> tuple[Response, int]:
    """Switch a built-in strategy on for a portfolio: moving-average crossover, VWAP deviation or
    volume spike, with its parameters; its signals are kept, and traded by themselves when asked."""
    made = _book().add(json.portfolio_id, _owner(), json.kind, json.parameters, symbols=json.symbols,
                       auto_execute=json.auto_execute, lots=json.lots)
    return jsonify(made), 201


@portfolios_api.post("/strategies/<int:sid>")
@spec.validate(resp=Responses(HTTP_200=PaperStrategyModel, HTTP_400=ErrorBody, HTTP_404=NOT_FOUND,
                              HTTP_413=ErrorBody), tags=[TAG])
def change_strategy(sid: int, json: StrategyChangeBody) -> Response:
    """Turn a strategy on or off, or change its parameters, symbols, self-trading or lots."""
    changes = json.model_dump(exclude_none=True)
    return jsonify(_book().change(sid, _owner(), **changes))


@portfolios_api.get("/strategies/<int:sid>/signals")
@spec.validate(query=SignalsQuery, resp=Responses(HTTP_200=PaperSignals, HTTP_400=ErrorBody, HTTP_404=NOT_FOUND),
               tags=[TAG])
def strategy_signals(sid: int, query: SignalsQuery) -> Response:
    """Every signal the strategy gave, newest first, with the order each placed or why none was."""
    return jsonify({"signals": _book().signals(sid, _owner(), query.limit)})


__all__ = ["portfolios_api"]
