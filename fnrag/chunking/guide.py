"""Chunk guide-style prose (practitioner guides, manuals) by its headings and case boxes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fnrag.chunking.spans import DEFAULT_MAX_CHARS, MIN_CHARS, Span, line_spans, split_long

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
_BOX_LEVEL = 100


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
