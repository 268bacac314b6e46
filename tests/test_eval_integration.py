"""``fnrag eval`` end to end on real indexes, cross-checked by an independent scorer.

The independent scorer below shares no code with ``fnrag.evaluation``: it runs the
same searches and re-derives every retrieval number in a few lines.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from conftest import REAL_CORPUS_FILES, ScriptedGenerator

from fnrag.cli import main

GUIDE = """---
제목: 시험용 실무 안내서
시행일자: 2024-01-01
---
# 제1장 실명확인

## 1. 실명확인의 원칙

금융회사등은 거래자의 실지명의로 금융거래를 하여야 한다. 개인의 실지명의는 주민등록표에 기재된
성명 및 주민등록번호로 한다.

## 2. 실명확인 생략

실명이 확인된 계좌에 의한 계속거래는 실명확인을 생략할 수 있다. 각종 공과금 등의 수납과
100만원 이하의 송금도 생략 대상이다.

# 제2장 비밀보장

## 1. 거래정보 제공

명의인의 서면상의 요구나 동의를 받지 아니하고는 거래정보등을 타인에게 제공하여서는 아니 된다.
법원의 제출명령 또는 법관이 발부한 영장에 따른 경우는 예외이다.

## 2. 제공사실 통보

거래정보등을 제공한 경우 제공한 날부터 10일 이내에 명의인에게 서면으로 통보하여야 한다.
"""

TINY_QA: list[dict[str, Any]] = [
    {
        "id": "t1",
        "q": "개인의 실지명의는 무엇으로 하나요?",
        "gold": [
            {
                "doc": "docs/안내서.md",
                "art": "1.",
                "anchor": "주민등록표에 기재된 성명 및 주민등록번호",
            }
        ],
    },
    {
        "id": "t2",
        "q": "실명확인을 생략할 수 있는 거래는 무엇인가요?",
        "gold": [
            {"doc": "docs/안내서.md", "art": "2.", "anchor": "실명이 확인된 계좌에 의한 계속거래"}
        ],
    },
    {
        "id": "t3",
        "q": "영장이 있으면 거래정보를 제공할 수 있나요?",
        "gold": [{"doc": "docs/안내서.md", "art": "1.", "anchor": "법관이 발부한 영장"}],
    },
    {
        "id": "t4",
        "q": "거래정보 제공사실은 언제까지 통보하나요?",
        "gold": [
            {"doc": "docs/안내서.md", "art": "2.", "anchor": "10일 이내에 명의인에게 서면으로 통보"}
        ],
    },
    {"id": "t5", "q": "오늘 점심 메뉴 추천해 줘", "gold": [], "out_of_scope": True},
]

# Questions about the project's own sample guide (index/sample); anchors are
# checked against the sample text before use so a rewording of the sample
# fails loudly here instead of silently scoring zero.
SAMPLE_QA = [
    ("s1", "개인 고객의 실지명의는 무엇인가요?", "주민등록표에 올라 있는 성명과 주민등록번호"),
    (
        "s2",
        "실명이 확인된 계좌로 입출금할 때도 실명확인을 다시 해야 하나요?",
        "이미 실명이 확인된 계좌로 입금하거나 출금하는 거래는",
    ),
    (
        "s3",
        "대리인이 계좌를 개설하러 오면 누구의 실명을 확인하나요?",
        "본인과 대리인 모두의 실명을 확인해야 한다",
    ),
    ("s4", "법인 고객의 실명확인증표는 무엇인가요?", "사업자등록증 또는 그 사본"),
    ("s5", "공과금을 받을 때도 실명확인이 필요한가요?", "각종 공과금을 받는 거래는 실명확인 없이"),
]


# ---------------------------------------------------------------- the independent scorer


def independent_scores(index: Any, qa: list[dict], mode: str) -> dict[str, float]:
    """Re-score ``index.search`` from scratch (no fnrag.evaluation code)."""

    def gold(source: str, text: str, refs: list[dict]) -> bool:
        flat = "".join(text.split())
        src = source.replace("\\", "/")
        return any(
            (src == r["doc"] or src.endswith("/" + r["doc"]))
            and "".join(r["anchor"].split()) in flat
            for r in refs
        )

    rows = []
    for item in qa:
        if item.get("out_of_scope"):
            continue
        rel = [
            gold(h.source, h.text, item["gold"]) for h in index.search(item["q"], k=10, mode=mode)
        ]
        n_gold = sum(gold(c.source, c.text, item["gold"]) for c in index.chunks)
        first = next((i for i, r in enumerate(rel, 1) if r), None)
        dcg = sum(1 / math.log2(i + 1) for i, r in enumerate(rel[:10], 1) if r)
        idcg = sum(1 / math.log2(i + 1) for i in range(1, min(n_gold, 10) + 1))
        rows.append(
            {
                "hit@1": float(bool(first and first <= 1)),
                "hit@5": float(bool(first and first <= 5)),
                "mrr@10": 1 / first if first and first <= 10 else 0.0,
                "ndcg@10": dcg / idcg if idcg else 0.0,
            }
        )
    return {key: sum(r[key] for r in rows) / len(rows) for key in rows[0]}


def write_jsonl(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), "utf-8")
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_json_shape(data: dict, modes: tuple[str, ...]) -> None:
    for key in ("hit@1", "hit@5", "mrr@10", "ndcg@10"):
        assert 0.0 <= data["retrieval"][key] <= 1.0
    assert data["retrieval_mode"] == "hybrid"
    assert data["retrieval"] == {
        key: value
        for key, value in data["retrieval_by_system"]["hybrid"].items()
        if key.startswith(("hit@", "mrr@", "ndcg@"))
    }
    assert set(modes) <= set(data["retrieval_by_system"])
    for mode in modes:
        assert data["latency"]["search"][mode]["n"] == data["n_in_scope"]


# ---------------------------------------------------------------- a tiny corpus, hashing embedder


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A one-file guide indexed with the fast hashing embedder; cwd = tmp_path so the
    index records the source as ``docs/안내서.md``."""
    from fnrag.index.build import build_index

    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "안내서.md").write_text(GUIDE, encoding="utf-8")
    build_index(["docs"], tmp_path / "idx", embedder="hashing")
    return tmp_path / "idx", write_jsonl(tmp_path / "qa.jsonl", TINY_QA)


def test_eval_json_equals_independent_scores(tiny: tuple[Path, Path], capsys: Any) -> None:
    from fnrag.index.search import load_index

    index_dir, qa = tiny
    status, out, _ = run_cli(
        capsys, "eval", "--qa", str(qa), "--index", str(index_dir), "--json", "--no-progress"
    )
    assert status == 0
    data = json.loads(out)
    assert_json_shape(data, ("hybrid", "dense", "lexical"))
    # the extractive generator is evaluated by default
    assert [(a["generator"], a["setting"]) for a in data["answers"]] == [
        ("extractive", "rag"),
        ("extractive", "closed-book"),
    ]
    assert data["latency"]["ask"]["extractive/rag"]["wall"]["n"] == 5
    assert (data["n_questions"], data["n_in_scope"], data["n_out_of_scope"]) == (5, 4, 1)
    index = load_index(index_dir)
    for mode in ("hybrid", "dense", "lexical"):
        expected = independent_scores(index, TINY_QA, mode)
        got = data["retrieval_by_system"][mode]
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, abs=1e-12), (mode, key)
    assert data["retrieval"]["hit@5"] == data["retrieval_by_system"]["hybrid"]["hit@5"]
    # the tiny guide is easy: the hybrid search finds most answers
    assert data["retrieval"]["hit@5"] >= 0.75


def test_eval_writes_report_chart_and_results(
    tiny: tuple[Path, Path], capsys: Any, tmp_path: Path
) -> None:
    index_dir, qa = tiny
    out_dir = tmp_path / "보고서"
    status, _out, err = run_cli(
        capsys,
        "eval",
        "--qa",
        str(qa),
        "--index",
        str(index_dir),
        "--modes",
        "lexical,hybrid",
        "--generator",
        "extractive",
        "--out",
        str(out_dir),
    )
    assert status == 0
    assert "fnrag eval" in err  # the progress bar went to stderr
    report = (out_dir / "report.md").read_text(encoding="utf-8")
    assert "| **hybrid** |" in report and "| lexical |" in report
    assert "| extractive | closed-book | n/a |" in report
    assert (out_dir / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((out_dir / "results.json").read_text(encoding="utf-8"))
    assert list(results["retrieval_by_system"]) == ["lexical", "hybrid"]
    rag, closed = results["answers"]
    assert (rag["setting"], closed["setting"], closed["available"]) == ("rag", "closed-book", False)
    assert closed["citation_precision"] is None


def test_eval_answer_metrics_match_a_rescoring(tiny: tuple[Path, Path], capsys: Any) -> None:
    from fnrag.answering.assistant import Assistant
    from fnrag.index.search import load_index

    index_dir, qa = tiny
    status, out, _ = run_cli(
        capsys,
        "eval",
        "--qa",
        str(qa),
        "--index",
        str(index_dir),
        "--json",
        "--modes",
        "hybrid",
        "--generator",
        "extractive",
        "-k",
        "3",
        "--no-progress",
    )
    assert status == 0
    rag = json.loads(out)["answers"][0]
    assistant = Assistant(load_index(index_dir), generator="extractive", k=3, log=False)
    cited = gold_cited = answered_with_gold = answered = refused_oos = 0
    for item in TINY_QA:
        answer = assistant.ask(item["q"])
        if item.get("out_of_scope"):
            refused_oos += answer.refused
            continue
        answered += not answer.refused
        flags = []
        for citation in answer.citations:
            passage = next(p for p in answer.passages if p.chunk_id == citation.chunk_id)
            flags.append(
                passage.source in (doc := item["gold"][0]["doc"], f"./{doc}")
                and "".join(item["gold"][0]["anchor"].split()) in "".join(passage.text.split())
            )
        cited += len(flags)
        gold_cited += sum(flags)
        answered_with_gold += any(flags)
    assert rag["citation_precision"] == (pytest.approx(gold_cited / cited) if cited else None)
    assert rag["citation_recall"] == pytest.approx(answered_with_gold / 4)
    assert rag["refusal_accuracy_in_scope"] == pytest.approx(answered / 4)
    assert rag["refusal_accuracy_out_of_scope"] == pytest.approx(refused_oos / 1)


def test_eval_langchain_baseline_rows(tiny: tuple[Path, Path], capsys: Any) -> None:
    from fnrag.embedders.factory import load_embedder
    from fnrag.evaluation.baseline import WhitespaceBM25, build_quickstart

    index_dir, qa = tiny
    status, out, _ = run_cli(
        capsys,
        "eval",
        "--qa",
        str(qa),
        "--index",
        str(index_dir),
        "--json",
        "--modes",
        "hybrid",
        "--baseline",
        "langchain",
        "--no-answers",
        "--no-progress",
    )
    assert status == 0
    data = json.loads(out)
    quick_row = data["retrieval_by_system"]["langchain-quickstart"]
    bm25_row = data["retrieval_by_system"]["whitespace-bm25"]
    assert data["baseline_build"]["quickstart_chunks"] == quick_row["n_chunks"] >= 1
    # the sources came from the manifest: the same display paths as the index
    quick = build_quickstart(["docs/안내서.md"], load_embedder("hashing"))
    for system, row in ((quick, quick_row), (WhitespaceBM25(quick.chunks), bm25_row)):
        expected = independent_scores(_AsModes(system), TINY_QA, "any")
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, abs=1e-12), key


class _AsModes:
    """Gives a baseline the index's ``search(q, k, mode)`` signature for the scorer."""

    def __init__(self, system: Any) -> None:
        self.system = system
        self.chunks = system.chunks

    def search(self, query: str, k: int, mode: str) -> Any:
        return self.system.search(query, k)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--modes", "dense,벡터"), "unknown mode '벡터'"),
        (("--generator", "transformers:model"), "bad generator option"),
        (("-k", "0"), "-k must be at least 1"),
        (("--no-answers", "--generator", "extractive"), "contradict"),
        (("--generator", "없는생성기"), "unknown generator"),
    ],
)
def test_eval_bad_options_exit_2(
    tiny: tuple[Path, Path], capsys: Any, argv: tuple[str, ...], message: str
) -> None:
    index_dir, qa = tiny
    status, out, err = run_cli(
        capsys, "eval", "--qa", str(qa), "--index", str(index_dir), "--no-progress", *argv
    )
    assert status == 2
    assert out == ""
    assert err.startswith("fnrag: error:") and message in err


def test_eval_bad_qa_file_names_the_line(
    tiny: tuple[Path, Path], capsys: Any, tmp_path: Path
) -> None:
    index_dir, _ = tiny
    bad = tmp_path / "나쁜.jsonl"
    bad.write_text('{"id": "x1", "q": "실명확인?", "gold": [{"doc": "a.md"}]}\n', "utf-8")
    status, _, err = run_cli(capsys, "eval", "--qa", str(bad), "--index", str(index_dir))
    assert status == 2
    assert f"{bad}:1" in err and "anchor" in err


# ---------------------------------------------------------------- the project's sample guide


def sample_qa_items(sample_dir: Path) -> list[dict]:
    files = sorted(p for p in sample_dir.rglob("*.md"))
    if not files:
        pytest.skip("index/sample holds no guide yet")
    items: list[dict[str, Any]] = []
    for qid, question, anchor in SAMPLE_QA:
        flat = "".join(anchor.split())
        owner = next((f for f in files if flat in "".join(f.read_text("utf-8").split())), None)
        assert owner is not None, f"sample guide no longer mentions {anchor!r}; update SAMPLE_QA"
        doc = "sample/" + owner.relative_to(sample_dir).as_posix()
        items.append(
            {"id": qid, "q": question, "gold": [{"doc": doc, "art": "", "anchor": anchor}]}
        )
    items.append(
        {"id": "s9", "q": "신용카드 연회비는 얼마인가요?", "gold": [], "out_of_scope": True}
    )
    return items


def sample_eval(tmp_path: Path, sample_corpus: Path, embedder: str, capsys: Any) -> None:
    from fnrag.index.build import build_index
    from fnrag.index.search import load_index

    qa_items = sample_qa_items(sample_corpus)
    build_index([str(sample_corpus)], tmp_path / "idx", embedder=embedder)
    qa = write_jsonl(tmp_path / "sample_qa.jsonl", qa_items)
    status, out, _ = run_cli(
        capsys,
        "eval",
        "--qa",
        str(qa),
        "--index",
        str(tmp_path / "idx"),
        "--json",
        "--generator",
        "extractive",
        "--no-progress",
    )
    assert status == 0
    data = json.loads(out)
    assert_json_shape(data, ("hybrid", "dense", "lexical"))
    index = load_index(tmp_path / "idx")
    for mode in ("hybrid", "dense", "lexical"):
        expected = independent_scores(index, qa_items, mode)
        for key, value in expected.items():
            assert data["retrieval_by_system"][mode][key] == pytest.approx(value, abs=1e-12)
    assert data["retrieval"]["hit@5"] >= 0.75


def test_eval_sample_guide_hashing(tmp_path: Path, sample_corpus: Path, capsys: Any) -> None:
    sample_eval(tmp_path, sample_corpus, "hashing", capsys)


@pytest.mark.slow
def test_eval_sample_guide_default_embedder(
    tmp_path: Path, sample_corpus: Path, capsys: Any
) -> None:
    sample_eval(tmp_path, sample_corpus, "default", capsys)


# ---------------------------------------------------------------- the real corpus


@pytest.mark.slow
@pytest.mark.corpus
def test_eval_real_corpus_dev_qa(shared_corpus: Path, tmp_path: Path, capsys: Any) -> None:
    from fnrag.index.build import build_index
    from fnrag.index.search import load_index

    build_index([str(shared_corpus / f) for f in REAL_CORPUS_FILES], tmp_path / "idx")
    qa_path = shared_corpus / "dev_qa.jsonl"
    qa_items = [
        json.loads(line) for line in qa_path.read_text("utf-8").splitlines() if line.strip()
    ]
    status, out, _ = run_cli(
        capsys,
        "eval",
        "--qa",
        str(qa_path),
        "--index",
        str(tmp_path / "idx"),
        "--json",
        "--no-progress",
    )
    assert status == 0
    data = json.loads(out)
    assert_json_shape(data, ("hybrid", "dense", "lexical"))
    assert data["n_out_of_scope"] == sum(1 for i in qa_items if i.get("out_of_scope"))
    index = load_index(tmp_path / "idx")
    for mode in ("hybrid", "dense", "lexical"):
        expected = independent_scores(index, qa_items, mode)
        for key, value in expected.items():
            assert data["retrieval_by_system"][mode][key] == pytest.approx(value, abs=1e-12)
    assert data["retrieval"]["hit@5"] >= 0.90  # issue 2's regression floor


# ---------------------------------------------------------------- closed-book scoring


def test_closed_book_answers_are_scored_without_citations(tmp_path: Path) -> None:
    from fnrag.evaluation.compare import closed_book_answer
    from fnrag.evaluation.qa import load_qa
    from fnrag.evaluation.runner import evaluate_answers
    from fnrag.prompts import REFUSAL_SENTENCE

    items = load_qa(write_jsonl(tmp_path / "qa.jsonl", TINY_QA))
    generator = ScriptedGenerator(
        {
            TINY_QA[0]["q"]: "주민등록표에 기재된 성명 및 주민등록번호입니다 [1].",
            TINY_QA[1]["q"]: "잘 모르겠습니다 [2][3].",
            TINY_QA[2]["q"]: REFUSAL_SENTENCE,
            TINY_QA[3]["q"]: "10일 이내에  명의인에게 서면으로 통보합니다.",
            TINY_QA[4]["q"]: "김치찌개를 추천합니다.",
        }
    )
    result = evaluate_answers(
        "scripted", "closed-book", lambda q: closed_book_answer(generator, q), items, lambda _: None
    )
    assert generator.passages and all(p == [] for p in generator.passages)  # closed book
    scores = dict(result.metrics)
    assert scores["citation_precision"] is None  # no passage, so no valid citation
    assert scores["citation_recall"] == 0.0
    assert scores["invalid_citation_rate"] == 1.0  # all 3 markers invented
    assert scores["refusal_accuracy_in_scope"] == pytest.approx(3 / 4)
    assert scores["refusal_accuracy_out_of_scope"] == 0.0
    assert scores["anchor_coverage"] == pytest.approx(2 / 4)  # t1 and t4 quote their anchors
    assert all("「자료 1」" not in p for p in generator.prompts)
    assert dict(result.latency)["generate"].n == 5
