"""Provision units of a passage: what an answer may quote whole.

A statute chunk is parsed into its 항 (①…), 호 (``1.``) and 목 (``가.``) with the
text each owns; a 호 knows the lead-in that introduces it ("다음 각 호의 어느 하나에
해당하는 경우에는 …"), so an answer can always show the two together. A proviso
(``다만, …``) is part of its sentence and so of its unit. Other passages (the
inspection manual, plain text) are cut into sentences by the default generator's
rules, which already drop markup, questions and injected instructions.

Every statute unit keeps its quotable *pieces*: exact spans of the passage text,
split around amendment notes (``<개정 2013.8.13>``) so that each piece, with its
whitespace collapsed, is found verbatim in the passage by the citation verifier.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from fnrag.generators.sentences import candidate_sentences
from fnrag.index.fusion import section_article
from fnrag.safety import looks_like_injection, sanitize_passage

_PARAGRAPH = re.compile(r"^\s*(?:\*\*)?([①-⑳㉑-㉟])\s*")
# Markdown may escape the number's period ("1\\. 개인의 경우"); the mark is never quoted.
_ITEM = re.compile(r"^\s*(\d+(?:의\d+)?)\\?\.\s+")
_SUB = re.compile(r"^\s*([가-하])\\?\.\s+")
# An inline article line (부칙 articles, PDF layouts): "제2조 (경과조치) 이 법 …".
_ITEM_MARKS = re.compile(r"(?m)^\s*(?:\d+(?:의\d+)?|[가-하])\\\.")
_INLINE_ARTICLE = re.compile(r"^\s*(제\d+조(?:의\d+)?)\s*(\((?:[^()]|\([^()]*\))*\))?\s*")
_HEADING = re.compile(r"^\s*(?:#{1,6}\s|부\s*칙(?:\s*\([^)]*\))?\s*(?:<[^>]*>)?\s*$)")
_NOTE = re.compile(r"<[^<>\n]{0,80}>|\[(?:본조|전문|제목|시행일)[^\[\]\n]{0,60}\]")
_LEAD_IN = re.compile(r"다음\s*각\s*(?:호|목)|다음과\s*같")
_DELETED = re.compile(r"^\s*삭제\s*$")
_PARAGRAPH_NUMBER = {ch: i + 1 for i, ch in enumerate("①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳")}

LAW_SHORT_NAMES = (
    ("금융실명거래 및 비밀보장에 관한 법률", "금융실명법"),
    ("특정 금융거래정보의 보고 및 이용 등에 관한 법률", "특정금융정보법"),
)


@dataclass
class Unit:
    """One quotable provision (or guide sentence) of a passage.

    Attributes:
        level: ``"para"`` (항, or an article's unnumbered text), ``"item"`` (호),
            ``"sub"`` (목) or ``"sentence"`` (a guide sentence).
        mark: the unit's number as printed (``①``, ``1``, ``1의2``, ``가``); "" when none.
        text: its own words, whitespace collapsed, notes removed.
        pieces: exact spans of the passage (whitespace collapsed) that make up ``text``.
        parent: index of the unit that introduces it (the lead-in of a 호), or None.
        children: indices of the 호/목 it introduces.
        article: the article it belongs to (``제4조``), from the heading or the section.
    """

    level: str
    mark: str
    text: str
    pieces: tuple[str, ...]
    parent: int | None = None
    children: list[int] = field(default_factory=list)
    article: str = ""

    @property
    def lead_in(self) -> bool:
        return bool(_LEAD_IN.search(self.text)) and bool(self.children)


@dataclass(frozen=True)
class PassageUnits:
    units: tuple[Unit, ...]
    statute: bool


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _pieces(text: str) -> tuple[str, ...]:
    """``text`` cut around its amendment notes; each piece collapsed and non-empty."""
    out = []
    for part in _NOTE.split(text):
        part = _collapse(part.replace("**", ""))
        if len(part) >= 2:
            out.append(part)
    return tuple(out)


def is_statute(source: str, section: str) -> bool:
    # .json: a law.go.kr JSON law, laid out as its Markdown is (fnrag.ingest.law_json).
    laid_out = source.lower().endswith((".md", ".txt", ".json"))
    return (laid_out and section_article(section) is not None) or (
        "부칙" in section and source.lower().endswith((".md", ".json"))
    )


@lru_cache(maxsize=4096)
def passage_units(text: str, section: str, source: str) -> PassageUnits:
    """The units of one passage (cached: passages recur across questions)."""
    # Escaped Markdown inside the wording cannot be quoted verbatim and unescaped at
    # once: such a passage is answered by sentences, as a guide is.
    if not is_statute(source, section) or "\\" in _ITEM_MARKS.sub("", text):
        return PassageUnits(_guide_units(text), False)
    return PassageUnits(_statute_units(text, section), True)


def _guide_units(text: str) -> tuple[Unit, ...]:
    return tuple(Unit("sentence", "", s, ()) for s in candidate_sentences(text))


def _statute_units(text: str, section: str) -> tuple[Unit, ...]:
    units: list[Unit] = []
    # Lines per unit; a unit's text is its lines joined (a 호's heading line and the
    # body line below it are one unit).
    lines: list[list[str]] = []
    article = section_article(section) or ""
    para: int | None = None
    item: int | None = None
    current: int | None = None
    for raw in text.splitlines():
        if not raw.strip() or _HEADING.match(raw):
            continue
        line = raw
        if m := _PARAGRAPH.match(line):
            units.append(Unit("para", m.group(1), "", (), article=article))
            lines.append([line[m.end() :]])
            para = current = len(units) - 1
            item = None
        elif m := _ITEM.match(line):
            parent = para
            units.append(Unit("item", m.group(1), "", (), parent=parent, article=article))
            lines.append([line[m.end() :]])
            item = current = len(units) - 1
            if parent is not None:
                units[parent].children.append(item)
        elif (m := _SUB.match(line)) and item is not None:
            units.append(Unit("sub", m.group(1), "", (), parent=item, article=article))
            lines.append([line[m.end() :]])
            current = len(units) - 1
            units[item].children.append(current)
        elif (m := _INLINE_ARTICLE.match(line)) and m.group(2):
            # 부칙 articles are inline: each opens a new top-level unit.
            article = m.group(1)
            units.append(Unit("para", "", "", (), article=article))
            lines.append([line[m.end() :]])
            para = current = len(units) - 1
            item = None
        elif current is None:
            units.append(Unit("para", "", "", (), article=article))
            lines.append([line])
            para = current = len(units) - 1
        else:
            lines[current].append(line)
    for unit, own in zip(units, lines, strict=True):
        body = "\n".join(own)
        unit.pieces = _pieces(body)
        unit.text = " ".join(unit.pieces)
    return tuple(_safe(units))


def _safe(units: list[Unit]) -> list[Unit]:
    # A unit carrying an instruction or a control token is attacker-written: it is
    # never quoted (its children stay reachable through the rest of the article).
    for unit in units:
        if (
            not unit.text
            or _DELETED.match(unit.text)
            or looks_like_injection(unit.text)
            or sanitize_passage(unit.text) != unit.text
        ):
            unit.text = ""
            unit.pieces = ()
    return units


def short_law_name(title: str) -> str:
    """``금융실명거래 및 비밀보장에 관한 법률 시행령`` → ``금융실명법 시행령``."""
    for full, short in LAW_SHORT_NAMES:
        if title.startswith(full):
            return short + title[len(full) :]
    return title


def reference(units: tuple[Unit, ...], index: int, title: str, section: str = "") -> str:
    """The unit's citation form: ``금융실명법 시행령 제4조의2제1항제1호나목`` (a 부칙
    article names its 부칙: ``금융실명법 부칙 <제5493호,1997.12.31> 제1조``)."""
    chain: list[Unit] = []
    at: int | None = index
    while at is not None:
        chain.append(units[at])
        at = units[at].parent
    parts = [chain[-1].article] if chain[-1].article else []
    for unit in reversed(chain):
        if unit.level == "para" and unit.mark in _PARAGRAPH_NUMBER:
            parts.append(f"제{_PARAGRAPH_NUMBER[unit.mark]}항")
        elif unit.level == "item":
            main, _, branch = unit.mark.partition("의")
            parts.append(f"제{main}호의{branch}" if branch else f"제{main}호")
        elif unit.level == "sub":
            parts.append(f"{unit.mark}목")
    addenda = next((p.strip() for p in section.split(" > ") if p.strip().startswith("부칙")), "")
    head = f"{short_law_name(title)} {addenda}".strip()
    return f"{head} {''.join(parts)}".strip()


def page_reference(title: str, page: int | None) -> str:
    """A guide passage's reference: the document and its printed page."""
    return f"{title} p.{page}" if page is not None else title


def _squeeze(text: str) -> str:
    return "".join(text.split())


_DEPTH = {"para": 1, "item": 2, "sub": 3}
_LEADING_MARK = re.compile(r"^\s*(?:\*\*)?(?:[①-⑳㉑-㉟]|\d+(?:의\d+)?\\?\.|[가-하]\\?\.)\s*")


def quote_reference(
    text: str, section: str, source: str, title: str, page: int | None, quote: str, context: str
) -> str:
    """The reference of the unit a citation stands for: the deepest statute unit
    whose words the answer sentence (``context``) repeats whole or that holds the
    ``quote``; a guide passage's document and page."""
    pu = passage_units(text, section, source)
    if not pu.statute:
        if page is None and " > " in section:
            return f"{title} > {section.rsplit(' > ', 1)[-1]}"
        return page_reference(title, page)
    # The verifier's quote is a passage sentence and may open with its own mark (①, 1.).
    said, quoted = _squeeze(context), _squeeze(_LEADING_MARK.sub("", quote))
    best: tuple[int, int] | None = None
    for i, unit in enumerate(pu.units):
        own = _squeeze(unit.text)
        repeated = bool(said) and own in said
        holds = bool(quoted) and (own in quoted or quoted in own)
        if not own or not (repeated or holds):
            continue
        depth = _DEPTH.get(unit.level, 0)
        if best is None or depth > best[0]:
            best = (depth, i)
    if best is not None:
        return reference(pu.units, best[1], title, section)
    article = section_article(section) or ""
    addenda = next((p.strip() for p in section.split(" > ") if p.strip().startswith("부칙")), "")
    return " ".join(x for x in (short_law_name(title), addenda, article) if x)


def ancestors(units: Sequence[Unit], index: int) -> list[Unit]:
    """The lead-ins above ``units[index]``, outermost first."""
    chain = []
    at = units[index].parent
    while at is not None:
        chain.append(units[at])
        at = units[at].parent
    return list(reversed(chain))


def child_on_path(units: Sequence[Unit], ancestor: int, index: int) -> Unit:
    """The child of ``ancestor`` on the way down to ``index``."""
    at = index
    while units[at].parent is not None and units[at].parent != ancestor:
        at = units[at].parent  # type: ignore[assignment]
    return units[at]


def item_mark(unit: Unit, child: Unit | None = None) -> str:
    target = child or unit
    if target.level == "item":
        main, _, branch = target.mark.partition("의")
        return f"→ 제{main}호의{branch}" if branch else f"→ 제{main}호"
    if target.level == "sub":
        return f"→ {target.mark}목"
    return "→"
