"""Run an evaluation: retrieval per mode (and baselines), answers per generator.

Every number comes from :mod:`fnrag.evaluation.metrics` applied to the exact hits
and answers the systems returned; the per-question records are kept in the
result so anyone can re-score them independently.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fnrag.evaluation import metrics as m
from fnrag.evaluation.qa import QAItem
from fnrag.types import Chunk, Hit

MODES = ("hybrid", "dense", "lexical")
HIT_KS = (1, 3, 5, 10)
DEPTH = 10  # MRR@10 / nDCG@10 need the top 10

# (query, depth, as_of=…) → ranked hits; as_of is passed only for dated questions.
SearchFn = Callable[..., Sequence[Hit]]


@dataclass(frozen=True)
class RetrievalScores:
    """Retrieval metrics averaged over the in-scope questions (see metrics.py)."""

    hit_at: tuple[tuple[int, float], ...]
    mrr_at_10: float
    ndcg_at_10: float

    def to_json(self) -> dict[str, float]:
        data = {f"hit@{k}": value for k, value in self.hit_at}
        data["mrr@10"] = self.mrr_at_10
        data["ndcg@10"] = self.ndcg_at_10
        return data


@dataclass(frozen=True)
class QuestionRetrieval:
    """One question's ranked results and their gold flags (for re-scoring)."""

    id: str
    chunk_ids: tuple[str, ...]
    relevance: tuple[bool, ...]
    n_relevant: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "chunk_ids": list(self.chunk_ids),
            "relevance": list(self.relevance),
            "n_relevant_in_index": self.n_relevant,
            "ms": round(self.seconds * 1000, 3),
        }


@dataclass(frozen=True)
class RetrievalResult:
    """One retrieval system (an index mode or a baseline) over the QA set."""

    system: str
    scores: RetrievalScores
    latency: m.LatencySummary
    questions: tuple[QuestionRetrieval, ...]
    n_chunks: int

    @property
    def unreachable(self) -> tuple[str, ...]:
        """Questions whose gold passage is in no chunk of this system's index."""
        return tuple(q.id for q in self.questions if q.n_relevant == 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "system": self.system,
            **self.scores.to_json(),
            "latency": self.latency.to_json(),
            "n_chunks": self.n_chunks,
            "no_gold_in_index": list(self.unreachable),
            "questions": [q.to_json() for q in self.questions],
        }


def evaluate_retrieval(
    system: str,
    search: SearchFn,
    chunks: Sequence[Chunk],
    items: Sequence[QAItem],
    *,
    tick: Callable[[], None] = lambda: None,
) -> RetrievalResult:
    """Score ``search`` on the in-scope questions; ``chunks`` is its whole index.

    One untimed warm-up search runs first so the latency figures are warm ones
    (the first call loads the embedder and Kiwi).
    """
    records: list[QuestionRetrieval] = []
    if items:
        search(items[0].question, DEPTH, **_dated(items[0]))
    for item in items:
        if not item.in_scope:
            continue
        n_relevant = sum(1 for c in chunks if m.is_gold(c.source, c.text, item.gold))
        started = time.perf_counter()
        hits = list(search(item.question, DEPTH, **_dated(item)))
        seconds = time.perf_counter() - started
        records.append(
            QuestionRetrieval(
                id=item.id,
                chunk_ids=tuple(h.chunk_id for h in hits),
                relevance=tuple(m.is_gold(h.source, h.text, item.gold) for h in hits),
                n_relevant=n_relevant,
                seconds=seconds,
            )
        )
        tick()
    return RetrievalResult(
        system=system,
        scores=score_retrieval(records),
        latency=m.latency_summary([r.seconds for r in records]),
        questions=tuple(records),
        n_chunks=len(chunks),
    )


def _dated(item: QAItem) -> dict[str, str]:
    """``as_of`` for a question asked about a date; nothing (today) otherwise, so that
    systems without versions (the baselines) still answer undated questions."""
    return {"as_of": item.as_of} if item.as_of else {}


def score_retrieval(records: Sequence[QuestionRetrieval]) -> RetrievalScores:
    """Means of hit@k, MRR@10 and nDCG@10 over the records (0.0 for no records)."""

    def avg(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    return RetrievalScores(
        hit_at=tuple((k, avg([m.hit_at_k(r.relevance, k) for r in records])) for k in HIT_KS),
        mrr_at_10=avg([m.mrr_at_k(r.relevance, 10) for r in records]),
        ndcg_at_10=avg([m.ndcg_at_k(r.relevance, r.n_relevant, 10) for r in records]),
    )


# ---------------------------------------------------------------- answers


@dataclass(frozen=True)
class QuestionAnswer:
    """One answer reduced to what the answer metrics need, plus its text."""

    id: str
    judgement: m.AnswerJudgement
    text: str
    cited_chunk_ids: tuple[str, ...]
    seconds: float
    timings: tuple[tuple[str, float], ...]

    def to_json(self) -> dict[str, Any]:
        j = self.judgement
        return {
            "id": self.id,
            "in_scope": j.in_scope,
            "refused": j.refused,
            "cited_chunk_ids": list(self.cited_chunk_ids),
            "citations_gold": list(j.citations_gold),
            "invalid_citations": j.invalid_citations,
            "anchors_covered": list(j.anchors_covered),
            "ms": round(self.seconds * 1000, 3),
            "answer": self.text,
        }


@dataclass(frozen=True)
class AskResult:
    """One generator in one setting (``rag`` or ``closed-book``) over the QA set.

    ``note`` explains an unavailable setting (e.g. closed-book for the extractive
    generator, which has nothing to say without passages); its metrics are then None.
    """

    generator: str
    setting: str
    metrics: tuple[tuple[str, float | None], ...] = ()
    latency: tuple[tuple[str, m.LatencySummary], ...] = ()
    questions: tuple[QuestionAnswer, ...] = ()
    note: str = ""

    @property
    def available(self) -> bool:
        return not self.note

    def metric(self, name: str) -> float | None:
        return dict(self.metrics).get(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "generator": self.generator,
            "setting": self.setting,
            "available": self.available,
            "note": self.note or None,
            # every metric key is always present (None when unavailable or undefined)
            **{name: None for name in ANSWER_METRICS},
            **dict(self.metrics),
            "latency": {stage: s.to_json() for stage, s in self.latency},
            "questions": [q.to_json() for q in self.questions],
        }


ANSWER_METRICS = (
    "citation_precision",
    "citation_recall",
    "invalid_citation_rate",
    "refusal_accuracy_in_scope",
    "refusal_accuracy_out_of_scope",
    "anchor_coverage",
)


def score_answers(records: Sequence[QuestionAnswer]) -> tuple[tuple[str, float | None], ...]:
    """The answer metrics of metrics.py over the records."""
    judgements = [r.judgement for r in records]
    return (
        ("citation_precision", m.citation_precision(judgements)),
        ("citation_recall", m.citation_recall(judgements)),
        ("invalid_citation_rate", m.invalid_citation_rate(judgements)),
        ("refusal_accuracy_in_scope", m.refusal_accuracy(judgements, in_scope=True)),
        ("refusal_accuracy_out_of_scope", m.refusal_accuracy(judgements, in_scope=False)),
        ("anchor_coverage", m.anchor_coverage(judgements)),
    )


def judge_answer(
    item: QAItem, answer: Any, chunk_lookup: Callable[[str], Chunk | None]
) -> QuestionAnswer:
    """Reduce an ``fnrag.Answer`` to a :class:`QuestionAnswer` (timing filled later)."""
    passages = {h.chunk_id: h for h in (getattr(answer, "passages", None) or ())}
    cited: list[str] = []
    gold_flags: list[bool] = []
    for citation in getattr(answer, "citations", None) or ():
        passage: Hit | Chunk | None = passages.get(citation.chunk_id) or chunk_lookup(
            citation.chunk_id
        )
        cited.append(citation.chunk_id)
        gold_flags.append(
            passage is not None and m.is_gold(passage.source, passage.text, item.gold)
        )
    invalid = getattr(answer, "invalid_citations", None) or ()
    n_invalid = invalid if isinstance(invalid, int) else len(invalid)
    text = str(getattr(answer, "text", "") or "")
    refused = bool(getattr(answer, "refused", False))
    return QuestionAnswer(
        id=item.id,
        judgement=m.AnswerJudgement(
            in_scope=item.in_scope,
            refused=refused,
            citations_gold=tuple(gold_flags),
            invalid_citations=n_invalid,
            anchors_covered=m.anchors_covered(text, item.gold),
        ),
        text=text,
        cited_chunk_ids=tuple(cited),
        seconds=0.0,
        timings=_timings(getattr(answer, "timings", None)),
    )


def _timings(raw: Any) -> tuple[tuple[str, float], ...]:
    """Stage timings in seconds from a mapping, (name, value) pairs or a dataclass."""
    if raw is None:
        return ()
    if hasattr(raw, "items"):
        items = list(raw.items())
    elif isinstance(raw, tuple | list):
        items = [tuple(pair) for pair in raw]
    else:
        items = list(vars(raw).items())
    stages: list[tuple[str, float]] = []
    for key, value in items:
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        name = str(key)
        # fnrag.answering.assistant.Timings counts milliseconds (retrieve_ms, …); keep seconds here.
        if name.endswith("_ms"):
            stages.append((name[:-3], float(value) / 1000))
        else:
            stages.append((name.removesuffix("_s"), float(value)))
    return tuple(stages)


def evaluate_answers(
    generator: str,
    setting: str,
    ask: Callable[[str], Any],
    items: Sequence[QAItem],
    chunk_lookup: Callable[[str], Chunk | None],
    *,
    tick: Callable[[], None] = lambda: None,
) -> AskResult:
    """Ask every question through ``ask`` and score the answers (after one untimed
    warm-up question, so that model loading is not counted as latency)."""
    records: list[QuestionAnswer] = []
    if items:
        ask(items[0].question, **_dated(items[0]))
    for item in items:
        started = time.perf_counter()
        answer = ask(item.question, **_dated(item))
        seconds = time.perf_counter() - started
        records.append(replace(judge_answer(item, answer, chunk_lookup), seconds=seconds))
        tick()
    # "wall" is measured here around the whole call; the other stages are the
    # answer's own timings.
    stages: dict[str, list[float]] = {"wall": [r.seconds for r in records]}
    for record in records:
        for stage, seconds in record.timings:
            stages.setdefault(stage, []).append(seconds)
    return AskResult(
        generator=generator,
        setting=setting,
        metrics=score_answers(records),
        latency=tuple((stage, m.latency_summary(values)) for stage, values in stages.items()),
        questions=tuple(records),
    )


# ---------------------------------------------------------------- the whole run


@dataclass(frozen=True)
class EvalReport:
    """Everything one ``fnrag eval`` run measured.

    Attributes:
        qa_path, index_path: what was evaluated.
        n_questions, n_in_scope: the QA set's size.
        k: passages given to each generator.
        primary: the retrieval system reported as ``retrieval`` (hybrid when run).
        retrieval: one result per mode and baseline.
        answers: one result per generator and setting.
        baseline_build: build figures of the quick-start baseline, when run.
    """

    qa_path: str
    index_path: str
    n_questions: int
    n_in_scope: int
    k: int
    primary: str
    retrieval: tuple[RetrievalResult, ...]
    answers: tuple[AskResult, ...] = ()
    baseline_build: tuple[tuple[str, float], ...] = field(default=())

    def system(self, name: str) -> RetrievalResult:
        for result in self.retrieval:
            if result.system == name:
                return result
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        primary = self.system(self.primary)
        return {
            "qa": self.qa_path,
            "index": self.index_path,
            "n_questions": self.n_questions,
            "n_in_scope": self.n_in_scope,
            "n_out_of_scope": self.n_questions - self.n_in_scope,
            "k": self.k,
            # numbers only, so a checker can compare every value of this member
            "retrieval": primary.scores.to_json(),
            "retrieval_mode": self.primary,
            "retrieval_by_system": {r.system: r.to_json() for r in self.retrieval},
            "answers": [a.to_json() for a in self.answers],
            "latency": {
                "search": {r.system: r.latency.to_json() for r in self.retrieval},
                "ask": {
                    f"{a.generator}/{a.setting}": {s: v.to_json() for s, v in a.latency}
                    for a in self.answers
                    if a.available
                },
            },
            "baseline_build": dict(self.baseline_build) or None,
        }


def progress_bar(total: int, enabled: bool) -> Any:
    """A tqdm bar on stderr (stdout stays clean for ``--json``)."""
    from tqdm import tqdm

    return tqdm(total=total, file=sys.stderr, disable=not enabled, desc="fnrag eval", unit="q")
