"""Alert engine: foreign flow acceleration, futures basis, breadth extremes and users' rules.

Users' rules are of two kinds: a price level (:class:`PriceRule`) and a symbol's foreign flow
accelerating (:class:`ForeignRule`). A foreign rule watches the same condition the engine's own
per-symbol foreign alert watches, through a gate of its own, so its alert carries its rule id.

Every condition is watched by an :class:`EpisodeGate`: it fires once when the condition
starts, stays quiet while it lasts, re-arms only after the condition has clearly ended
(a hysteresis band below the trigger) and never fires again within the cooldown. The list
users read folds what still repeats (``fold_alerts``): one row per condition and window.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from backend.market.events import Alert, AlertKind, Severity
from backend.market.processors.derivatives import BasisState
from backend.market.processors.foreign import WINDOW_SECONDS, FlowWindow, is_auction_flow
from backend.market.processors.index import Breadth
from backend.market.reference import FUTURES_TICK, is_vn30_future, tick_size

_SYMBOL = re.compile(r"^[A-Z0-9]{1,20}$")


@dataclass(frozen=True, slots=True)
class AlertConfig:
    foreign_ratio: float = 2.0  # fire when the 5-minute speed exceeds this × the session average
    foreign_rearm_ratio: float = 1.5  # re-arm once it falls back below this ×
    foreign_min_speed_val: float = 5e9  # VND per minute; ignore thin flow on the market total
    foreign_symbol_min_speed_val: float = 1e9  # the same floor for a single symbol
    foreign_baseline_minutes: float = 15.0  # trading minutes of history before the average is "normal"
    basis_premium_pct: float = 1.0
    basis_discount_pct: float = -1.0
    basis_hysteresis_pct: float = 0.2
    breadth_high: float = 0.8  # advancers' share of movers
    breadth_low: float = 0.2
    breadth_hysteresis: float = 0.1
    breadth_min_movers: int = 10
    cooldown_seconds: float = 300.0

    def __post_init__(self) -> None:
        if not (self.foreign_ratio > self.foreign_rearm_ratio > 0):
            raise ValueError(f"foreign_ratio {self.foreign_ratio} must exceed foreign_rearm_ratio > 0")
        if not (self.basis_discount_pct < 0 < self.basis_premium_pct):
            raise ValueError("basis thresholds must be a negative discount and a positive premium")
        if not (0 <= self.breadth_low < self.breadth_high <= 1):
            raise ValueError("breadth thresholds must satisfy 0 ≤ low < high ≤ 1")
        if self.cooldown_seconds < 0:
            raise ValueError(f"cooldown_seconds must be ≥ 0, got {self.cooldown_seconds}")


@dataclass(frozen=True, slots=True)
class PriceRule:
    """Alert when ``symbol`` trades at or above (or at or below) ``price`` (VND, or points for futures)."""

    id: str
    symbol: str
    op: Literal["above", "below"]
    price: float
    note: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not (0 < len(self.id) <= 64):
            raise ValueError("rule id must be 1–64 characters")
        if not isinstance(self.symbol, str) or not _SYMBOL.match(self.symbol):
            raise ValueError(f"invalid symbol {self.symbol!r}")
        if self.op not in ("above", "below"):
            raise ValueError(f"op must be 'above' or 'below', got {self.op!r}")
        if not isinstance(self.price, (int, float)) or not math.isfinite(self.price) or self.price <= 0:
            raise ValueError(f"price must be a positive number, got {self.price!r}")
        if len(self.note) > 200:
            raise ValueError("note is longer than 200 characters")

    @property
    def hysteresis(self) -> float:
        """One tick: the rule re-arms once the price is a tick back on the other side."""
        return FUTURES_TICK if is_vn30_future(self.symbol) else float(tick_size(self.price))


@dataclass(frozen=True, slots=True)
class ForeignRule:
    """Alert when foreign investors' buying (or selling) of ``symbol`` accelerates."""

    id: str
    symbol: str
    side: Literal["buy", "sell"]
    note: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not (0 < len(self.id) <= 64):
            raise ValueError("rule id must be 1–64 characters")
        if not isinstance(self.symbol, str) or not _SYMBOL.match(self.symbol) or self.symbol == "MARKET":
            raise ValueError(f"invalid symbol {self.symbol!r}")
        if self.side not in ("buy", "sell"):
            raise ValueError(f"side must be 'buy' or 'sell', got {self.side!r}")
        if len(self.note) > 200:
            raise ValueError("note is longer than 200 characters")

    @property
    def kind(self) -> AlertKind:
        return AlertKind.FOREIGN_BUY_ACCELERATION if self.side == "buy" else AlertKind.FOREIGN_SELL_ACCELERATION

    @property
    def gate_key(self) -> tuple[str, str]:
        """Its gate's key: apart from the engine's own gates, which are keyed by symbol."""
        return (f"{self.kind.value}:rule", self.id)


Rule = PriceRule | ForeignRule


class EpisodeGate:
    """Fires once per episode: on → fire, stay silent until cleared, respect a cooldown."""

    __slots__ = ("active", "cooldown", "last_fired")

    def __init__(self, cooldown: float) -> None:
        self.cooldown = cooldown
        self.active = False
        self.last_fired = -math.inf

    def update(self, triggered: bool, cleared: bool, ts: float) -> bool:
        if self.active:
            if cleared:
                self.active = False
            return False
        if triggered and ts - self.last_fired >= self.cooldown:
            self.active = True
            self.last_fired = ts
            return True
        return False


class AlertEngine:
    def __init__(self, config: AlertConfig | None = None) -> None:
        self.config = config or AlertConfig()
        self._gates: dict[tuple[str, str], EpisodeGate] = {}
        self._rules: dict[str, Rule] = {}
        self._rules_by_symbol: dict[str, list[PriceRule]] = {}
        self._foreign_rules: dict[str, list[ForeignRule]] = {}
        self._seq = itertools.count(1)

    # --- rules ------------------------------------------------------------------------
    def add_rule(self, rule: Rule) -> None:
        """Watch ``rule`` (replacing a rule with its id); a new rule starts a new episode."""
        self.remove_rule(rule.id)
        self._rules[rule.id] = rule
        if isinstance(rule, ForeignRule):
            self._foreign_rules.setdefault(rule.symbol, []).append(rule)
        else:
            self._rules_by_symbol.setdefault(rule.symbol, []).append(rule)

    def remove_rule(self, rule_id: str) -> bool:
        rule = self._rules.pop(rule_id, None)
        if rule is None:
            return False
        if isinstance(rule, ForeignRule):
            self._foreign_rules[rule.symbol].remove(rule)
            self._gates.pop(rule.gate_key, None)
        else:
            self._rules_by_symbol[rule.symbol].remove(rule)
            self._gates.pop((AlertKind.PRICE_RULE, rule_id), None)
        return True

    def rules(self) -> list[Rule]:
        return list(self._rules.values())

    def has_rules(self, symbol: str) -> bool:
        """Whether a price rule watches ``symbol`` (its trades need checking)."""
        return bool(self._rules_by_symbol.get(symbol))

    # --- checks -----------------------------------------------------------------------
    def on_price(self, symbol: str, price: float, ts: float) -> list[Alert]:
        out = []
        for rule in self._rules_by_symbol.get(symbol, ()):
            if rule.op == "above":
                on, off = price >= rule.price, price < rule.price - rule.hysteresis
            else:
                on, off = price <= rule.price, price > rule.price + rule.hysteresis
            if self._gate(AlertKind.PRICE_RULE, rule.id).update(on, off, ts):
                verb = "reached" if rule.op == "above" else "fell to"
                text = f"{symbol} {verb} {price:,.1f} (rule: {rule.op} {rule.price:,.1f})"
                if rule.note:
                    text += f" — {rule.note}"
                out.append(self._alert(ts, AlertKind.PRICE_RULE, symbol, text, Severity.INFO, price, rule.price, rule.id))
        return out

    def on_foreign(self, key: str, window: FlowWindow, ts: float) -> list[Alert]:
        cfg = self.config
        # Auction flow is no acceleration: nothing fires on it, and the speeds compared leave it out.
        if is_auction_flow(ts) or window.continuous_first_ts is None or ts - window.continuous_first_ts < WINDOW_SECONDS:
            return []
        normal = window.normal_rates(ts, cfg.foreign_baseline_minutes)
        if normal is None:
            return []
        floor = cfg.foreign_min_speed_val if key == "MARKET" else cfg.foreign_symbol_min_speed_val
        out = []
        for kind, speed, avg, verb in (
            (AlertKind.FOREIGN_BUY_ACCELERATION, window.continuous_speed_buy_val, normal[0], "buying"),
            (AlertKind.FOREIGN_SELL_ACCELERATION, window.continuous_speed_sell_val, normal[1], "selling"),
        ):
            on = avg > 0 and speed >= floor and speed > cfg.foreign_ratio * avg
            off = speed < cfg.foreign_rearm_ratio * avg
            pace = f"{speed / 1e9:,.2f} bn VND/min over 5 min, {speed / avg:.1f}× the session average" if on else ""
            if self._gate(kind, key).update(on, off, ts):
                who = "Foreign investors" if key == "MARKET" else f"Foreign investors in {key}"
                text = f"{who} accelerating {verb}: {pace}"
                out.append(self._alert(ts, kind, key, text, Severity.WARNING, speed, cfg.foreign_ratio * avg))
            # Users' rules on this symbol and side: the same condition, each through a gate of its own.
            for rule in self._foreign_rules.get(key, ()):
                if rule.kind is kind and self._gate(*rule.gate_key).update(on, off, ts):
                    text = f"{key}: foreign {verb} accelerating, {pace} (rule: foreign {verb} accelerating)"
                    if rule.note:
                        text += f" — {rule.note}"
                    out.append(self._alert(ts, kind, key, text, Severity.WARNING, speed, cfg.foreign_ratio * avg,
                                           rule.id))
        return out

    def on_basis(self, state: BasisState, ts: float) -> list[Alert]:
        pct = state.basis_pct
        if pct is None or state.active is None:
            return []
        cfg = self.config
        out = []
        premium = self._gate(AlertKind.BASIS_PREMIUM, "VN30")
        if premium.update(pct > cfg.basis_premium_pct, pct < cfg.basis_premium_pct - cfg.basis_hysteresis_pct, ts):
            text = f"{state.active} premium {state.basis:+.1f} pts ({pct:+.2f}%) over VN30"
            sev = Severity.CRITICAL if pct > 2 * cfg.basis_premium_pct else Severity.WARNING
            out.append(self._alert(ts, AlertKind.BASIS_PREMIUM, state.active, text, sev, pct, cfg.basis_premium_pct))
        discount = self._gate(AlertKind.BASIS_DISCOUNT, "VN30")
        if discount.update(pct < cfg.basis_discount_pct, pct > cfg.basis_discount_pct + cfg.basis_hysteresis_pct, ts):
            text = f"{state.active} discount {state.basis:+.1f} pts ({pct:+.2f}%) to VN30"
            sev = Severity.CRITICAL if pct < 2 * cfg.basis_discount_pct else Severity.WARNING
            out.append(self._alert(ts, AlertKind.BASIS_DISCOUNT, state.active, text, sev, pct, cfg.basis_discount_pct))
        return out

    def on_breadth(self, scope: str, breadth: Breadth, ts: float) -> list[Alert]:
        cfg = self.config
        movers = breadth.advances + breadth.declines
        share = breadth.advance_share
        if share is None or movers < cfg.breadth_min_movers:
            return []
        out = []
        high = self._gate(AlertKind.BREADTH_EXTREME, scope + ":high")
        if high.update(share >= cfg.breadth_high, share < cfg.breadth_high - cfg.breadth_hysteresis, ts):
            text = f"{scope} breadth extreme: {breadth.advances} up / {breadth.declines} down ({share:.0%} advancing)"
            out.append(self._alert(ts, AlertKind.BREADTH_EXTREME, scope, text, Severity.INFO, share, cfg.breadth_high))
        low = self._gate(AlertKind.BREADTH_EXTREME, scope + ":low")
        if low.update(share <= cfg.breadth_low, share > cfg.breadth_low + cfg.breadth_hysteresis, ts):
            text = f"{scope} breadth extreme: {breadth.advances} up / {breadth.declines} down ({share:.0%} advancing)"
            out.append(self._alert(ts, AlertKind.BREADTH_EXTREME, scope, text, Severity.WARNING, share, cfg.breadth_low))
        return out

    # --- helpers ----------------------------------------------------------------------
    def _gate(self, kind: str, key: str) -> EpisodeGate:
        gate = self._gates.get((kind, key))
        if gate is None:
            gate = self._gates[(kind, key)] = EpisodeGate(self.config.cooldown_seconds)
        return gate

    def _alert(
        self, ts: float, kind: AlertKind, symbol: str, message: str, severity: Severity,
        value: float, threshold: float, rule_id: str | None = None,
    ) -> Alert:  # fmt: skip
        alert_id = f"{int(ts * 1000)}-{next(self._seq)}-{kind.value}-{symbol}"
        return Alert(alert_id, ts, kind, symbol, message, severity, value, threshold, rule_id)

    def reset(self) -> None:
        """A new trading day: every episode starts over; user rules stay."""
        self._gates.clear()


# --- the alert list --------------------------------------------------------------------

_SEVERITY_RANK = {Severity.INFO.value: 0, Severity.WARNING.value: 1, Severity.CRITICAL.value: 2}


def fold_alerts(alerts: Iterable[Mapping[str, Any]], window_seconds: float) -> list[dict[str, Any]]:
    """Alerts as the list shows them, newest first: repeats of one condition folded into one row.

    An alert joins the latest row of the same kind, symbol and rule when that row is in the same
    state (open, or acknowledged by the same person) and its latest alert is at most
    ``window_seconds`` older, so a
    condition that keeps firing stays one row with a count, the latest message and value, the
    highest severity seen and the ids of every alert in it. The row's id is its first alert's.
    """
    rows: list[dict[str, Any]] = []
    latest: dict[tuple[str, str, str, bool, str], dict[str, Any]] = {}
    for alert in sorted(alerts, key=lambda a: (a["ts"], a["id"])):
        acked = bool(alert.get("acked_at"))
        key = (str(alert.get("kind")), str(alert.get("symbol")), str(alert.get("rule_id") or ""), acked,
               str(alert.get("acked_by") or "") if acked else "")
        row = latest.get(key)
        if row is not None and alert["ts"] - row["ts"] <= window_seconds:
            severity = max(row["severity"], alert.get("severity"), key=lambda s: _SEVERITY_RANK.get(s, 0))
            acked_at, acked_by = row.get("acked_at"), row.get("acked_by")
            row.update({k: v for k, v in alert.items() if k != "id"})
            row["severity"] = severity
            row["count"] += 1
            row["ids"].append(alert["id"])
            row["last_id"] = alert["id"]
            if acked and (acked_at or 0) > (alert.get("acked_at") or 0):  # the latest acknowledgement
                row["acked_at"], row["acked_by"] = acked_at, acked_by
            continue
        row = {**alert, "first_ts": alert["ts"], "count": 1, "ids": [alert["id"]], "last_id": alert["id"]}
        latest[key] = row
        rows.append(row)
    rows.sort(key=lambda r: (r["ts"], r["last_id"]), reverse=True)
    return rows
