"""Plain-text helpers shared by chunking, citations and the generators.

Spans are ``(start, end)`` character offsets; a citation marker is ``[n]``, ``[1, 2]``.
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
