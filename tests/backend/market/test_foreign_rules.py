"""A user's foreign-flow rule fires once per episode of the engine's own per-symbol acceleration,
with its rule id: checked against the episodes computed here from the flow itself, on a
constructed session (acceleration starts, lasts, ends, comes back inside the cooldown and again
after it) and on the recorded session."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

import pytest

from backend.market.alerts import AlertConfig, AlertEngine, ForeignRule
from backend.market.core import MarketCore
from backend.market.events import AlertKind, ForeignFlow
from backend.market.reference import vn_day, vn_epoch

DAY = date(2024, 3, 4)
START = vn_epoch(DAY) + 9 * 3600 + 16 * 60  # 09:16 VN, continuous trading
STEP = 20  # seconds between the feed's messages
COOLDOWN = 900.0
BASE, BURST = 0.5e9, 3e9  # VND sold per message: 1.5 bn and 9 bn a minute
# Bursts of selling, in minutes after 09:16: the first, one inside the cooldown after it, one after.
BURSTS = ((30, 33), (38, 41), (60, 64))


def _sold(minute: float) -> float:
    return BURST if any(a <= minute < b for a, b in BURSTS) else BASE


def _flow(minutes: int = 75) -> list[ForeignFlow]:
    """HPG's cumulative foreign totals every 20 s: selling all along, bursts inside BURSTS."""
    events, sold, sold_vol = [ForeignFlow("HPG", START, vn_day(START), 0, 0, 0.0, 0.0, None, None)], 0.0, 0
    for n in range(1, minutes * 60 // STEP):
        ts = START + n * STEP
        sold += _sold(n * STEP / 60)
        sold_vol += 10_000
        events.append(ForeignFlow("HPG", ts, vn_day(ts), 0, sold_vol, 0.0, sold, None, None))
    return events


def _expected_fires(events: list[ForeignFlow], cfg: AlertConfig) -> list[float]:
    """When an episode starts, worked out from the totals: the speed over the last five minutes
    against the average pace since flow was first seen, through a gate with the cooldown."""
    deltas = [(b.ts, b.sell_val - a.sell_val) for a, b in pairwise(events)]
    first = deltas[0][0]
    active, last_fired, fires, total = False, -float("inf"), [], 0.0
    for i, (ts, delta) in enumerate(deltas):
        total += delta
        minutes = (ts - first) / 60
        if ts - first < 300 or minutes < cfg.foreign_baseline_minutes:
            continue  # no five minutes of flow, or no baseline yet: nothing is judged
        speed = sum(d for t, d in deltas[: i + 1] if t > ts - 300) / 5
        average = total / minutes
        on = speed >= cfg.foreign_symbol_min_speed_val and speed > cfg.foreign_ratio * average
        off = speed < cfg.foreign_rearm_ratio * average
        if active:
            active = not off
        elif on and ts - last_fired >= cfg.cooldown_seconds:
            active, last_fired = True, ts
            fires.append(ts)
    return fires


def _burst_of(ts: float) -> int | None:
    minute = (ts - START) / 60
    return next((i for i, (a, b) in enumerate(BURSTS) if a <= minute < b), None)


def test_a_foreign_selling_rule_fires_once_per_episode_with_its_rule_id() -> None:
    cfg = AlertConfig(cooldown_seconds=COOLDOWN)
    core = MarketCore(alert_config=cfg, now=lambda: START)
    core.add_rule(ForeignRule("f-hpg-sell", "HPG", "sell", note="watch the exit"))
    core.add_rule(ForeignRule("f-hpg-buy", "HPG", "buy"))  # nobody buys: never fires
    core.add_rule(ForeignRule("f-vcb-sell", "VCB", "sell"))  # another symbol: never fires
    events = _flow()
    for event in events:
        core.apply(event)
    alerts = core.drain_alerts()

    expected = _expected_fires(events, cfg)
    # the flow's own episodes: the first and last bursts; the middle one comes inside the cooldown
    assert [_burst_of(ts) for ts in expected] == [0, 2]
    ruled = [a for a in alerts if a.rule_id]
    assert [(a.rule_id, a.ts) for a in ruled] == [("f-hpg-sell", ts) for ts in expected]
    assert all(a.kind is AlertKind.FOREIGN_SELL_ACCELERATION and a.symbol == "HPG" for a in ruled)
    assert "rule: foreign selling accelerating" in ruled[0].message and "watch the exit" in ruled[0].message
    # the engine's own alert for HPG fires on the same episodes: one condition, two gates
    own = [a.ts for a in alerts if a.symbol == "HPG" and not a.rule_id]
    assert own == expected


def test_a_rule_added_during_an_episode_fires_at_once_and_a_deleted_one_never_again() -> None:
    cfg = AlertConfig(cooldown_seconds=COOLDOWN)
    core = MarketCore(alert_config=cfg, now=lambda: START)
    events = _flow()
    first_fire = _expected_fires(events, cfg)[0]
    during = next(e for e in events if e.ts > first_fire + 60)  # the episode is still on
    assert _burst_of(during.ts) == 0
    for event in events:
        if event is during:
            core.add_rule(ForeignRule("f-late", "HPG", "sell"))
        if (event.ts - START) / 60 == 50:  # between the bursts
            assert core.remove_rule("f-late")
        core.apply(event)
    ruled = [a for a in core.drain_alerts() if a.rule_id]
    assert [(a.rule_id, a.ts) for a in ruled] == [("f-late", during.ts)]


def test_on_the_recorded_session_a_rule_fires_where_the_engines_own_alert_does(
        session_messages: list[str]) -> None:
    core = MarketCore()
    core.add_rule(ForeignRule("f-vcb", "VCB", "sell"))
    core.process_many(session_messages)
    alerts = core.drain_alerts()
    own = [a.ts for a in alerts if a.kind is AlertKind.FOREIGN_SELL_ACCELERATION and a.symbol == "VCB"
           and not a.rule_id]
    ruled = [a.ts for a in alerts if a.rule_id == "f-vcb"]
    assert own and ruled == own


@pytest.mark.parametrize("kwargs", [
    {"id": "", "symbol": "HPG", "side": "sell"},
    {"id": "x", "symbol": "hpg;drop", "side": "sell"},
    {"id": "x", "symbol": "MARKET", "side": "sell"},  # the market total is the engine's own
    {"id": "x", "symbol": "HPG", "side": "above"},
    {"id": "x", "symbol": "HPG", "side": "sell", "note": "n" * 201},
])
def test_invalid_foreign_rules_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ForeignRule(**kwargs)  # type: ignore[arg-type]


def test_removing_a_foreign_rule_forgets_its_episode() -> None:
    engine = AlertEngine(AlertConfig(cooldown_seconds=0))
    engine.add_rule(ForeignRule("f-1", "HPG", "buy"))
    assert [r.id for r in engine.rules()] == ["f-1"] and not engine.has_rules("HPG")  # no trades to check
    assert engine.remove_rule("f-1") and engine.rules() == [] and not engine.remove_rule("f-1")
