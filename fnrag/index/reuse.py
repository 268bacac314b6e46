"""What a rebuild takes over from the previous index in the same folder: chunks of
unchanged files, and embeddings and token counts of unchanged indexed texts."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from fnrag.chunking.spans import ChunkConfig
from fnrag.embedders.base import same_embedder
from fnrag.errors import FnragError
from fnrag.index import store
from fnrag.index.bm25 import BM25Index
from fnrag.index.store import read_chunks
from fnrag.types import Chunk

# Bumped when chunking changes, so cached per-file chunks are not reused across versions.
CHUNKER_VERSION = 3


def previous_state(
    index_dir: Path,
    embedder_identity: dict[str, Any],
    verify_key: bytes | None = None,
    chunking: ChunkConfig | None = None,
) -> tuple[dict, dict, TermsByChunk]:
    """Chunks by source (with file sha), embeddings and term counts by chunk id.

    An unreadable previous index is simply not reused: the build replaces it. With a
    key, neither is one it does not verify: its chunks would be re-signed unchecked.
    """
    try:
        manifest = store.read_manifest(index_dir, verify_key=verify_key)
        paths = store.verify_files(index_dir, manifest)
        chunks = read_chunks(paths["chunks"])
    except FnragError:
        return {}, {}, TermsByChunk(None, {})
    by_source: dict[str, tuple[str, list[Chunk]]] = {}
    # Indexes from before chunk settings existed were cut with the defaults.
    recorded_cut = manifest.get("chunking") or asdict(ChunkConfig())
    if manifest.get("chunker_version") == CHUNKER_VERSION and recorded_cut == asdict(
        chunking or ChunkConfig()
    ):
        file_sha = {entry["source"]: entry["sha256"] for entry in manifest.get("sources", [])}
        for chunk in chunks:
            if chunk.source in file_sha:
                by_source.setdefault(chunk.source, (file_sha[chunk.source], []))[1].append(chunk)
    vectors: dict[str, np.ndarray] = {}
    # Reuse goes by what was embedded and tokenised, not by chunk id: an article a new
    # version of a law leaves unchanged is not embedded again.
    if same_embedder(embedder_identity, manifest.get("embedder") or {}):
        # Memory-mapped: rows are read when reused, not all at once.
        matrix = np.load(paths["embeddings"], mmap_mode="r", allow_pickle=False)
        vectors = {content_key(chunk): matrix[row] for row, chunk in enumerate(chunks)}
    bm25 = BM25Index.load(paths["bm25"], paths["bm25_vocab"])
    terms = TermsByChunk(bm25, {content_key(chunk): row for row, chunk in enumerate(chunks)})
    return by_source, vectors, terms


def content_key(chunk: Chunk) -> str:
    """What the embedder and the tokeniser saw of ``chunk``, as a short digest."""
    return hashlib.sha256(chunk.indexed_text.encode("utf-8")).hexdigest()[:24]


class TermsByChunk(dict[str, int]):
    """content key → its term counts in the previous index, computed when asked for.

    A Counter per chunk up front costs about 1 GB for a 50 MB source.
    """

    def __init__(self, bm25: BM25Index | None, rows: dict[str, int]) -> None:
        super().__init__(rows)
        self.bm25 = bm25

    def terms(self, key: str) -> list[str]:
        assert self.bm25 is not None  # rows are empty without one
        return list(self.bm25.doc_terms(self[key]).elements())
