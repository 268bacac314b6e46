"""Refuse when the retrieved evidence is too weak to answer from.

Signals: the *scope similarity* (best e5 cosine between the question and any
statute passage of the index), the share of the question's content morphemes
found in the top passages (coverage), and the best dense / BM25 scores of the
hits. Off-topic questions still retrieve *something*: near-domain ones (card
fees, loan rates) even retrieve real inspection-manual passages sharing their
words, so coverage and hit scores overlap with in-scope questions; their
distance from every statute passage does not. With e5 the policy is scope
similarity >= 0.858 and coverage >= 0.25; other embedders (different cosine
scale) fall back to coverage >= 0.5. Calibrated on dev_qa plus 30 off-topic and
30 in-scope questions written for the purpose (benchmarks/refusal_questions.py,
benchmarks/calibrate_refusal.py; figures in benchmarks/RESULTS_ask.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from fnrag.types import Evidence, Hit


@dataclass(frozen=True)
class RefusalPolicy:
    """When to refuse before generating.

    Attributes:
        min_coverage: refuse below this morpheme coverage.
        min_dense: refuse below this best cosine, unless coverage is at least
            ``trust_coverage`` (exact wording outweighs a low cosine). Only applied
            when ``dense_applies`` (the cosine scale is embedder-specific).
        trust_coverage: coverage that overrides the dense threshold.
        min_lexical: refuse when the best BM25 score is below this (0 disables).
        top: how many top passages count for coverage.
        dense_applies: apply the cosine thresholds; the Assistant enables them only for
            e5 embedders.
        min_scope: when the scope similarity is measured (e5), refuse below it...
        scope_coverage: ...or below this coverage (the other thresholds then don't apply)...
        confident_scope: ...unless the scope similarity reaches this: colloquial
            questions ("가족 이름으로 나눠서 넣으라고 …") share few words with the statutes
            yet sit close to them (off-topic questions stayed <= 0.857 in calibration).
    """

    min_coverage: float = 0.5
    min_dense: float = 0.80
    trust_coverage: float = 0.75
    min_lexical: float = 0.0
    top: int = 3
    dense_applies: bool = True
    min_scope: float = 0.858
    scope_coverage: float = 0.25
    confident_scope: float = 0.865

    def refuse(self, evidence: Evidence) -> bool:
        if evidence.scope is not None and self.dense_applies:
            # With e5 the scope similarity separates best (calibration: in-scope
            # >= 0.861, off-topic <= 0.856: threshold midway); coverage only catches junk.
            if evidence.scope < self.min_scope:
                return True
            return evidence.scope < self.confident_scope and evidence.coverage < self.scope_coverage
        if evidence.coverage < self.min_coverage:
            return True
        if self.min_lexical and (evidence.lexical or 0.0) < self.min_lexical:
            return True
        return bool(
            self.dense_applies
            and evidence.dense is not None
            and evidence.dense < self.min_dense
            and evidence.coverage < self.trust_coverage
        )


def with_scope(evidence: Evidence, scope: float | None) -> Evidence:
    return replace(evidence, scope=scope)


def measure(question_tokens: Sequence[str], hits: Sequence[Hit], top: int = 3) -> Evidence:
    """Evidence features for a question (already tokenised) and its hits."""
    wanted = list(dict.fromkeys(question_tokens))
    # Substring tests on whitespace-free text: as good as tokenising the passages
    # (tokens are Kiwi surface forms) and ~100x cheaper.
    haystack = "".join("".join(f"{hit.section}{hit.text}".split()) for hit in hits[:top]).lower()
    matched = tuple(t for t in wanted if t.lower() in haystack)
    missing = tuple(t for t in wanted if t.lower() not in haystack)
    dense = [h.dense_score for h in hits if h.dense_score is not None]
    lexical = [h.lexical_score for h in hits if h.lexical_score is not None]
    return Evidence(
        coverage=len(matched) / len(wanted) if wanted else 0.0,
        matched=matched,
        missing=missing,
        dense=max(dense) if dense else None,
        lexical=max(lexical) if lexical else None,
    )


# Titles of the documents that define the assistant's scope (statutes and decrees).
_SCOPE_TITLE = re.compile(r"법률|시행령|시행규칙|법$")


class ScopeScorer:
    """Best cosine between a question and the scope passages of an index.

    Off-topic banking questions (card fees, loan rates) retrieve real manual
    passages with fair cosines, but they are far from every statute passage;
    in-scope questions are close to at least one. Scope passages are the chunks of
    statute-titled documents, or all chunks when the index has none.
    """

    def __init__(self, index: Any) -> None:
        import numpy as np

        self.index = index
        vectors = np.asarray(index.vectors, dtype=np.float32)
        mask = np.array([bool(_SCOPE_TITLE.search(c.title)) for c in index.chunks], dtype=bool)
        self.vectors = vectors[mask] if mask.any() else vectors

    @classmethod
    def for_index(cls, index: Any) -> ScopeScorer | None:
        """A scorer, or None when the index exposes no vectors/embedder."""
        if not all(hasattr(index, name) for name in ("vectors", "chunks", "embedder")):
            return None
        return cls(index)

    def __call__(self, question: str) -> float:
        import numpy as np

        encode = getattr(self.index, "encode_query", None)  # fnrag Index: reuses search's
        if encode is not None:
            query = encode(question)
        else:
            query = np.asarray(self.index.embedder.encode_queries([question])[0], dtype=np.float32)
        return float((self.vectors @ query).max()) if len(self.vectors) else 0.0
