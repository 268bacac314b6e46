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

Each worker slot listens on its own socket, all bound to the same address with
``SO_REUSEPORT``, so the kernel spreads new connections over the workers by hash. With
one shared socket, the first worker to wake accepted a whole burst of connections, and
keep-alive clients stayed there: under 32 clients one worker ran at ~1.5 cores and the
other at ~0.2 (benchmarks/RESULTS.md). A slot's socket outlives its worker, so
connections that arrive while a worker is replaced wait in its queue.
"""

from __future__ import annotations

import logging
import logging.config
import os
import socket
from typing import Any

from fnrag.embedders.base import THREADS_ENV, embed_threads
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
    if config.embed_threads:
        os.environ[THREADS_ENV] = str(config.embed_threads)
    # Workers inherit the environment: each one's embedder computes with these.
    threads = embed_threads()
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
                "embed_threads": threads,
                "db": safe_url(database.url),
                "db_revision": revision,
            }
        },
    )
    if config.workers > 1 and hasattr(socket, "SO_REUSEPORT"):
        slots = listening_sockets(config.host, config.port, config.workers)
        supervisor: Any = _slot_supervisor()(uv_config, slots)
    else:
        slots = [uv_config.bind_socket()]
        supervisor = Multiprocess(uv_config, sockets=slots)
    try:
        supervisor.run()
    finally:
        for listening in slots:
            listening.close()
    return 0


def listening_sockets(host: str, port: int, count: int, backlog: int = 2048) -> list[socket.socket]:
    """``count`` TCP sockets listening on ``host:port`` with ``SO_REUSEPORT`` (port 0: the
    port the first one got). Only processes of the same user can join the group."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            listening = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(listening)
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listening.bind((host, port))
            port = listening.getsockname()[1]
            listening.listen(backlog)
            listening.set_inheritable(True)
    except OSError as error:
        for listening in sockets:
            listening.close()
        from fnrag.errors import InputError

        raise InputError(
            f"cannot listen on {host}:{port} ({error.strerror or error}); choose another "
            "--port or stop the program using it"
        ) from None
    return sockets


def _slot_supervisor() -> type:
    """uvicorn's ``Multiprocess`` with worker slot i always on socket i: at start, when a
    worker is replaced (reload) and when a dead one is restarted. The loops are uvicorn
    0.54's, with the slot's socket instead of the shared list."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors.multiprocess import Multiprocess, Process

    class SlotSupervisor(Multiprocess):
        def __init__(self, config: Any, slots: list[socket.socket]) -> None:
            super().__init__(config, sockets=[])
            self.slots = slots

        def _spawn(self, idx: int) -> Any:
            process = Process(self.config, [self.slots[idx]])
            process.start()
            return process

        def init_processes(self) -> None:
            self.processes = [self._spawn(idx) for idx in range(self.processes_num)]

        def restart_all(self) -> None:
            for idx, old_process in enumerate(self.processes):
                if self.should_exit.is_set():
                    return
                new_process = self._spawn(idx)
                timeout = self.config.timeout_worker_healthcheck
                if not new_process.wait_until_ready(timeout, self.should_exit):
                    new_process.kill()
                    new_process.join()
                    if not self.should_exit.is_set():
                        logger.error(
                            "replacement worker not ready in time; keeping the old one",
                            extra={"fields": {"worker": old_process.pid}},
                        )
                    return
                old_process.terminate()
                old_process.join()
                self.processes[idx] = new_process

        def keep_subprocess_alive(self) -> None:
            if self.should_exit.is_set():
                return
            for idx, process in enumerate(self.processes):
                if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                    continue
                process.kill()
                process.join()
                if process.exitcode == STARTUP_FAILURE:
                    logger.error("a worker failed to start; stopping")
                    self.should_exit.set()
                    return
                if self.should_exit.is_set():
                    return
                logger.info(
                    "worker died; starting another", extra={"fields": {"worker": process.pid}}
                )
                self.processes[idx] = self._spawn(idx)

    return SlotSupervisor
