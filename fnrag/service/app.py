"""``create_app``: the FastAPI application of ``fnrag serve``.

Starting up opens the database (migrating it unless told not to: ``fnrag serve`` has
already migrated it once, before the workers start) and loads the index in a thread;
``/readyz`` answers 200 from then on. A middleware gives every request an id (the
client's ``X-Request-ID`` when it is a short token, else a new one), returns it as
``X-Request-ID``, counts the request in ``/metrics`` and writes one JSON access record
without any question, answer or document text.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fnrag.errors import missing_extra
from fnrag.service.config import ServeConfig

logger = logging.getLogger("fnrag.service.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _fastapi() -> Any:
    try:
        import fastapi
    except ImportError as error:
        raise missing_extra("fastapi", "serve") from error
    return fastapi


def create_app(
    config: ServeConfig | None = None, *, index: Any = None, db: Any = None, migrate: bool = True
) -> Any:
    """The service as an ASGI app.

    Args:
        config: the settings (default ``ServeConfig()``: the default index and database).
        index: an already loaded ``Index`` to serve first (tests); else loaded from
            ``config.index`` at startup.
        db: a :class:`fnrag.storage.Database` (default: one on ``config.db``).
        migrate: bring the database schema up to date at startup.

    Returns:
        A FastAPI app; its ``app.state.service`` is the worker's
        :class:`fnrag.service.state.ServiceState` (see ``fnrag.service``).
    """
    fastapi = _fastapi()
    from fnrag.service import chat, errors, routes
    from fnrag.service.limits import BodyLimit
    from fnrag.service.state import ServiceState
    from fnrag.storage.db import Database

    config = config or ServeConfig()
    database = db or Database(config.db)
    service = ServiceState(config, database, index=index)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        if migrate:
            await asyncio.to_thread(database.migrate)
        await asyncio.to_thread(service.load)
        _drain_on_sigterm(service)
        yield
        database.dispose()

    app = fastapi.FastAPI(
        title="fnrag",
        description="Cited answers about 금융실명제: OpenAI-compatible chat, search, feedback.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.service = service
    app.state.config = config
    app.state.ask_gate = asyncio.Semaphore(config.max_concurrent)
    errors.install(app)
    router = fastapi.APIRouter()
    chat.register(router)
    routes.register(router)
    app.include_router(router)
    from fnrag.service.page import router as page_router

    app.include_router(page_router)

    app.add_middleware(AccessLog, service=service)
    # Outermost, so an oversized body is refused before anything reads it.
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    return app


class AccessLog:
    """Pure ASGI middleware (no per-request task, unlike ``BaseHTTPMiddleware``): the
    request id, the metrics and one JSON access record per request."""

    def __init__(self, app: Any, service: Any) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from fnrag.service.logs import request_id

        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [(b"x-request-id", rid.encode())]
                if self.service.draining:  # the client opens a new connection next time
                    extra.append((b"connection", b"close"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)
            request_id.reset(token)

    def _record(self, scope: dict[str, Any], status: int, seconds: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        metrics = self.service.metrics
        metrics.inc("fnrag_requests_total", "HTTP requests.", route=path, status=str(status))
        metrics.observe("fnrag_request_seconds", "HTTP request latency.", seconds, route=path)
        if status >= 500:
            metrics.inc("fnrag_errors_total", "Requests answered with a 5xx.", route=path)
        principal = getattr(scope.get("state", {}).get("principal"), "name", None)
        logger.info(
            "request",
            extra={
                "fields": {
                    "method": scope.get("method"),
                    "route": path,
                    "status": status,
                    "ms": round(seconds * 1000, 2),
                    "user": principal,
                }
            },
        )


def _drain_on_sigterm(service: Any) -> None:
    """Under ``fnrag serve``: on SIGTERM, drain for ``drain_seconds`` before uvicorn's own
    graceful shutdown (which closes idle keep-alive connections at once, racing a client
    that is sending on one). Only in the main thread, where uvicorn runs the worker."""
    import os
    import signal
    import threading

    from fnrag.service.routes import SUPERVISOR_ENV

    if (
        not os.environ.get(SUPERVISOR_ENV)
        or threading.current_thread() is not threading.main_thread()
    ):
        return
    uvicorn_handler = signal.getsignal(signal.SIGTERM)
    if not callable(uvicorn_handler):
        return

    def drain(sig: int, frame: Any) -> None:
        if service.draining:
            return
        service.draining = True
        logger.info("draining", extra={"fields": {"seconds": service.config.drain_seconds}})
        timer = threading.Timer(service.config.drain_seconds, uvicorn_handler, (sig, None))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, drain)


def app_from_env() -> Any:
    """The app of one ``fnrag serve`` worker: its ServeConfig is in ``$FNRAG_SERVE_CONFIG``
    and the supervisor has already migrated the database."""
    return create_app(ServeConfig.from_env(), migrate=False)
