"""Building, loading and searching an fnrag index (FAISS + Kiwi-BM25, fused).

``build_index`` reuses whatever the previous index in the same directory already
computed: chunks of files whose sha256 did not change, and embeddings of chunks
whose id did not change (when the embedder is the same). Rebuilding after one
document changed therefore costs little more than that document.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fnrag import __version__, store
from fnrag.errors import EmbedderMismatchError, FnragError, IndexFormatError, InputError
from fnrag.fusion import FusionConfig, collapse_overlaps, section_article
from fnrag.lexical import BM25Index, tokenize, tokenize_many
from fnrag.retrieval import QueryPlan, candidate_boosts, plan_query, rank_candidates
from fnrag.types import Chunk, Hit

REPO_ROOT = Path(__file__).resolve().parent.parent
# Bumped when chunking changes, so cached per-file chunks are not reused across versions.
CHUNKER_VERSION = 1
MAX_QUERY_CHARS = 2000
SEARCH_MODES = ("hybrid", "dense", "lexical")


def sample_corpus_dir() -> Path:
    """The project's own sample practitioner guide (``index/sample``)."""
    return REPO_ROOT / "index" / "sample"


def default_index_dir() -> Path:
    """``$FNRAG_INDEX``, else ``index/default`` in the source tree."""
    configured = os.environ.get("FNRAG_INDEX")
    return Path(configured) if configured else REPO_ROOT / "index" / "default"


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
        chunks = _read_chunks(paths["chunks"])
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


def _read_chunks(path: Path) -> list[Chunk]:
    chunks = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            try:
                chunks.append(Chunk.from_dict(json.loads(line)))
            except (json.JSONDecodeError, TypeError, KeyError) as error:
                raise IndexFormatError(
                    f"{path}:{line_number} is not a valid chunk ({error}); rebuild the index"
                ) from None
    return chunks


def _unique_ids(chunks: list[Chunk]) -> list[Chunk]:
    """Identical title+section+text twice would collide; number the repeats."""
    from dataclasses import replace

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
    from fnrag.embeddings import load_embedder
    from fnrag.ingest import collect_sources, load_document

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


def load_index(path: str | os.PathLike[str] | None = None, embedder: str | None = None) -> Index:
    """Open an index directory, verifying format version and every checksum.

    Args:
        path: the index directory (default: ``default_index_dir()``).
        embedder: an embedder spec to use for queries; it must be the one the index
            was built with (else ``EmbedderMismatchError``). Default: the index's own.
    """
    index_dir = Path(path) if path is not None else default_index_dir()
    manifest = store.read_manifest(index_dir)
    paths = store.verify_files(index_dir, manifest)
    return Index(index_dir, manifest, paths, embedder)


class Index:
    """A loaded index; ``search`` is safe to call from many threads."""

    def __init__(
        self,
        index_dir: Path,
        manifest: dict[str, Any],
        paths: dict[str, Path],
        embedder: str | None,
    ) -> None:
        import faiss

        self.index_dir = index_dir
        self.manifest = manifest
        self.fusion = FusionConfig()
        self.chunks = _read_chunks(paths["chunks"])
        try:
            self.vectors = np.load(paths["embeddings"], allow_pickle=False)
            self.dense = faiss.read_index(str(paths["dense"]))
            self.bm25 = BM25Index.load(paths["bm25"], paths["bm25_vocab"])
        except (ValueError, RuntimeError, KeyError, OSError) as error:
            raise IndexFormatError(
                f"{index_dir} holds an unreadable data file ({error}); rebuild the index"
            ) from None
        counts = manifest.get("counts", {})
        if not (
            len(self.chunks)
            == self.vectors.shape[0]
            == self.dense.ntotal
            == self.bm25.n_docs
            == counts.get("chunks")
        ):
            raise IndexFormatError(f"{index_dir} has inconsistent file contents; rebuild the index")
        self._by_id = {chunk.chunk_id: chunk for chunk in self.chunks}
        self._spans = [(c.source, c.start, c.end) for c in self.chunks]
        self._articles = [section_article(c.section) for c in self.chunks]
        self._embedder_spec = embedder if embedder is not None else manifest.get("embedder_spec")
        self._embedder: Any = None
        self._embedder_lock = threading.Lock()
        if embedder is not None:
            self._load_embedder()

    @property
    def version(self) -> str:
        """The build id: changes with every build."""
        return str(self.manifest.get("build_id", ""))

    @property
    def embedder(self) -> Any:
        return self._embedder if self._embedder is not None else self._load_embedder()

    def _load_embedder(self) -> Any:
        from fnrag.embeddings import load_embedder

        with self._embedder_lock:
            if self._embedder is None:
                model = load_embedder(self._embedder_spec)
                expected = self.manifest.get("embedder", {})
                if model.identity() != expected:
                    raise EmbedderMismatchError(
                        f"the index at {self.index_dir} was built with embedder {expected.get('name')!r} "
                        f"(weights {str(expected.get('weights_sha256'))[:12]}), not {model.identity().get('name')!r} "
                        f"(weights {str(model.identity().get('weights_sha256'))[:12]}); search with the same "
                        "embedder or rebuild the index with this one"
                    )
                self._embedder = model
        return self._embedder

    def chunk(self, chunk_id: str) -> Chunk:
        try:
            return self._by_id[chunk_id]
        except KeyError:
            raise InputError(f"no chunk {chunk_id!r} in the index at {self.index_dir}") from None

    def __len__(self) -> int:
        return len(self.chunks)

    def search(self, query: str, k: int = 5, mode: str = "hybrid") -> list[Hit]:
        """The ``k`` best chunks for ``query``.

        Args:
            query: the question (Korean or mixed); at most 2,000 characters.
            k: how many hits to return.
            mode: ``hybrid`` (default), ``dense`` or ``lexical``.
        """
        query = _check_query(query)
        if mode not in SEARCH_MODES:
            raise InputError(f"unknown search mode {mode!r}; use one of {', '.join(SEARCH_MODES)}")
        if k < 1:
            raise InputError("k must be at least 1")
        k = min(k, len(self.chunks))
        if mode == "lexical":
            lexical = self.bm25.scores(tokenize(query))
            order = [int(i) for i in np.argsort(-lexical, kind="stable")[:k] if lexical[i] > 0]
            return [
                Hit.from_chunk(
                    self.chunks[i], rank, float(lexical[i]), lexical_score=float(lexical[i])
                )
                for rank, i in enumerate(order, start=1)
            ]
        if mode == "dense":
            query_vector = self._encode(query)
            scores, ids = self.dense.search(query_vector[None, :], k)
            return [
                Hit.from_chunk(self.chunks[int(i)], rank, float(s), dense_score=float(s))
                for rank, (s, i) in enumerate(zip(scores[0], ids[0], strict=True), start=1)
                if i >= 0
            ]
        return self._hybrid(plan_query(query, self.fusion.expansion_weight), k)

    def _encode(self, text: str) -> np.ndarray:
        return np.asarray(self.embedder.encode_queries([text])[0], dtype=np.float32)

    def _hybrid(self, plan: QueryPlan, k: int) -> list[Hit]:
        config = self.fusion
        n = min(config.candidates, len(self.chunks))
        query_vector = self._encode(plan.dense_text)
        lexical_all = self.bm25.scores(plan.terms)
        lexical_top = np.argsort(-lexical_all, kind="stable")[:n]
        _, dense_ids = self.dense.search(query_vector[None, :], n)
        candidates = np.array(
            sorted(
                {int(i) for i in lexical_top if lexical_all[i] > 0}
                | {int(i) for i in dense_ids[0] if i >= 0}
            ),
            dtype=np.int64,
        )
        dense = self.vectors[candidates] @ query_vector
        lexical = lexical_all[candidates]
        boosts = candidate_boosts(
            plan,
            config,
            [self._articles[int(i)] for i in candidates],
            [self.chunks[int(i)].title for i in candidates],
        )
        fused, order = rank_candidates(dense, lexical, boosts, config)
        position = {int(c): j for j, c in enumerate(candidates)}
        kept = collapse_overlaps([int(candidates[j]) for j in order], self._spans, k)
        return [
            Hit.from_chunk(
                self.chunks[i],
                rank,
                float(fused[position[i]]),
                dense_score=float(dense[position[i]]),
                lexical_score=float(lexical[position[i]]),
            )
            for rank, i in enumerate(kept, start=1)
        ]


def _check_query(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InputError(
            "the question is empty; ask something such as '실명확인을 생략할 수 있는 거래는?'"
        )
    if len(query) > MAX_QUERY_CHARS:
        raise InputError(
            f"the question is {len(query):,} characters long; keep it under {MAX_QUERY_CHARS:,} "
            "(ask about one case at a time)"
        )
    return query.strip()
