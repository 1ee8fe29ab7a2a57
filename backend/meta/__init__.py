"""Records store: users, saved views, jobs, the market's watchlists and price rules and, later,
runs, portfolios and flags.

SQLite in the data directory by default, PostgreSQL when ``DESKBOARD_META_URL``
points at one; the schema is kept by Alembic migrations applied at start. Watchlists
and rules kept by older versions in ``market.sqlite3`` are imported once at start
(``legacy_market``).
"""

from backend.meta.migrate import downgrade, head_revision, upgrade
from backend.meta.store import MetaError, MetaStore, close_meta, open_meta

__all__ = ["MetaError", "MetaStore", "close_meta", "downgrade", "head_revision", "open_meta", "upgrade"]
