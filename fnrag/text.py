"""Plain-text helpers shared by chunking, citations and the generators.

Spans are ``(start, end)`` character offsets; a citation marker is ``[n]``, ``[1, 2]``;
markup (headings, table rows, bare bullets) is what must never be quoted.
"""

from __future__ import annotations

import re

MARKER_RE = re.compile(r"\[\s*(\d{1,3}(?:\s*,\s*\d{1,3})*)\s*\]")
# A sentence ends at . ! ? 。 that does not follow a digit (keeps "2011. 7. 14."
# and "1.5" whole), optionally followed by closing quotes and its [n] markers,
# then whitespace; after [n] markers followed by whitespace; or at a line break.
_BOUNDARY = re.compile(
    r"(?<=[^\d\s])[.!?。]+[”\"'」』)]*(?:\s*\[\s*\d{1,3}(?:\s*,\s*\d{1,3})*\s*\])*(?=\s|$)"
    # Markers followed by a space also close a sentence ("… 경우 [1] ③ …").
    r"|(?:\s*\[\s*\d{1,3}(?:\s*,\s*\d{1,3})*\s*\])+(?=\s)"
    r"|\n+"
)
_MARKER_WITH_SPACE = re.compile(r"\s*" + MARKER_RE.pattern)
WHITESPACE = re.compile(r"\s+")


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink a span so it neither starts nor ends with whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` (markers stay with the sentence they close)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        if text[start : m.end()].strip():
            spans.append(trim(text, start, m.end()))
        start = m.end()
    if text[start:].strip():
        spans.append(trim(text, start, len(text)))
    return spans


def strip_markers(text: str) -> str:
    """``text`` without any citation marker."""
    return WHITESPACE.sub(" ", _MARKER_WITH_SPACE.sub("", text)).strip()


_HEADING_LINE = re.compile(r"^\s*#{1,6}(?:\s|$)")
_TABLE_ROW = re.compile(r"^\s*\||\|\s*$|\|[^|\n]*\|")
_TAGS = re.compile(r"<[^<>\n]*>")
# A bare article heading, its title holding at most one level of parentheses:
# 제4조의3 (거래정보등의 제공내용의 기록ㆍ관리), 제4조의3 ((…)) in the 2016 text.
ARTICLE_HEADING = re.compile(r"^제\s*\d+\s*조(?:의\s*\d+)?\s*\((?:[^()]|\([^()]*\))*\)$")
# Bullets, blockquotes and heading marks that may open a content line; "o" and "-"
# glued to Hangul are the inspection manual's checklist bullets ("o금융실명…", "-예금…").
LEADING_MARKUP = re.compile(
    r"^(?:\s+|#{1,6}(?=\s|$)|>|[-*+•·∙□■○●◦▪▫※ㅇ](?=\s|[가-힣(「])|o(?=\s*[가-힣]))+"
)
_WORD = re.compile(r"[가-힣A-Za-z]")


def is_markup(sentence: str) -> bool:
    """True for text that must never be quoted: a Markdown heading, a table row, a
    bare article heading, or bold markers/bullets/numbering with no words."""
    if _HEADING_LINE.match(sentence) or _TABLE_ROW.search(sentence):
        return True
    bare = WHITESPACE.sub(" ", _TAGS.sub("", strip_markers(sentence))).strip()
    bare = bare.replace("**", "").replace("__", "").replace("\\", "").strip()
    if ARTICLE_HEADING.match(bare):
        return True
    return len(_WORD.findall(LEADING_MARKUP.sub("", bare))) < 2


def trim_markup(text: str, start: int, end: int) -> tuple[int, int]:
    """``(start, end)`` without the bullets or heading marks that open it."""
    lead = LEADING_MARKUP.match(text[start:end])
    if lead is not None and start + lead.end() < end:
        start += lead.end()
    return start, end
