"""Alembic migrations of the service database, run by ``Database.migrate()``."""
