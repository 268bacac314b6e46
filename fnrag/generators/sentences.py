"""The calibrated sentence selector: which passage sentences answer a question, or none.

Each candidate sentence is scored by the share of the question's content morphemes
(the retrieval plan's terms) it contains, plus credit for morphemes found only in its
section heading (article titles often name the topic the sentence does not repeat),
discounted by the passage's rank. The extractive generator answers with the best
sentences, or composes provisions once this selector says the passages answer at all.
Deterministic: same passages and question, same selection.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from fnrag.text import ARTICLE_HEADING, LEADING_MARKUP, is_markup, split_sentences
from fnrag.types import Hit, QueryPlan

# Markdown and amendment noise that is not part of the answer's wording.
_AMENDMENT = re.compile(r"\s*<(?:개정|신설|전문개정|본조신설|제목개정|단서신설|종전)[^<>]*>")
_ESCAPE = re.compile(r"\\([.\-*#()\[\]])")
_MIN_CHARS = 12
_QUESTION_LINE = re.compile(r"(?:Q|질문|문)\s*[:.：]")
# A paragraph: lines up to the next blank line.
_BLOCK = re.compile(r"[^\n]+(?:\n(?![ \t]*\n)[^\n]*)*")


@dataclass(frozen=True)
class Candidate:
    n: int
    position: int
    text: str
    score: float


class SentenceSelector:
    """Scores passage sentences against the question's terms.

    Args:
        max_sentences: at most this many sentences in the answer.
        max_chars: stop adding sentences once the answer is this long.
        relative_cutoff: extra sentences must score at least this share of the best.
        min_score: below this overlap share nothing answers the question → refusal.
        rank_decay: how fast lower-ranked passages are discounted.
        heading_credit: weight of question words found only in the passage's section
            heading (article titles name the topic their sentences don't repeat).
        distinct_passages: at most one sentence per passage.
    """

    def __init__(
        self,
        max_sentences: int = 3,
        max_chars: int = 600,
        relative_cutoff: float = 0.6,
        min_score: float = 0.2,
        rank_decay: float = 0.1,
        heading_credit: float = 1.0,
        distinct_passages: bool = True,
    ) -> None:
        self.max_sentences = max_sentences
        self.max_chars = max_chars
        self.relative_cutoff = relative_cutoff
        self.min_score = min_score
        self.rank_decay = rank_decay
        self.heading_credit = heading_credit
        self.distinct_passages = distinct_passages

    def select(
        self, question: str, passages: Sequence[Hit], plan: QueryPlan | None = None
    ) -> list[Candidate]:
        """The sentences the answer will consist of, best first."""
        if plan is None:
            from fnrag.index.plan import plan_query

            plan = plan_query(question)
        # The retrieval plan's terms: the question's own words at full weight plus
        # the statutes' words for practitioner terms (거래내역 → 거래정보등) at less.
        terms = plan.terms
        wanted = {t.lower(): term_weight(t) * w for t, w in terms.items()}
        # Expansion terms add evidence but don't raise the bar: normalise by the
        # question's own words only.
        own = {t.lower() for t, w in terms.items() if w >= 1.0}
        total = sum(term_weight(t) for t in own)
        if not total and plan.carried and not plan.carried_refused:
            # A follow-up with no words of its own ("그거 하나면 되는 거죠?", "언제까지
            # 줘야 해요?") asks wholly about the earlier turn: what it carries from there
            # stands in for its own words, else it would always be refused. After a
            # refused turn it asks about nothing the corpus answers: refused as well.
            # The evidence is then the earlier question's words alone: the follow-up's
            # expansions ("언제까지" → 이내, 기간) would add matches without raising the bar.
            own = {t.lower() for t in plan.carried}
            wanted = {t: w for t, w in wanted.items() if t in own}
            total = sum(wanted.values())
        if not total:
            return []
        candidates: list[Candidate] = []
        for n, hit in enumerate(passages, start=1):
            heading = squeeze(hit.section)
            # Expansions such as a law's full name sit in every heading of that law:
            # heading credit goes to the question's own words only.
            in_heading = {t for t in own if t in heading}
            # The retrieval rank, not the position (``passage_order`` may renumber).
            rank = hit.rank if hit.rank and hit.rank > 0 else n
            rank_weight = 1.0 / (1.0 + self.rank_decay * (rank - 1))
            for position, sentence in enumerate(candidate_sentences(hit.text)):
                # Substring tests on whitespace-free text: robust to Kiwi splitting a
                # compound differently in the question and the passage.
                squeezed = squeeze(sentence)
                found = {t for t in wanted if t in squeezed}
                if not found:
                    continue
                only_heading = in_heading - found
                matched = sum(wanted[t] for t in found)
                matched += self.heading_credit * sum(wanted[t] for t in only_heading)
                candidates.append(Candidate(n, position, sentence, matched / total * rank_weight))
        candidates.sort(key=lambda c: (-c.score, c.n, c.position))
        if not candidates or candidates[0].score < self.min_score:
            return []
        best = candidates[0]
        chosen = [best]
        length = len(best.text)
        eligible = [c for c in candidates[1:] if c.score >= self.relative_cutoff * best.score]
        # Sentences from passages not yet cited first: an answer resting on several
        # passages is more likely to cite the one that really holds the answer.
        eligible.sort(key=lambda c: (c.n in {x.n for x in chosen}, -c.score, c.n, c.position))
        for candidate in eligible:
            if len(chosen) >= self.max_sentences:
                break
            if length + len(candidate.text) > self.max_chars or _duplicate(candidate, chosen):
                continue
            if self.distinct_passages and any(c.n == candidate.n for c in chosen):
                continue
            chosen.append(candidate)
            length += len(candidate.text)
        return chosen


def term_weight(token: str) -> float:
    # One-syllable tokens (법, 등) match inside unrelated words; count them half.
    return 1.0 if len(token) > 1 else 0.5


def squeeze(text: str) -> str:
    return "".join(text.split()).lower()


@lru_cache(maxsize=8192)
def candidate_sentences(text: str) -> tuple[str, ...]:
    """Candidate answer sentences of a passage (cached: passages recur across questions)."""
    from fnrag.safety import looks_like_injection, sanitize_passage
    from fnrag.text import strip_markers

    raw = _AMENDMENT.sub("", text)
    # A paragraph holding an instruction or a control token is attacker-written as
    # a whole: the lines after a fake "### 응답:" read as plain statements.
    hostile = [m.span() for m in _BLOCK.finditer(raw) if looks_like_injection(m.group(0))]
    out = []
    for start, end in split_sentences(raw):
        sentence = raw[start:end]
        # Documents are data: a sentence that tries to instruct the assistant (or
        # carries prompt-control tokens) is never repeated as part of an answer.
        if looks_like_injection(sentence) or any(a <= start < b for a, b in hostile):
            continue
        # Headings, table rows and bare bullets are layout: they answer nothing, and
        # the citation would have to quote markup. A bare article heading
        # ("제4조 (실명확인의 생략)") names a topic but answers nothing either.
        if is_markup(sentence):
            continue
        sentence = strip_markers(_ESCAPE.sub(r"\1", sanitize_passage(sentence)))
        sentence = LEADING_MARKUP.sub("", sentence.replace("**", "")).strip()
        sentence = " ".join(sentence.split())
        # A question (a case box's "Q: …?", every sentence of it) asks; it never answers.
        line = raw[raw.rfind("\n", 0, start) + 1 : end].lstrip()
        if sentence.endswith(("?", "？")) or _QUESTION_LINE.match(line):
            continue
        if len(sentence) >= _MIN_CHARS and not ARTICLE_HEADING.match(sentence):
            out.append(sentence)
    return tuple(out)


def _duplicate(candidate: Candidate, chosen: list[Candidate]) -> bool:
    squeezed = "".join(candidate.text.split())
    return any(squeezed == "".join(c.text.split()) for c in chosen)
