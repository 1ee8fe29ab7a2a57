"""Tables of the records store.

The declarative models are the single description of the schema: the
migrations create exactly these tables, and a test compares the two.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names keep migrations portable between SQLite and
# PostgreSQL and let later migrations drop or alter constraints by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

USER_ID_MAX = 64
VIEW_NAME_MAX = 120
PAGE_PATH_MAX = 200


def utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """Someone who owns records.

    The key is the login name itself ("local" before sign-in exists), so records
    can name their owner plainly and access control can add columns later
    without touching the tables that point here.
    """

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(USER_ID_MAX), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class SavedView(Base):
    """A named URL state of one page, owned by one user."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("owner", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(
        String(USER_ID_MAX), ForeignKey("users.id", ondelete="CASCADE", onupdate="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(VIEW_NAME_MAX))
    page: Mapped[str] = mapped_column(String(PAGE_PATH_MAX))
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    # Bumped by every change; writers send the version they read, so a stale
    # rename or overwrite is refused instead of silently winning.
    version: Mapped[int] = mapped_column(Integer, default=1)


JOB_KIND_MAX = 40
JOB_MESSAGE_MAX = 500
JOB_STATES = ("QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED")


class Job(Base):
    """One long piece of work and everything known about it; the truth about its state.

    The web process, worker processes and Celery workers all read and write this row;
    ``backend.jobs.store`` is the only code that changes ``state``, and only along
    QUEUED → RUNNING → COMPLETED | FAILED | CANCELLED (QUEUED may also end directly).
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(f"state IN ({', '.join(repr(s) for s in JOB_STATES)})", name="state"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(JOB_KIND_MAX))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    owner: Mapped[str] = mapped_column(
        String(USER_ID_MAX), ForeignKey("users.id", ondelete="CASCADE", onupdate="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(16), index=True)
    # Who dispatches it ("embedded": the web process's runner; "celery": the broker) and
    # where it runs ("worker": a worker process; "web": a thread of the web process).
    runner: Mapped[str] = mapped_column(String(16))
    placement: Mapped[str] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(String(JOB_MESSAGE_MAX), default="")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    traceback: Mapped[str | None] = mapped_column(Text, nullable=True)
    log_tail: Mapped[str | None] = mapped_column(Text, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# -- the live market's watchlists and price-alert rules ---------------------------------
# Text columns are roomier than what the market service accepts today (names of at most 60
# characters, notes of at most 200): records written under older, looser rules must fit.
MARKET_ID_MAX = 64
WATCHLIST_NAME_MAX = 200
MARKET_SYMBOL_MAX = 20
PRICE_RULE_OPS = ("above", "below")
# A rule is a price level (above / below, with its price) or a symbol's foreign flow
# accelerating (buy / sell, no price).
RULE_KINDS = ("price", "foreign")
FOREIGN_RULE_OPS = ("buy", "sell")


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(repr(v) for v in values)


class WatchlistRecord(Base):
    """A named list of board symbols. Shared by everyone on the server, like the board itself."""

    __tablename__ = "watchlists"

    id: Mapped[str] = mapped_column(String(MARKET_ID_MAX), primary_key=True)
    name: Mapped[str] = mapped_column(String(WATCHLIST_NAME_MAX))
    # The symbols in the user's order (order is what the board shows).
    symbols: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class PriceRuleRecord(Base):
    """An alert rule on one symbol: it trades at or above / at or below ``price`` (feed units: VND,
    or points for futures), or its foreign buying / selling accelerates (``price`` is null)."""

    __tablename__ = "price_rules"
    __table_args__ = (
        CheckConstraint(f"op IN ({_quoted(PRICE_RULE_OPS + FOREIGN_RULE_OPS)})", name="op"),
        CheckConstraint(f"kind IN ({_quoted(RULE_KINDS)})", name="kind"),
        # Each kind with its own ops, and a price exactly when the rule is a price level.
        CheckConstraint(
            f"(kind = 'price' AND op IN ({_quoted(PRICE_RULE_OPS)}) AND price IS NOT NULL AND price > 0) OR "
            f"(kind = 'foreign' AND op IN ({_quoted(FOREIGN_RULE_OPS)}) AND price IS NULL)",
            name="shape",
        ),
    )

    id: Mapped[str] = mapped_column(String(MARKET_ID_MAX), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(MARKET_SYMBOL_MAX), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="price", server_default="price")
    op: Mapped[str] = mapped_column(String(8))
    price: Mapped[float | None] = mapped_column(Float, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


# -- which feed session holds each trading day's market history --------------------------
# Roomier than what the market store writes (sources cut to 40 characters, 16-character
# session tokens): owners recorded by older versions must fit.
MARKET_SOURCE_MAX = 64
MARKET_SESSION_MAX = 64


class MarketDayOwner(Base):
    """The feed session whose history a VN trading day holds (see ``backend.market.history_sources``).

    One row per day, shared by every host: the day is the key, so two processes claiming it
    together leave exactly one owner.
    """

    __tablename__ = "market_day_owners"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(String(MARKET_SOURCE_MAX))
    simulated: Mapped[bool] = mapped_column(Boolean)
    session: Mapped[str] = mapped_column(String(MARKET_SESSION_MAX))
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


# -- access control: credentials, roles, links, flags, audit and per-user settings -----------
ROLE_NAME_MAX = 40
TOKEN_HASH_MAX = 64  # sha256 hex of a random secret: the secret itself is never stored
FLAG_KEY_MAX = 64
AUDIT_ACTION_MAX = 64
SIGN_IN_LINK_PURPOSES = ("sign_in", "reset")


class UserCredentials(Base):
    """How a user signs in and what they may do; one row per user that can sign in.

    Kept apart from ``users`` (which every record points at) so records of the single local
    user, and of users removed from sign-in, keep their owner.
    """

    __tablename__ = "user_credentials"
    __table_args__ = (CheckConstraint("failed_signins >= 0", name="failed_signins"),)

    user_id: Mapped[str] = mapped_column(
        String(USER_ID_MAX), ForeignKey("users.id", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )
    # argon2id encoded hash (parameters and salt inside); None: no password set yet.
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    # DataScope.as_dict(): per dimension a list of allowed values, or None for all.
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    failed_signins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped by a password change, reset, disable or role/scope change: sessions carrying an
    # older number are signed out at their next request.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_signin_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class CustomRole(Base):
    """A role an admin made (the built-in viewer/analyst/trader/admin live in code)."""

    __tablename__ = "custom_roles"

    name: Mapped[str] = mapped_column(String(ROLE_NAME_MAX), primary_key=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class ApiToken(Base):
    """A personal API token: shown once at creation, kept only as a hash, revocable."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(
        String(USER_ID_MAX), ForeignKey("users.id", ondelete="CASCADE", onupdate="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_MAX), unique=True)
    # The first characters of the token, so a user can tell their tokens apart in a list.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SignInLink(Base):
    """A one-time link that signs a user in: the first admin's, or an admin-issued reset."""

    __tablename__ = "sign_in_links"
    __table_args__ = (
        CheckConstraint(f"purpose IN ({', '.join(repr(p) for p in SIGN_IN_LINK_PURPOSES)})", name="purpose"),
    )

    token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_MAX), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(USER_ID_MAX), ForeignKey("users.id", ondelete="CASCADE", onupdate="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(USER_ID_MAX))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SignedLink(Base):
    """A read-only link to one view for a wall screen or an embedding page.

    The URL carries an itsdangerous signature of ``id``; this row is what can be listed and
    revoked, and the maker's current state decides whether it still works.
    """

    __tablename__ = "signed_links"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    maker: Mapped[str] = mapped_column(
        String(USER_ID_MAX), ForeignKey("users.id", ondelete="CASCADE", onupdate="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(120), default="")
    path: Mapped[str] = mapped_column(String(PAGE_PATH_MAX))
    # The view's URL query (without "?"), as the maker saw it.
    query: Mapped[str] = mapped_column(Text, default="")
    # The maker's scope when the link was made (DataScope.as_dict()).
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class FeatureFlag(Base):
    """A switch checked on the server: on/off, a rollout percentage, targeting by role or user."""

    __tablename__ = "feature_flags"
    __table_args__ = (CheckConstraint("rollout >= 0 AND rollout <= 100", name="rollout"),)

    key: Mapped[str] = mapped_column(String(FLAG_KEY_MAX), primary_key=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    rollout: Mapped[int] = mapped_column(Integer, default=100)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    users: Mapped[list[str]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_by: Mapped[str] = mapped_column(String(USER_ID_MAX), default="")


class AuditEntry(Base):
    """One administrative action. The actor is a name, not a key: the log outlives users."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now, index=True)
    actor: Mapped[str] = mapped_column(String(USER_ID_MAX), index=True)
    action: Mapped[str] = mapped_column(String(AUDIT_ACTION_MAX), index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    address: Mapped[str] = mapped_column(String(64), default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")


class UserSettings(Base):
    """A user's own defaults: theme, number format, time zone, default pivot view and watchlist."""

    __tablename__ = "user_settings"

    user_id: Mapped[str] = mapped_column(
        String(USER_ID_MAX), ForeignKey("users.id", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


MEASUREMENT_NAME_MAX = 64


class MeasurementRecord(Base):
    """A research measurement: a dataset, or a series numbered per dataset and kind
    (``backend.measurements.names``), with the store that keeps its rows and what made it."""

    __tablename__ = "measurements"
    __table_args__ = (
        UniqueConstraint("base", "kind", "number"),
        CheckConstraint("kind IN ('dataset', 'indicators', 'run', 'sim')", name="kind"),
        CheckConstraint("(kind = 'dataset') = (number IS NULL)", name="number"),
    )

    name: Mapped[str] = mapped_column(String(MEASUREMENT_NAME_MAX), primary_key=True)
    base: Mapped[str] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    store: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(USER_ID_MAX), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    # what it was made from and how (source file, request, code version, input hash), for tracing back
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # flat scalars read by listings of many records, so they never load the inputs
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # a deleted series keeps its record, so its name is never handed out again
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# -- paper trading ------------------------------------------------------------------------------
# Amounts are whole đồng (BigInteger: a portfolio of 10^12 đồng overflows 32 bits), prices whole
# đồng on the exchange's grid, quantities whole shares.
PAPER_NAME_MAX = 80
PAPER_SYMBOL_MAX = 20
PAPER_KEY_MAX = 64
ORDER_STATUSES = ("pending", "open", "partially_filled", "filled", "cancelled", "expired")


class PaperPortfolio(Base):
    """A paper portfolio: its cash and the running totals the ledger's identities are checked with."""

    __tablename__ = "paper_portfolios"
    __table_args__ = (UniqueConstraint("owner", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(USER_ID_MAX), index=True)
    name: Mapped[str] = mapped_column(String(PAPER_NAME_MAX))
    cash: Mapped[int] = mapped_column(BigInteger)
    net_deposits: Mapped[int] = mapped_column(BigInteger)
    realized_pnl: Mapped[int] = mapped_column(BigInteger, default=0)
    fees: Mapped[int] = mapped_column(BigInteger, default=0)
    taxes: Mapped[int] = mapped_column(BigInteger, default=0)
    commission: Mapped[str] = mapped_column(String(16))  # a Decimal's text: 0.0015
    sales_tax: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    reset_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PaperCashMove(Base):
    """A deposit, a withdrawal or the opening cash of a portfolio (or of its reset)."""

    __tablename__ = "paper_cash_moves"
    __table_args__ = (CheckConstraint("kind IN ('open', 'deposit', 'withdrawal', 'reset')", name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("paper_portfolios.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)  # signed: a withdrawal is negative
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class PaperOrder(Base):
    """An order: what was asked, what is left, and why it ended as it did."""

    __tablename__ = "paper_orders"
    __table_args__ = (
        UniqueConstraint("portfolio_id", "idempotency_key"),
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in ORDER_STATUSES)})", name="status"),
        CheckConstraint("side IN ('buy', 'sell')", name="side"),
        CheckConstraint("filled_quantity >= 0 AND filled_quantity <= quantity", name="filled"),
        Index("ix_paper_orders_working", "portfolio_id", "status"),  # what a portfolio's working orders hold
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("paper_portfolios.id", ondelete="CASCADE"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(PAPER_KEY_MAX), nullable=True)
    symbol: Mapped[str] = mapped_column(String(PAPER_SYMBOL_MAX), index=True)
    side: Mapped[str] = mapped_column(String(4))
    type: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(Integer)
    filled_quantity: Mapped[int] = mapped_column(Integer, default=0)
    limit_price: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    stop_price: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    time_in_force: Mapped[str] = mapped_column(String(8))
    session: Mapped[str] = mapped_column(String(16))  # continuous, ato, atc or queued (waiting for the open)
    status: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str] = mapped_column(String(300), default="")
    reserved_cash: Mapped[int] = mapped_column(BigInteger, default=0)  # held for what a buy has left
    trading_day: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    # the order this one replaced (an amend: that one cancelled, this one placed, in one transaction)
    replaces: Mapped[int | None] = mapped_column(Integer, nullable=True)


class PaperFill(Base):
    """One fill: its price and quantity, the cash it moved, its fee and tax and the P&L it realised."""

    __tablename__ = "paper_fills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("paper_orders.id", ondelete="CASCADE"), index=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("paper_portfolios.id", ondelete="CASCADE"), index=True)
    symbol: Mapped[str] = mapped_column(String(PAPER_SYMBOL_MAX))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(BigInteger)
    gross: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger)
    cash: Mapped[int] = mapped_column(BigInteger)  # signed: what the fill did to cash
    realized_pnl: Mapped[int] = mapped_column(BigInteger)  # sells: against the FIFO lots they closed
    trading_day: Mapped[date] = mapped_column(Date)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class PaperLot(Base):
    """Shares bought by one fill and not yet sold: the FIFO queue of a position."""

    __tablename__ = "paper_lots"
    __table_args__ = (CheckConstraint("remaining >= 0 AND remaining <= quantity", name="remaining"),
                      Index("ix_paper_lots_holding", "portfolio_id", "symbol"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("paper_portfolios.id", ondelete="CASCADE"), index=True)
    fill_id: Mapped[int] = mapped_column(ForeignKey("paper_fills.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(String(PAPER_SYMBOL_MAX))
    quantity: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(BigInteger)
    sellable_from: Mapped[date] = mapped_column(Date)  # T+2 on the trading calendar


class PaperSnapshot(Base):
    """A portfolio's value at a moment (every 60 s while the market runs): its performance is read from these."""

    __tablename__ = "paper_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("paper_portfolios.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    trading_day: Mapped[date] = mapped_column(Date)
    cash: Mapped[int] = mapped_column(BigInteger)
    market_value: Mapped[int] = mapped_column(BigInteger)
    equity: Mapped[int] = mapped_column(BigInteger)
    net_deposits: Mapped[int] = mapped_column(BigInteger)


class PaperStrategy(Base):
    """A strategy switched on for a portfolio: its kind and parameters, and whether its signals
    place orders by themselves (only where the ``paper_auto`` flag is on for the owner)."""

    __tablename__ = "paper_strategies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("paper_portfolios.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    symbols: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every stock on the board
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    auto_execute: Mapped[bool] = mapped_column(Boolean, default=False)
    lots: Mapped[int] = mapped_column(Integer, default=1)  # what an automatic order trades
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped by every change: the engine rebuilds it
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class PaperSignal(Base):
    """Every signal a strategy gave, and — when it traded by itself — the order it placed or why not."""

    __tablename__ = "paper_signals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("paper_strategies.id", ondelete="CASCADE"), index=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("paper_portfolios.id", ondelete="CASCADE"), index=True)
    symbol: Mapped[str] = mapped_column(String(PAPER_SYMBOL_MAX))
    side: Mapped[str] = mapped_column(String(4))
    price: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("paper_orders.id", ondelete="SET NULL"), nullable=True)
    outcome: Mapped[str] = mapped_column(String(300), default="")  # "order 12 filled", or why none was placed
