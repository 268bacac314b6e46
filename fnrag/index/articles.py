"""Whole-article passages: the chunks of one short statute article shown as one passage.

Articles are chunked by 항 to stay within the embedder's window, so the chunk holding a
question's words (제4조의2 ①~②: 통보, 유예) can outrank its sibling holding the answer
(③~⑤: the 유예 period). An article is the unit a practitioner reads and a statute cites;
searched by chunk and shown by article, the answer's provision is in the passage ranked
first whenever its article is. Only articles of at most ``max_chars`` characters are
joined (long ones would crowd out the other passages and a model's context), never 부칙
(amendment clauses, each its own answer), never guide text (its sections span pages),
and only chunks searchable on the date asked about.

The joined text is the document's own span from the first chunk's start to the last
one's end (the chunks are exact slices of it; the whitespace between two chunks, which
they leave out, is restored as whitespace of the same length), so a quote's offsets in
the passage are its offsets in the document, as for any hit.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar

import numpy as np

from fnrag.index.cues import is_addenda
from fnrag.types import Chunk, Hit

_Passage = TypeVar("_Passage", Chunk, Hit)
_ARTICLE = re.compile(r"제\s*\d+\s*조")


class ArticleGroups:
    """The chunks of each multi-chunk statute article of an index, in document order."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        self.chunks = chunks
        groups: dict[tuple[str, str, str | None, str | None], list[int]] = {}
        for row, chunk in enumerate(chunks):
            key = _article_key(chunk)
            if key is not None:
                groups.setdefault(key, []).append(row)
        self.group_of: dict[int, tuple[int, ...]] = {}
        for rows in groups.values():
            if len(rows) < 2:
                continue
            ordered = tuple(sorted(rows, key=lambda r: chunks[r].start))
            if not _tiles(chunks, ordered):
                continue
            for row in ordered:
                self.group_of[row] = ordered

    def siblings(
        self, row: int, max_chars: int, allowed: np.ndarray | None = None
    ) -> tuple[int, ...]:
        """The rows of ``row``'s article, in document order, when they are shown as one
        passage; else ``(row,)``."""
        rows = self.group_of.get(row)
        if rows is None or max_chars <= 0:
            return (row,)
        if allowed is not None and not all(allowed[r] for r in rows):
            return (row,)
        _, start, end = self.span(rows)
        return rows if end - start <= max_chars else (row,)

    def passages(
        self, ranked: Sequence[int], max_chars: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, tuple[int, ...]]]:
        """Ranked rows as passages (the row retrieval ranked, the rows it shows): a
        short article's chunks joined at its best-ranked chunk's place."""
        passages: list[tuple[int, tuple[int, ...]]] = []
        shown: set[int] = set()
        for row in ranked:
            if row in shown:
                continue
            rows = self.siblings(row, max_chars, allowed)
            shown.update(rows)
            passages.append((row, rows))
        return passages

    def span(self, rows: Sequence[int]) -> tuple[str, int, int]:
        """(source, start, end) of the passage ``rows`` make up."""
        first = self.chunks[rows[0]]
        return first.source, first.start, max(self.chunks[r].end for r in rows)

    def joined(self, hit: Hit, rows: Sequence[int]) -> Hit:
        """``hit`` (of the row retrieval ranked) showing the whole article ``rows``."""
        if len(rows) < 2:
            return hit
        parts = tuple(
            (self.chunks[r].chunk_id, self.chunks[r].start, self.chunks[r].end) for r in rows
        )
        return self._whole(hit, rows, parts=parts)

    def shown(self, row: int, max_chars: int) -> Chunk:
        """Chunk ``row`` as search shows it: its whole article when that is joined."""
        rows = self.siblings(row, max_chars)
        return self.chunks[row] if len(rows) < 2 else self._whole(self.chunks[row], rows)

    def _whole(self, item: _Passage, rows: Sequence[int], **extra: object) -> _Passage:
        _, start, end = self.span(rows)
        return replace(
            item,
            section=article_section(item.section),
            text=self.joined_text(rows),
            start=start,
            end=end,
            **extra,  # type: ignore[arg-type]
        )

    def joined_text(self, rows: Sequence[int]) -> str:
        """The document text from the first row's start to the last row's end."""
        pieces: list[str] = []
        at = self.chunks[rows[0]].start
        for row in rows:
            chunk = self.chunks[row]
            if chunk.start > at:
                gap = chunk.start - at
                pieces.append("\n" + " " * (gap - 1))
                pieces.append(chunk.text)
            else:
                pieces.append(chunk.text[at - chunk.start :])  # overlapping chunks
            at = max(at, chunk.end)
        return "".join(pieces)


def article_section(section: str) -> str:
    """A chunk's section path cut after its article (``… > 제4조의2 (…)``)."""
    parts = section.split(" > ")
    return " > ".join(parts[:2])


def _article_key(chunk: Chunk) -> tuple[str, str, str | None, str | None] | None:
    parts = chunk.section.split(" > ")
    if len(parts) < 3 or not _ARTICLE.match(parts[1]) or is_addenda(chunk.section):
        return None
    if chunk.pdf_page is not None or chunk.page is not None:
        return None  # text laid out on pages: a guide, or a statute read from a PDF
    return (chunk.source, article_section(chunk.section), chunk.version, chunk.effective_from)


def _tiles(chunks: Sequence[Chunk], rows: Sequence[int]) -> bool:
    """Consecutive chunks (ordered by start) that overlap or leave at most a few
    characters between them (the blank line or indentation between two 항), so the join
    is the document's text."""
    return all(chunks[b].start <= chunks[a].end + 4 for a, b in itertools.pairwise(rows))
