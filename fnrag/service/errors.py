"""JSON errors in the OpenAI shape, ``{"error": {"message", "type", "code"}}``, and the
handlers that turn every failure into one (the server keeps serving)."""

from __future__ import annotations

import logging
from typing import Any

from fnrag.errors import FnragError, InputError

logger = logging.getLogger("fnrag.service")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """An HTTP error answered as JSON: ``ApiError(404, "no such answer", "not_found")``."""

    def __init__(
        self, status: int, message: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


def error_body(status: int, message: str, code: str) -> dict[str, Any]:
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "code": code}}


def json_error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse(error_body(status, message, code), status_code=status, headers=headers)


def install(app: Any) -> None:
    """Register the handlers on a FastAPI app."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    from fnrag.storage.db import StorageError

    @app.exception_handler(ApiError)
    async def _api(request: Any, error: ApiError) -> Any:
        return json_error(error.status, error.message, error.code, error.headers)

    @app.exception_handler(InputError)
    async def _input(request: Any, error: InputError) -> Any:
        from fnrag.storage.records import UnknownAnswerError

        if isinstance(error, UnknownAnswerError):
            return json_error(404, str(error), "answer_not_found")
        return json_error(400, str(error), "invalid_request")

    @app.exception_handler(StorageError)
    async def _storage(request: Any, error: StorageError) -> Any:
        logger.error("storage failed", extra={"fields": {"error": str(error)}})
        return json_error(503, "the database is unavailable; try again shortly", "storage")

    @app.exception_handler(FnragError)
    async def _fnrag(request: Any, error: FnragError) -> Any:
        return json_error(500, str(error), "fnrag_error")

    @app.exception_handler(HTTPException)
    async def _http(request: Any, error: HTTPException) -> Any:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return json_error(error.status_code, str(error.detail), code)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Any, error: RequestValidationError) -> Any:
        return json_error(400, f"invalid request: {error.errors()[:3]}", "invalid_request")

    @app.exception_handler(Exception)
    async def _unexpected(request: Any, error: Exception) -> Any:
        # No request text in the log: only the error's type and the route.
        logger.exception(
            "unexpected error",
            extra={"fields": {"path": request.url.path, "error_type": type(error).__name__}},
        )
        return json_error(500, "internal error; the server logged it", "internal_error")
