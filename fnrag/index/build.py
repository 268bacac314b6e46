"""Building an index: ingest, chunk, embed, tokenise, write, commit.

``build_index`` reuses whatever the previous index in the same directory already
computed: chunks of files whose sha256 did not change, and embeddings and tokens of
chunks whose indexed text did not change (when the embedder is the same). Rebuilding
after one document changed, or after adding a new version of a law, therefore costs
little more than the articles that changed. Versions of one law are linked into a
chain (``fnrag.versions.chains``) over every chunk of the build.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from fnrag.chunking.spans import ChunkConfig
from fnrag.errors import InputError
from fnrag.index import signing, store
from fnrag.index.bm25 import BM25Index
from fnrag.index.progress import Progress
from fnrag.index.reuse import CHUNKER_VERSION, TermsByChunk, content_key, previous_state
from fnrag.korean.tokens import tokenize_many
from fnrag.paths import VERSION, default_index_dir, sample_corpus_dir
from fnrag.types import Chunk
from fnrag.versions.chains import link_versions, version_chains
from fnrag.versions.dates import parse_date

# Chunks per embedder / Kiwi call: large enough to batch well, small enough that a
# 50 MB source never holds all its intermediates at once.
EMBED_BATCH = 1024
TOKENIZE_BATCH = 512


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
        notes: one-line remarks for the user (e.g. a stale build lock taken over).
    """

    index_dir: Path
    files: tuple[FileReport, ...]
    skipped: tuple[tuple[str, str], ...]
    chunks: int
    embedded: int
    reused_embeddings: int
    seconds: dict[str, float] = field(default_factory=dict)
    embedder: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


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
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] = (),
    out_dir: str | os.PathLike[str] | None = None,
    embedder: str | None = None,
    *,
    progress: bool = False,
    exact_search_limit: int = 50_000,
    sign_key: signing.KeySource | None = None,
    chunking: ChunkConfig | None = None,
    effective_from: Any = None,
) -> BuildReport:
    """Ingest, chunk, embed and index ``sources`` into ``out_dir``, atomically.

    Args:
        sources: one file or directory, or several (PDF, Markdown, text); none builds
            the sample corpus. A symbolic link to a folder inside a directory is skipped.
        out_dir: the index directory (default: ``default_index_dir()``).
        embedder: embedder spec (default: the bundled multilingual-e5-small).
        progress: show progress on stderr while reading, chunking, embedding and
            tokenising (tqdm bars on a terminal, timed lines in a log or pipe).
        exact_search_limit: above this many chunks FAISS uses HNSW instead of exact search.
        chunking: how documents are cut (default: ``ChunkConfig()``, the calibrated
            700 characters); recorded in the manifest, so a change re-chunks every file.
        sign_key: sign the manifest with this HMAC key (a key file's path, or the key's
            bytes; at least 32 random bytes). Default: the file ``$FNRAG_INDEX_KEY`` names,
            else unsigned. With a key, a previous index is reused only if it verifies.
        effective_from: a date (``datetime.date`` or ISO) for statutes that state no
            시행일자 (plain-text or PDF laws): they become versions in force from it. A
            ``FILE.meta.yaml`` sidecar dates one file; this dates all undated statutes.

    Example:
        >>> report = build_index(["index/sample"], "/tmp/fnrag-idx")  # doctest: +SKIP
        >>> report.chunks  # doctest: +SKIP
        42
    """
    from fnrag.chunking import chunk_document
    from fnrag.embedders.factory import load_embedder, looks_like_path
    from fnrag.ingest.collect import collect_sources, source_paths
    from fnrag.ingest.sources import load_document

    started = time.perf_counter()
    dated = parse_date(effective_from, what="effective_from").isoformat() if effective_from else ""
    cut = chunking or ChunkConfig()
    index_dir = _index_dir(out_dir)
    key = signing.resolve_key(sign_key)
    given = [os.fspath(s) for s in source_paths(sources)] or [str(sample_corpus_dir())]
    collected = collect_sources(given)
    files = list(collected)  # never empty: collect_sources raises when nothing is found
    skipped = [(item.source, item.reason) for item in collected.skipped]
    store.check_out_dir(index_dir)
    model = load_embedder(embedder)
    # The manifest's spec is how search finds the model again, from any directory.
    if embedder and looks_like_path(embedder):
        embedder = str(Path(embedder).expanduser().resolve())
    identity = model.identity()
    seconds: dict[str, float] = {}
    shown = Progress(progress)
    with store.build_lock(index_dir) as lock_note:
        notes = [lock_note] if lock_note else []
        previous_chunks, previous_vectors, previous_terms = previous_state(
            index_dir, identity, key, cut
        )
        chunks: list[Chunk] = []
        reports: list[FileReport] = []
        sources_meta: list[dict[str, Any]] = []
        stage = time.perf_counter()
        for path, source in shown.files(files):
            digest = _source_digest(path, dated)
            cached = previous_chunks.get(source)
            if cached is not None and cached[0] == digest:
                file_chunks, reused, title, kind = cached[1], True, cached[1][0].title, "cached"
            else:
                document = load_document(path, source)
                if dated and document.kind == "statute" and not document.effective_date:
                    document = replace(document, metadata={**document.metadata, "시행일자": dated})
                    notes.append(f"{source} states no 시행일자: dated {dated} (effective_from)")
                file_chunks, reused, title, kind = (
                    chunk_document(document, cut.max_chars, include_chapters=cut.include_chapters),
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
        chunks, version_notes = link_versions(_unique_ids(chunks))
        notes.extend(version_notes)
        if not chunks:
            raise InputError("the sources yielded no text to index; check that they are not empty")
        seconds["ingest"] = time.perf_counter() - stage

        build_id = store.new_build_id()
        store.begin_build(index_dir, build_id)  # before its first file: see store.commit

        stage = time.perf_counter()
        embeddings_path = index_dir / f"embeddings-{build_id}.npy"
        vectors, missing = _embed(model, chunks, previous_vectors, embeddings_path, shown)
        seconds["embed"] = time.perf_counter() - stage

        stage = time.perf_counter()
        # from_token_lists reads each list once, in order: a generator keeps one batch alive.
        tokens = _token_lists(chunks, previous_terms, shown)
        bm25 = BM25Index.from_token_lists(tokens)
        seconds["lexical"] = time.perf_counter() - stage

        stage = time.perf_counter()
        shown.stage(f"writing the index into {index_dir}")
        data_files, dense_kind = store.write_data_files(
            index_dir, build_id, chunks, vectors, bm25, exact_search_limit
        )
        manifest = _manifest(
            build_id,
            chunks,
            vectors,
            bm25,
            identity,
            embedder,
            sources_meta,
            cut,
            data_files,
            dense_kind,
        )
        provenance = _embedder_provenance(embedder)
        if provenance:
            manifest["embedder_provenance"] = provenance
        store.commit(index_dir, manifest, sign_key=key)
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
        notes=tuple(notes),
    )


def _source_digest(path: Path, dated: str = "") -> str:
    """The file's sha256, combined with its ``FILE.meta.yaml`` sidecar's when there is
    one and with an ``effective_from`` date: a corrected 시행일자 must re-read the file."""
    from fnrag.ingest.sources import sidecar_path

    digest = store.sha256_file(path)
    side = sidecar_path(Path(path))
    if side.is_file():
        digest = hashlib.sha256(f"{digest}:{store.sha256_file(side)}".encode()).hexdigest()
    if dated:
        digest = hashlib.sha256(f"{digest}:effective_from={dated}".encode()).hexdigest()
    return digest


def _index_dir(out_dir: str | os.PathLike[str] | None) -> Path:
    if out_dir is None:
        return default_index_dir()
    if not isinstance(out_dir, str | os.PathLike) or isinstance(os.fspath(out_dir), bytes):
        raise InputError(f"out_dir {out_dir!r} is not a folder path; pass a str or pathlib.Path")
    if not os.fspath(out_dir).strip():
        raise InputError("out_dir is empty; give the folder to write the index into")
    return Path(out_dir)


def _embed(
    model: Any,
    chunks: list[Chunk],
    previous: dict[str, np.ndarray],
    path: Path,
    shown: Progress,
) -> tuple[np.ndarray, list[int]]:
    """Embed the chunks the previous index lacks, in batches, straight into ``path``.

    The vectors go into a memory-mapped ``.npy`` as each batch finishes, so no list
    of every text or every intermediate array is held.
    """
    vectors = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.float32, shape=(len(chunks), model.dimension)
    )
    missing = []
    for i, chunk in enumerate(chunks):
        key = content_key(chunk)
        if key in previous:
            vectors[i] = previous[key]
        else:
            missing.append(i)
    bar = shown.bar("embedding", len(missing), "chunks")
    for start in range(0, len(missing), EMBED_BATCH):
        rows = missing[start : start + EMBED_BATCH]
        vectors[rows] = model.encode_passages([chunks[i].indexed_text for i in rows])
        bar.update(len(rows))
    bar.close()
    vectors.flush()
    return vectors, missing


def _token_lists(
    chunks: list[Chunk], previous: TermsByChunk, shown: Progress
) -> Iterator[list[str]]:
    """Each chunk's search tokens, in order: Kiwi in batches, or the previous index's.

    One Kiwi call over every chunk holds a Python object per morpheme of the whole
    corpus at once (over 4 GB for a 50 MB text); batches keep that bounded.
    """
    bar = shown.bar("tokenising", len(chunks), "chunks")
    for start in range(0, len(chunks), TOKENIZE_BATCH):
        batch = chunks[start : start + TOKENIZE_BATCH]
        keys = [content_key(c) for c in batch]
        todo = [c.indexed_text for c, key in zip(batch, keys, strict=True) if key not in previous]
        fresh = iter(tokenize_many(todo))
        for key in keys:
            yield previous.terms(key) if key in previous else next(fresh)
        bar.update(len(batch))
    bar.close()


def _embedder_provenance(spec: str | None) -> dict[str, Any]:
    """Base model and training-data hash of a folder that training.retriever wrote."""
    if not spec or not Path(spec).is_dir():
        return {}
    try:
        declared = json.loads((Path(spec) / "fnrag_embedder.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    keys = ("base_model", "base_weights_sha256", "training_data_sha256", "trained_pairs", "refusal")
    return {k: declared[k] for k in keys if isinstance(declared, dict) and k in declared}


def _manifest(
    build_id: str,
    chunks: list[Chunk],
    vectors: np.ndarray,
    bm25: BM25Index,
    identity: dict[str, Any],
    embedder_spec: str | None,
    sources_meta: list[dict[str, Any]],
    chunking: ChunkConfig,
    files: dict[str, dict[str, Any]],
    dense_kind: str,
) -> dict[str, Any]:
    dimension = vectors.shape[1]
    return {
        "format": "fnrag-index",
        "format_version": store.FORMAT_VERSION,
        "fnrag_version": VERSION,
        "build_id": build_id,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "chunker_version": CHUNKER_VERSION,
        "chunking": asdict(chunking),
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
        "versions": version_chains(chunks),
        "files": files,
    }
