"""The quick-start and whitespace-BM25 baselines (real splitter, pypdf, FAISS)."""

from __future__ import annotations

import importlib.util
import itertools
import math
from pathlib import Path

import pytest

from fnrag.errors import InputError
from fnrag.evaluation.baseline import (
    CHUNK_OVERLAP,
    CHUNK_SIZE,
    WhitespaceBM25,
    build_quickstart,
    collect_files,
    quickstart_chunks,
)
from fnrag.types import Chunk

SENTENCES = [
    "금융회사등은 거래자의 실지명의로 금융거래를 하여야 한다.",
    "실명이 확인된 계좌에 의한 계속거래는 실명확인을 생략할 수 있다.",
    "명의인의 서면상의 요구나 동의 없이 거래정보등을 제공하여서는 아니 된다.",
    "거래정보등을 제공한 날부터 10일 이내에 명의인에게 통보하여야 한다.",
]


def chunk(text: str, n: int = 0) -> Chunk:
    return Chunk(f"c{n}", "docs/안내서.md", "안내서", "", text, 0, len(text))


def test_whitespace_bm25_hand_computed() -> None:
    bm25 = WhitespaceBM25([chunk("실명 확인 실명", 0), chunk("확인 생략", 1)])
    # N=2, avgdl=2.5; "실명": df=1, idf=ln(1 + 1.5/1.5) = ln 2; d0 tf=2, |d|=3:
    # norm = 1.5 * (0.25 + 0.75 * 3 / 2.5) = 1.725 -> ln2 * 2 * 2.5 / (2 + 1.725)
    assert bm25.scores("실명") == pytest.approx([math.log(2) * 5 / 3.725, 0.0])
    # "확인": df=2, idf=ln(1 + 0.5/2.5) = ln 1.2; d1 is shorter, so it ranks first
    expected = [math.log(1.2) * 2.5 / 2.725, math.log(1.2) * 2.5 / 2.275]
    assert bm25.scores("확인") == pytest.approx(expected)
    hits = bm25.search("확인", k=5)
    assert [h.chunk_id for h in hits] == ["c1", "c0"]
    assert [h.rank for h in hits] == [1, 2]
    # repeated query tokens count again; unknown tokens add nothing
    assert bm25.scores("실명 실명 없음") == pytest.approx(2 * bm25.scores("실명"))
    assert bm25.search("없는단어", k=5) == []


def test_quickstart_splits_1000_200_with_offsets(tmp_path: Path) -> None:
    text = "\n\n".join(SENTENCES * 20)  # ~3,000+ characters
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "안내서.md").write_text(text, encoding="utf-8")
    chunks = quickstart_chunks([tmp_path / "docs"])
    assert len(chunks) >= 4
    assert all(len(c.text) <= CHUNK_SIZE for c in chunks)
    assert all(c.source == f"{tmp_path.as_posix()}/docs/안내서.md" for c in chunks)
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.page is None
    # consecutive chunks overlap by at most 200 characters
    for a, b in itertools.pairwise(chunks):
        assert 0 < a.end - b.start <= CHUNK_OVERLAP
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_quickstart_reads_pdf_page_by_page(tmp_path: Path) -> None:
    fpdf = pytest.importorskip("fpdf")
    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or spec.origin is None:
        pytest.skip("no Korean TTF (koreanize-matplotlib) to render the PDF")
    font = Path(spec.origin).parent / "fonts" / "NanumGothic.ttf"
    pdf = fpdf.FPDF()
    pdf.add_font("nanum", fname=str(font))
    pdf.set_font("nanum", size=11)
    for sentence in SENTENCES[:2]:
        pdf.add_page()
        pdf.multi_cell(0, 8, sentence)
    path = tmp_path / "매뉴얼.pdf"
    pdf.output(str(path))
    chunks = quickstart_chunks([path])
    assert [c.page for c in chunks] == [1, 2]
    assert ["".join(c.text.split()) for c in chunks] == ["".join(s.split()) for s in SENTENCES[:2]]


def test_build_quickstart_searches_with_the_given_embedder(tmp_path: Path) -> None:
    from fnrag.embedders.factory import load_embedder

    path = tmp_path / "안내서.txt"
    path.write_text("\n\n".join(s * 25 for s in SENTENCES), encoding="utf-8")
    embedder = load_embedder("hashing")
    quick = build_quickstart([path], embedder)
    assert quick.embedder is embedder
    assert quick.faiss_index.ntotal == len(quick.chunks) >= 4
    assert quick.build_seconds >= quick.embed_seconds > 0
    hits = quick.search("계속거래는 실명확인을 생략할 수 있나요", k=3)
    assert [h.rank for h in hits] == [1, 2, 3]
    assert "계속거래" in hits[0].text
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert len(quick.search("실명", k=100)) == len(quick.chunks)


def test_collect_files_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        collect_files([tmp_path / "없음"])
    (tmp_path / "그림.png").write_bytes(b"\x89PNG")
    with pytest.raises(InputError, match=r"no \.md, \.txt or \.pdf"):
        collect_files([tmp_path])
