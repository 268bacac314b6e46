"""Running the service: a supervisor process and N uvicorn workers on one socket.

The supervisor (uvicorn's ``Multiprocess``) migrates nothing itself — ``run`` migrates
the database once before it starts — binds the socket, and spawns the workers, each of
which loads the read-only index from disk (``fnrag.service.app.app_from_env``).
Signals to the supervisor:

- SIGHUP (or ``POST /v1/admin/reload``): each worker is replaced in turn by one that
  loads the build now in the index folder; the old one stops only once the new one
  serves, and finishes its requests in flight first. Every request is answered wholly
  by one build.
- SIGTERM / SIGINT: the workers stop accepting, finish the requests in flight (up to
  ``graceful_seconds``) and exit; then the supervisor exits.
"""

from __future__ import annotations

import logging
import logging.config
import os

from fnrag.errors import missing_extra
from fnrag.service.config import CONFIG_ENV, ServeConfig
from fnrag.service.logs import log_config
from fnrag.service.routes import SUPERVISOR_ENV

logger = logging.getLogger("fnrag.service")
# A replacement worker must load the index within this time, else the old one stays.
WORKER_START_SECONDS = 300


def run(config: ServeConfig) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit status."""
    try:
        import uvicorn
        from uvicorn.supervisors.multiprocess import Multiprocess
    except ImportError as error:
        raise missing_extra("uvicorn", "serve") from error
    from fnrag.storage.db import Database, safe_url

    logging.config.dictConfig(log_config(config.log_level))
    database = Database(config.db)
    revision = database.migrate()
    database.dispose()
    os.environ[CONFIG_ENV] = config.to_env()
    os.environ[SUPERVISOR_ENV] = str(os.getpid())
    uv_config = uvicorn.Config(
        "fnrag.service.app:app_from_env",
        factory=True,
        host=config.host,
        port=config.port,
        workers=config.workers,
        log_config=log_config(config.log_level),
        access_log=False,
        timeout_graceful_shutdown=config.graceful_seconds,
        timeout_worker_healthcheck=WORKER_START_SECONDS,
        server_header=False,
    )
    logger.info(
        "serving",
        extra={
            "fields": {
                "url": f"http://{config.host}:{config.port}/v1",
                "workers": config.workers,
                "db": safe_url(database.url),
                "db_revision": revision,
            }
        },
    )
    socket = uv_config.bind_socket()
    try:
        Multiprocess(uv_config, sockets=[socket]).run()
    finally:
        socket.close()
    return 0
