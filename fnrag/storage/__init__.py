"""The service's database: conversations, answers with citations, feedback, API keys, audit.

One SQLAlchemy 2 engine per process (:class:`fnrag.storage.db.Database`); the schema is
made by alembic migrations shipped in ``fnrag/storage/migrations`` and run
programmatically (``Database.migrate()``), so a fresh SQLite file or PostgreSQL database
is ready without an alembic.ini. The default is the SQLite file ``$FNRAG_HOME/fnrag.db``;
``$FNRAG_DB`` or ``--db postgresql+psycopg://user@host:port/name`` picks another. Text
that came from a user (questions, comments) is PII-masked before it is stored.
"""

from fnrag.storage.db import Database, default_db_url

__all__ = ["Database", "default_db_url"]
