"""``ServeConfig``: every setting of ``fnrag serve``, with help text; the workers get it
as JSON in ``$FNRAG_SERVE_CONFIG``."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields

from fnrag.config import opt
from fnrag.errors import InputError

CONFIG_ENV = "FNRAG_SERVE_CONFIG"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class ServeConfig:
    """How ``fnrag serve`` runs."""

    index: str | None = opt(None, "index directory (default: $FNRAG_INDEX or index/default)")
    host: str = opt("127.0.0.1", "address to listen on")
    port: int = opt(8000, "port to listen on")
    db: str | None = opt(
        None, "database URL (default: $FNRAG_DB or sqlite:///$FNRAG_HOME/fnrag.db)"
    )
    workers: int = opt(1, "worker processes; each loads the read-only index from disk")
    generator: str = opt("extractive", "the generator answers are written with")
    k: int = opt(5, "passages retrieved per question (a request may ask for 1..20)")
    auth: bool = opt(True, "require an API key (off only on a loopback address)")
    rate_limit: int = opt(120, "requests per minute per key, all workers together (0: none)")
    max_body_bytes: int = opt(65_536, "largest request body accepted (413 above it)")
    max_concurrent: int = opt(4, "questions answered at once per worker (others wait)")
    embed_threads: int = opt(
        0,
        "threads each worker's embedder computes with (0: $FNRAG_EMBED_THREADS if set, "
        "else every core; cap it on a machine shared with other services)",
    )
    trusted_proxy_header: str = opt(
        "", "take the user from this header (set by the bank's SSO proxy); empty: off"
    )
    trusted_proxies: str = opt(
        "127.0.0.1", "comma-separated client addresses whose proxy header is trusted"
    )
    log_level: str = opt("info", "log level of the JSON logs")
    graceful_seconds: int = opt(30, "how long SIGTERM waits for requests in flight")
    drain_seconds: float = opt(
        6.0,
        "after SIGTERM (or when a reload replaces it) a worker keeps answering this long, "
        "closing each connection after its response, so no client sends on a closed one",
    )

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise InputError(f"--workers must be at least 1 (got {self.workers})")
        if not self.auth and self.host not in LOOPBACK:
            raise InputError(
                f"--no-auth serves without API keys and is allowed only on 127.0.0.1, not "
                f"{self.host}; create keys with: fnrag keys create --name NAME --role practitioner"
            )
        if self.embed_threads < 0:
            raise InputError(
                f"--embed-threads must be 0 (sized to the cores) or more (got {self.embed_threads})"
            )
        if self.max_body_bytes < 1024:
            raise InputError("--max-body-bytes must be at least 1024")

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeConfig:
        raw = os.environ.get(CONFIG_ENV)
        if not raw:
            return cls()
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(raw).items() if k in known})
