"""Split documents into chunks that follow the document's own structure.

Statutes go by 조 (article), long articles by 항 then 호 (see
:mod:`fnrag.statute_chunks`); guide-style prose goes by its headings and case
boxes (this module). Every chunk's text is ``doc.text[start:end]`` verbatim, so a
citation can always point at the exact characters it quotes.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import re
from dataclasses import dataclass

from fnrag.types import Chunk, Document

# multilingual-e5-small reads at most 512 tokens; ~700 Korean characters plus
# the section path stays under that with room to spare.
DEFAULT_MAX_CHARS = 700
MIN_CHARS = 200  # smaller pieces are merged with their neighbours
OVERLAP_CHARS = 100  # pieces of one long section share this much context

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# Case and question boxes open a section of their own: 【사례 3】, [사례], Q. / 문:
_BOX = re.compile(
    r"^(?:【[^】]{1,40}】|\[(?:사례|질의|문답|Q&A)[^\]]{0,30}\]|<사례[^>]{0,30}>|"
    r"(?:Q|문|질문|질의)\s*\d*\s*[.:：)]\s*\S)"
)
# Numbered headings of Korean administrative prose, outermost first.
_NUMBERED = (
    (re.compile(r"^제\s*\d+\s*[편장](?:\s|$)"), 1),
    (re.compile(r"^제\s*\d+\s*절(?:\s|$)"), 2),
    (re.compile(r"^[ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩ]+\.\s*\S"), 2),
    (re.compile(r"^\d+\.\d+\.?\s+\S"), 3),
    (re.compile(r"^\d{1,2}\.\s*[^\d\s]"), 4),
    (re.compile(r"^[가-하]\.\s+\S"), 5),
    (re.compile(r"^\(\d{1,2}\)\s*\S"), 6),
    (re.compile(r"^\([가-하]\)\s*\S"), 7),
)
# Lines where a long section may be cut: list items and numbered points.
ITEM_START = re.compile(
    r"^\s*(?:[□■○◦●▶◆◇※·\-–]|o(?=\s*[^\x00-\x7f])|\d{1,2}\.|[가-하]\.|\(\d{1,2}\)|[①-⑳])"
)
_SENTENCE_END = re.compile(r"(?:다\.|[.?!。])(?=\s)")
_BOX_LEVEL = 100


@dataclass(frozen=True)
class Span:
    """A piece of a document: character span and section path (without the title)."""

    start: int
    end: int
    section: tuple[str, ...]


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
        from fnrag.statute_chunks import statute_spans

        spans = statute_spans(doc.text, doc.title, max_chars, include_chapters=include_chapters)
    else:
        spans = guide_spans(doc.text, doc.title, max_chars)
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for span in spans:
        start, end = trim(doc.text, span.start, span.end)
        if start >= end:
            continue
        text = doc.text[start:end]
        section = " > ".join((doc.title, *span.section)) if doc.title else " > ".join(span.section)
        chunk_id = _chunk_id(doc.title, section, text)
        if chunk_id in seen:  # identical text under an identical heading: keep ids unique
            chunk_id = _chunk_id(doc.title, section, f"{text}\n@{start}")
        seen.add(chunk_id)
        page, pages = _pages(doc, start, end)
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
            )
        )
    return chunks


def _chunk_id(title: str, section: str, text: str) -> str:
    return hashlib.sha256(f"{title}\n{section}\n{text}".encode()).hexdigest()[:16]


def _pages(doc: Document, start: int, end: int) -> tuple[int | None, tuple[int, ...]]:
    if not doc.pages:
        return None, ()
    first = max(0, bisect.bisect_right(doc.page_starts, start) - 1)
    last = max(first, bisect.bisect_right(doc.page_starts, max(start, end - 1)) - 1)
    numbers: list[int] = []
    for page in doc.pages[first : last + 1]:
        for n in page.printed or (page.index,):
            if n not in numbers:
                numbers.append(n)
    return numbers[0], tuple(numbers)


# --- shared span helpers -----------------------------------------------------------


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink a span so it neither starts nor ends with whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def line_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each line in ``text[start:end]``, newline excluded."""
    spans: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        stop = end if nl < 0 else nl
        spans.append((pos, stop))
        pos = stop + 1
    return spans


def units_at(text: str, start: int, end: int, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    """Cut ``[start, end)`` before every line that matches ``pattern``."""
    # Match on the line itself: with a pos argument, "^" would not match mid-string.
    cuts = [s for s, e in line_spans(text, start, end) if s > start and pattern.match(text[s:e])]
    bounds = [start, *cuts, end]
    return [(a, b) for a, b in itertools.pairwise(bounds) if text[a:b].strip()]


def pack(units: list[tuple[int, int]], max_chars: int) -> list[list[tuple[int, int]]]:
    """Group consecutive units greedily so each group spans at most ``max_chars``."""
    groups: list[list[tuple[int, int]]] = []
    for unit in units:
        if groups and unit[1] - groups[-1][0][0] <= max_chars:
            groups[-1].append(unit)
        else:
            groups.append([unit])
    return groups


def split_long(
    text: str,
    start: int,
    end: int,
    max_chars: int,
    overlap: int = OVERLAP_CHARS,
    prefer: re.Pattern[str] | None = ITEM_START,
) -> list[tuple[int, int]]:
    """Cut an over-long span at the best boundary, with a small overlap.

    Boundaries, best first: a blank line, a line opening a list item (``prefer``),
    any line break, a sentence end, a space. Each later piece starts up to
    ``overlap`` characters early (at a line, sentence or word start) so a short
    phrase that straddles a cut is whole in one of the two pieces.
    """
    start, end = trim(text, start, end)
    pieces: list[tuple[int, int]] = []
    pos = start
    while end - pos > max_chars:
        cut = _best_cut(text, pos + max_chars // 2, pos + max_chars, prefer)
        pieces.append((pos, cut))
        nxt = _overlap_start(text, max(pos + 1, cut - overlap), cut)
        pos, _ = trim(text, nxt, end)
    pieces.append((pos, end))
    return pieces


def _best_cut(text: str, lo: int, hi: int, prefer: re.Pattern[str] | None) -> int:
    window = text[lo:hi]
    blank = window.rfind("\n\n")
    if blank >= 0:
        return lo + blank + 1
    if prefer is not None:
        starts = [m.start() + 1 for m in re.finditer("\n", window)]
        good = [s for s in starts if prefer.match(text[lo + s : hi])]
        if good:
            return lo + good[-1]
    newline = window.rfind("\n")
    if newline >= 0:
        return lo + newline + 1
    ends = list(_SENTENCE_END.finditer(window))
    if ends:
        return lo + ends[-1].end()
    space = window.rfind(" ")
    return lo + space + 1 if space >= 0 else hi


def _overlap_start(text: str, lo: int, cut: int) -> int:
    window = text[lo:cut]
    newline = window.find("\n")
    if newline >= 0 and newline + 1 < len(window):
        return lo + newline + 1
    m = _SENTENCE_END.search(window)
    if m and m.end() < len(window):
        return lo + m.end()
    space = window.find(" ")
    return lo + space + 1 if 0 <= space < len(window) - 1 else cut


# --- guide-style prose ---------------------------------------------------------------


@dataclass
class _Section:
    start: int
    end: int
    path: tuple[str, ...]
    level: int
    heading_only: bool = False


def _heading(line: str, markdown: bool) -> tuple[int, str] | None:
    """(level, label) when a line opens a section, else None."""
    stripped = line.strip()
    if not stripped:
        return None
    if m := _MD_HEADING.match(stripped):
        return len(m.group(1)), _label(m.group(2))
    if _BOX.match(stripped):
        return _BOX_LEVEL, _label(stripped)
    if markdown or len(stripped) > 50 or stripped.endswith(("다.", "음.", "함.")):
        return None
    for pattern, level in _NUMBERED:
        if pattern.match(stripped):
            return level + 6, _label(stripped)
    return None


def _label(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def guide_spans(text: str, title: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[Span]:
    """Spans of guide-style prose: split at headings and case boxes, small pieces
    merged with their neighbours, long sections cut with overlap."""
    markdown = re.search(r"^#{1,6}\s", text, re.M) is not None
    sections: list[_Section] = []
    stack: list[tuple[int, str]] = []
    current = _Section(0, len(text), (), 0)
    for s, e in line_spans(text, 0, len(text)):
        found = _heading(text[s:e], markdown)
        if found is None:
            continue
        level, label = found
        if (
            level == _BOX_LEVEL
            and current.level == _BOX_LEVEL
            and not text[current.start : s].strip().count("\n")
        ):
            continue  # "【사례 1】 …" then "Q: …": one box, labelled by the first line
        current.end = s
        sections.append(current)
        while stack and stack[-1][0] >= level:
            stack.pop()
        if label != title:  # the document's own H1 repeats the title
            stack.append((level, label))
        current = _Section(s, len(text), tuple(lbl for _, lbl in stack), level)
    current.end = len(text)
    sections.append(current)
    for sec in sections:
        body_start = text.find("\n", sec.start, sec.end)
        sec.heading_only = body_start < 0 or not text[body_start : sec.end].strip()
        if sec.level == 0:
            sec.heading_only = False
    merged = _merge([sec for sec in sections if text[sec.start : sec.end].strip()], max_chars, text)
    spans: list[Span] = []
    for sec in merged:
        if sec.end - sec.start <= max_chars:
            spans.append(Span(sec.start, sec.end, sec.path))
        else:
            spans.extend(
                Span(a, b, sec.path) for a, b in split_long(text, sec.start, sec.end, max_chars)
            )
    return spans


def _merge(sections: list[_Section], max_chars: int, text: str) -> list[_Section]:
    out: list[_Section] = []
    for sec in sections:
        prev = out[-1] if out else None
        small = prev is not None and (
            prev.heading_only or len(text[prev.start : prev.end].strip()) < MIN_CHARS
        )
        # Never glue a new chapter (markdown H1, or 제N장 in plain text) onto the
        # previous one unless that was a bare heading.
        # Case boxes stay whole and apart: they answer one question each.
        chapter = sec.level in (1, 7, _BOX_LEVEL)
        fits = prev is not None and sec.end - prev.start <= max_chars
        if prev is not None and small and fits and (not chapter or prev.heading_only):
            if prev.heading_only:
                prev.path = sec.path  # a bare heading takes the label of what follows
                prev.heading_only = sec.heading_only
            prev.end = sec.end
        else:
            out.append(_Section(sec.start, sec.end, sec.path, sec.level, sec.heading_only))
    return out
