"""The baselines fnrag is measured against (issue 2 and 5).

* **LangChain quick-start**: files read whole (Markdown/text, front matter and all)
  or page by page (PDF via pypdf, one document per page), split with
  ``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)``, embedded
  with the *same* embedder object as the index under test, searched with an exact
  FAISS inner-product index. No section paths, no Korean morphology, no fusion.
* **Whitespace BM25**: Okapi BM25 (k1=1.5, b=0.75) over the same chunks, tokens
  split on whitespace only.

Both return :class:`fnrag.types.Hit` lists so the evaluation scores them exactly
like the real index. The lead's benchmark imports :func:`build_quickstart`.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fnrag.errors import IngestError, InputError, missing_extra
from fnrag.types import Chunk, Hit

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200
TEXT_SUFFIXES = frozenset({".md", ".markdown", ".txt"})
PDF_SUFFIXES = frozenset({".pdf"})


def collect_files(sources: Sequence[str | Path]) -> list[tuple[Path, str]]:
    """Files to index with their display source (a directory's files are given as
    ``dir/relative/path``, the same convention as ``fnrag build-index``)."""
    found: list[tuple[Path, str]] = []
    for given in sources:
        path = Path(given)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in TEXT_SUFFIXES | PDF_SUFFIXES:
                    relative = child.relative_to(path).as_posix()
                    found.append((child, f"{Path(given).as_posix().rstrip('/')}/{relative}"))
        elif path.is_file():
            found.append((path, Path(given).as_posix()))
        else:
            raise InputError(f"source {given} does not exist; pass existing files or directories")
    if not found:
        raise InputError("no .md, .txt or .pdf files among the sources; pass the corpus files")
    return found


def _pages(path: Path) -> list[tuple[int | None, str]]:
    """The quick-start loaders: whole text files, PDFs one page per document."""
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        try:
            return [(None, path.read_text(encoding="utf-8"))]
        except (OSError, UnicodeDecodeError) as error:
            raise IngestError(
                f"cannot read {path} as UTF-8 text ({error}); fix or remove it"
            ) from None
    if suffix in PDF_SUFFIXES:
        from pypdf import PdfReader

        try:
            reader = PdfReader(str(path))
            return [(i, page.extract_text() or "") for i, page in enumerate(reader.pages, 1)]
        except Exception as error:  # pypdf raises many types on broken files
            raise IngestError(f"cannot read PDF {path} ({error}); check the file") from None
    raise InputError(f"unsupported file type {path.suffix!r} for {path}; use .md, .txt or .pdf")


def quickstart_chunks(sources: Sequence[str | Path]) -> list[Chunk]:
    """Split the sources the LangChain quick-start way (1000/200 characters)."""
    try:
        from langchain_text_splitters import RecursiveCharacterTextSplitter
    except ImportError:
        raise missing_extra("langchain-text-splitters", "eval") from None
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True
    )
    chunks: list[Chunk] = []
    for path, source in collect_files(sources):
        for page, text in _pages(path):
            for piece in splitter.create_documents([text]):
                start = int(piece.metadata.get("start_index", -1))
                body = piece.page_content
                digest = hashlib.sha256(f"{source}\0{page}\0{start}\0{body}".encode()).hexdigest()
                chunks.append(
                    Chunk(
                        chunk_id=f"qs-{digest[:16]}",
                        source=source,
                        title=path.stem,
                        section="",
                        text=body,
                        start=max(start, 0),
                        end=max(start, 0) + len(body),
                        page=page,
                        pages=(page,) if page is not None else (),
                    )
                )
    return chunks


@dataclass(frozen=True)
class QuickstartIndex:
    """The quick-start FAISS index.

    Attributes:
        chunks: the 1000/200 chunks, in FAISS row order.
        embedder: the embedder shared with the index under test.
        faiss_index: a ``faiss.IndexFlatIP`` over the passage embeddings.
        build_seconds: wall time to read, split, embed and index.
        embed_seconds: the embedding part of ``build_seconds``.
    """

    chunks: tuple[Chunk, ...]
    embedder: Any
    faiss_index: Any
    build_seconds: float
    embed_seconds: float

    def search(self, query: str, k: int = 5, as_of: object = None) -> list[Hit]:
        """Top-``k`` chunks by inner product of the query and passage embeddings.
        ``as_of`` is ignored: a quick-start index knows no law versions (which is what
        it is measured against)."""
        if k < 1 or not self.chunks:
            return []
        vector = np.ascontiguousarray(self.embedder.encode_queries([query]), dtype=np.float32)
        scores, rows = self.faiss_index.search(vector, min(k, len(self.chunks)))
        hits: list[Hit] = []
        for score, row in zip(scores[0], rows[0], strict=True):
            if row < 0:
                continue
            chunk = self.chunks[int(row)]
            hits.append(
                Hit.from_chunk(chunk, len(hits) + 1, float(score), dense_score=float(score))
            )
        return hits


def build_quickstart(
    sources: Sequence[str | Path], embedder: Any, *, progress: bool = False
) -> QuickstartIndex:
    """Build the LangChain quick-start baseline over ``sources`` with ``embedder``."""
    try:
        import faiss
    except ImportError:
        raise missing_extra("faiss-cpu", "eval") from None
    started = time.perf_counter()
    chunks = quickstart_chunks(sources)
    if not chunks:
        raise IngestError("the sources hold no text to index; check the files")
    embed_started = time.perf_counter()
    vectors = embedder.encode_passages([c.text for c in chunks], progress=progress)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    embed_seconds = time.perf_counter() - embed_started
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return QuickstartIndex(
        chunks=tuple(chunks),
        embedder=embedder,
        faiss_index=index,
        build_seconds=time.perf_counter() - started,
        embed_seconds=embed_seconds,
    )


class WhitespaceBM25:
    """Okapi BM25 over whitespace tokens (the naive lexical baseline).

    ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))`` (never negative);
    ``score(q, d) = sum over query tokens t (repeats count) of
    idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * |d| / avgdl))``.
    Ties keep chunk order.
    """

    def __init__(self, chunks: Sequence[Chunk], k1: float = 1.5, b: float = 0.75) -> None:
        self.chunks = tuple(chunks)
        self.k1 = k1
        self.b = b
        docs = [c.text.split() for c in self.chunks]
        self.lengths = np.array([len(d) for d in docs], dtype=np.float64)
        self.avgdl = float(self.lengths.mean()) if len(docs) and self.lengths.sum() else 1.0
        # Posting lists: term -> (row indices, term frequencies); dense matrices
        # would be chunks x vocabulary, far larger than needed.
        counts: dict[str, dict[int, int]] = {}
        for row, tokens in enumerate(docs):
            for token in tokens:
                counts.setdefault(token, {}).setdefault(row, 0)
                counts[token][row] += 1
        n = len(docs)
        self.postings: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
        for term, rows in counts.items():
            df = len(rows)
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            self.postings[term] = (
                np.fromiter(rows.keys(), dtype=np.int64, count=df),
                np.fromiter(rows.values(), dtype=np.float64, count=df),
                idf,
            )

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for ``query``."""
        total = np.zeros(len(self.chunks), dtype=np.float64)
        norm = self.k1 * (1.0 - self.b + self.b * self.lengths / self.avgdl)
        for token in query.split():
            posting = self.postings.get(token)
            if posting is None:
                continue
            rows, tf, idf = posting
            total[rows] += idf * tf * (self.k1 + 1.0) / (tf + norm[rows])
        return total

    def search(self, query: str, k: int = 5, as_of: object = None) -> list[Hit]:
        """Top-``k`` chunks with a positive score, best first (``as_of`` ignored, as
        by the quick-start baseline)."""
        if k < 1 or not self.chunks:
            return []
        scores = self.scores(query)
        order = np.argsort(-scores, kind="stable")[:k]
        return [
            Hit.from_chunk(
                self.chunks[int(row)], rank, float(scores[row]), lexical_score=float(scores[row])
            )
            for rank, row in enumerate((r for r in order if scores[r] > 0), start=1)
        ]
