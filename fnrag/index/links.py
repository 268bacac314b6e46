"""Cross-references between provisions, and the ranking moves they justify.

Statutes answer many questions one reference away from the provision that shares the
question's words. "CTR 보고를 빠뜨리면 과태료가 얼마?" shares its words with the duty
(특정금융정보법 제4조의2), but the answer is the 과태료 article that names it
("제4조의2제1항ㆍ제2항을 위반하여 보고를 하지 아니한 자"). "일회성 거래는 얼마 이상이면
고객확인?" shares its words with 법 제5조의2, whose amount is "대통령령으로 정하는 금액";
the number is in the decree article that defines that term ("법 제5조의2제1항제1호 …에서
"대통령령으로 정하는 금액"이란 …"). Lexical and dense scores rank such an answer low
because it holds few of the question's words; following the reference finds it.

This module reads every statute chunk's references once per loaded index (on its first
hybrid search; about 40 ms for the real corpus) and, given a ranked candidate list, says
which chunks to place just above the provision they refer to:

- a 벌칙/과태료 chunk that names a top-ranked duty, when the question asks about a
  penalty (those of the kind it names first: 과태료, or 징역/벌금; a follow-up carries
  the earlier turn's words, so the named kind is a preference, not a filter);
- a decree (or rule) chunk that defines a term the top-ranked act article delegates,
  when the question asks for what that term holds: a number (얼마, 몇 년, 기한) or the
  term's own words ("어떤 부동산거래").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fnrag.index.cues import (
    asks_number,
    asks_penalty,
    asks_yes_no,
    is_addenda,
    is_penalty_section,
    number_kinds,
)
from fnrag.index.fusion import section_article
from fnrag.korean.tokens import tokenize
from fnrag.types import Chunk, QueryPlan

# 「특정 금융거래정보의 보고 및 이용 등에 관한 법률」 제2조 / 법 제5조의2 / 영 제13조 / 제4조의2
_REFERENCE = re.compile(
    r"(?:「([^」]{2,80})」\s*|(?<![가-힣])(같은\s*법|법|영|규칙)\s*)?제\s*(\d+)\s*조(?:\s*의\s*(\d+))?"
    r"(?:\s*제\s*(\d+)\s*항)?"
)
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
# A chunk's paragraph span in its section path: "①", "③~⑤".
_PARAGRAPH_SPAN = re.compile(rf"^([{_CIRCLED}])(?:\s*~\s*([{_CIRCLED}]))?$")
# A decree defining a delegated term: 법 제4조의2제1항 … 에서 "대통령령으로 정하는 금액"이란
_DEFINED_TERM = re.compile(
    r"[\"“](?:대통령령|총리령|부령)(?:으로|이)\s*정하는\s*([^\"”]{1,40})[\"”]"
)
_KIND_SUFFIXES = (("시행규칙", "rule"), ("시행령", "decree"))
# Words every delegated term could share with any question: they say nothing.
_GENERIC_TERM_WORDS = frozenset(
    {"사항", "경우", "자", "것", "등", "바", "방법", "기준", "요건", "따르", "관하", "대하", "정보"}
)
# The kind of number a delegated term holds (see ``fnrag.index.cues.number_kinds``).
_TERM_KINDS = {
    "amount": ("금액", "한도"),
    "time": ("기간", "기한", "일수", "기일"),
    "count": ("횟수",),
    "rate": ("비율", "세율"),
}
_FINE_CUES = ("과태료",)
_CRIMINAL_CUES = ("징역", "벌금", "형사", "구속", "감옥")


@dataclass(frozen=True)
class ArticleKey:
    """One article of one law: ``("특정 금융거래정보의 … 법률", "act", "제4조의2")``."""

    family: str
    kind: str
    article: str


def law_family(title: str) -> tuple[str, str]:
    """(the act's title, kind) for a law title: its 시행령 and 시행규칙 share the family."""
    stripped = title.strip()
    for suffix, kind in _KIND_SUFFIXES:
        if stripped.endswith(suffix):
            return stripped[: -len(suffix)].strip(), kind
    return stripped, "act"


def _body(text: str) -> str:
    """The chunk text without its own ``##### 제N조 (…)`` heading line."""
    lines = text.splitlines()
    if lines and lines[0].lstrip().startswith("#"):
        lines = lines[1:]
    return "\n".join(lines)


def references(
    text: str, family: str, kind: str, titles: dict[str, tuple[str, str]]
) -> set[ArticleKey]:
    """The articles ``text`` (of a law of ``family``/``kind``) refers to.

    "법" is the family's act and "영" its decree; a bare 제N조 is the text's own law; a
    law named in 「…」 is resolved by ``titles`` (unknown laws are skipped, as is
    "같은 법", whose law is named earlier in the sentence)."""
    return set(paragraph_references(text, family, kind, titles))


def paragraph_references(
    text: str, family: str, kind: str, titles: dict[str, tuple[str, str]]
) -> dict[ArticleKey, set[int]]:
    """Like ``references``, with the 항 each article is named with ("제4조제1항" → {1});
    0 stands for the article named without a 항 (all of it)."""
    found: dict[ArticleKey, set[int]] = {}
    for match in _REFERENCE.finditer(text):
        key = _resolve(match, family, kind, titles)
        if key is not None:
            found.setdefault(key, set()).add(int(match.group(5) or 0))
    return found


def _resolve(
    match: re.Match[str], family: str, kind: str, titles: dict[str, tuple[str, str]]
) -> ArticleKey | None:
    named, prefix, number, branch = match.group(1, 2, 3, 4)
    article = f"제{number}조의{branch}" if branch else f"제{number}조"
    if named is not None:
        target = titles.get("".join(named.split()))
        return None if target is None else ArticleKey(target[0], target[1], article)
    if prefix is None:
        return ArticleKey(family, kind, article)
    if prefix.startswith("같은"):
        return None
    return ArticleKey(family, {"법": "act", "영": "decree", "규칙": "rule"}[prefix], article)


def paragraph_span(section: str) -> set[int] | None:
    """The 항 a statute chunk holds, from its section path ("… > ③~⑤" → {3, 4, 5});
    None when it holds the whole article (or its span is not in 항)."""
    match = _PARAGRAPH_SPAN.match(section.rpartition(" > ")[2].strip())
    if not match:
        return None
    first = _CIRCLED.index(match.group(1)) + 1
    last = _CIRCLED.index(match.group(2)) + 1 if match.group(2) else first
    return set(range(first, last + 1))


@dataclass(frozen=True)
class Delegation:
    """A decree chunk's definition of a term its act delegates."""

    source: ArticleKey
    term: str  # "금액", "고객의 신원에 관한 사항"
    words: frozenset[str]  # the term's own content words (generic ones left out)
    kinds: frozenset[str]  # the kinds of number it holds ("amount" for a 금액), if any


class ReferenceGraph:
    """Every statute chunk's own article, references, and delegated-term definitions."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        titles: dict[str, tuple[str, str]] = {}
        for chunk in chunks:
            if section_article(chunk.section):
                titles["".join(chunk.title.split())] = law_family(chunk.title)
        self.own: list[ArticleKey | None] = []
        self.refs: list[frozenset[ArticleKey]] = []
        self.penalty: list[bool] = []
        self.delegations: dict[int, tuple[Delegation, ...]] = {}
        # article → the 벌칙/과태료 chunks naming it, in index order
        self.penalties_naming: dict[ArticleKey, list[int]] = {}
        self.sections = [chunk.section for chunk in chunks]
        # row → the 항 it names of each article it refers to (0: the whole article)
        self.named_paragraphs: dict[int, dict[ArticleKey, set[int]]] = {}
        for row, chunk in enumerate(chunks):
            article = section_article(chunk.section)
            if article is None or is_addenda(chunk.section):
                self.own.append(None)
                self.refs.append(frozenset())
                self.penalty.append(False)
                continue
            family, kind = law_family(chunk.title)
            own = ArticleKey(family, kind, article)
            body = _body(chunk.text)
            paragraphs = paragraph_references(body, family, kind, titles)
            paragraphs.pop(own, None)
            refs = set(paragraphs)
            self.own.append(own)
            self.refs.append(frozenset(refs))
            self.named_paragraphs[row] = paragraphs
            self.penalty.append(is_penalty_section(chunk.section))
            if self.penalty[-1]:
                for ref in refs:
                    self.penalties_naming.setdefault(ref, []).append(row)
            if kind != "act":
                defined = _delegations(body, family, kind, titles)
                if defined:
                    self.delegations[row] = defined

    def duties(self, row: int) -> set[ArticleKey]:
        """The act articles a chunk stands for: its own, and (for a decree or rule) the
        act articles it implements."""
        own = self.own[row]
        if own is None:
            return set()
        if own.kind == "act":
            return {own}
        return {own} | {
            ref for ref in self.refs[row] if ref.kind == "act" and ref.family == own.family
        }

    def reorder(
        self,
        plan: QueryPlan,
        ranked: list[tuple[int, float]],
        allowed: np.ndarray | None,
        anchors: int = 1,
    ) -> tuple[list[tuple[int, float]], dict[int, tuple[int, str]]]:
        """``ranked`` (row, score; best first) with each chunk a top provision's reference
        leads to placed just above it (``promotions``), and linked row → (anchor row,
        the article the linked chunk names)."""
        linked_rows = self.promotions(plan, ranked, allowed, anchors)
        if not linked_rows:
            return ranked, {}
        position = {row: j for j, (row, _) in enumerate(ranked)}
        links = {row: (ranked[j][0], article) for row, (j, article) in linked_rows.items()}
        # One already ranked above its anchor stays where it is (but is linked all the same).
        moves = {
            row: at for row, at in linked_rows.items() if position.get(row, len(ranked)) > at[0]
        }
        by_anchor: dict[int, list[int]] = {}
        for row, (at, _) in moves.items():
            by_anchor.setdefault(ranked[at][0], []).append(row)
        out: list[tuple[int, float]] = []
        for row, score in ranked:
            if row in moves:
                continue
            moved = by_anchor.get(row, [])
            # A hair above the anchor, in the order found: scores stay in rank order.
            for step, linked in enumerate(moved):
                out.append((linked, score + 1e-3 * (len(moved) - step)))
            out.append((row, score))
        return out, links

    def promotions(
        self,
        plan: QueryPlan,
        ranked: Sequence[tuple[int, float]],
        allowed: np.ndarray | None,
        anchors: int = 1,
    ) -> dict[int, tuple[int, str]]:
        """Chunks to place just above a top-ranked provision: ``{row: (anchor position,
        the article the chunk names)}``.

        ``ranked``: (row, score) best first. The first ``anchors`` ordinary provisions
        (not 부칙, not themselves penalties) are the anchors; a penalty already ranked
        above its anchor is listed too (``reorder`` leaves it where it is), a decree
        article so ranked is not (its own words placed it)."""
        question = plan.reading or plan.question
        penalty_kind = _penalty_kind(question)
        # What kind of answer is asked for is in the question's own words: an English
        # question's Korean reading lists its domain terms ("기준금액"), not "how much".
        own_terms = {term for term, weight in plan.terms.items() if weight >= 1.0}
        asked = _AskedFor(plan.question, own_terms)
        position = {row: j for j, (row, _) in enumerate(ranked)}
        moves: dict[int, tuple[int, str]] = {}
        seen = 0
        for j, (row, _) in enumerate(ranked):
            if seen >= anchors:
                break
            if self.own[row] is None or self.penalty[row]:
                continue
            seen += 1
            for linked, article in self._linked(row, penalty_kind, asked):
                if linked == row or (allowed is not None and not allowed[linked]):
                    continue
                above = position.get(linked, len(ranked)) < j
                # A penalty ranked above its duty on shared words ("징역", "벌금") is still
                # linked: which of its 호 names the duty is what picks the unit to quote.
                if linked not in moves and (not above or self.penalty[linked]):
                    moves[linked] = (j, article.article)
        return moves

    def _paragraphs_for(self, anchor: int, act: ArticleKey) -> set[int] | None:
        """The 항 of ``act`` the anchor stands for: its own span when it is that
        article, else the 항 a decree anchor names of it; None for all of them."""
        if act == self.own[anchor]:
            return paragraph_span(self.sections[anchor])
        named = self.named_paragraphs.get(anchor, {}).get(act, {0})
        return None if 0 in named else named

    def _linked(
        self, anchor: int, penalty_kind: str | None, asked: _AskedFor
    ) -> list[tuple[int, ArticleKey]]:
        """(linked row, the act article it names) for one anchor."""
        acts = sorted(
            (d for d in self.duties(anchor) if d.kind == "act"),
            key=lambda d: d != self.own[anchor],  # the anchor's own article first
        )
        linked: list[tuple[int, ArticleKey]] = []
        if penalty_kind is not None:
            other: list[tuple[int, ArticleKey]] = []
            naming: dict[int, ArticleKey] = {}
            for act in acts:
                held = self._paragraphs_for(anchor, act)
                for row in self.penalties_naming.get(act, ()):
                    named = self.named_paragraphs[row][act]
                    # "제4조제5항을 위반한 자" does not sanction what 제4조 ①~④ say.
                    if held is None or 0 in named or named & held:
                        naming.setdefault(row, act)
            for row in sorted(naming):
                kind_named = _penalty_matches(self, row, penalty_kind)
                (linked if kind_named else other).append((row, naming[row]))
            # On a penalty question the number asked for is the penalty's.
            return linked + other
        for row, defined in self.delegations.items():
            for act in acts:
                if any(d.source == act and asked.covers(d) for d in defined):
                    linked.append((row, act))
                    break
        return linked


def _delegations(
    body: str, family: str, kind: str, titles: dict[str, tuple[str, str]]
) -> tuple[Delegation, ...]:
    """The delegated terms a decree/rule text defines, each with the act article that
    delegates it (the last act reference before the quoted term, in the same sentence)."""
    found: list[Delegation] = []
    for match in _DEFINED_TERM.finditer(body):
        sentence_start = max(body.rfind(". ", 0, match.start()), body.rfind("\n", 0, match.start()))
        before = body[sentence_start + 1 : match.start()]
        refs = [
            ref
            for ref in _ordered_references(before, family, kind, titles)
            if ref.kind == "act" and ref.family == family
        ]
        if refs:
            term = match.group(1).strip()
            words = frozenset(w for w in tokenize(term) if w not in _GENERIC_TERM_WORDS)
            kinds = frozenset(k for k, held in _TERM_KINDS.items() if any(w in term for w in held))
            found.append(Delegation(refs[-1], term, words, kinds))
    return tuple(found)


def _ordered_references(
    text: str, family: str, kind: str, titles: dict[str, tuple[str, str]]
) -> list[ArticleKey]:
    resolved = (_resolve(match, family, kind, titles) for match in _REFERENCE.finditer(text))
    return [key for key in resolved if key is not None]


def _penalty_kind(question: str) -> str | None:
    if not asks_penalty(question):
        return None
    fine = any(cue in question for cue in _FINE_CUES)
    criminal = any(cue in question for cue in _CRIMINAL_CUES)
    if fine and not criminal:
        return "fine"
    if criminal and not fine:
        return "criminal"
    return "any"


def _penalty_matches(graph: ReferenceGraph, row: int, kind: str) -> bool:
    if kind == "any":
        return True
    return ("과태료" in graph.sections[row]) == (kind == "fine")


class _AskedFor:
    """Whether a question asks for what a delegated term holds: a number of the term's
    kind ("얼마" for a 금액, "며칠" for a 기간), or, asked with a wh-word, the term's own
    words ("어떤 부동산거래" for "대통령령이 정하는 부동산거래")."""

    def __init__(self, question: str, terms: set[str]) -> None:
        self.number = asks_number(question)
        self.kinds = set(number_kinds(question))
        self.open = not asks_yes_no(question)
        self.terms = terms

    def covers(self, delegation: Delegation) -> bool:
        if delegation.kinds:
            return self.number and (not self.kinds or bool(delegation.kinds & self.kinds))
        return self.open and bool(delegation.words) and delegation.words <= self.terms
