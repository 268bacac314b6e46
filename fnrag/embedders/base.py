"""The embedder interface: identity recorded in an index, prefixes, normalisation, weight hash."""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from fnrag.errors import InputError
from fnrag.files import sha256_file, write_file_atomic
from fnrag.paths import fnrag_home

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx")
THREADS_ENV = "FNRAG_EMBED_THREADS"


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, else every core)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def embed_threads() -> int:
    """Threads one embedder computes with: ``$FNRAG_EMBED_THREADS``, else every core.

    Set it (or ``fnrag serve --embed-threads``) to keep fnrag to part of a machine it
    shares. Dividing the cores among serve workers did not raise throughput: two workers
    on 2 cores answered 66.8 answers/s with one thread each and 68.8 with two
    (benchmarks/RESULTS.md).
    """
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return available_cores()
    try:
        threads = int(raw)
    except ValueError:
        threads = 0
    if threads < 1:
        raise InputError(
            f"${THREADS_ENV} must be a whole number of threads, at least 1 (got {raw!r}); "
            "unset it to use every core"
        )
    return threads


@dataclass(frozen=True)
class EmbedderIdentity:
    """What an index records about its embedder, and checks on load.

    Attributes:
        name: model name (the default's name, a folder's base name, or a hub id).
        dimension: vector length.
        query_prefix: text put before every query (e5: ``"query: "``).
        passage_prefix: text put before every passage (e5: ``"passage: "``).
        weights_sha256: hash of the model's weight files (empty for hashing).
        backend: ``"torch"``, ``"onnx"``, ``"onnx-int8"`` or ``"numpy"``.
        family: the model family, which decides what is calibrated for it: ``"e5"``
            (the refusal thresholds on cosines are calibrated on e5), ``"hashing"`` or
            ``"sentence-transformers"`` (any other model).
        prefix_scheme: where the prefixes come from: ``"e5"`` (``query: ``/``passage: ``),
            ``"prompts"`` (the model folder's own prompts), ``"custom"`` (given by the
            caller) or ``"none"``.
    """

    name: str
    dimension: int
    query_prefix: str
    passage_prefix: str
    weights_sha256: str
    backend: str
    family: str = "sentence-transformers"
    prefix_scheme: str = "none"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, recorded: dict[str, Any]) -> EmbedderIdentity:
        """An identity from an index manifest; manifests written before ``family``
        existed get it from their prefixes (e5's are unmistakable)."""
        fields = {k: recorded[k] for k in CORE_IDENTITY if k in recorded}
        e5 = recorded.get("query_prefix") == E5_PREFIXES[0]
        fields["family"] = recorded.get("family") or (
            "hashing" if recorded.get("backend") == "numpy" else "e5" if e5 else cls.family
        )
        fields["prefix_scheme"] = recorded.get("prefix_scheme") or ("e5" if e5 else "none")
        return cls(**fields)


CORE_IDENTITY = ("name", "dimension", "query_prefix", "passage_prefix", "weights_sha256", "backend")
E5_PREFIXES = ("query: ", "passage: ")


def same_embedder(current: dict[str, Any], recorded: dict[str, Any]) -> bool:
    """Whether vectors of ``current`` are comparable with an index that ``recorded``:
    every field the index recorded must match (older indexes record fewer)."""
    if any(key not in recorded for key in CORE_IDENTITY):
        return False
    return all(current.get(key) == value for key, value in recorded.items())


@runtime_checkable
class Embedder(Protocol):
    """The interface the index and the evaluation code rely on."""

    name: str
    dimension: int

    def identity(self) -> dict[str, Any]: ...

    def encode_queries(
        self, texts: Sequence[str], batch_size: int = 32, progress: bool = False
    ) -> np.ndarray: ...

    def encode_passages(
        self, texts: Sequence[str], batch_size: int = 32, progress: bool = False
    ) -> np.ndarray: ...


class BaseEmbedder(ABC):
    """Adds the prefixes and checks inputs; subclasses only implement ``_encode``."""

    name: str
    dimension: int
    query_prefix: str = ""
    passage_prefix: str = ""
    weights_sha256: str = ""
    backend: str = ""
    #: Threads the model computes with (``embed_threads()``; 1 for the numpy hashing one).
    threads: int = 1
    family: str = "sentence-transformers"
    prefix_scheme: str = "none"
    #: What to pass to ``load_embedder`` to get this embedder back.
    spec: str = ""

    def identity(self) -> dict[str, Any]:
        return EmbedderIdentity(
            name=self.name,
            dimension=self.dimension,
            query_prefix=self.query_prefix,
            passage_prefix=self.passage_prefix,
            weights_sha256=self.weights_sha256,
            backend=self.backend,
            family=self.family,
            prefix_scheme=self.prefix_scheme,
        ).as_dict()

    def encode_queries(
        self, texts: Sequence[str], batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        return self._run(texts, self.query_prefix, batch_size, progress)

    def encode_passages(
        self, texts: Sequence[str], batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        return self._run(texts, self.passage_prefix, batch_size, progress)

    def _run(
        self, texts: Sequence[str], prefix: str, batch_size: int, progress: bool
    ) -> np.ndarray:
        if isinstance(texts, str):
            raise InputError("encode_* takes a list of texts, not one string; wrap it: [text]")
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vecs = self._encode([prefix + t for t in texts], batch_size, progress)
        return _l2_normalise(np.asarray(vecs, dtype=np.float32))

    @abstractmethod
    def _encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        """Embed already-prefixed texts; may return unnormalised rows."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, backend={self.backend!r})"


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    # An all-zero row (hashing of a text with no features) stays zero, not NaN.
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


def weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)


def weights_sha256(folder: Path) -> str:
    """One sha256 over a model folder's weight files (relative path + content hash).

    Hashing hundreds of MB costs about a second, so each file's digest is cached
    under ``$FNRAG_HOME/cache`` keyed by path, size and mtime.
    """

    cache_file = fnrag_home() / "cache" / "weights-sha256.json"
    try:
        cache: dict[str, Any] = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    changed = False
    total = hashlib.sha256()
    for path in weight_files(folder):
        st = path.stat()
        key = str(path.resolve())
        stamp = [st.st_size, st.st_mtime_ns]
        entry = cache.get(key)
        if not (isinstance(entry, dict) and entry.get("stamp") == stamp):
            entry = {"stamp": stamp, "sha256": sha256_file(path)}
            cache[key] = entry
            changed = True
        total.update(f"{path.relative_to(folder).as_posix()}\0{entry['sha256']}\n".encode())
    if changed:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            write_file_atomic(cache_file, json.dumps(cache).encode("utf-8"))
        except OSError:
            pass  # a read-only home only loses the cache, not correctness
    return total.hexdigest()
