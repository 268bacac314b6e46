from __future__ import annotations

import sys

import pytest
from ask_fixtures import sample_hits
from test_api import QUESTION, ListIndex

pytest.importorskip("langchain_core")


def test_retriever_returns_documents_with_provenance() -> None:
    from langchain_core.documents import Document

    from fnrag.integrations.langchain import FnragRetriever

    retriever = FnragRetriever.from_index(ListIndex(sample_hits()), k=2)
    docs = retriever.invoke("통보 유예")
    assert len(docs) == 2 and all(isinstance(d, Document) for d in docs)
    meta = docs[1].metadata
    assert meta["chunk_id"] == "c2" and meta["page"] == 12 and meta["source"] == "laws/doc2.md"
    assert meta["section"].endswith("제4조의2(거래정보등의 제공사실의 통보)")
    assert {"title", "score"} <= set(meta)
    assert docs[1].page_content == sample_hits()[1].text


def test_ask_runnable_returns_a_verified_answer() -> None:
    from fnrag.answering.assistant import Answer
    from fnrag.integrations.langchain import ask_runnable

    runnable = ask_runnable(ListIndex(sample_hits()))
    answer = runnable.invoke(QUESTION)
    # Passages are numbered in reading order: the deciding one (c2) is [1].
    assert isinstance(answer, Answer) and answer.citations[0].n == 1
    assert answer.citations[0].chunk_id == "c2"
    batch = runnable.batch([QUESTION, "오늘 점심 메뉴 추천해 줘"])
    assert [a.refused for a in batch] == [False, True]


def test_retriever_composes_in_a_chain() -> None:
    from langchain_core.runnables import RunnableLambda

    from fnrag.integrations.langchain import FnragRetriever

    chain = FnragRetriever.from_index(ListIndex(sample_hits()), k=3) | RunnableLambda(
        lambda docs: [d.metadata["chunk_id"] for d in docs]
    )
    assert chain.invoke("실지명의") == ["c1", "c2", "c3"]


def test_missing_langchain_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from fnrag.errors import MissingExtraError

    monkeypatch.delitem(sys.modules, "fnrag.integrations.langchain", raising=False)
    monkeypatch.setitem(sys.modules, "langchain_core.retrievers", None)
    with pytest.raises(MissingExtraError, match=r"fnrag\[langchain\]"):
        import fnrag.integrations.langchain  # noqa: F401
