"""One question, one analysis, one embedding: ``Index.retrieve`` hands its plan and query
vector on to refusal and the generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fnrag.answering.assistant import Assistant
from fnrag.answering.refusal import RefusalPolicy
from fnrag.index import plan as plan_module
from fnrag.index.search import load_index
from fnrag.types import Retrieval

# 예금주 and 거래내역 both expand (명의인, 거래정보등): the dense text differs from the question.
QUESTION = "예금주 본인이 아닌 사람이 거래내역을 달라고 하면 줘도 되나요?"


@pytest.fixture
def counted(hashing_sample_index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    index = load_index(hashing_sample_index_dir)
    calls = {"analyse": 0, "embed": 0, "encoder calls": 0}
    real_tokenize_many = plan_module.tokenize_many
    real_encode = index.embedder.encode_queries

    def tokenize_many(texts: list[str]) -> list[list[str]]:
        calls["analyse"] += 1
        return real_tokenize_many(texts)

    def encode_queries(texts: list[str], *args: object, **kwargs: object) -> np.ndarray:
        calls["embed"] += len(texts)
        calls["encoder calls"] += 1
        return real_encode(texts, *args, **kwargs)

    monkeypatch.setattr(plan_module, "tokenize_many", tokenize_many)
    monkeypatch.setattr(index.embedder, "encode_queries", encode_queries)
    calls["index"] = index  # type: ignore[assignment]
    return calls


def test_ask_analyses_and_embeds_the_question_once(counted: dict) -> None:
    index = counted.pop("index")
    # dense_applies=True turns on the scope check, which used to embed the bare
    # question in a second encoder call whenever a practitioner term expanded.
    assistant = Assistant(index, refusal=RefusalPolicy(dense_applies=True), log=False)
    assert index.retrieve(QUESTION).plan.dense_text != QUESTION  # the case that cost two
    counted.update({"analyse": 0, "embed": 0, "encoder calls": 0})
    answer = assistant.ask(QUESTION)
    assert answer.passages
    # One encoder call: the expanded text (retrieval) and the question as asked (the
    # scope check is calibrated on it) go in one batch.
    assert counted == {"analyse": 1, "embed": 2, "encoder calls": 1}


def test_a_question_without_expansion_is_embedded_once(counted: dict) -> None:
    index = counted.pop("index")
    question = "실명확인증표의 종류는 무엇인가요?"
    assert index.retrieve(question).plan.dense_text == question
    assistant = Assistant(index, refusal=RefusalPolicy(dense_applies=True), log=False)
    counted.update({"analyse": 0, "embed": 0, "encoder calls": 0})
    assistant.ask(question)
    assert counted == {"analyse": 1, "embed": 1, "encoder calls": 1}


def test_retrieve_keeps_plan_vector_and_hits(hashing_sample_index_dir: Path) -> None:
    index = load_index(hashing_sample_index_dir)
    retrieval = index.retrieve("실명확인증표에는 무엇이 있나요?", k=3)
    assert isinstance(retrieval, Retrieval)
    assert [h.chunk_id for h in retrieval.hits] == [
        h.chunk_id for h in index.search("실명확인증표에는 무엇이 있나요?", k=3)
    ]
    assert retrieval.query_vector is not None and not retrieval.query_vector.flags.writeable
    assert "실명" in "".join(retrieval.plan.tokens)
    assert index.retrieve("실명확인증표", k=2, mode="lexical").query_vector is None


def test_hybrid_returns_k_when_the_corpus_has_k_chunks(hashing_sample_index_dir: Path) -> None:
    index = load_index(hashing_sample_index_dir)
    k = len(index)
    hits = index.search("금융회사등은 거래자의 실지명의로 금융거래를 하여야 한다", k=k)
    assert len(hits) == k
    assert len({h.chunk_id for h in hits}) == k
    assert len(index.search("실명확인", k=k + 50)) == k
