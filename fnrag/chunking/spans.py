"""Character spans of a document and the helpers that cut and group them.

Every chunker (statute, guide) works on ``(start, end)`` spans of the document text,
so a chunk's text is always ``doc.text[start:end]`` verbatim.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from fnrag.config import opt
from fnrag.text import trim

# multilingual-e5-small reads at most 512 tokens; ~700 Korean characters plus
# the section path stays under that with room to spare.
DEFAULT_MAX_CHARS = 700
MIN_CHARS = 200  # smaller pieces are merged with their neighbours
OVERLAP_CHARS = 100  # pieces of one long section share this much context

# Lines where a long section may be cut: list items and numbered points.
ITEM_START = re.compile(
    r"^\s*(?:[□■○◦●▶◆◇※·\-–]|o(?=\s*[^\x00-\x7f])|\d{1,2}\.|[가-하]\.|\(\d{1,2}\)|[①-⑳])"
)
_SENTENCE_END = re.compile(r"(?:다\.|[.?!。])(?=\s)")


@dataclass(frozen=True)
class ChunkConfig:
    """How documents are cut into chunks. Recorded in the index manifest: a rebuild with
    other settings re-chunks every file instead of reusing the old chunks."""

    max_chars: int = opt(
        DEFAULT_MAX_CHARS,
        "target maximum characters per chunk (e5 reads 512 tokens: ~700 Korean characters "
        "plus the section path fit)",
    )
    include_chapters: bool = opt(False, "put 장/절 headings of statutes into the section path")


@dataclass(frozen=True)
class Span:
    """A piece of a document: character span and section path (without the title)."""

    start: int
    end: int
    section: tuple[str, ...]


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
