"""Query analysis and hybrid ranking, separated from index storage.

A question is turned into a ``QueryPlan`` once: its weighted lexical terms (the
user's own words at full weight, practitioner-to-statute expansions at a lower
weight), the text the embedder sees, and the articles and law kinds it names.
``rank_candidates`` then fuses the two retrievers' scores for a candidate set.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from fnrag.index.cues import asks_addenda, asks_penalty, is_addenda, is_penalty_section
from fnrag.index.fusion import FusionConfig, convex_fusion, named_articles
from fnrag.korean.glossary import english_gloss
from fnrag.korean.tokens import tokenize_many
from fnrag.korean.vocabulary import expansions
from fnrag.types import QueryPlan

# The subject fnrag answers about: documents whose title names it are preferred on
# near-ties with related laws (특정금융정보법 repeats many 금융실명법 provisions).
FOCUS_TITLE_TERMS = ("금융실명",)


def plan_query(question: str, expansion_weight: float = 0.5, vocabulary: Any = None) -> QueryPlan:
    """Analyse ``question`` once: tokens, weighted terms with expansions, the dense text.

    ``vocabulary``: a YAML file or ``Vocabulary`` (default: ``$FNRAG_VOCABULARY``, else
    the built-in table; see ``fnrag.korean.vocabulary``).

    A question written in English is searched by the Korean terms of its domain phrases
    (``fnrag.korean.glossary``): they are its own words for BM25, the composer and the
    refusal check, and the embedder sees the English question followed by them."""
    gloss = english_gloss(question)
    lexical = " ".join(gloss) if gloss else question
    extra = expansions(lexical, vocabulary)
    own, expanded = tokenize_many([lexical, " ".join(extra)])
    terms: dict[str, float] = {term: float(count) for term, count in Counter(own).items()}
    for term in expanded:
        terms.setdefault(term, expansion_weight)
    korean = [*gloss, *extra]
    dense_text = f"{question} ({' '.join(korean)})" if korean else question
    return QueryPlan(
        question=question,
        tokens=tuple(own),
        terms=terms,
        dense_text=dense_text,
        articles=frozenset(named_articles(question)),
        law_kinds=tuple(kind for kind in ("시행규칙", "시행령") if kind in question),
        reading=lexical if gloss else "",
    )


def is_focus_title(title: str) -> bool:
    return any(term in title for term in FOCUS_TITLE_TERMS)


def candidate_boosts(
    plan: QueryPlan,
    config: FusionConfig,
    candidate_articles: Sequence[str | None],
    candidate_titles: Sequence[str],
    candidate_sections: Sequence[str] | None = None,
) -> np.ndarray:
    """Additive boosts: named-article matches, the focus-document prior and, given the
    sections, 부칙 held back unless asked about and penalty articles for penalty questions."""
    boost = np.zeros(len(candidate_titles))
    sections = candidate_sections or [""] * len(candidate_titles)
    # An English question's cues are in its Korean reading.
    addenda_ok = asks_addenda(plan.reading or plan.question)
    penalty = asks_penalty(plan.reading or plan.question)
    for j, (article, title) in enumerate(zip(candidate_articles, candidate_titles, strict=True)):
        addenda = is_addenda(sections[j])
        if addenda and not addenda_ok:
            # Transitional and amendment clauses share the words of the provisions
            # they amend but answer only questions about 시행일/경과조치/개정; their
            # 제N조 is the 부칙's own numbering, never the article a question names.
            boost[j] -= config.addenda_penalty
            continue
        if penalty and is_penalty_section(sections[j]):
            boost[j] += config.penalty_boost
        if is_focus_title(title):
            boost[j] += config.focus_boost
        if plan.articles and article in plan.articles:
            # "시행령 제8조" should prefer the decree's 제8조 over the act's.
            same_kind = (not plan.law_kinds and "시행" not in title) or any(
                k in title for k in plan.law_kinds
            )
            boost[j] += config.article_boost * (1.0 if same_kind else 0.5)
    return boost


def rank_candidates(
    dense: np.ndarray, lexical: np.ndarray, boosts: np.ndarray, config: FusionConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Fused scores and the candidate positions in descending order (stable)."""
    fused = convex_fusion(dense, lexical, config.lexical_weight, boosts)
    return fused, np.argsort(-fused, kind="stable")
