"""Shared fixtures: where the real corpus is, and an isolated fnrag home per test."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from fnrag.generators.base import Generation
from fnrag.types import Hit

REPO = Path(__file__).resolve().parent.parent
SHARED_CORPUS = REPO.parent / "shared" / "corpus"
SAMPLE_CORPUS = REPO / "index" / "sample"

# The real-corpus benchmark set (issue 2): statutes, the related law, the FSS manual.
REAL_CORPUS_FILES = (
    "laws/금융실명법_법률.md",
    "laws/금융실명법_시행령.md",
    "laws/금융실명법_시행규칙.md",
    "laws/related/특정금융정보법_법률.md",
    "laws/related/특정금융정보법_시행령.md",
    "pdf/은행검사매뉴얼_2025-07.pdf",
)


# --- shared fakes (the real index and generators are tested under `slow`) ------------


class ListIndex:
    """An index stand-in that returns fixed hits for any query: retrieval held fixed."""

    def __init__(self, hits: Sequence[Hit], version: str = "test") -> None:
        self.hits = list(hits)
        self.queries: list[str] = []
        self.manifest = {"embedder": {"name": "hashing"}}
        self.version = version

    def search(self, query: str, k: int = 5, mode: str = "hybrid") -> list[Hit]:
        self.queries.append(query)
        return self.hits[:k]


class ScriptedGenerator:
    """A generator that answers from a script (one text, or a text per question) and
    records the prompts and passages it was given."""

    name = "scripted"

    def __init__(self, script: str | Mapping[str, str]) -> None:
        self.script = script
        self.prompts: list[str] = []
        self.passages: list[list[Hit]] = []

    def generate(self, prompt: str, *, question: str, passages: Sequence[Hit]) -> Generation:
        self.prompts.append(prompt)
        self.passages.append(list(passages))
        text = self.script if isinstance(self.script, str) else self.script[question]
        return Generation(text=text, seconds=0.01)


# A llama_cpp.server that died during a failed test is named at the top of its report.
pytest_plugins = ("llama_server",)

_ENV_CLEARED = (
    "FNRAG_CONFIG",
    "FNRAG_INDEX_KEY",
    "FNRAG_OPENAI_BASE_URL",
    "FNRAG_OPENAI_MODEL",
    "FNRAG_EMBED_BACKEND",
    "FNRAG_VOCABULARY",
)


def _isolate(monkeypatch: pytest.MonkeyPatch, home: Path, models: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "models").exists():
        (home / "models").symlink_to(models, target_is_directory=True)
    monkeypatch.setenv("FNRAG_HOME", str(home))
    monkeypatch.setenv("FNRAG_INDEX", str(home / "index"))
    for name in _ENV_CLEARED:
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(scope="session", autouse=True)
def session_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One models folder per session, and an isolated home for session-wide fixtures.

    Converting the default embedder and exporting it to ONNX takes seconds: it happens
    once per session in this folder, which every test's own home links to.
    """
    models = tmp_path_factory.mktemp("fnrag-models")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _isolate(monkeypatch, tmp_path_factory.mktemp("fnrag-session-home"), models)
        yield models


@pytest.fixture(autouse=True)
def isolated_fnrag_home(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    session_models: Path,
) -> Path:
    """A fresh ``$FNRAG_HOME`` and ``$FNRAG_INDEX`` per test: nothing reads or writes the
    user's ``~/.cache/fnrag`` or the checkout's ``index/default``."""
    return _isolate(monkeypatch, tmp_path_factory.mktemp("fnrag-home"), session_models)


@pytest.fixture
def shared_corpus() -> Path:
    """../shared/corpus, or skip: a user's fresh clone has no ../shared."""
    if not SHARED_CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent")
    return SHARED_CORPUS


@pytest.fixture
def sample_corpus() -> Path:
    return SAMPLE_CORPUS


@pytest.fixture(scope="session")
def real_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real-corpus index (default embedder), built once per test session.

    Sources are given as ``../shared/corpus/...`` paths, so hit sources end with the
    dev_qa ``doc`` paths. Treat it as read-only.
    """
    if not SHARED_CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent")
    from fnrag.index.build import build_index

    out = tmp_path_factory.mktemp("real-index")
    build_index([str(SHARED_CORPUS / name) for name in REAL_CORPUS_FILES], out)
    return out


@pytest.fixture(scope="session")
def sample_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample corpus indexed with the default embedder, once per session."""
    from fnrag.index.build import build_index

    out = tmp_path_factory.mktemp("sample-index")
    build_index([str(SAMPLE_CORPUS)], out)
    return out


@pytest.fixture(scope="session")
def hashing_sample_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample corpus indexed with the fast hashing embedder, once per session."""
    from fnrag.index.build import build_index

    out = tmp_path_factory.mktemp("hashing-sample-index")
    build_index([str(SAMPLE_CORPUS)], out, embedder="hashing")
    return out
