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
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from fnrag.config import opt
from fnrag.types import Evidence, Hit, Retrieval

if TYPE_CHECKING:
    from fnrag.generators.extractive import ExtractiveGenerator


@dataclass(frozen=True)
class RefusalPolicy:
    """When to refuse before generating, on the evidence retrieval found.

    The cosine thresholds (``min_dense``, ``min_scope``, ``confident_scope``) are
    calibrated on multilingual-e5 (``benchmarks/calibrate_refusal.py``) and apply only
    to an index whose embedder family is e5; coverage thresholds apply to every
    embedder.
    """

    min_coverage: float = opt(0.5, "refuse below this share of the question's morphemes found")
    min_dense: float = opt(
        0.80,
        "e5 only: refuse below this best cosine, unless coverage reaches trust_coverage",
    )
    trust_coverage: float = opt(0.75, "coverage that overrides min_dense")
    min_lexical: float = opt(0.0, "refuse when the best BM25 score is below this (0: off)")
    top: int = opt(3, "how many top passages count for coverage")
    dense_applies: bool | None = opt(
        None,
        "apply the e5 cosine thresholds (None: the Assistant decides by the index's "
        "embedder family; a policy used on its own applies them)",
    )
    min_scope: float = opt(
        0.858, "e5 only: refuse when the question is this far from every statute passage"
    )
    scope_coverage: float = opt(
        0.25, "e5 only: ...or when coverage is below this (other thresholds then off)..."
    )
    confident_scope: float = opt(
        0.865,
        "e5 only: ...unless the scope similarity reaches this (colloquial questions share "
        "few words with the statutes yet sit close to them)",
    )
    sentence_gate: bool = opt(
        True,
        "before a model generates, refuse when no passage sentence holds enough of the "
        "question's words: the bar the extractive answer applies, so every generator "
        "declines the same questions",
    )

    def sentence_gate_for(self, generator: Any) -> ExtractiveGenerator | None:
        """The extractive generator that decides, before ``generator`` runs, whether the
        passages answer at all; None when ``sentence_gate`` is off or ``generator`` is
        the extractive one (it applies that bar itself)."""
        from fnrag.generators.composer import ComposerGenerator
        from fnrag.generators.extractive import ExtractiveGenerator
        from fnrag.generators.sentences import SentenceSelector

        if not self.sentence_gate or isinstance(generator, SentenceSelector | ComposerGenerator):
            return None
        # A small model answers questions the passages do not (an off-topic question
        # whose words a manual page shares): the default's bar keeps refusals alike.
        return ExtractiveGenerator()

    def refuse(self, evidence: Evidence) -> bool:
        dense_applies = self.dense_applies is not False
        if evidence.scope is not None and dense_applies:
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
            dense_applies
            and evidence.dense is not None
            and evidence.dense < self.min_dense
            and evidence.coverage < self.trust_coverage
        )


# Thresholds in the embedder's cosine scale: a tuned embedder records its own
# (``training.retriever_scope``), carried into the index manifest by build-index.
COSINE_THRESHOLDS = ("min_scope", "confident_scope", "min_dense")


def calibrated_policy(recorded: Any, policy: RefusalPolicy) -> RefusalPolicy:
    """``policy`` with an index's recorded thresholds where ``policy`` keeps the e5
    defaults (a value set in settings or code wins); ``dense_applies: false`` recorded
    switches the cosine thresholds off unless ``policy`` decided that itself."""
    if not isinstance(recorded, dict):
        return policy
    defaults = {f.name: f.default for f in fields(RefusalPolicy)}
    changes: dict[str, Any] = {}
    for name in COSINE_THRESHOLDS:
        value = recorded.get(name)
        if isinstance(value, int | float) and getattr(policy, name) == defaults[name]:
            changes[name] = float(value)
    if recorded.get("dense_applies") is False and policy.dense_applies is None:
        changes["dense_applies"] = False
    return replace(policy, **changes) if changes else policy


def for_index(index: Any, policy: RefusalPolicy) -> RefusalPolicy:
    """``policy`` as it applies to ``index``: with the thresholds its embedder recorded
    (``embedder_provenance.refusal`` in the manifest), if any."""
    manifest = getattr(index, "manifest", None)
    provenance = manifest.get("embedder_provenance") if isinstance(manifest, dict) else None
    recorded = provenance.get("refusal") if isinstance(provenance, dict) else None
    return calibrated_policy(recorded, policy)


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

    def __call__(self, retrieval: Retrieval) -> float:
        """Uses the question's vector retrieval already computed; embeds only when there
        is none (lexical mode, or an index object without vectors of its own)."""
        import numpy as np

        query = retrieval.question_vector
        if query is None:
            embedded = self.index.embedder.encode_queries([retrieval.question])[0]
            query = np.asarray(embedded, dtype=np.float32)
        return float((self.vectors @ query).max()) if len(self.vectors) else 0.0
