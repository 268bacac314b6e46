"""Split documents into chunks that follow the document's own structure.

Statutes go by 조 (article), long articles by 항 then 호 (see
:mod:`fnrag.chunking.statute`); guide-style prose goes by its headings and case
boxes (:mod:`fnrag.chunking.guide`). Every chunk's text is ``doc.text[start:end]`` verbatim, so a
citation can always point at the exact characters it quotes.
"""

from __future__ import annotations

import bisect
import hashlib

from fnrag.chunking.guide import guide_spans
from fnrag.chunking.spans import DEFAULT_MAX_CHARS
from fnrag.chunking.statute import statute_spans
from fnrag.text import trim
from fnrag.types import Chunk, Document
from fnrag.versions.chains import article_dates, document_version


def chunk_document(
    doc: Document, max_chars: int = DEFAULT_MAX_CHARS, *, include_chapters: bool = False
) -> list[Chunk]:
    """Split a document into chunks.

    Args:
        doc: the document (``doc.kind`` picks the statute or the prose chunker).
        max_chars: target maximum characters per chunk.
        include_chapters: put 장/절 headings of statutes into the section path.

    Returns:
        Chunks in document order; ``chunk.text == doc.text[chunk.start:chunk.end]``.
    """
    if doc.kind == "statute":
        spans = statute_spans(doc.text, doc.title, max_chars, include_chapters=include_chapters)
    else:
        spans = guide_spans(doc.text, doc.title, max_chars)
    version = document_version(doc)
    own_dates = article_dates(doc)
    # Two versions of a law share most article texts: the version's date keeps their
    # chunk ids apart (undated documents keep the ids they always had).
    dated = f"\n@{version.effective_from}" if version.effective_from else ""
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for span in spans:
        start, end = trim(doc.text, span.start, span.end)
        if start >= end:
            continue
        text = doc.text[start:end]
        section = " > ".join((doc.title, *span.section)) if doc.title else " > ".join(span.section)
        chunk_id = _chunk_id(doc.title, section, text + dated)
        if chunk_id in seen:  # identical text under an identical heading: keep ids unique
            chunk_id = _chunk_id(doc.title, section, f"{text}\n@{start}{dated}")
        seen.add(chunk_id)
        page, pages, pdf_pages = _pages(doc, start, end)
        chunks.append(
            Chunk(
                chunk_id=chunk_id,
                source=doc.source,
                title=doc.title,
                section=section,
                text=text,
                start=start,
                end=end,
                page=page,
                pages=pages,
                effective_date=doc.effective_date,
                pdf_page=pdf_pages[0] if pdf_pages else None,
                pdf_pages=pdf_pages,
                law_id=version.law_id,
                version=version.label,
                effective_from=_own_date(section, own_dates) or version.effective_from,
            )
        )
    return chunks


def _own_date(section: str, own_dates: dict[str, str]) -> str | None:
    if not own_dates:
        return None
    from fnrag.index.fusion import section_article

    return own_dates.get(section_article(section) or "")


def _chunk_id(title: str, section: str, text: str) -> str:
    return hashlib.sha256(f"{title}\n{section}\n{text}".encode()).hexdigest()[:16]


def _pages(
    doc: Document, start: int, end: int
) -> tuple[int | None, tuple[int, ...], tuple[int, ...]]:
    """The first printed page, every printed page, and every PDF page of a span.

    Printed numbers are what a reader finds on the paper (p.219); PDF page indexes are
    what a viewer's page box takes (56): a citation needs both.
    """
    if not doc.pages:
        return None, (), ()
    first = max(0, bisect.bisect_right(doc.page_starts, start) - 1)
    last = max(first, bisect.bisect_right(doc.page_starts, max(start, end - 1)) - 1)
    numbers: list[int] = []
    spanned = doc.pages[first : last + 1]
    for page in spanned:
        for n in page.printed or (page.index,):
            if n not in numbers:
                numbers.append(n)
    # A sheet holding two printed pages is two Page records with one PDF index.
    return numbers[0], tuple(numbers), tuple(dict.fromkeys(page.index for page in spanned))
