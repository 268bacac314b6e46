"""The engine, the migrations and the transactions of the service database.

``Database(url)`` opens SQLite or PostgreSQL through SQLAlchemy 2; ``migrate()`` brings
the schema to the newest alembic revision shipped in ``fnrag/storage/migrations``
(idempotent, safe to call at every start). SQLite runs in WAL mode with a busy timeout,
so several workers can write the same file: a writer waits for the lock instead of
failing; ``synchronous=NORMAL`` keeps commits through a crash of the process, not
through a power loss (use PostgreSQL where that matters). Every write is one transaction (``with db.begin() as conn``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fnrag.errors import FnragError, InputError, missing_extra

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# A writer waits this long for SQLite's lock before failing (several workers write).
SQLITE_BUSY_MS = 30_000


class StorageError(FnragError):
    """The database cannot be opened or written (names the URL without its password)."""


def default_db_url() -> str:
    """``$FNRAG_DB``, else the SQLite file ``$FNRAG_HOME/fnrag.db``."""
    configured = os.environ.get("FNRAG_DB")
    if configured:
        return configured
    from fnrag.paths import fnrag_home

    return f"sqlite:///{fnrag_home() / 'fnrag.db'}"


def now() -> datetime:
    """The current time, UTC, timezone-aware (what every table stores)."""
    return datetime.now(UTC)


def _sqlalchemy() -> Any:
    try:
        import sqlalchemy
    except ImportError as error:
        raise missing_extra("sqlalchemy", "serve") from error
    return sqlalchemy


def safe_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    sa = _sqlalchemy()
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable database URL>"


class Database:
    """One process's connection pool to the service database.

    Args:
        url: a SQLAlchemy URL (``sqlite:///path``, ``postgresql+psycopg://…``); None:
            :func:`default_db_url`.

    Example:
        >>> db = Database("sqlite:///:memory:")  # doctest: +SKIP
        >>> db.migrate()  # doctest: +SKIP
    """

    def __init__(self, url: str | None = None) -> None:
        sa = _sqlalchemy()
        self.url = url or default_db_url()
        try:
            parsed = sa.engine.make_url(self.url)
        except Exception as error:
            raise InputError(
                f"cannot parse the database URL {self.url!r}; give sqlite:///PATH or "
                "postgresql+psycopg://USER@HOST:PORT/NAME"
            ) from error
        self.dialect = parsed.get_backend_name()
        options: dict[str, Any] = {"future": True}
        if self.dialect == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            options["connect_args"] = {"timeout": SQLITE_BUSY_MS / 1000, "check_same_thread": False}
        else:
            options["pool_pre_ping"] = True
        try:
            self.engine = sa.create_engine(parsed, **options)
        except ImportError as error:
            raise missing_extra(str(error.name or "the database driver"), "serve") from error
        # SQLite has one writer at a time; threads of this process take turns here
        # instead of in SQLite's busy handler, which sleeps in growing steps.
        self._writer: AbstractContextManager[Any] = nullcontext()
        if self.dialect == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            self._writer = threading.Lock()

    def __repr__(self) -> str:
        return f"Database({safe_url(self.url)!r})"

    @contextmanager
    def begin(self) -> Iterator[Any]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        sa = _sqlalchemy()
        try:
            with self._writer, self.engine.begin() as connection:
                yield connection
        except sa.exc.OperationalError as error:
            raise StorageError(
                f"the database {safe_url(self.url)} failed: {error.orig}; check that it is "
                "running and writable"
            ) from error

    def migrate(self) -> str:
        """Upgrade the schema to the newest revision; returns that revision."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        return self.revision()

    def revision(self) -> str:
        """The schema revision the database is at ("" before the first migration)."""
        from alembic.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision() or ""

    def dispose(self) -> None:
        """Close every pooled connection (before a fork, or at shutdown)."""
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL keeps every commit through a crash of the process (the
    # feedback benchmark's 0 lost writes) and skips an fsync per commit (4 ms → 0.5 ms
    # here); only a power loss may roll back the last commits. PostgreSQL for more.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
