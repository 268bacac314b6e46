"""Compose an extractive answer that leads with the provision deciding the question.

Every provision unit of the shown passages (``fnrag.generators.units``) is scored by the
question's evidence: its share of the question's terms (expansions and a follow-up's
carried terms at their lower weight; terms only in its article title or lead-in count
too), the passage's fused score and rank, and structure (부칙 weigh little unless asked
about; penalty questions prefer 벌칙/과태료; a follow-up's unit holding only the earlier
question's words weighs less: the earlier answer quoted it already). The class's
arguments say by how much.

The answer opens with the best unit verbatim under its full reference; a 호 or 목 comes
after its lead-in, and a "다음 각 호" lead-in is completed by the 호 that match. At most
``max_support`` further units follow, each clearing ``margin`` × the best. Number and
yes/no questions get a short first line of the deciding words (``quoting``). Quotes are
exact spans of the passages. Whether to answer at all is the calibrated sentence
selector's decision over the non-부칙 passages (nothing selected → refusal, except a
penalty question with a 벌칙/과태료 article at rank ≤ ``penalty_ranks``).
``passage_order`` renumbers the passages so that the markers read [1], [2], ….
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from fnrag.answering.citations import verify_citations
from fnrag.generators.base import Generation
from fnrag.generators.blocks import Block, lead_in_shown, line_body, quote_block, same_block
from fnrag.generators.quoting import first_line as opening_line
from fnrag.generators.sentences import SentenceSelector, squeeze, term_weight
from fnrag.generators.units import ancestors, passage_units
from fnrag.index.cues import (
    PENALTY_CUES,
    asks_addenda,
    asks_penalty,
    is_addenda,
    is_penalty_section,
)
from fnrag.index.fusion import named_articles
from fnrag.prompts import REFUSAL_SENTENCE
from fnrag.types import Hit, QueryPlan, Retrieval


@dataclass(frozen=True)
class Composition:
    """An answer before numbering: (passage number, text) pieces, each rendered followed
    by its passage's marker; quoted provisions go one per line, selected sentences run on."""

    pieces: tuple[tuple[int, str], ...] = ()
    separator: str = "\n"


@dataclass(frozen=True)
class Scored:
    score: float
    n: int  # passage number (1-based)
    index: int  # unit index in that passage
    rank: int = 0  # the passage's retrieval rank


class ComposerGenerator:
    """The extractive answer composer (see the module docstring).

    Args:
        min_score: units below this evidence share are not used (the sentence answer is).
        gate: the sentence selector whose bar decides refusal (default: the
            calibrated ``SentenceSelector``); nothing it selects → refusal.
        margin: supporting units must score at least this share of the best.
        max_support: at most this many supporting units.
        rank_decay: how fast lower-ranked passages are discounted.
        context_credit: weight of question terms found only in a unit's context.
        addenda_weight: factor for 부칙 units when the question does not ask about them.
        penalty_weight: factor for 벌칙/과태료 units on penalty questions.
        quote_chars: a quoted unit longer than this keeps its best sentences, with "…".
        lead_in_chars: a lead-in shown only to introduce a 호 is shortened beyond this.
        first_line: add the short first line for number and yes/no questions.
        rank_power: exponent of the passage's fused score relative to the best (a prior:
            the retriever's confidence), applied on top of ``rank_decay``.
        title_credit: weight of question terms found only in the law's name (none for
            words every shown passage's title holds).
        distinct_support: supporting units from passages not yet cited come first.
        max_items: a "다음 각 호" lead-in is completed by at most this many 호 (목).
        penalty_ranks: a penalty question whose words the selector cannot match is still
            answered from a 벌칙/과태료 article retrieved at this rank or better.
        carried_only_weight: factor for a follow-up's units that match only the words
            carried from the earlier turn, none of the follow-up's own.
        link_credit: a passage retrieval placed above a provision by reference
            (``Hit.linked_to``: the 과태료 article naming the duty asked about, the
            decree defining the delegated amount) scores, in its units that name that
            provision's article, this multiple of the provision's best unit.
    """

    name = "extractive"

    def __init__(
        self,
        min_score: float = 0.05,
        gate: SentenceSelector | None = None,
        margin: float = 0.8,
        max_support: int = 2,
        rank_decay: float = 0.1,
        context_credit: float = 1.0,
        addenda_weight: float = 0.3,
        penalty_weight: float = 1.3,
        quote_chars: int = 240,
        lead_in_chars: int = 140,
        first_line: bool = True,
        rank_power: float = 1.0,
        title_credit: float = 1.0,
        distinct_support: bool = True,
        max_items: int = 2,
        penalty_ranks: int = 2,
        carried_only_weight: float = 0.5,
        link_credit: float = 1.02,
    ) -> None:
        self.min_score = min_score
        self._gate = gate or SentenceSelector()
        self.margin = margin
        self.max_support = max_support
        self.rank_decay = rank_decay
        self.context_credit = context_credit
        self.addenda_weight = addenda_weight
        self.penalty_weight = penalty_weight
        self.quote_chars = quote_chars
        self.lead_in_chars = lead_in_chars
        self.first_line = first_line
        self.rank_power = rank_power
        self.title_credit = title_credit
        self.distinct_support = distinct_support
        self.max_items = max_items
        self.penalty_ranks = penalty_ranks
        self.carried_only_weight = carried_only_weight
        self.link_credit = link_credit

    def generate(
        self,
        prompt: str,
        *,
        question: str,
        passages: Sequence[Hit],
        retrieval: Retrieval | None = None,
    ) -> Generation:
        started = time.perf_counter()
        text = self.compose(question, passages, retrieval.plan if retrieval else None)
        return Generation(text=text or REFUSAL_SENTENCE, seconds=time.perf_counter() - started)

    # -- scoring ------------------------------------------------------------------

    def score_units(
        self, question: str, passages: Sequence[Hit], plan: QueryPlan | None = None
    ) -> list[Scored]:
        """Every unit with evidence, best first."""
        if plan is None:
            from fnrag.index.plan import plan_query

            plan = plan_query(question)
        wanted = {t.lower(): term_weight(t) * w for t, w in plan.terms.items()}
        own = {t.lower() for t, w in plan.terms.items() if w >= 1.0}
        total = sum(term_weight(t) for t in own)
        # The follow-up's own words and their expansions: what it asks now.
        asked_now = {t.lower() for t in plan.terms} - {t.lower() for t in plan.carried}
        if plan.carried:
            # A follow-up's own words are few ("기한은요?"): what it carries from the
            # earlier turn is part of the question, at its lower weight.
            carried = {t.lower() for t in plan.carried} - own
            own |= carried
            total += sum(wanted[t] for t in carried)
        if not total:
            return []
        addenda_ok = asks_addenda(plan.reading or question)
        penalty = asks_penalty(plan.reading or question)
        penalty_terms = {t for t in own if any(cue in t for cue in PENALTY_CUES)}
        scored: list[Scored] = []
        top = max((h.score for h in passages), default=0.0)
        # A law-name word every shown passage's title holds tells them apart no more
        # than it tells their units apart: no credit then.
        titles = [squeeze(h.section.partition(" > ")[0]) for h in passages]
        shared = {t for t in own if titles and all(t in title for title in titles)}
        for n, hit in enumerate(passages, start=1):
            pu = passage_units(hit.text, hit.section, hit.source)
            title_part, _, provision_part = hit.section.partition(" > ")
            title, provision = squeeze(title_part), squeeze(provision_part)
            # The retrieval rank, not the position: the answer's passages may be shown
            # in reading order (``passage_order``) and must score the same there.
            rank = _rank(hit, n)
            factor = 1.0 / (1.0 + self.rank_decay * (rank - 1))
            if self.rank_power and top > 0 and hit.score > 0:
                factor *= (hit.score / top) ** self.rank_power
            if is_addenda(hit.section) and not addenda_ok:
                factor *= self.addenda_weight
            sanction: set[str] = set()
            if penalty and is_penalty_section(hit.section):
                factor *= self.penalty_weight
                # "처벌받나요" is what a 벌칙 article is about, in other words.
                sanction = penalty_terms
            for i, unit in enumerate(pu.units):
                if not unit.text:
                    continue
                squeezed = squeeze(unit.text)
                found = {t for t in wanted if t in squeezed} | sanction
                if not found:
                    continue
                lead = "".join(squeeze(u.text) for u in ancestors(pu.units, i))
                in_context = {t for t in own if t in lead or t in provision} - found
                in_title = {t for t in own if t in title} - found - in_context - shared
                matched = sum(wanted[t] for t in found)
                matched += self.context_credit * sum(wanted[t] for t in in_context)
                matched += self.title_credit * sum(wanted[t] for t in in_title)
                unit_factor = factor
                if plan.carried and asked_now and not (found | in_context | in_title) & asked_now:
                    # Only the earlier question's words: the earlier answer already
                    # quoted what answers that, not what the follow-up asks now.
                    unit_factor *= self.carried_only_weight
                scored.append(Scored(matched / total * unit_factor, n, i, rank))
        scored = _inherit_links(scored, passages, self.link_credit)
        scored.sort(key=lambda s: (-s.score, s.rank, s.index))
        return scored

    def passage_order(
        self, question: str, passages: Sequence[Hit], plan: QueryPlan | None = None
    ) -> tuple[Hit, ...]:
        """The passages renumbered for reading order: those the answer cites, in the
        order it cites them, then the rest by rank. Composing over them gives the same
        answer with markers [1], [2], … as they are read."""
        return self.ordered(question, passages, plan)[0]

    def ordered(
        self, question: str, passages: Sequence[Hit], plan: QueryPlan | None = None
    ) -> tuple[tuple[Hit, ...], str]:
        """``passage_order`` and the answer over the passages in that order, composed
        once (composing costs more than the rest of an answer but the embedding)."""
        composition = self._composition(question, passages, plan)
        cited = list(dict.fromkeys(n for n, _ in composition.pieces))
        rest = [n for n in range(1, len(passages) + 1) if n not in cited]
        order = cited + rest
        position = {n: i for i, n in enumerate(order, start=1)}
        text = _render(composition, position)
        return tuple(passages[n - 1] for n in order), text

    # -- composing ----------------------------------------------------------------

    def compose(self, question: str, passages: Sequence[Hit], plan: QueryPlan | None = None) -> str:
        """The answer text ("" when nothing clears the bar)."""
        return _render(self._composition(question, passages, plan))

    def _composition(
        self, question: str, passages: Sequence[Hit], plan: QueryPlan | None
    ) -> Composition:
        """The answer before numbering (no pieces when nothing clears the bar)."""
        if plan is None:
            from fnrag.index.plan import plan_query

            plan = plan_query(question)
        # The refusal bar is the sentence selector's, calibrated with the weak-evidence
        # policy on every question set: composing changes what is said, not whether.
        # 부칙 never carry an answer to a question that does not ask about them: a
        # question whose words only a 부칙 shares is outside the corpus.
        addenda_ok = asks_addenda(plan.reading or question)
        numbers = [
            n
            for n, hit in enumerate(passages, start=1)
            if addenda_ok or not is_addenda(hit.section)
        ]
        fallback = self._gate.select(question, [passages[n - 1] for n in numbers], plan)
        sentences = Composition(tuple((numbers[c.n - 1], c.text) for c in fallback), " ")
        if not fallback:
            # A penalty question in everyday words ("몰래 알려주면 처벌받나요?") shares
            # few words with the 벌칙 article that answers it; retrieval ranking one
            # near the top is the evidence then.
            numbers = [
                n
                for n, hit in enumerate(passages, start=1)
                if asks_penalty(plan.reading or question)
                and is_penalty_section(hit.section)
                and _rank(hit, n) <= self.penalty_ranks
            ]
            if not numbers:
                return Composition()
        scored = [s for s in self.score_units(question, passages, plan) if s.n in numbers]
        if not scored or scored[0].score < self.min_score:
            return sentences
        terms = {t.lower() for t in plan.terms}
        best = scored[0]
        shown: set[tuple[int, int]] = set()
        blocks = [self._block(best, passages, terms, shown, deciding=True)]
        eligible = [c for c in scored[1:] if c.score >= self.margin * best.score]
        if self.distinct_support:
            # Support from a passage not yet cited first: an answer resting on two
            # provisions is likelier to hold the one that really decides.
            eligible.sort(key=lambda c: (c.n == best.n, -c.score, c.rank, c.index))
        for candidate in eligible:
            if len(blocks) > self.max_support:
                break
            if (candidate.n, candidate.index) in shown or lead_in_shown(
                passages[candidate.n - 1], candidate.n, candidate.index, shown
            ):
                continue
            hit = passages[candidate.n - 1]
            if is_addenda(hit.section) and not addenda_ok:
                continue
            if candidate.n != best.n and not _in_ranked_chunk(hit, candidate.index):
                # Another joined article supports with the chunk retrieval ranked, not
                # with every 항 it brought along; the deciding article's own 항 may.
                continue
            # A guide or plain-text passage gives one sentence: its other lines are
            # not tied to that one by structure (and may be written to look like it).
            if not passage_units(hit.text, hit.section, hit.source).statute and any(
                b.n == candidate.n for b in blocks
            ):
                continue
            block = self._block(candidate, passages, terms, shown, deciding=False)
            if block is not None and not any(same_block(block, b) for b in blocks):
                blocks.append(block)
        lines = [(b.n, line_body(b)) for b in blocks if b is not None]
        if self.first_line:
            n = blocks[0].n
            head = opening_line(question, blocks[0].own, n, terms, blocks[0].parts)
            if head:
                lines.insert(0, (n, head.removesuffix(f" [{n}]")))
        answer = Composition(tuple(lines))
        # The verifier's rules are the contract: should a passage's own quotation marks
        # pair up across two quotes, answer with the plain sentences instead.
        return sentences if verify_citations(_render(answer), passages).invalid else answer

    def _block(
        self,
        scored: Scored,
        passages: Sequence[Hit],
        terms: set[str],
        shown: set[tuple[int, int]],
        *,
        deciding: bool,
    ) -> Block:
        limit = self.quote_chars if deciding else self.quote_chars // 2
        return quote_block(
            passages[scored.n - 1],
            scored.n,
            scored.index,
            terms,
            shown,
            limit=limit,
            lead_in_chars=self.lead_in_chars,
            max_items=self.max_items,
        )


def _render(composition: Composition, position: dict[int, int] | None = None) -> str:
    """The answer text: each piece followed by its passage's marker, renumbered by
    ``position`` (passage number → shown number) when the passages are reordered."""
    return composition.separator.join(
        f"{text} [{position.get(n, n) if position else n}]" for n, text in composition.pieces
    )


def _in_ranked_chunk(hit: Hit, index: int) -> bool:
    """Whether unit ``index`` of ``hit`` lies in the chunk retrieval ranked (always, for
    a passage that is one chunk; see ``Hit.parts``)."""
    span = next(((a, b) for cid, a, b in hit.parts if cid == hit.chunk_id), None)
    if span is None:
        return True
    ranked = squeeze(hit.text[span[0] - hit.start : span[1] - hit.start])
    unit = passage_units(hit.text, hit.section, hit.source).units[index]
    return all(squeeze(piece) in ranked for piece in unit.pieces)


def _inherit_links(scored: list[Scored], passages: Sequence[Hit], credit: float) -> list[Scored]:
    """A linked passage's units that name its anchor's article take the anchor's best
    evidence, or their own passage's if higher (× ``credit``): the question's words are
    in the duty, its answer in the article (and the 호) that refers to it."""
    if not credit:
        return scored
    by_id = {hit.chunk_id: n for n, hit in enumerate(passages, start=1)}
    for n, hit in enumerate(passages, start=1):
        # A whole-article passage stands for each chunk it joins.
        by_id.update({part[0]: n for part in hit.parts if part[0] not in by_id})
    best: dict[int, float] = {}
    for s in scored:
        best[s.n] = max(best.get(s.n, 0.0), s.score)
    out = {(s.n, s.index): s for s in scored}
    for n, hit in enumerate(passages, start=1):
        anchor = by_id.get(hit.linked_to or "")
        if anchor is None or not hit.linked_article or anchor not in best:
            continue
        lead = max(best[anchor], best.get(n, 0.0)) * credit
        units = passage_units(hit.text, hit.section, hit.source).units
        for i, unit in enumerate(units):
            if unit.text and hit.linked_article in named_articles(unit.text):
                inherited = Scored(lead, n, i, _rank(hit, n))
                if (n, i) not in out or out[(n, i)].score < inherited.score:
                    out[(n, i)] = inherited
    return list(out.values())


def _rank(hit: Hit, n: int) -> int:
    return hit.rank if hit.rank and hit.rank > 0 else n
