"""Alembic environment for the records store.

Migrations always run through ``backend.meta.migrate``, which hands over an open
connection (holding the migration lock); there is no alembic.ini.
"""

from __future__ import annotations

from alembic import context

from backend.meta.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run records-store migrations with backend.meta.migrate.upgrade(url)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
