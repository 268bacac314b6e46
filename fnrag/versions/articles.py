"""Articles as each held version of a law words them, cut into 항/호/목 units.

An article's text is put back together from its chunks (a long article is split at
항 and 호; split pieces may overlap, and the document offsets say by how much), so
the index needs no second copy of the laws.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any

from fnrag.index.cues import is_addenda
from fnrag.index.fusion import section_article
from fnrag.types import Chunk
from fnrag.versions.chains import version_start

_NOTE = re.compile(r"<([^<>\n]{0,80})>|\[([^\[\]\n]{0,80})\]")
_NOTE_DATE = re.compile(r"(\d{4})\s*\.\s*(\d{1,2})\s*\.\s*(\d{1,2})")
_AMENDING = ("개정", "신설", "삭제", "전문개정", "본조신설")


@dataclass(frozen=True)
class ArticleText:
    """One article in one version.

    Attributes:
        law_id: the law's id; article: ``제4조``; title: the law's title.
        version: the version label; effective_from / effective_to: its dates.
        source: the file it comes from; section: the first chunk's section path.
        text: the article as the document has it.
        marks: ISO dates of the amendment notes in it (``<개정 2017.6.20>``), sorted.
    """

    law_id: str
    article: str
    title: str
    version: str | None
    effective_from: str
    effective_to: str | None
    source: str
    section: str
    text: str
    marks: tuple[str, ...]


def articles_of(index: Any) -> dict[tuple[str, str], dict[str, ArticleText]]:
    """(law id, version start) → article → its text; built once per loaded index."""
    cached = getattr(index, "_version_articles", None)
    if cached is not None:
        return cached
    pieces: dict[tuple[str, str, str], list[Chunk]] = {}
    for chunk in getattr(index, "chunks", ()):
        if chunk.law_id is None or is_addenda(chunk.section):
            continue
        article = section_article(chunk.section)
        if article is None:
            continue
        pieces.setdefault((chunk.law_id, version_start(chunk), article), []).append(chunk)
    table: dict[tuple[str, str], dict[str, ArticleText]] = {}
    for (law_id, start, article), chunks in pieces.items():
        chunks.sort(key=lambda c: c.start)
        text = _joined(chunks)
        first = chunks[0]
        table.setdefault((law_id, start), {})[article] = ArticleText(
            law_id=law_id,
            article=article,
            title=first.title,
            version=first.version,
            effective_from=start,
            effective_to=first.effective_to,
            source=first.source,
            section=first.section,
            text=text,
            marks=amendment_dates(text),
        )
    with contextlib.suppress(AttributeError):  # an object without attributes: per call
        index._version_articles = table
    return table


def _joined(chunks: list[Chunk]) -> str:
    """The document text the chunks cover, overlaps counted once."""
    parts: list[str] = []
    end = -1
    for chunk in chunks:
        if chunk.end <= end:
            continue
        if chunk.start >= end:
            parts.append(chunk.text if not parts else "\n" + chunk.text)
        else:
            parts.append(chunk.text[end - chunk.start :])
        end = chunk.end
    return "".join(parts)


def amendment_dates(text: str) -> tuple[str, ...]:
    """ISO dates of the amendment notes in ``text``: ``<개정 2013.5.28, 2019.11.26>``,
    ``삭제 <2019.6.25>``, ``[본조신설 2019.6.25]``."""
    found = set()
    for match in _NOTE.finditer(text):
        body = match.group(1) or match.group(2) or ""
        before = text[max(0, match.start() - 4) : match.start()]
        if not (any(word in body for word in _AMENDING) or "삭제" in before):
            continue
        for y, m, d in _NOTE_DATE.findall(body):
            found.add(f"{int(y):04d}-{int(m):02d}-{int(d):02d}")
    return tuple(sorted(found))
