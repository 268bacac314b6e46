"""search and ask from 8 threads give exactly the serial results."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fnrag.answering.assistant import Assistant
from fnrag.index.build import build_index
from fnrag.index.search import load_index
from fnrag.paths import sample_corpus_dir

QUESTIONS = [
    "실명확인을 생략할 수 있는 거래는?",
    "금융실명제의 취지는 무엇인가요?",
    "거래정보를 제공할 수 있는 경우",
    "차명거래 금지 위반 시 제재",
    "실지명의의 뜻",
    "공과금 수납 거래도 실명확인을 해야 하나요?",
    "비밀보장 의무의 예외",
    "계속거래에서 다시 실명을 확인해야 하나요?",
]


@pytest.fixture
def assistant(tmp_path: Path) -> Assistant:
    build_index([sample_corpus_dir()], tmp_path / "index", embedder="hashing")
    return Assistant(load_index(tmp_path / "index"), "extractive", log=False)


def _jobs() -> list[tuple[str, str]]:
    # Every question in every mode, repeated so threads really overlap.
    return [
        (q, mode) for _ in range(4) for q in QUESTIONS for mode in ("hybrid", "dense", "lexical")
    ]


def test_search_from_8_threads_matches_serial(assistant: Assistant) -> None:
    index = assistant.index
    jobs = _jobs()
    serial = [index.search(q, k=5, mode=mode) for q, mode in jobs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(lambda job: index.search(job[0], k=5, mode=job[1]), jobs))
    assert threaded == serial
    assert any(serial)


def test_ask_from_8_threads_matches_serial(assistant: Assistant) -> None:
    questions = QUESTIONS * 3

    def shape(question: str) -> tuple:  # type: ignore[type-arg]
        answer = assistant.ask(question)
        return (
            answer.text,
            answer.refused,
            tuple(c.chunk_id for c in answer.citations),
            tuple(h.chunk_id for h in answer.passages),
        )

    serial = [shape(q) for q in questions]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(shape, questions))
    assert threaded == serial
    assert any(not refused for _, refused, _, _ in serial)


def test_first_use_from_8_threads_loads_one_embedder(tmp_path: Path) -> None:
    # The embedder loads lazily on the first dense query: 8 threads racing to it
    # must all get the same instance and identical results.
    build_index([sample_corpus_dir()], tmp_path / "index", embedder="hashing")
    index = load_index(tmp_path / "index")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda q: index.search(q, k=3, mode="dense"), QUESTIONS))
        embedders = set(pool.map(lambda _: id(index.embedder), range(8)))
    assert len(embedders) == 1
    assert results == [index.search(q, k=3, mode="dense") for q in QUESTIONS]
