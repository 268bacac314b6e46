"""LangChain integration: a retriever over an fnrag index and a runnable for ``ask``.

Needs the ``langchain`` extra (langchain-core). Example::

    from fnrag.integrations.langchain import FnragRetriever, ask_runnable
    retriever = FnragRetriever.from_index("index/default", k=5)
    docs = retriever.invoke("실명확인 생략 대상 거래는?")
    answer = ask_runnable("index/default").invoke("실명확인 생략 대상 거래는?")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fnrag.errors import missing_extra
from fnrag.types import Hit

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables import RunnableLambda
    from pydantic import ConfigDict
except ImportError as error:  # pragma: no cover - exercised by faking the import
    raise missing_extra("langchain-core", "langchain") from error

if TYPE_CHECKING:
    from fnrag.answering.assistant import Answer


def hit_to_document(hit: Hit) -> Document:
    """A LangChain ``Document`` carrying the hit's text and provenance."""
    return Document(
        page_content=hit.text,
        metadata={
            "source": hit.source,
            "title": hit.title,
            "page": hit.page,
            "pages": list(hit.pages),
            "section": hit.section,
            "chunk_id": hit.chunk_id,
            "score": hit.score,
            "rank": hit.rank,
        },
    )


class FnragRetriever(BaseRetriever):
    """Hybrid (FAISS + Kiwi-BM25) retrieval from an fnrag index as a LangChain retriever."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any
    k: int = 5
    mode: str = "hybrid"

    @classmethod
    def from_index(cls, index: Any = None, k: int = 5, mode: str = "hybrid") -> FnragRetriever:
        """Open ``index`` (a path, None for the default, or a loaded Index)."""
        from fnrag.answering.assistant import _load

        return cls(index=_load(index), k=k, mode=mode)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [hit_to_document(hit) for hit in self.index.search(query, k=self.k, mode=self.mode)]


def ask_runnable(
    index: Any = None, generator: Any = "extractive", k: int = 5, **options: Any
) -> RunnableLambda[str, Answer]:
    """A runnable ``question -> Answer`` (``.to_json()`` gives a plain mapping).

    The ``Assistant`` is built once, so the index and model stay loaded across calls.
    """
    from fnrag.answering.assistant import Assistant

    assistant = Assistant(index, generator, k=k, **options)

    def _ask(question: str) -> Answer:
        return assistant.ask(question)

    return RunnableLambda(_ask, name="fnrag_ask")
