"""Money in whole đồng: every fill's cash, fee and tax is an integer, rounded half-up once.

Prices on HOSE are whole đồng on the tick grid and quantities whole shares, so a fill's gross
amount is exact; only the fee and the tax are fractions of it, rounded half-up to the đồng (a
fraction of exactly one half goes up). Rates are kept as ``Decimal`` from their text, so 0.0015
is 15/10,000 and not the nearest binary fraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final

RATE_MAX: Final = Decimal("0.05")  # no broker charges more than 5 % a trade
DEFAULT_COMMISSION: Final = Decimal("0.0015")  # 0.15 %: a common online broker rate in Vietnam
DEFAULT_SALES_TAX: Final = Decimal("0.001")  # 0.1 % personal income tax withheld on every sale


def rate(value: object, name: str) -> Decimal:
    """``value`` as a rate from 0 to ``RATE_MAX`` (a ``ValueError`` naming ``name`` otherwise)."""
    if isinstance(value, bool):
        raise ValueError(f"{name}: a rate such as 0.0015, got {value!r}")  # noqa: TRY004 (bad input is a ValueError)
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{name}: a rate such as 0.0015, got {str(value)[:40]!r}") from None
    if not out.is_finite() or not Decimal(0) <= out <= RATE_MAX:
        raise ValueError(f"{name}: from 0 to {RATE_MAX}, got {str(value)[:40]}")
    return out


def part_of(amount: int, fraction: Decimal) -> int:
    """``amount × fraction`` in whole đồng, rounded half-up."""
    return int((Decimal(amount) * fraction).to_integral_value(rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Charges:
    """A portfolio's broker commission (on both sides) and the tax on sales, as fractions."""

    commission: Decimal = DEFAULT_COMMISSION
    sales_tax: Decimal = DEFAULT_SALES_TAX

    def fee(self, gross: int) -> int:
        return part_of(gross, self.commission)

    def tax(self, gross: int, side: str) -> int:
        return part_of(gross, self.sales_tax) if side == "sell" else 0


__all__ = ["DEFAULT_COMMISSION", "DEFAULT_SALES_TAX", "RATE_MAX", "Charges", "part_of", "rate"]
