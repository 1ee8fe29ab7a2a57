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


# A VN30 basket with realistic price levels, share counts and foreign limits
# (banks are capped at 30%, most others at 49%).
VN30: tuple[Constituent, ...] = (
    Constituent("ACB", 24_500, 4467, 0.85, 0.30),
    Constituent("BCM", 60_000, 1035, 0.05, 0.49),
    Constituent("BID", 48_000, 5700, 0.10, 0.30),
    Constituent("BVH", 42_000, 742, 0.20, 0.49),
    Constituent("CTG", 33_000, 5370, 0.15, 0.30),
    Constituent("FPT", 130_000, 1470, 0.80, 0.49),
    Constituent("GAS", 70_000, 2342, 0.05, 0.49),
    Constituent("GVR", 30_000, 4000, 0.05, 0.49),
    Constituent("HDB", 24_000, 2915, 0.70, 0.30),
    Constituent("HPG", 27_000, 6396, 0.55, 0.49),
    Constituent("MBB", 23_500, 5300, 0.65, 0.30),
    Constituent("MSN", 75_000, 1438, 0.40, 0.49),
    Constituent("MWG", 60_000, 1462, 0.80, 0.49),
    Constituent("PLX", 40_000, 1271, 0.10, 0.49),
    Constituent("POW", 12_000, 2342, 0.20, 0.49),
    Constituent("SAB", 55_000, 1282, 0.10, 1.00),
    Constituent("SHB", 10_500, 3620, 0.80, 0.30),
    Constituent("SSB", 18_000, 2700, 0.40, 0.30),
    Constituent("SSI", 27_000, 1960, 0.75, 1.00),
    Constituent("STB", 33_000, 1885, 0.90, 0.30),
    Constituent("TCB", 23_500, 7045, 0.75, 0.22),
    Constituent("TPB", 17_000, 2642, 0.60, 0.30),
    Constituent("VCB", 92_000, 5589, 0.10, 0.30),
    Constituent("VHM", 42_000, 4354, 0.30, 0.49),
    Constituent("VIB", 19_500, 2979, 0.45, 0.20),
    Constituent("VIC", 42_000, 3824, 0.40, 0.49),
    Constituent("VJC", 100_000, 541, 0.45, 0.34),
    Constituent("VNM", 66_000, 2090, 0.45, 1.00),
    Constituent("VPB", 19_000, 7934, 0.80, 0.30),
    Constituent("VRE", 18_500, 2272, 0.40, 0.49),
)
VN30_SYMBOLS: frozenset[str] = frozenset(c.symbol for c in VN30)
INDEX_IDS: tuple[str, ...] = ("VNINDEX", "VN30")


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
