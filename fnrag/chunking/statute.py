"""Statute chunking: one chunk per 조; long articles split at 항, then 호.

Works on both layouts fnrag meets: the law Markdown (``##### 제1조 (목적)``
headings, ``① …`` paragraphs after unescaping) and law.go.kr PDF text
(``제1조(목적) 이 법은 …`` inline). 부칙 and 별표 get their own section paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fnrag.chunking.spans import Span, line_spans, pack, split_long, units_at

_ARTICLE = re.compile(r"^제(\d+)조(?:의(\d+))?(?=\s*\(|\s*$|\s+삭제)")
_CHAPTER = re.compile(r"^제\s*\d+\s*(?:편|장|절|관)(?:\s|$)")
# The whole line is the heading: "부칙", "부칙 <제20894호,2025.4.1>",
# "부칙(은행법) <제10303호,…>"; "부칙 제12조제2항을 삭제한다." is an amendment.
_ADDENDA = re.compile(r"^부\s*칙\s*(?:\([^)]*\)\s*)?(?:<[^>]*>)?\s*$")
_ANNEX = re.compile(r"^(?:\[별표\s*\d*[^\]]*\]|별표\s*\d+)")
_PARAGRAPH = re.compile(r"^\s*(?:\*\*)?[①-⑳㉑-㉟]")
_ITEM = re.compile(r"^\s*\d+(?:의\d+)?\.\s")
_ARTICLE_LINE = re.compile(r"^\s*제\d+조(?:의\d+)?\s*(?:\(|$)")
_NOTE = re.compile(r"\s*<[^>]*>\s*$")


@dataclass
class _Block:
    kind: str  # preamble | article | addenda | annex
    label: str
    start: int
    end: int
    chapter: str = ""


def _strip_heading(line: str) -> str:
    return line.strip().lstrip("#").strip()


def _article_label(line: str) -> str:
    """``제4조의2(거래정보등의 …)`` → ``제4조의2 (거래정보등의 …)`` (nested parens kept)."""
    m = _ARTICLE.match(line)
    assert m is not None
    number = m.group(0)
    rest = line[m.end() :].lstrip()
    if not rest.startswith("("):
        return number
    depth = 0
    for i, ch in enumerate(rest):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return f"{number} {rest[: i + 1]}"
    return number


def _blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = [_Block("preamble", "", 0, len(text))]
    chapter = ""
    in_addenda = False
    for s, e in line_spans(text, 0, len(text)):
        line = _strip_heading(text[s:e])
        if not line:
            continue
        opened: _Block | None = None
        if _ADDENDA.match(line):
            in_addenda = True
            opened = _Block("addenda", " ".join(line.split()), s, len(text))
        elif _ANNEX.match(line):
            opened = _Block("annex", _NOTE.sub("", line)[:60], s, len(text))
        elif in_addenda:
            continue
        elif _CHAPTER.match(line):
            blocks[-1].end = s
            chapter = _NOTE.sub("", line)
            blocks.append(_Block("gap", "", e, len(text), chapter))
            continue
        elif _ARTICLE.match(line):
            opened = _Block("article", _article_label(line), s, len(text), chapter)
        if opened is not None:
            blocks[-1].end = s
            blocks.append(opened)
    return blocks


def statute_spans(
    text: str, title: str, max_chars: int, *, include_chapters: bool = False
) -> list[Span]:
    """Spans of a statute, each labelled with its article (and 항) path."""
    spans: list[Span] = []
    for block in _blocks(text):
        body = text[block.start : block.end]
        meaningful = [
            ln for ln in body.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
        ]
        if not meaningful:
            continue  # a bare heading such as "## 부칙": its blocks follow
        if block.kind in ("preamble", "gap"):
            # The law's name and dates: worth a chunk only when there is more than
            # a heading (law.go.kr PDFs state 시행일 and 소관부처 here).
            if sum(len(ln.strip()) for ln in meaningful) >= 20:
                intro = (block.chapter,) if include_chapters and block.chapter else ()
                spans.extend(
                    Span(a, b, intro)
                    for a, b in split_long(text, block.start, block.end, max_chars)
                )
            continue
        path = (
            (block.chapter, block.label) if include_chapters and block.chapter else (block.label,)
        )
        if block.kind == "article":
            spans.extend(_article(text, block.start, block.end, path, max_chars))
        elif block.kind == "addenda":
            spans.extend(_addenda(text, block.start, block.end, path, max_chars))
        else:
            spans.extend(
                Span(a, b, path) for a, b in split_long(text, block.start, block.end, max_chars)
            )
    return spans


def _article(text: str, start: int, end: int, path: tuple[str, ...], max_chars: int) -> list[Span]:
    if end - start <= max_chars:
        return [Span(start, end, path)]
    units = _lead_in_joined(text, units_at(text, start, end, _PARAGRAPH), _PARAGRAPH)
    if len(units) == 1:
        return _items(text, start, end, path, max_chars, number_items=True)
    spans: list[Span] = []
    for group in pack(units, max_chars):
        a, b = group[0][0], group[-1][1]
        marks = [m for u in group if (m := _paragraph_mark(text, u))]
        label = (marks[0] if len(marks) == 1 else f"{marks[0]}~{marks[-1]}") if marks else ""
        sub = (*path, label) if label else path
        if b - a <= max_chars:
            spans.append(Span(a, b, sub))
        else:
            spans.extend(_items(text, a, b, sub, max_chars, number_items=not marks))
    return spans


def _lead_in_joined(
    text: str, units: list[tuple[int, int]], pattern: re.Pattern[str]
) -> list[tuple[int, int]]:
    """Keep the heading / lead-in sentence with the first 항 or 호 it introduces."""
    if len(units) >= 2 and not pattern.match(text[units[0][0] : units[0][1]]):
        return [(units[0][0], units[1][1]), *units[2:]]
    return units


def _paragraph_mark(text: str, unit: tuple[int, int]) -> str:
    """The first 항 mark opening a line of the unit (the heading may come first)."""
    m = re.search(r"^\s*(?:\*\*)?([①-⑳㉑-㉟])", text[unit[0] : unit[1]], re.M)
    return m.group(1) if m else ""


def _items(
    text: str, start: int, end: int, path: tuple[str, ...], max_chars: int, *, number_items: bool
) -> list[Span]:
    """Split at 호 lines; 목 (가. 나. …) stay with their 호."""
    units = _lead_in_joined(text, units_at(text, start, end, _ITEM), _ITEM)
    spans: list[Span] = []
    for group in pack(units, max_chars):
        a, b = group[0][0], group[-1][1]
        sub = path
        if number_items:
            numbers = [
                m.group(1)
                for u in group
                if (m := re.match(r"\s*(\d+(?:의\d+)?)\.", text[u[0] : u[1]]))
            ]
            if numbers:
                first, last = _item_name(numbers[0]), _item_name(numbers[-1])
                label = first if len(numbers) == 1 else f"{first}~{last}"
                sub = (*path, label)
        if b - a <= max_chars:
            spans.append(Span(a, b, sub))
        else:
            spans.extend(Span(x, y, sub) for x, y in split_long(text, a, b, max_chars))
    return spans


def _item_name(number: str) -> str:
    """``1의2`` → ``제1호의2`` (how Korean law cites a 호)."""
    main, _, branch = number.partition("의")
    return f"제{main}호의{branch}" if branch else f"제{main}호"


def _addenda(text: str, start: int, end: int, path: tuple[str, ...], max_chars: int) -> list[Span]:
    if end - start <= max_chars:
        return [Span(start, end, path)]
    spans: list[Span] = []
    for group in pack(units_at(text, start, end, _ARTICLE_LINE), max_chars):
        a, b = group[0][0], group[-1][1]
        first = text[a:b].lstrip()
        sub = (*path, _article_label(first)) if _ARTICLE.match(first) else path
        if b - a <= max_chars:
            spans.append(Span(a, b, sub))
        else:
            spans.extend(Span(x, y, sub) for x, y in split_long(text, a, b, max_chars))
    return spans
