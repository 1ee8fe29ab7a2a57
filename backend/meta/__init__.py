"""Records store: users, saved views and, later, runs, portfolios and flags.

SQLite in the data directory by default, PostgreSQL when ``DESKBOARD_META_URL``
points at one; the schema is kept by Alembic migrations applied at start.
"""

from backend.meta.migrate import downgrade, head_revision, upgrade
from backend.meta.store import MetaError, MetaStore, close_meta, open_meta

__all__ = ["MetaError", "MetaStore", "close_meta", "downgrade", "head_revision", "open_meta", "upgrade"]
