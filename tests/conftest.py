"""Shared fixtures: where the real corpus is, and an isolated fnrag home per test."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    from fnrag.index import build_index

    out = tmp_path_factory.mktemp("real-index")
    build_index([str(SHARED_CORPUS / name) for name in REAL_CORPUS_FILES], out)
    return out


@pytest.fixture(scope="session")
def sample_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample corpus indexed with the default embedder, once per session."""
    from fnrag.index import build_index

    out = tmp_path_factory.mktemp("sample-index")
    build_index([str(SAMPLE_CORPUS)], out)
    return out


@pytest.fixture(scope="session")
def hashing_sample_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample corpus indexed with the fast hashing embedder, once per session."""
    from fnrag.index import build_index

    out = tmp_path_factory.mktemp("hashing-sample-index")
    build_index([str(SAMPLE_CORPUS)], out, embedder="hashing")
    return out
