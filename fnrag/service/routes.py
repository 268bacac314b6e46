"""Search, feedback, the operator's admin routes, and health, readiness and metrics.

``POST /v1/search`` answers ``{"hits": [...]}`` in the ``fnrag search --json`` shape
(``Hit.to_json``). ``POST /v1/feedback`` stores a rating of a stored answer.
``POST /v1/admin/reload`` loads the build now in the index folder in this worker and,
under ``fnrag serve``, has the supervisor replace the other workers one at a time
(SIGHUP: each new worker serves before the old one stops, so no request fails).
"""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from fnrag.service.auth import AsOperator, AsPractitioner, Principal
from fnrag.service.chat import parse_body
from fnrag.service.errors import ApiError

logger = logging.getLogger("fnrag.service")
# Set by ``fnrag serve`` for its workers: the supervisor to signal on a reload.
SUPERVISOR_ENV = "FNRAG_SERVE_SUPERVISOR"


def _iso_date(value: Any) -> str:
    import datetime as dt

    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError as error:
        raise ApiError(
            400, f"as_of must be a date like 2024-01-31 (got {value!r})", "invalid_request"
        ) from error


def _search(service: Any, body: dict[str, Any]) -> dict[str, Any]:
    from fnrag.answering.assistant import validate_question
    from fnrag.answering.pii import mask_pii
    from fnrag.index.fusion import SEARCH_MODES
    from fnrag.service.state import MAX_K

    query = mask_pii(validate_question(body.get("query"))).text
    k = body.get("k", service.config.k)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise ApiError(400, f"k must be an integer between 1 and {MAX_K}", "invalid_request")
    mode = body.get("mode", "hybrid")
    if mode not in SEARCH_MODES:
        raise ApiError(400, f"mode must be one of {', '.join(SEARCH_MODES)}", "invalid_request")
    index = service.index
    options: dict[str, Any] = {"k": k, "mode": mode}
    if body.get("as_of") is not None:
        options["as_of"] = _iso_date(body["as_of"])
    try:
        hits = index.search(query, **options)
    except TypeError as error:
        if "as_of" not in options:
            raise
        raise ApiError(400, "this index does not support as_of yet", "invalid_request") from error
    return {"hits": [hit.to_json() for hit in hits], "index_version": service.loaded.version}


def _audit(service: Any, principal: Principal, action: str, detail: dict[str, Any]) -> None:
    from fnrag.storage.records import audit

    with service.db.begin() as conn:
        audit(conn, principal.name, action, detail)


def _reload(service: Any, principal: Principal) -> dict[str, Any]:
    try:
        old, new = service.reload()
    except Exception as error:
        logger.exception("reload failed", extra={"fields": {"error_type": type(error).__name__}})
        raise ApiError(
            409, f"the new build did not load ({error}); the old one keeps serving", "reload_failed"
        ) from error
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if supervisor and supervisor.isdigit() and int(supervisor) == os.getppid():
        os.kill(int(supervisor), signal.SIGHUP)  # the other workers: replaced one by one
    _audit(service, principal, "index.reload", {"from": old, "to": new})
    return {"previous_version": old, "index_version": new, "workers_restarting": bool(supervisor)}


def register(router: Any) -> None:
    @router.post("/v1/search")
    async def search(request: Request, principal: AsPractitioner) -> Any:
        body = parse_body(await request.body())
        return await run_in_threadpool(_search, request.app.state.service, body)

    @router.post("/v1/feedback")
    async def feedback(request: Request, principal: AsPractitioner) -> Any:
        from fnrag.storage.records import add_feedback

        body = parse_body(await request.body())
        answer_id = body.get("answer_id")
        if not isinstance(answer_id, str) or not answer_id:
            raise ApiError(
                400, "answer_id is required: the id of a chat response", "invalid_request"
            )
        comment = body.get("comment") or ""
        feedback_id = await run_in_threadpool(
            add_feedback,
            request.app.state.service.db,
            answer_id,
            str(body.get("rating")),  # checked by add_feedback: "None" is no rating
            body.get("reason"),
            comment,
            principal.name,
        )
        return JSONResponse({"id": feedback_id, "answer_id": answer_id}, status_code=201)

    @router.post("/v1/admin/reload")
    async def reload(request: Request, principal: AsOperator) -> Any:
        return await run_in_threadpool(_reload, request.app.state.service, principal)

    @router.get("/v1/admin/feedback")
    async def feedback_export(request: Request, principal: AsOperator) -> Any:
        from fnrag.storage.records import review_records

        service = request.app.state.service
        records = await run_in_threadpool(review_records, service.db)
        await run_in_threadpool(
            _audit, service, principal, "feedback.export", {"rows": len(records)}
        )
        return {"records": records}

    @router.get("/healthz")
    async def healthz() -> Any:
        # The worker's process id: which worker answered (connection spreading is tested).
        return {"status": "ok", "worker": os.getpid()}

    @router.get("/readyz")
    async def readyz(request: Request) -> Any:
        service = request.app.state.service
        if not service.ready or service.draining:
            state = "draining" if service.draining else "loading"
            return JSONResponse({"status": state}, status_code=503)
        return {
            "status": "ready",
            "index_version": service.index_version,
            # Loaded by the warm-up question before the worker reports ready.
            "embed_threads": getattr(getattr(service.index, "embedder", None), "threads", 1),
        }

    @router.get("/metrics")
    async def metrics(request: Request) -> Any:
        return PlainTextResponse(
            request.app.state.service.metrics.render(), media_type="text/plain; version=0.0.4"
        )
