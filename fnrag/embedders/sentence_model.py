"""Any sentence-transformers model, run with torch (and the offline switch it needs)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from fnrag.embedders.base import THREADS_ENV, BaseEmbedder, embed_threads
from fnrag.errors import missing_dependency


def _offline() -> None:
    # Models come only from PyPI packages and local folders: never wait on the hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


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
        self.threads = embed_threads()
        if os.environ.get(THREADS_ENV):
            # torch's thread count is the whole process's: change it only when asked.
            import torch

            torch.set_num_threads(self.threads)
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
        raise missing_dependency("sentence-transformers") from exc
    return SentenceTransformer(path_or_name, device=None)
