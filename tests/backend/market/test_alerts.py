"""Alerts fire exactly once per episode (hysteresis and cooldown) and reject bad rules."""

from __future__ import annotations

import pytest

from backend.market.alerts import AlertConfig, AlertEngine, EpisodeGate, PriceRule
from backend.market.events import AlertKind
from backend.market.processors.derivatives import BasisState
from backend.market.processors.foreign import FlowWindow
from backend.market.processors.index import Breadth
from backend.market.reference import vn_epoch

T0 = vn_epoch(__import__("datetime").date(2024, 3, 4)) + 9 * 3600 + 15 * 60  # 09:15 VN


def basis(pct: float) -> BasisState:
    return BasisState(active="VN30F2403", futures_price=1300 * (1 + pct / 100), index_value=1300.0)


def test_basis_premium_fires_once_while_it_flickers_around_the_threshold() -> None:
    engine = AlertEngine(AlertConfig(cooldown_seconds=0))
    path = [0.5, 1.05, 0.95, 1.2, 0.85, 1.1, 0.7, 1.3]  # re-arms only below 0.8 %
    fired = [len(engine.on_basis(basis(p), T0 + i)) for i, p in enumerate(path)]
    assert fired == [0, 1, 0, 0, 0, 0, 0, 1]


def test_basis_discount_and_cooldown() -> None:
    engine = AlertEngine(AlertConfig(cooldown_seconds=300))
    alerts = engine.on_basis(basis(-1.5), T0)
    assert [a.kind for a in alerts] == [AlertKind.BASIS_DISCOUNT]
    assert "discount" in alerts[0].message and alerts[0].symbol == "VN30F2403"
    assert engine.on_basis(basis(-0.5), T0 + 10) == []  # cleared
    assert engine.on_basis(basis(-1.5), T0 + 20) == []  # inside the cooldown
    assert len(engine.on_basis(basis(-1.5), T0 + 400)) == 1


def test_price_rule_fires_once_per_crossing_with_a_one_tick_hysteresis() -> None:
    engine = AlertEngine(AlertConfig(cooldown_seconds=0))
    engine.add_rule(PriceRule("r1", "FPT", "above", 130_000))
    prices = [129_900, 130_000, 130_100, 129_950, 130_000, 129_800, 130_200]
    fired = [len(engine.on_price("FPT", p, T0 + i)) for i, p in enumerate(prices)]
    assert fired == [0, 1, 0, 0, 0, 0, 1]
    assert engine.remove_rule("r1") and engine.on_price("FPT", 140_000, T0 + 99) == []


def test_breadth_extreme_once_per_episode() -> None:
    engine = AlertEngine(AlertConfig(cooldown_seconds=0))
    shares = [(15, 15), (25, 5), (26, 4), (23, 7), (25, 5), (20, 10), (25, 5)]
    fired = [len(engine.on_breadth("VN30", Breadth(a, d), T0 + i)) for i, (a, d) in enumerate(shares)]
    assert fired == [0, 1, 0, 0, 0, 0, 1]


def test_foreign_acceleration_fires_once_when_the_speed_doubles() -> None:
    engine = AlertEngine(AlertConfig(cooldown_seconds=0, foreign_min_speed_val=0))
    window = FlowWindow()
    fired = []
    for minute in range(60):  # an hour of steady buying: 1bn VND a minute
        window.add(T0 + minute * 60, 100, 0, 1e9, 0.0)
        fired += engine.on_foreign("MARKET", window, T0 + minute * 60)
    assert fired == []
    for second in range(0, 600, 20):  # then 5bn a minute for ten minutes
        ts = T0 + 3600 + second
        window.add(ts, 500, 0, 5e9 / 3, 0.0)
        fired += engine.on_foreign("MARKET", window, ts)
    assert [a.kind for a in fired] == [AlertKind.FOREIGN_BUY_ACCELERATION]


def test_episode_gate_never_fires_twice_while_on() -> None:
    gate = EpisodeGate(cooldown=0)
    assert [gate.update(True, False, t) for t in range(5)] == [True, False, False, False, False]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"id": "", "symbol": "FPT", "op": "above", "price": 1},
        {"id": "x", "symbol": "fpt;drop", "op": "above", "price": 1},
        {"id": "x", "symbol": "FPT", "op": "between", "price": 1},
        {"id": "x", "symbol": "FPT", "op": "above", "price": -1},
        {"id": "x", "symbol": "FPT", "op": "above", "price": float("nan")},
        {"id": "x", "symbol": "FPT", "op": "above", "price": "100"},
        {"id": "x" * 65, "symbol": "FPT", "op": "above", "price": 1},
    ],
)
def test_invalid_price_rules_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        PriceRule(**kwargs)  # type: ignore[arg-type]


def test_invalid_config_is_refused() -> None:
    with pytest.raises(ValueError):
        AlertConfig(foreign_ratio=1.0, foreign_rearm_ratio=1.5)
    with pytest.raises(ValueError):
        AlertConfig(basis_premium_pct=-1)


def test_core_alerts_from_the_recorded_session_are_unique_per_episode(session_messages: list[str]) -> None:
    from backend.market.core import MarketCore

    core = MarketCore(alert_config=AlertConfig(basis_premium_pct=0.3, basis_discount_pct=-0.3))
    core.process_many(session_messages)
    core.process_many(session_messages)  # the whole day again: duplicates must not re-alert
    alerts = core.drain_alerts()
    assert alerts and len({a.id for a in alerts}) == len(alerts)
    assert core.drain_alerts() == []
    keys = [(a.kind, a.symbol, a.ts) for a in alerts]
    assert len(set(keys)) == len(keys)


def _stored(n: int, ts: float, kind: str = "price_rule", symbol: str = "FPT", acked_by: str = "") -> dict:
    return {"id": f"x{n}", "ts": ts, "kind": kind, "symbol": symbol, "rule_id": "r1", "severity": "info",
            "message": f"m{n}", "value": float(n), "acked_at": ts + 1 if acked_by else None, "acked_by": acked_by}


def test_fold_alerts_keeps_one_row_per_condition_and_window() -> None:
    from backend.market.alerts import fold_alerts

    alerts = [_stored(i, T0 + 60 * i) for i in range(10)]  # every minute for ten minutes
    alerts += [_stored(20, T0 + 60 * 9 + 301)]  # after a quiet spell longer than the window
    alerts += [_stored(30, T0 + 5, symbol="HPG"), _stored(31, T0 + 6, kind="basis_premium")]
    alerts += [_stored(40, T0 + 7, acked_by="desk"), _stored(41, T0 + 8, acked_by="desk")]
    rows = fold_alerts(reversed(alerts), window_seconds=300)
    assert [(r["id"], r["count"], r["last_id"]) for r in rows] == [
        ("x20", 1, "x20"), ("x0", 10, "x9"), ("x40", 2, "x41"), ("x31", 1, "x31"), ("x30", 1, "x30")]
    assert rows[1]["ids"] == [f"x{i}" for i in range(10)]
    assert (rows[1]["first_ts"], rows[1]["ts"], rows[1]["value"]) == (T0, T0 + 540, 9.0)
    assert fold_alerts([], window_seconds=300) == []
