"""What one worker holds: the loaded index, its assistants, the database, the metrics.

A reload builds the new :class:`Loaded` completely (index, assistant, refusal
calibration) before it replaces the old one in a single assignment, so a request
answers wholly from one build: those in flight keep the ``Loaded`` they started with;
a build that fails to load leaves the old one serving.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fnrag.errors import InputError
from fnrag.service.auth import RateLimiter, worker_share
from fnrag.service.config import ServeConfig
from fnrag.service.metrics import Metrics

logger = logging.getLogger("fnrag.service")
MAX_K = 20
WARM_UP_QUESTION = "실명확인을 생략할 수 있는 거래는 무엇인가요?"


@dataclass
class Loaded:
    """One build of the index with the assistants made for it."""

    index: Any
    version: str
    loaded_at: float
    assistants: dict[tuple[str, int], Any] = field(default_factory=dict)


class ServiceState:
    """The worker's index, assistants, database, limiter and metrics."""

    def __init__(self, config: ServeConfig, db: Any, index: Any = None) -> None:
        self.config = config
        self.db = db
        self.metrics = Metrics()
        self.limiter = RateLimiter(worker_share(config.rate_limit, config.workers))
        self._given_index = index
        self._loaded: Loaded | None = None
        # Set when the worker has been told to stop: /readyz answers 503 and every
        # response closes its connection, until the worker stops accepting.
        self.draining = False
        self._reload_lock = threading.Lock()
        self._assistant_lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self._loaded is not None

    @property
    def loaded(self) -> Loaded:
        loaded = self._loaded
        if loaded is None:
            from fnrag.service.errors import ApiError

            raise ApiError(503, "the index is still loading; retry shortly", "not_ready")
        return loaded

    @property
    def index(self) -> Any:
        return self.loaded.index

    @property
    def index_version(self) -> str:
        return self.loaded.version

    def _load(self) -> Loaded:
        started = time.perf_counter()
        if self._given_index is not None and self._loaded is None:
            index = self._given_index
        else:
            from fnrag.index.search import load_index
            from fnrag.paths import default_index_dir

            # Resolved once: a folder that is a symlink to the current build may be
            # switched to the next while this load reads its files.
            folder = Path(self.config.index) if self.config.index else default_index_dir()
            index = load_index(folder.resolve())
        loaded = Loaded(index, str(getattr(index, "version", "")), time.time())
        assistant = self._make_assistant(loaded, self.config.generator, self.config.k)
        # One question before serving: the morpheme analyser, the embedder session and
        # the index's lazy parts load now, not in the first practitioner's request.
        assistant.ask(WARM_UP_QUESTION)
        logger.info(
            "index loaded",
            extra={
                "fields": {
                    "index_version": loaded.version,
                    "seconds": round(time.perf_counter() - started, 3),
                }
            },
        )
        return loaded

    def load(self) -> None:
        """Load the index (at startup)."""
        with self._reload_lock:
            self._loaded = self._load()
            self.metrics.index_version = self._loaded.version

    def reload(self) -> tuple[str, str]:
        """Load the build now in the index folder and switch to it; (old, new) versions."""
        with self._reload_lock:
            old = self._loaded.version if self._loaded else ""
            fresh = self._load()
            self._loaded = fresh  # one assignment: requests see the old or the new build
            self.metrics.index_version = fresh.version
            self.metrics.inc("fnrag_reloads_total", "Index reloads by this worker.")
            return old, fresh.version

    def _make_assistant(self, loaded: Loaded, generator: str, k: int) -> Any:
        from fnrag.answering.assistant import Assistant

        key = (generator, k)
        with self._assistant_lock:
            found = loaded.assistants.get(key)
            if found is None:
                found = loaded.assistants[key] = Assistant(loaded.index, generator, k=k, log=False)
            return found

    def assistant(
        self, generator: str | None = None, k: int | None = None, loaded: Loaded | None = None
    ) -> Any:
        """The Assistant for ``generator`` and ``k`` (default: the server's) on the current
        build (or on ``loaded``). Another generator than the server's may only be the
        extractive one (a model backend is configured when the server starts)."""
        loaded = loaded or self.loaded
        generator = generator or self.config.generator
        k = self.config.k if k is None else k
        if generator not in (self.config.generator, "extractive"):
            raise InputError(
                f"this server answers with {self.config.generator!r} (or 'extractive'); "
                f"start one with: fnrag serve --generator {generator}"
            )
        if not 1 <= k <= MAX_K:
            raise InputError(f"k must be between 1 and {MAX_K} (got {k})")
        return self._make_assistant(loaded, generator, k)
