"""Who is asking: API keys (``Authorization: Bearer fnrag-…``), roles, the optional
trusted SSO proxy, and a per-key rate limit.

Practitioners may chat, search and give feedback; operators may also reload the index
and export feedback. With ``trusted_proxy_header`` set, a request from one of
``trusted_proxies`` that carries that header is the user it names (a practitioner),
without a key: the bank's SSO proxy has authenticated them. The header from any other
address is ignored. The rate limit is a token bucket per key and worker, each worker
allowing its share (``rate_limit / workers`` per minute) so the service allows about
``rate_limit`` in all.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from fnrag.service.errors import ApiError

ROLE_RANK = {"practitioner": 1, "operator": 2}


@dataclass(frozen=True)
class Principal:
    """The caller of one request.

    Attributes:
        name: the key's name, the proxy's user, or ``local`` without auth.
        role: ``practitioner`` or ``operator``.
        via: ``key``, ``proxy`` or ``none`` (auth off).
        key_id: the key's row id (None unless ``via == "key"``).
    """

    name: str
    role: str
    via: str
    key_id: int | None = None


class RateLimiter:
    """A token bucket per caller: ``per_minute`` tokens, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, seen = self._buckets.get(who, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - seen) * rate)
            if tokens < 1.0:
                self._buckets[who] = (tokens, now)
                return (1.0 - tokens) / rate
            self._buckets[who] = (tokens - 1.0, now)
            return 0.0


def worker_share(per_minute: int, workers: int) -> int:
    return 0 if per_minute <= 0 else max(1, math.ceil(per_minute / max(1, workers)))


def _bearer(request: Any) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key") or None


def _from_proxy(request: Any, config: Any) -> Principal | None:
    header = config.trusted_proxy_header
    if not header:
        return None
    user = request.headers.get(header)
    client = request.client.host if request.client else ""
    trusted = {a.strip() for a in config.trusted_proxies.split(",") if a.strip()}
    if not user or client not in trusted:
        return None
    return Principal(user.strip()[:200], "practitioner", "proxy")


async def authenticate(request: Any) -> Principal:
    """The request's Principal, or ApiError 401 (no key, unknown or revoked key)."""
    from starlette.concurrency import run_in_threadpool

    from fnrag.storage.keys import find_key

    service = request.app.state.service
    config = service.config
    if not config.auth:
        return Principal("local", "operator", "none")
    proxied = _from_proxy(request, config)
    if proxied is not None:
        return proxied
    key = _bearer(request)
    if key is None:
        raise ApiError(
            401,
            "no API key; send Authorization: Bearer KEY (an operator creates one with: "
            "fnrag keys create --name NAME --role practitioner)",
            "missing_api_key",
            {"WWW-Authenticate": "Bearer"},
        )
    found = await run_in_threadpool(find_key, service.db, key)
    if found is None:
        raise ApiError(
            401,
            "the API key is unknown or revoked; ask an operator for a new one",
            "invalid_api_key",
            {"WWW-Authenticate": "Bearer"},
        )
    return Principal(found.name, found.role, "key", found.id)


def require(role: str) -> Callable[[Any], Awaitable[Principal]]:
    """A FastAPI dependency: the caller, who must hold ``role`` or a higher one (else
    403), within the rate limit (else 429 with Retry-After)."""
    needed = ROLE_RANK[role]

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        request.state.principal = principal
        if ROLE_RANK.get(principal.role, 0) < needed:
            raise ApiError(
                403,
                f"this needs the {role} role; the key {principal.name!r} is a {principal.role}",
                "forbidden",
            )
        wait = request.app.state.service.limiter.take(f"{principal.via}:{principal.name}")
        if wait > 0:
            raise ApiError(
                429,
                f"rate limit exceeded; retry in {wait:.1f} s",
                "rate_limited",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        return principal

    return dependency


# Route parameters: ``principal: AsPractitioner`` (chat, search, feedback) or
# ``principal: AsOperator`` (reload, feedback export).
AsPractitioner = Annotated[Principal, Depends(require("practitioner"))]
AsOperator = Annotated[Principal, Depends(require("operator"))]
