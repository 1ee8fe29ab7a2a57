"""Users' alert rules over HTTP: the rules the market page and /portfolio edit, watched by the
live market's one alert engine.

    GET    /api/v1/alerts/rules              every rule: id, symbol, kind, op, price, note, created
    POST   /api/v1/alerts/rules              {symbol, kind, price?, note?} → 201, the rule
    DELETE /api/v1/alerts/rules/<rule_id>    the rule stops alerting; 404 when there is no such rule

Kinds: ``price_above`` / ``price_below`` with a price in đồng (index points for VN30 futures) that
the symbol can trade at today — inside its band, on the tick grid; ``foreign_buy_accelerating`` /
``foreign_sell_accelerating`` without a price, firing when foreign investors' buying (selling) of
the symbol accelerates, as the market page's own foreign alerts do. The alerts a rule raises are
listed by ``GET /api/v1/market/alerts`` with its ``rule_id``. Every answer is 503 while the live
market service is not running on this server.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, BeforeValidator, Field, StrictStr, field_validator, model_validator
from spectree import Response as Responses
from spectree.models import Tag

from backend.api.errors import ApiError, install
from backend.api.market import current_market
from backend.api.spec import Body, ErrorBody, Query, spec
from backend.market.watchlists import NOTE_MAX, StoredRule, UserDataError

alerts_api = Blueprint("alerts_api", __name__, url_prefix="/api/v1/alerts")
install(alerts_api)

TAG = Tag(name="alert rules", description="Users' price and foreign-flow alert rules on the live market")
NOT_RUNNING = (ErrorBody, "the live market service is not running on this server")
RULE_ID_MAX = 64
SYMBOL = re.compile(r"^[A-Za-z0-9]{1,20}$")
# The conditions of backend.market.watchlists.CONDITIONS, spelled out for the document.
Kind = Literal["price_above", "price_below", "foreign_buy_accelerating", "foreign_sell_accelerating"]


def _number(value: Any) -> Any:
    # JSON numbers only: no text, no true / false, no lists.
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError("expected a number: đồng, or index points for VN30 futures")
    return value


Price = Annotated[float, Field(gt=0, lt=1e12, allow_inf_nan=False)]


class RuleBody(Body):
    # Roomy enough that an over-long note is refused by name rather than by the body's size.
    max_body_bytes: ClassVar[int] = 64 * 1024

    symbol: StrictStr = Field(max_length=20, description="a symbol on today's board, e.g. HPG (case does not matter)")
    kind: Kind = Field(description="price_above / price_below (with a price), foreign_buy_accelerating / "
                                   "foreign_sell_accelerating (without one)")
    price: Annotated[Price | None, BeforeValidator(_number)] = Field(
        None, description="đồng (index points for VN30 futures), inside today's band and on the tick grid")
    note: StrictStr = Field("", max_length=NOTE_MAX, description="shown with the rule's alerts")

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, value: str) -> str:
        if not SYMBOL.match(value):
            raise ValueError("letters and digits only, at most 20 (e.g. HPG)")
        return value.upper()

    @model_validator(mode="after")
    def _price_for_kind(self) -> RuleBody:
        if self.kind.startswith("price_") and self.price is None:
            raise ValueError(f"price: a {self.kind} rule needs a price")
        if self.kind.startswith("foreign_") and self.price is not None:
            raise ValueError("price: a foreign-flow rule has no price")
        return self


class AlertRule(BaseModel):
    id: str
    symbol: str
    kind: Kind
    op: Literal["above", "below", "buy", "sell"]
    price: float | None = Field(description="đồng (points for futures); null for a foreign-flow rule")
    note: str
    created: datetime | None


class AlertRules(BaseModel):
    rules: list[AlertRule]


class DeletedRule(BaseModel):
    id: str
    deleted: bool


class NoQuery(Query):
    """No query parameters."""


def _rule(rule: StoredRule) -> dict[str, object]:
    return {"id": rule.id, "symbol": rule.symbol, "kind": rule.condition, "op": rule.op, "price": rule.price,
            "note": rule.note, "created": rule.created.isoformat() if rule.created else None}


@alerts_api.errorhandler(UserDataError)
def _refused(exc: UserDataError) -> tuple[Response, int]:
    text = str(exc)
    named = not exc.field or text.startswith(exc.field)
    return jsonify({"error": text if named else f"{exc.field}: {text}"}), 400


@alerts_api.get("/rules")
@spec.validate(query=NoQuery, resp=Responses(HTTP_200=AlertRules, HTTP_400=ErrorBody, HTTP_503=NOT_RUNNING),
               tags=[TAG])
def list_rules() -> Response:
    """Every alert rule, by symbol."""
    return jsonify({"rules": [_rule(r) for r in current_market().rules()]})


@alerts_api.post("/rules")
@spec.validate(query=NoQuery, resp=Responses(HTTP_201=(AlertRule, "stored and watched"),
                                             HTTP_400=(ErrorBody, "refused, with the reason; nothing was stored"),
                                             HTTP_413=ErrorBody, HTTP_503=NOT_RUNNING), tags=[TAG])
def create_rule(json: RuleBody) -> tuple[Response, int]:
    """Add a rule: a price level, or a symbol's foreign buying or selling accelerating."""
    rule = current_market().add_rule(json.symbol, json.kind, json.price, json.note)
    return jsonify(_rule(rule)), 201


@alerts_api.delete("/rules/<rule_id>")
@spec.validate(query=NoQuery, resp=Responses(HTTP_200=DeletedRule, HTTP_400=ErrorBody,
                                             HTTP_404=(ErrorBody, "no such rule"), HTTP_503=NOT_RUNNING),
               tags=[TAG], path_parameter_descriptions={"rule_id": "the rule's id, as listed"})
def delete_rule(rule_id: str) -> Response:
    """Delete a rule: it stops alerting (the alerts it raised stay listed)."""
    if len(rule_id) > RULE_ID_MAX or not rule_id.isprintable():
        raise ApiError("rule id: not a valid rule id")
    if not current_market().delete_rule(rule_id):
        raise ApiError(f"no rule {rule_id}", 404)
    return jsonify({"id": rule_id, "deleted": True})


__all__ = ["alerts_api"]
