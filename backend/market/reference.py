"""Reference data and HOSE rules: VN30 constituents, price bands, ticks, sessions, futures codes.

All functions are pure; prices are integer VND for stocks and index points for futures.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from fractions import Fraction

from backend.market.events import Phase

# Fixed UTC+7: Vietnam has no daylight saving, and a fixed offset needs no tz database.
VN_TZ = timezone(timedelta(hours=7), "ICT")

LOT_SIZE = 100
BAND = Fraction(7, 100)
FUTURES_TICK = 0.1
FUTURES_MULTIPLIER = 100_000  # VND per index point per contract
FUTURES_PREFIX = "VN30F"


@dataclass(frozen=True, slots=True)
class Constituent:
    symbol: str
    ref_price: int  # VND, a typical level used to seed the simulator
    shares_m: float  # shares outstanding, millions
    free_float: float  # fraction used for VN30 weights
    foreign_limit: float  # foreign ownership limit (fraction of shares)


# The VN30 basket from February 2026 (DGC, LPB and VPL in; BCM, BVH and POW out) at
# plausible late-2026 price levels, share counts and free floats. Foreign ownership limits:
# banks 30%, most others 49%, and the few companies that opened their room fully (SAB, SSI,
# VNM) 100%.
VN30: tuple[Constituent, ...] = (
    Constituent("ACB", 26_500, 5137, 0.80, 0.30),
    Constituent("BID", 42_000, 7022, 0.10, 0.30),
    Constituent("CTG", 48_500, 5370, 0.15, 0.30),
    Constituent("DGC", 98_000, 380, 0.50, 0.49),
    Constituent("FPT", 108_000, 1702, 0.80, 0.49),
    Constituent("GAS", 68_000, 2342, 0.05, 0.49),
    Constituent("GVR", 31_000, 4000, 0.05, 0.49),
    Constituent("HDB", 31_500, 3500, 0.70, 0.30),
    Constituent("HPG", 27_500, 7675, 0.55, 0.49),
    Constituent("LPB", 46_000, 2987, 0.30, 0.30),
    Constituent("MBB", 26_000, 8050, 0.65, 0.30),
    Constituent("MSN", 82_000, 1438, 0.40, 0.49),
    Constituent("MWG", 84_000, 1478, 0.85, 0.49),
    Constituent("PLX", 36_500, 1271, 0.15, 0.49),
    Constituent("SAB", 47_500, 1282, 0.10, 1.00),
    Constituent("SHB", 15_800, 4596, 0.80, 0.30),
    Constituent("SSB", 19_500, 2824, 0.40, 0.30),
    Constituent("SSI", 36_000, 2077, 0.75, 1.00),
    Constituent("STB", 52_000, 1885, 0.90, 0.30),
    Constituent("TCB", 36_500, 7085, 0.75, 0.30),
    Constituent("TPB", 17_200, 2642, 0.60, 0.30),
    Constituent("VCB", 63_500, 8355, 0.10, 0.30),
    Constituent("VHM", 104_000, 4107, 0.30, 0.49),
    Constituent("VIB", 19_200, 3404, 0.45, 0.30),
    Constituent("VIC", 158_000, 3854, 0.35, 0.49),
    Constituent("VJC", 152_000, 592, 0.45, 0.49),
    Constituent("VNM", 61_500, 2090, 0.45, 1.00),
    Constituent("VPB", 28_500, 7934, 0.80, 0.30),
    Constituent("VPL", 92_000, 1797, 0.10, 0.49),
    Constituent("VRE", 31_500, 2272, 0.40, 0.49),
)
VN30_SYMBOLS: frozenset[str] = frozenset(c.symbol for c in VN30)
INDEX_IDS: tuple[str, ...] = ("VNINDEX", "VN30")
# Prior closes the simulated market starts from (index points).
VN30_PRIOR_CLOSE = 2_080.0
VNINDEX_PRIOR_CLOSE = 1_880.0


def tick_size(price: float) -> int:
    """HOSE tick for a stock price in VND."""
    if price < 10_000:
        return 10
    if price < 50_000:
        return 50
    return 100


def is_on_tick(price: float) -> bool:
    return price == int(price) and int(price) % tick_size(price) == 0


def ceiling_price(ref: int) -> int:
    """Highest allowed price: ref + 7%, rounded down to the tick of the result."""
    raw = Fraction(ref) * (1 + BAND)
    tick = tick_size(float(raw))
    return int(raw // tick) * tick


def floor_price(ref: int) -> int:
    """Lowest allowed price: ref − 7%, rounded up to the tick of the result."""
    raw = Fraction(ref) * (1 - BAND)
    tick = tick_size(float(raw))
    price = -(-raw // tick) * tick
    # Rounding up can cross into the next tick band (e.g. 9,995 → 10,000): still valid there.
    return int(price)


def round_to_tick(price: float, *, direction: int = 0) -> int:
    """Snap a price to the HOSE grid: down (−1), up (+1) or nearest (0)."""
    tick = tick_size(price)
    units = price / tick
    if direction < 0:
        snapped = int(units // 1)
    elif direction > 0:
        snapped = -int(-units // 1)
    else:
        snapped = round(units)
    return snapped * tick


def next_tick(price: int, steps: int = 1) -> int:
    """The price ``steps`` ticks above (or below, when negative) ``price``, respecting band changes."""
    p = price
    for _ in range(abs(steps)):
        if steps > 0:
            p += tick_size(p)
        else:
            p -= tick_size(p - 1)
    return p


def is_valid_lot(volume: int) -> bool:
    return volume > 0 and volume % LOT_SIZE == 0


# Session boundaries in seconds after midnight, VN clock.
def _T(h: int, m: int) -> int:
    return h * 3600 + m * 60


ATO_START, CONT_START, LUNCH_START, LUNCH_END = _T(9, 0), _T(9, 15), _T(11, 30), _T(13, 0)
ATC_START, ATC_END, PT_END = _T(14, 30), _T(14, 45), _T(15, 0)
# Seconds of a full trading day: ATO, both continuous sessions and ATC (the lunch break excluded).
TRADING_SECONDS_PER_DAY = (LUNCH_START - ATO_START) + (ATC_END - LUNCH_END)


def phase_at(seconds_of_day: float) -> Phase:
    """The HOSE phase at a VN-clock time of day (seconds after midnight)."""
    s = seconds_of_day
    if s < ATO_START:
        return Phase.PRE_OPEN
    if s < CONT_START:
        return Phase.ATO
    if s < LUNCH_START:
        return Phase.CONTINUOUS
    if s < LUNCH_END:
        return Phase.LUNCH
    if s < ATC_START:
        return Phase.CONTINUOUS
    if s < ATC_END:
        return Phase.ATC
    if s < PT_END:
        return Phase.PUT_THROUGH
    return Phase.CLOSED


# Session codes as the provider sends them.
_SESSION_PHASES = {
    "ATO": Phase.ATO,
    "LO": Phase.CONTINUOUS,
    "ATC": Phase.ATC,
    "PT": Phase.PUT_THROUGH,
    "C": Phase.CLOSED,
    "CLOSED": Phase.CLOSED,
    "BREAK": Phase.LUNCH,
    "LB": Phase.LUNCH,
    "PRE": Phase.PRE_OPEN,
}


def phase_of_session(code: str) -> Phase | None:
    return _SESSION_PHASES.get(code.upper()) if code else None


def is_auction_session(code: str) -> bool:
    return code in ("ATO", "ATC")


def vn_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, VN_TZ)


def vn_seconds_of_day(ts: float) -> float:
    """Seconds after VN midnight for an epoch timestamp."""
    return (ts + 7 * 3600) % 86_400


def vn_day(ts: float) -> int:
    """Trading date (proleptic ordinal) of an epoch timestamp on the VN clock."""
    return date(1970, 1, 1).toordinal() + int((ts + 7 * 3600) // 86_400)


def vn_epoch(day: date, at: time = time(0)) -> float:
    return datetime.combine(day, at, VN_TZ).timestamp()


def futures_expiry(year: int, month: int) -> date:
    """VN30 futures expire on the third Thursday of the contract month."""
    first_weekday, _ = calendar.monthrange(year, month)
    first_thursday = 1 + (calendar.THURSDAY - first_weekday) % 7
    return date(year, month, first_thursday + 14)


def futures_contracts(on: date, count: int = 2) -> list[str]:
    """Codes of the nearest ``count`` monthly contracts trading on a date (front month first)."""
    year, month = on.year, on.month
    if on > futures_expiry(year, month):
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    codes = []
    for _ in range(count):
        codes.append(f"{FUTURES_PREFIX}{year % 100:02d}{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return codes


def is_vn30_future(symbol: str) -> bool:
    """VN30 index futures: ``VN30FYYMM`` codes or the KRX-era ``41I1…`` codes."""
    return symbol.startswith(FUTURES_PREFIX) or (symbol.startswith("41I1") and len(symbol) in (8, 9))


def futures_ceiling(ref: float) -> float:
    """Futures band: ref ± 7%, ceiling rounded down to the 0.1-point tick."""
    return math.floor(ref * 1.07 * 10 + 1e-6) / 10


def futures_floor(ref: float) -> float:
    return math.ceil(ref * 0.93 * 10 - 1e-6) / 10


def trading_seconds_elapsed(seconds_of_day: float) -> float:
    """Seconds of trading (09:00–11:30, 13:00–14:45) elapsed by a VN-clock time of day."""
    morning = max(0.0, min(seconds_of_day, LUNCH_START) - ATO_START)
    afternoon = max(0.0, min(seconds_of_day, ATC_END) - LUNCH_END)
    return morning + afternoon
