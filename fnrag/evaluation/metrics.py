"""Pure metric functions for ``fnrag eval``; every definition is spelled out here.

Gold matching (issue 5): a passage is *gold* for a question when, for at least
one gold entry ``{doc, anchor}`` of that question,

* its ``source`` (``\\`` turned into ``/``) equals ``doc`` or ends with ``"/" + doc``, and
* its text, with every whitespace character removed, contains ``anchor`` with
  every whitespace character removed (``"".join(s.split())``).

Retrieval metrics use binary relevance (gold = 1, else 0) over the ranked list
a system returned, and are averaged over the *in-scope* questions only (an
out-of-scope question has no gold passage; its handling is scored by refusal
accuracy). Nothing is rounded here; reports round for display only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class GoldRef:
    """One gold entry of a QA item.

    Attributes:
        doc: document path relative to the corpus root, e.g. ``laws/금융실명법_법률.md``.
        art: article or page label (informative only; not used for matching).
        anchor: a short verbatim phrase of the answering text.
    """

    doc: str
    art: str
    anchor: str


def squash(text: str) -> str:
    """``text`` with every whitespace character removed (the anchor comparison form)."""
    return "".join(text.split())


def source_matches(source: str, doc: str) -> bool:
    """Whether a chunk's ``source`` path names the gold ``doc`` (``/`` separators)."""
    source = source.replace("\\", "/")
    doc = doc.replace("\\", "/").lstrip("/")
    return source == doc or source.endswith("/" + doc)


def is_gold(source: str, text: str, gold: Iterable[GoldRef]) -> bool:
    """Whether the passage (``source``, ``text``) is gold for any of ``gold``."""
    squashed: str | None = None
    for ref in gold:
        if not source_matches(source, ref.doc):
            continue
        if squashed is None:
            squashed = squash(text)
        if squash(ref.anchor) in squashed:
            return True
    return False


# ---------------------------------------------------------------- retrieval


def hit_at_k(relevance: Sequence[bool], k: int) -> float:
    """1.0 when any of the first ``k`` results is relevant, else 0.0."""
    _check_k(k)
    return 1.0 if any(relevance[:k]) else 0.0


def mrr_at_k(relevance: Sequence[bool], k: int) -> float:
    """Reciprocal rank ``1/r`` of the first relevant result at rank ``r <= k``; else 0.0."""
    _check_k(k)
    for position, relevant in enumerate(relevance[:k], start=1):
        if relevant:
            return 1.0 / position
    return 0.0


def dcg_at_k(relevance: Sequence[bool], k: int) -> float:
    """``sum_{i=1..k} rel_i / log2(i + 1)`` with binary ``rel_i``."""
    _check_k(k)
    return sum(1.0 / math.log2(i + 1) for i, rel in enumerate(relevance[:k], start=1) if rel)


def ndcg_at_k(relevance: Sequence[bool], n_relevant: int, k: int) -> float:
    """nDCG@k with binary relevance and the log2 discount.

    ``DCG@k / IDCG@k`` where ``IDCG@k = sum_{i=1..min(R, k)} 1 / log2(i + 1)`` and
    ``R = n_relevant`` is the number of gold chunks in the *whole index* for the
    question (not only among the retrieved ones). When ``R == 0`` the score is
    0.0 (no system can retrieve a gold passage the index does not hold).
    """
    _check_k(k)
    if n_relevant < 0:
        raise ValueError("n_relevant must be >= 0")
    if n_relevant == 0:
        return 0.0
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(n_relevant, k) + 1))
    return dcg_at_k(relevance, k) / ideal


# ---------------------------------------------------------------- citations and answers


@dataclass(frozen=True)
class AnswerJudgement:
    """What one answer did, reduced to the counts the answer metrics need.

    Attributes:
        in_scope: the question has gold passages (not ``out_of_scope``).
        refused: the system declined to answer.
        citations_gold: for each valid citation, whether its passage is gold.
        invalid_citations: citation markers that did not resolve to a given passage.
        anchors_covered: for each gold entry, whether its anchor (whitespace
            removed) occurs in the answer text (whitespace removed).
    """

    in_scope: bool
    refused: bool
    citations_gold: tuple[bool, ...]
    invalid_citations: int
    anchors_covered: tuple[bool, ...]


def citation_precision(judgements: Sequence[AnswerJudgement]) -> float | None:
    """Micro-averaged over in-scope questions: gold citations / all valid citations.

    None when the in-scope answers carry no citation at all (undefined, not 0).
    """
    cited = [gold for j in judgements if j.in_scope for gold in j.citations_gold]
    if not cited:
        return None
    return sum(cited) / len(cited)


def citation_recall(judgements: Sequence[AnswerJudgement]) -> float | None:
    """Share of in-scope questions with at least one gold citation (refusals count 0)."""
    in_scope = [j for j in judgements if j.in_scope]
    if not in_scope:
        return None
    return sum(1 for j in in_scope if any(j.citations_gold)) / len(in_scope)


def invalid_citation_rate(judgements: Sequence[AnswerJudgement]) -> float | None:
    """Over all questions: invalid markers / (valid citations + invalid markers).

    None when no answer carries any citation marker.
    """
    invalid = sum(j.invalid_citations for j in judgements)
    total = invalid + sum(len(j.citations_gold) for j in judgements)
    if total == 0:
        return None
    return invalid / total


def refusal_accuracy(judgements: Sequence[AnswerJudgement], *, in_scope: bool) -> float | None:
    """In scope: share of answered (not refused) questions; out of scope: share refused.

    None when there is no question of that kind.
    """
    group = [j for j in judgements if j.in_scope == in_scope]
    if not group:
        return None
    correct = sum(1 for j in group if j.refused != in_scope)
    return correct / len(group)


def anchor_coverage(judgements: Sequence[AnswerJudgement]) -> float | None:
    """Answer correctness: mean over in-scope questions of the share of gold anchors
    that occur verbatim (whitespace removed) in the answer text; a refusal scores 0."""
    in_scope = [j for j in judgements if j.in_scope]
    if not in_scope:
        return None
    total = 0.0
    for judgement in in_scope:
        if judgement.refused or not judgement.anchors_covered:
            continue
        total += sum(judgement.anchors_covered) / len(judgement.anchors_covered)
    return total / len(in_scope)


def anchors_covered(answer_text: str, gold: Sequence[GoldRef]) -> tuple[bool, ...]:
    """For each gold entry: its anchor (whitespace removed) is in the answer text."""
    squashed = squash(answer_text)
    return tuple(squash(ref.anchor) in squashed for ref in gold)


# ---------------------------------------------------------------- latency


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks.

    Same as ``numpy.percentile(values, q)`` (method "linear"): position
    ``(n - 1) * q / 100`` in the sorted values. None for an empty sequence.
    """
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class LatencySummary:
    """Durations summarised in milliseconds (None when there were none)."""

    n: int
    p50_ms: float | None
    p95_ms: float | None
    mean_ms: float | None

    def to_json(self) -> dict[str, float | int | None]:
        return {
            "n": self.n,
            "p50_ms": _round(self.p50_ms),
            "p95_ms": _round(self.p95_ms),
            "mean_ms": _round(self.mean_ms),
        }


def latency_summary(seconds: Sequence[float]) -> LatencySummary:
    """p50/p95 (see :func:`percentile`) and mean of durations given in seconds."""
    if not seconds:
        return LatencySummary(0, None, None, None)
    p50 = percentile(seconds, 50)
    p95 = percentile(seconds, 95)
    return LatencySummary(
        n=len(seconds),
        p50_ms=None if p50 is None else p50 * 1000,
        p95_ms=None if p95 is None else p95 * 1000,
        mean_ms=sum(seconds) / len(seconds) * 1000,
    )


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError("k must be >= 1")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
