"""VN30 futures: basis against the VN30 index, premium/discount, active contract by volume."""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.market.events import Trade


@dataclass(slots=True)
class ContractState:
    symbol: str
    last: float = 0.0
    total_volume: int = 0
    ref: float | None = None
    ts: float = 0.0


@dataclass(slots=True)
class BasisState:
    active: str | None = None
    futures_price: float | None = None
    index_value: float | None = None
    ts: float = 0.0
    # One point a minute: [minute start, basis in points].
    series: list[list[float]] = field(default_factory=list)

    @property
    def basis(self) -> float | None:
        if self.futures_price is None or not self.index_value:
            return None
        return self.futures_price - self.index_value

    @property
    def basis_pct(self) -> float | None:
        basis = self.basis
        return None if basis is None else basis / self.index_value * 100.0  # type: ignore[operator]

    @property
    def stance(self) -> str | None:
        """"premium" when futures trade above the index, "discount" below, "flat" at it."""
        basis = self.basis
        if basis is None:
            return None
        return "premium" if basis > 0 else "discount" if basis < 0 else "flat"


class DerivativesTracker:
    def __init__(self) -> None:
        self._contracts: dict[str, ContractState] = {}
        self.basis = BasisState()

    def apply_trade(self, trade: Trade) -> BasisState:
        contract = self._contracts.get(trade.symbol)
        if contract is None:
            contract = self._contracts[trade.symbol] = ContractState(trade.symbol)
        contract.last = trade.price
        contract.total_volume = max(contract.total_volume, trade.total_volume)
        contract.ts = trade.ts
        if trade.ref:
            contract.ref = trade.ref
        self._choose_active()
        active = self._contracts.get(self.basis.active or "")
        if active is not None:
            self.basis.futures_price = active.last
        return self._record(trade.ts)

    def apply_index(self, value: float, ts: float) -> BasisState:
        self.basis.index_value = value
        return self._record(ts)

    def _choose_active(self) -> None:
        # Highest volume wins; ties go to the nearer expiry (codes sort by expiry).
        best = min(self._contracts.values(), key=lambda c: (-c.total_volume, c.symbol))
        self.basis.active = best.symbol

    def _record(self, ts: float) -> BasisState:
        state = self.basis
        state.ts = max(state.ts, ts)
        basis = state.basis
        if basis is not None:
            minute = ts - ts % 60
            series = state.series
            if series and series[-1][0] == minute:
                series[-1][1] = basis
            elif not series or minute > series[-1][0]:
                series.append([minute, basis])
        return state

    def contracts(self) -> list[ContractState]:
        return sorted(self._contracts.values(), key=lambda c: c.symbol)

    def reset(self) -> None:
        self._contracts.clear()
        self.basis = BasisState()
