"""A tiny numpy-only embedder for fast tests: hashed words and character n-grams."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

import numpy as np

from fnrag.embedders.base import BaseEmbedder

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
        self.family = "hashing"
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
