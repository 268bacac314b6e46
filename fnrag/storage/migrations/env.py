"""Alembic's environment: runs the migrations on the connection ``Database.migrate()``
hands over (``config.attributes["connection"]``); there is no alembic.ini."""

from __future__ import annotations

from alembic import context

from fnrag.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
