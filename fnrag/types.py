"""Frozen result and record types shared by every fnrag module."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Longest question search() and ask() accept: one limit for both.
MAX_QUESTION_CHARS = 2000


@dataclass(frozen=True)
class Page:
    """One page of extracted text.

    Attributes:
        index: 1-based page index inside the file (PDF page number).
        printed: the page number(s) the page prints itself, e.g. ``(218, 219)``
            for a sheet holding two printed pages; empty when none is printed.
        text: the page's text, running headers and footers removed.
    """

    index: int
    printed: tuple[int, ...]
    text: str


@dataclass(frozen=True)
class Document:
    """A source file turned into text.

    Attributes:
        source: the file path as given to build-index (or relative to a given
            directory, prefixed by that directory).
        title: the document title (front matter 제목, PDF metadata, first heading
            or the file stem).
        kind: ``"statute"``, ``"guide"`` or ``"text"``: which chunker applies.
        text: the whole extracted text; chunk spans index into it.
        pages: for PDFs, the pages with their offsets in ``text`` (``page_starts``).
        page_starts: character offset in ``text`` where each page begins.
        metadata: front matter and PDF metadata (공포일자, 시행일자, …) as strings.
        sha256: hex digest of the raw file bytes.
    """

    source: str
    title: str
    kind: str
    text: str
    pages: tuple[Page, ...] = ()
    page_starts: tuple[int, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    sha256: str = ""

    @property
    def effective_date(self) -> str | None:
        """The 시행일자 when the document states one."""
        return self.metadata.get("시행일자") or None


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage that knows exactly where it came from.

    Attributes:
        chunk_id: stable id derived from the chunk's title, section and text.
        source: file path as given to build-index.
        title: document title.
        section: section path, e.g. ``금융실명거래 및 비밀보장에 관한 법률 > 제4조의2
            (거래정보등의 제공사실의 통보) > ②``.
        text: the passage, verbatim from the extracted document text.
        start: character offset of ``text`` in ``Document.text``.
        end: end offset (exclusive) in ``Document.text``.
        page: the (printed, when known) page the chunk starts on; None for
            documents without pages.
        pages: every page the chunk spans (same numbering as ``page``).
        effective_date: the document's 시행일자 when known.
    """

    chunk_id: str
    source: str
    title: str
    section: str
    text: str
    start: int
    end: int
    page: int | None = None
    pages: tuple[int, ...] = ()
    effective_date: str | None = None

    @property
    def indexed_text(self) -> str:
        """What the embedder and the lexical index see: section path, then text."""
        return f"{self.section}\n{self.text}" if self.section else self.text

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pages"] = list(self.pages)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chunk:
        values = dict(data)
        values["pages"] = tuple(values.get("pages") or ())
        return cls(**values)


@dataclass(frozen=True)
class Hit:
    """One search result.

    Attributes:
        rank: 1-based position in the result list.
        score: fused relevance score (higher is better; comparable within one query).
        chunk_id, source, title, page, pages, section, text: copied from the chunk.
        start, end: the chunk's character span in its document's extracted text.
        effective_date: the document's 시행일자 when known.
        dense_score: cosine similarity from the embedder (None if not retrieved densely).
        lexical_score: BM25 score (None if not retrieved lexically).
    """

    rank: int
    score: float
    chunk_id: str
    source: str
    title: str
    page: int | None
    pages: tuple[int, ...]
    section: str
    text: str
    start: int = 0
    end: int = 0
    effective_date: str | None = None
    dense_score: float | None = None
    lexical_score: float | None = None

    @classmethod
    def from_chunk(cls, chunk: Chunk, rank: int, score: float, **scores: float | None) -> Hit:
        return cls(
            rank=rank,
            score=score,
            chunk_id=chunk.chunk_id,
            source=chunk.source,
            title=chunk.title,
            page=chunk.page,
            pages=chunk.pages,
            section=chunk.section,
            text=chunk.text,
            start=chunk.start,
            end=chunk.end,
            effective_date=chunk.effective_date,
            dense_score=scores.get("dense_score"),
            lexical_score=scores.get("lexical_score"),
        )

    def to_json(self) -> dict[str, Any]:
        """The public JSON shape of a hit (``fnrag search --json``)."""
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "chunk_id": self.chunk_id,
            "source": self.source,
            "title": self.title,
            "page": self.page,
            "pages": list(self.pages),
            "section": self.section,
            "text": self.text,
        }
