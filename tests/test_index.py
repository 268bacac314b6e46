"""Index build, manifest checks, atomic commits and incremental rebuilds.

These use the numpy-only hashing embedder so they run in seconds; the real
embedder is covered by the slow and corpus tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fnrag.errors import (
    EmbedderMismatchError,
    FnragError,
    IndexFormatError,
    IndexNotFoundError,
    InputError,
)
from fnrag.index import store
from fnrag.index.build import build_index
from fnrag.index.search import load_index

LAW = """---
제목: 시험용 실명거래법
시행일자: 2025-04-01
---

# 시험용 실명거래법

##### 제1조 (목적)

이 법은 실지명의에 의한 금융거래를 실시하고 그 비밀을 보장함을 목적으로 한다.

##### 제2조 (실명확인)

**①** 금융회사등은 거래자의 실지명의로 금융거래를 하여야 한다.

**②** 100만원 이하의 송금은 실명을 확인하지 아니할 수 있다.

##### 제3조 (비밀보장)

금융회사등에 종사하는 자는 명의인의 서면상의 요구나 동의를 받지 아니하고는 거래정보등을 제공하여서는 아니 된다.

##### 제3조의2 (제공사실의 통보)

거래정보등을 제공한 경우에는 제공한 날부터 10일 이내에 명의인에게 서면으로 통보하여야 한다.
"""

GUIDE = """---
제목: 시험용 업무해설
---

# 제1장 실명확인

## 1. 실명확인 방법

창구 직원은 주민등록증 등 실명확인증표의 사진과 고객 본인을 대조하여 실명을 확인한다.

## 2. 대리인 거래

대리인이 오는 경우 위임장과 본인 및 대리인의 실명확인증표를 함께 확인한다.

# 제2장 과태료

실명확인 의무를 위반한 금융회사 임직원에게는 3천만원 이하의 과태료를 부과한다.
"""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "law.md").write_text(LAW, encoding="utf-8")
    (folder / "guide.md").write_text(GUIDE, encoding="utf-8")
    return folder


@pytest.fixture
def built(corpus: Path, tmp_path: Path) -> Path:
    out = tmp_path / "idx"
    build_index([corpus], out, embedder="hashing")
    return out


def test_build_reports_every_file_and_search_returns_typed_hits(
    corpus: Path, tmp_path: Path
) -> None:
    report = build_index([corpus], tmp_path / "idx", embedder="hashing")
    assert {f.source for f in report.files} == {str(corpus / "law.md"), str(corpus / "guide.md")}
    assert all(f.chunks > 0 for f in report.files)
    assert report.chunks == sum(f.chunks for f in report.files) == report.embedded
    hits = load_index(tmp_path / "idx").search("명의인에게 통보하는 기한은?", k=3)
    assert hits and hits[0].rank == 1
    assert "제3조의2" in hits[0].section
    assert list(hits[0].to_json()) == [
        "rank",
        "score",
        "chunk_id",
        "source",
        "title",
        "page",
        "pages",
        "section",
        "text",
        "version",
        "effective_from",
        "effective_to",
        "linked_to",
        "chunk_ids",
    ]
    assert hits[0].to_json()["chunk_ids"] == [hits[0].chunk_id]  # one chunk, not an article
    assert hits[0].to_json()["linked_to"] is None  # ranked on its own words
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.parametrize(
    ("query", "where", "expected"),
    [
        ("제3조의2", "section", "제3조의2"),
        ("제3조 비밀보장", "section", "제3조 (비밀보장)"),
        ("대리인 위임장", "text", "위임장"),
        ("과태료 금액", "text", "3천만원"),
    ],
)
def test_hybrid_search_finds_the_right_passage(
    built: Path, query: str, where: str, expected: str
) -> None:
    top = load_index(built).search(query, k=2)[0]
    assert expected in (top.section if where == "section" else top.text)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_every_mode_returns_hits(built: Path, mode: str) -> None:
    hits = load_index(built).search("실명확인증표", k=3, mode=mode)
    assert 1 <= len(hits) <= 3
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))


@pytest.mark.parametrize("query", ["", "   ", "가" * 2001])
def test_bad_queries_are_rejected(built: Path, query: str) -> None:
    with pytest.raises(InputError):
        load_index(built).search(query)


def test_manifest_records_what_it_promises(built: Path, corpus: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format_version"] == store.FORMAT_VERSION
    assert manifest["embedder"]["name"] == "hashing-256"
    assert {"dimension", "weights_sha256"} <= set(manifest["embedder"])
    sources = {s["source"]: s for s in manifest["sources"]}
    assert sources[str(corpus / "law.md")]["sha256"] == store.sha256_file(corpus / "law.md")
    assert manifest["counts"]["chunks"] > 0
    assert manifest["fnrag_version"] and manifest["built_at"]
    assert set(manifest["files"]) == {"chunks", "embeddings", "dense", "bm25", "bm25_vocab"}


def test_missing_index_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="fnrag build-index"):
        load_index(tmp_path / "nothing")


def _file(index_dir: Path, role: str) -> Path:
    manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    return index_dir / manifest["files"][role]["name"]


@pytest.mark.parametrize("role", ["chunks", "embeddings", "dense", "bm25", "bm25_vocab"])
def test_tampered_or_truncated_files_are_refused(built: Path, role: str) -> None:
    path = _file(built, role)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexFormatError, match="rebuild"):
        load_index(built)
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(IndexFormatError, match="checksum"):
        load_index(built)


def test_newer_format_version_is_refused(built: Path) -> None:
    manifest_path = built / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["format_version"] = store.FORMAT_VERSION + 1
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexFormatError, match="upgrade fnrag"):
        load_index(built)


def test_foreign_manifest_is_refused(built: Path) -> None:
    (built / "manifest.json").write_text('{"hello": "world"}', encoding="utf-8")
    with pytest.raises(IndexFormatError):
        load_index(built)


def test_manifest_naming_a_path_outside_the_index_is_refused(built: Path) -> None:
    manifest_path = built / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"]["chunks"]["name"] = "../../etc/passwd"
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexFormatError, match="invalid file"):
        load_index(built)


def test_other_embedder_is_refused_at_search(built: Path) -> None:
    manifest_path = built / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["embedder"]["weights_sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    index = load_index(built)
    with pytest.raises(EmbedderMismatchError, match="rebuild"):
        index.search("실명확인")
    # Lexical search needs no embedder and still works.
    assert index.search("실명확인", mode="lexical")


def test_failed_build_leaves_previous_index_intact(built: Path, corpus: Path) -> None:
    before = load_index(built)
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.7 this is not really a pdf")
    with pytest.raises(FnragError, match=r"broken\.pdf"):
        build_index([corpus], built, embedder="hashing")
    after = load_index(built)
    assert after.version == before.version
    assert [c.chunk_id for c in after.chunks] == [c.chunk_id for c in before.chunks]


def test_crash_before_commit_leaves_previous_index_and_next_build_sweeps(
    built: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = load_index(built).version

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store, "write_file_atomic", crash)
    (corpus / "law.md").write_text(
        LAW + "\n##### 제4조 (벌칙)\n\n위반한 자는 처벌한다.\n", encoding="utf-8"
    )
    with pytest.raises(OSError):
        build_index([corpus], built, embedder="hashing")
    assert load_index(built).version == before
    monkeypatch.undo()
    build_index([corpus], built, embedder="hashing")
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    named = {entry["name"] for entry in manifest["files"].values()}
    leftovers = [
        p.name for p in built.iterdir() if p.name not in named | {"manifest.json", store.LOCK}
    ]
    assert leftovers == []


def test_sigkill_during_build_leaves_previous_index_loadable(built: Path, corpus: Path) -> None:
    expected = [c.chunk_id for c in load_index(built).chunks]
    (corpus / "more.md").write_text(
        GUIDE.replace("시험용 업무해설", "추가 해설") * 20, encoding="utf-8"
    )
    code = (
        "import sys; from fnrag.index import build_index; "
        f"build_index([{str(corpus)!r}], {str(built)!r}, embedder='hashing')"
    )
    for delay in (0.3, 0.8, 1.5):
        process = subprocess.Popen([sys.executable, "-c", code])
        time.sleep(delay)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
        index = load_index(built)
        ids = [c.chunk_id for c in index.chunks]
        # Either the old index or a complete new one; never a broken mix.
        assert ids == expected or len(ids) > len(expected)
        assert index.search("실명확인", k=1)


def test_rebuild_reuses_unchanged_files_and_embeddings(built: Path, corpus: Path) -> None:
    first = load_index(built)
    law_chunks = sum(1 for c in first.chunks if c.source.endswith("law.md"))
    (corpus / "guide.md").write_text(GUIDE.replace("3천만원", "5천만원"), encoding="utf-8")
    report = build_index([corpus], built, embedder="hashing")
    reused = {f.source.rsplit("/", 1)[-1]: f.reused for f in report.files}
    assert reused == {"law.md": True, "guide.md": False}
    assert report.reused_embeddings >= law_chunks
    assert 1 <= report.embedded < report.chunks
    assert any("5천만원" in c.text for c in load_index(built).chunks)


def test_second_build_while_one_runs_is_refused(built: Path, corpus: Path) -> None:
    with store.build_lock(built), pytest.raises(IndexFormatError, match="another fnrag build"):
        build_index([corpus], built, embedder="hashing")
