"""Re-calibrate the refusal's cosine thresholds for a tuned embedder.

fnrag refuses a question that is far from every statute passage (``RefusalPolicy``:
``min_scope`` 0.858, ``confident_scope`` 0.865, ``min_dense`` 0.80). Those cosines were
calibrated on the untuned multilingual-e5-small; contrastive training spreads a model's
cosines (here in-scope questions fell from ~0.89 to ~0.77), so an index built with a tuned
model refused 95 % of in-scope questions with the e5 defaults.

The thresholds are carried over, not re-derived from few labels: each training question
(and each out-of-scope item of an eval-format file) is scored by both models as the ask
path does (best cosine to a statute passage), a least-squares line maps the base model's
scores onto the tuned model's, and every threshold goes through that line. The base
calibration (dev_qa plus 60 written questions) is kept; only the scale changes. With too
few questions or a weak fit, the cosine thresholds are switched off instead
(``dense_applies: false``: coverage alone decides, as for any non-e5 embedder).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fnrag.answering.refusal import COSINE_THRESHOLDS, RefusalPolicy, ScopeScorer
from fnrag.errors import FnragError

MIN_QUESTIONS = 12
MIN_CORRELATION = 0.6


def calibration_questions(qa: str | Path, pair_questions: Sequence[str]) -> list[str]:
    """The pairs' questions, then the file's out-of-scope questions (eval format only)."""
    from fnrag.evaluation.qa import load_qa

    questions = list(dict.fromkeys(pair_questions))
    try:
        items = load_qa(qa)
    except FnragError:  # reviewed pairs are not eval-format QA: they have no out-of-scope rows
        items = []
    questions += [item.question for item in items if item.out_of_scope]
    return list(dict.fromkeys(questions))


def scope_scores(index: Any, questions: Sequence[str]) -> np.ndarray:
    """Each question's scope similarity as ``Assistant.ask`` computes it on ``index``."""
    scorer = ScopeScorer(index)
    return np.array([scorer(index.retrieve(q, k=5)) for q in questions], dtype=np.float64)


def carry_thresholds(base_scores: np.ndarray, tuned_scores: np.ndarray) -> dict[str, Any]:
    """The ``refusal`` entry of ``fnrag_embedder.json``: mapped thresholds and the fit.

    The defaults of :class:`RefusalPolicy` are the base model's thresholds; a policy's
    other fields (coverage) are not in the cosine scale and stay as they are."""
    n = len(base_scores)
    defaults = RefusalPolicy()  # its thresholds are the base model's
    if n < MIN_QUESTIONS or float(np.std(base_scores)) < 1e-6:
        return {"dense_applies": False, "calibration": {"questions": n, "why": "too few questions"}}
    slope, intercept = np.polyfit(base_scores, tuned_scores, 1)
    correlation = float(np.corrcoef(base_scores, tuned_scores)[0, 1])
    fit = {
        "questions": n,
        "slope": round(float(slope), 6),
        "intercept": round(float(intercept), 6),
        "correlation": round(correlation, 4),
    }
    if slope <= 0 or correlation < MIN_CORRELATION:
        return {"dense_applies": False, "calibration": {**fit, "why": "weak fit"}}
    mapped = {
        name: round(float(intercept + slope * float(getattr(defaults, name))), 4)
        for name in COSINE_THRESHOLDS
    }
    return {**mapped, "calibration": fit}


def calibrate(base_index: Any, tuned_index: Any, questions: Sequence[str]) -> dict[str, Any]:
    """Score ``questions`` on both indexes (same chunks) and carry the thresholds over."""
    return carry_thresholds(
        scope_scores(base_index, questions), scope_scores(tuned_index, questions)
    )
