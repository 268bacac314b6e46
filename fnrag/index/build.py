"""Building an index: ingest, chunk, embed, tokenise, write, commit.

``build_index`` reuses whatever the previous index in the same directory already
computed: chunks of files whose sha256 did not change, and embeddings of chunks
whose id did not change (when the embedder is the same). Rebuilding after one
document changed therefore costs little more than that document.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from fnrag import __version__
from fnrag.errors import FnragError, InputError
from fnrag.index import store
from fnrag.index.bm25 import BM25Index
from fnrag.index.store import read_chunks
from fnrag.korean.tokens import tokenize_many
from fnrag.paths import default_index_dir, sample_corpus_dir
from fnrag.types import Chunk

# Bumped when chunking changes, so cached per-file chunks are not reused across versions.
CHUNKER_VERSION = 2


@dataclass(frozen=True)
class FileReport:
    """What one source file contributed to a build.

    Attributes:
        source: the path as given to build-index.
        title: the document title.
        kind: which chunker handled it (statute, guide, text).
        chunks: number of chunks it yielded.
        reused: True when its chunks came unchanged from the previous index.
    """

    source: str
    title: str
    kind: str
    chunks: int
    reused: bool


@dataclass(frozen=True)
class BuildReport:
    """The outcome of ``build_index``.

    Attributes:
        index_dir: where the index was written.
        files: one report per ingested file, in build order.
        skipped: (path, reason) for files found in given directories but not ingested.
        chunks: total chunks in the index.
        embedded: chunks embedded in this build.
        reused_embeddings: chunks whose embedding came from the previous index.
        seconds: wall time per stage (ingest, embed, lexical, write, total).
        embedder: the embedder's identity.
    """

    index_dir: Path
    files: tuple[FileReport, ...]
    skipped: tuple[tuple[str, str], ...]
    chunks: int
    embedded: int
    reused_embeddings: int
    seconds: dict[str, float] = field(default_factory=dict)
    embedder: dict[str, Any] = field(default_factory=dict)


def _previous_state(index_dir: Path, embedder_identity: dict[str, Any]) -> tuple[dict, dict, dict]:
    """Chunks by source (with file sha), embeddings and term counts by chunk id.

    An unreadable previous index is simply not reused: the build replaces it.
    """
    try:
        manifest = store.read_manifest(index_dir)
        paths = store.verify_files(index_dir, manifest)
        chunks = read_chunks(paths["chunks"])
    except FnragError:
        return {}, {}, {}
    by_source: dict[str, tuple[str, list[Chunk]]] = {}
    if manifest.get("chunker_version") == CHUNKER_VERSION:
        file_sha = {entry["source"]: entry["sha256"] for entry in manifest.get("sources", [])}
        for chunk in chunks:
            if chunk.source in file_sha:
                by_source.setdefault(chunk.source, (file_sha[chunk.source], []))[1].append(chunk)
    vectors: dict[str, np.ndarray] = {}
    if manifest.get("embedder") == embedder_identity:
        matrix = np.load(paths["embeddings"], allow_pickle=False)
        vectors = {chunk.chunk_id: matrix[row] for row, chunk in enumerate(chunks)}
    bm25 = BM25Index.load(paths["bm25"], paths["bm25_vocab"])
    terms = {chunk.chunk_id: bm25.doc_terms(row) for row, chunk in enumerate(chunks)}
    return by_source, vectors, terms


def _unique_ids(chunks: list[Chunk]) -> list[Chunk]:
    """Identical title+section+text twice would collide; number the repeats."""
    seen: dict[str, int] = {}
    unique = []
    for chunk in chunks:
        count = seen.get(chunk.chunk_id, 0)
        seen[chunk.chunk_id] = count + 1
        unique.append(replace(chunk, chunk_id=f"{chunk.chunk_id}-{count + 1}") if count else chunk)
    return unique


def build_index(
    sources: Sequence[str | os.PathLike[str]] = (),
    out_dir: str | os.PathLike[str] | None = None,
    embedder: str | None = None,
    *,
    progress: bool = False,
    exact_search_limit: int = 50_000,
) -> BuildReport:
    """Ingest, chunk, embed and index ``sources`` into ``out_dir``, atomically.

    Args:
        sources: files or directories (PDF, Markdown, text); none builds the sample corpus.
        out_dir: the index directory (default: ``default_index_dir()``).
        embedder: embedder spec (default: the bundled multilingual-e5-small).
        progress: show progress bars on stderr.
        exact_search_limit: above this many chunks FAISS uses HNSW instead of exact search.

    Example:
        >>> report = build_index(["index/sample"], "/tmp/fnrag-idx")  # doctest: +SKIP
        >>> report.chunks  # doctest: +SKIP
        42
    """
    from fnrag.chunking import chunk_document
    from fnrag.embedders.factory import load_embedder
    from fnrag.ingest.sources import collect_sources, load_document

    started = time.perf_counter()
    index_dir = Path(out_dir) if out_dir is not None else default_index_dir()
    given = [str(s) for s in sources] or [str(sample_corpus_dir())]
    collected = collect_sources(given)
    files = list(collected)
    skipped = [(item.source, item.reason) for item in collected.skipped]
    if not files:
        raise InputError(
            f"no PDF, Markdown or text files found in {', '.join(given)}; give files or folders holding them"
        )
    model = load_embedder(embedder)
    identity = model.identity()
    seconds: dict[str, float] = {}
    with store.build_lock(index_dir):
        previous_chunks, previous_vectors, previous_terms = _previous_state(index_dir, identity)
        chunks: list[Chunk] = []
        reports: list[FileReport] = []
        sources_meta: list[dict[str, Any]] = []
        stage = time.perf_counter()
        for path, source in _progress(files, progress, "ingest"):
            digest = store.sha256_file(path)
            cached = previous_chunks.get(source)
            if cached is not None and cached[0] == digest:
                file_chunks, reused, title, kind = cached[1], True, cached[1][0].title, "cached"
            else:
                document = load_document(path, source)
                file_chunks, reused, title, kind = (
                    chunk_document(document),
                    False,
                    document.title,
                    document.kind,
                )
            chunks.extend(file_chunks)
            reports.append(FileReport(source, title, kind, len(file_chunks), reused))
            sources_meta.append(
                {
                    "source": source,
                    "sha256": digest,
                    "size": path.stat().st_size,
                    "title": title,
                    "chunks": len(file_chunks),
                }
            )
        chunks = _unique_ids(chunks)
        if not chunks:
            raise InputError("the sources yielded no text to index; check that they are not empty")
        seconds["ingest"] = time.perf_counter() - stage

        stage = time.perf_counter()
        missing = [i for i, c in enumerate(chunks) if c.chunk_id not in previous_vectors]
        vectors = np.zeros((len(chunks), model.dimension), dtype=np.float32)
        for i, chunk in enumerate(chunks):
            if chunk.chunk_id in previous_vectors:
                vectors[i] = previous_vectors[chunk.chunk_id]
        if missing:
            encoded = model.encode_passages(
                [chunks[i].indexed_text for i in missing], progress=progress
            )
            vectors[missing] = np.asarray(encoded, dtype=np.float32)
        seconds["embed"] = time.perf_counter() - stage

        stage = time.perf_counter()
        todo = [i for i, c in enumerate(chunks) if c.chunk_id not in previous_terms]
        fresh = dict(zip(todo, tokenize_many([chunks[i].indexed_text for i in todo]), strict=True))
        token_lists = [
            fresh[i] if i in fresh else list(previous_terms[c.chunk_id].elements())
            for i, c in enumerate(chunks)
        ]
        bm25 = BM25Index.from_token_lists(token_lists)
        seconds["lexical"] = time.perf_counter() - stage

        stage = time.perf_counter()
        manifest = _write(
            index_dir, chunks, vectors, bm25, identity, embedder, sources_meta, exact_search_limit
        )
        store.commit(index_dir, manifest)
        seconds["write"] = time.perf_counter() - stage
    seconds["total"] = time.perf_counter() - started
    return BuildReport(
        index_dir=index_dir,
        files=tuple(reports),
        skipped=tuple(skipped),
        chunks=len(chunks),
        embedded=len(missing),
        reused_embeddings=len(chunks) - len(missing),
        seconds=seconds,
        embedder=identity,
    )


def _progress(items: list, enabled: bool, label: str) -> Any:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=label, unit="file")


def _write(
    index_dir: Path,
    chunks: list[Chunk],
    vectors: np.ndarray,
    bm25: BM25Index,
    identity: dict[str, Any],
    embedder_spec: str | None,
    sources_meta: list[dict[str, Any]],
    exact_search_limit: int,
) -> dict[str, Any]:
    import faiss

    build_id = store.new_build_id()
    chunk_path = index_dir / f"chunks-{build_id}.jsonl"
    with open(chunk_path, "w", encoding="utf-8") as handle:
        for chunk in chunks:
            handle.write(json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
    embeddings_path = index_dir / f"embeddings-{build_id}.npy"
    with open(embeddings_path, "wb") as handle:
        np.save(handle, vectors, allow_pickle=False)
    dimension = vectors.shape[1]
    if len(chunks) > exact_search_limit:
        dense: Any = faiss.IndexHNSWFlat(dimension, 32, faiss.METRIC_INNER_PRODUCT)
        dense.hnsw.efConstruction = 80
        dense_kind = "hnsw"
    else:
        dense = faiss.IndexFlatIP(dimension)
        dense_kind = "flat"
    dense.add(vectors)
    dense_path = index_dir / f"dense-{build_id}.faiss"
    faiss.write_index(dense, str(dense_path))
    bm25_names = bm25.save(index_dir / f"bm25-{build_id}")
    for path in index_dir.glob(f"*{build_id}*"):
        with open(path, "rb+") as handle:
            os.fsync(handle.fileno())
    files = {
        "chunks": store.describe_file(chunk_path),
        "embeddings": store.describe_file(embeddings_path),
        "dense": store.describe_file(dense_path),
        "bm25": store.describe_file(index_dir / bm25_names["arrays"]),
        "bm25_vocab": store.describe_file(index_dir / bm25_names["vocabulary"]),
    }
    return {
        "format": "fnrag-index",
        "format_version": store.FORMAT_VERSION,
        "fnrag_version": __version__,
        "build_id": build_id,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "chunker_version": CHUNKER_VERSION,
        "embedder": identity,
        "embedder_spec": embedder_spec,
        "dense_index": dense_kind,
        "counts": {
            "chunks": len(chunks),
            "sources": len(sources_meta),
            "dimension": int(dimension),
            "vocabulary": len(bm25.vocabulary),
        },
        "sources": sources_meta,
        "files": files,
    }
