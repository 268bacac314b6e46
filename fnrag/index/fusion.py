"""Fusing dense and lexical scores: pure functions, no index state.

Plain reciprocal-rank fusion threw away how *confident* each retriever was: on this
corpus it tied BM25 alone on one question set and lost to it on another. Here each
retriever's scores are min-max normalised over the shared candidate set and mixed
as a convex combination (Bruch et al., 2023, "An Analysis of Fusion Functions for
Hybrid Retrieval" found this beats RRF and needs only one weight). Questions that
name an article (``제4조의2``) get chunks of that article boosted, because no
embedder reliably tells ``제4조`` from ``제4조의2``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fnrag.config import opt
from fnrag.errors import InputError
from fnrag.korean.tokens import article_token

SEARCH_MODES = ("hybrid", "dense", "lexical")


@dataclass(frozen=True)
class FusionConfig:
    """How hybrid search mixes its two retrievers (fused scores lie in [0, 1])."""

    lexical_weight: float = opt(
        0.6,
        "weight of the normalised BM25 score; the dense cosine gets 1 - lexical_weight "
        "(BM25 over Kiwi morphemes is the stronger single retriever on Korean legal text)",
    )
    candidates: int = opt(50, "top results each retriever contributes before fusion")
    article_boost: float = opt(0.3, "added for chunks of an article the question names (제4조의2)")
    focus_boost: float = opt(
        0.1,
        "added for chunks of the documents fnrag is about (title names 금융실명): a "
        "tie-breaker against related laws that repeat provisions",
    )
    addenda_penalty: float = opt(
        0.2,
        "subtracted for 부칙 chunks unless the question asks about 시행일/경과조치/부칙/개정",
    )
    penalty_boost: float = opt(
        0.1, "added for 벌칙/과태료 articles when the question asks about a penalty"
    )
    follow_references: bool = opt(
        True,
        "place the 벌칙/과태료 article naming a top-ranked duty (on a penalty question) and the "
        "decree defining a term the top act article delegates (on a question asking for it) "
        "just above that provision",
    )
    reference_anchors: int = opt(
        1, "how many top-ranked provisions the reference step follows references from"
    )
    article_chars: int = opt(
        2000,
        "a statute article chunked into several passages is shown as one when it has at "
        "most this many characters (0: chunks as indexed)",
    )
    expansion_weight: float = opt(
        0.5, "BM25 weight of practitioner-to-statute expansion terms (own terms weigh 1)"
    )


@dataclass(frozen=True)
class SearchConfig:
    """How ``search`` and ``ask`` retrieve. The weights are calibrated on this corpus and
    embedder-independent; only the refusal thresholds are specific to e5."""

    k: int = opt(5, "passages returned by search and shown to the generator")
    mode: str = opt("hybrid", "retrieval mode: hybrid, dense or lexical")
    fusion: FusionConfig = opt(FusionConfig(), "how hybrid search mixes its retrievers")  # noqa: RUF009

    def __post_init__(self) -> None:
        if self.mode not in SEARCH_MODES:
            raise InputError(
                f"unknown search mode {self.mode!r}; use one of {', '.join(SEARCH_MODES)}"
            )
        if self.k < 1:
            raise InputError(
                f"-k must be at least 1 (got {self.k}): it is how many passages to retrieve"
            )


def min_max(scores: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a constant vector maps to ones (or zeros if all zero)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    low, high = float(scores.min()), float(scores.max())
    if high - low < 1e-12:
        return np.ones_like(scores) if high > 0 else np.zeros_like(scores)
    return (scores - low) / (high - low)


def convex_fusion(
    dense: np.ndarray,
    lexical: np.ndarray,
    lexical_weight: float,
    boost: np.ndarray | None = None,
) -> np.ndarray:
    """Fused scores for aligned candidate arrays (one entry per candidate chunk).

    ``lexical`` is scaled by its maximum (a BM25 of zero means "no term matched" and
    must stay zero); ``dense`` by min-max, since cosines never reach zero.
    """
    if not 0.0 <= lexical_weight <= 1.0:
        raise ValueError("lexical_weight must lie in [0, 1]")
    lexical = np.asarray(lexical, dtype=np.float64)
    top = float(lexical.max()) if lexical.size else 0.0
    lexical_norm = lexical / top if top > 0 else np.zeros_like(lexical)
    fused = lexical_weight * lexical_norm + (1.0 - lexical_weight) * min_max(dense)
    if boost is not None:
        fused = fused + np.asarray(boost, dtype=np.float64)
    return fused


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = 60) -> dict[int, float]:
    """Classic RRF, kept as the reference the benchmarks compare against."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused


_ARTICLE_IN_TEXT = re.compile(r"제\s*(\d+)\s*조(?:\s*의\s*(\d+))?")


def named_articles(text: str) -> set[str]:
    """Articles a text names, normalised: ``{"제4조의2", "제8조"}``."""
    return {article_token(match) for match in _ARTICLE_IN_TEXT.finditer(text)}


def section_article(section: str) -> str | None:
    """The article a chunk belongs to, read from its section path's article part."""
    for part in section.split(" > "):
        match = _ARTICLE_IN_TEXT.match(part.strip())
        if match:
            return article_token(match)
    return None


def collapse_overlaps(
    ranked: Sequence[int], spans: Sequence[tuple[str, int, int]], limit: int
) -> list[int]:
    """Keep ranked items whose (source, start, end) span overlaps no better item.

    Long sections are split with a small overlap; two such neighbours in the top k
    show the same sentences twice and push other evidence out. When fewer than
    ``limit`` items survive, the best of the dropped ones fill up: a caller asking
    for k results from a corpus of k chunks gets k.
    """
    kept: list[int] = []
    dropped: list[int] = []
    taken: dict[str, list[tuple[int, int]]] = {}
    for item in ranked:
        source, start, end = spans[item]
        if any(
            start < other_end and other_start < end
            for other_start, other_end in taken.get(source, [])
        ):
            dropped.append(item)
            continue
        kept.append(item)
        taken.setdefault(source, []).append((start, end))
        if len(kept) >= limit:
            return kept
    return kept + dropped[: limit - len(kept)]
