"""Metric functions against small hand-computed cases (pure, no index)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fnrag.errors import InputError
from fnrag.evaluation.metrics import (
    AnswerJudgement,
    GoldRef,
    anchor_coverage,
    anchors_covered,
    citation_precision,
    citation_recall,
    dcg_at_k,
    hit_at_k,
    invalid_citation_rate,
    is_gold,
    latency_summary,
    mrr_at_k,
    ndcg_at_k,
    percentile,
    refusal_accuracy,
    source_matches,
)
from fnrag.evaluation.qa import load_qa

LAW = GoldRef(doc="laws/금융실명법_법률.md", art="제1조", anchor="금융거래의 정상화를 꾀함으로써")


# ---------------------------------------------------------------- gold matching


@pytest.mark.parametrize(
    ("source", "doc", "expected"),
    [
        ("../shared/corpus/laws/금융실명법_법률.md", "laws/금융실명법_법률.md", True),
        ("laws/금융실명법_법률.md", "laws/금융실명법_법률.md", True),
        ("C:\\corpus\\laws\\금융실명법_법률.md", "laws/금융실명법_법률.md", True),
        ("../shared/corpus/laws/2016-08/금융실명법_법률.md", "laws/금융실명법_법률.md", False),
        ("corpus/laws/금융실명법_시행령.md", "laws/금융실명법_법률.md", False),
        # a path boundary is required: "xlaws/..." is a different file
        ("corpus/xlaws/금융실명법_법률.md", "laws/금융실명법_법률.md", False),
    ],
)
def test_source_matches(source: str, doc: str, expected: bool) -> None:
    assert source_matches(source, doc) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("이 법은 실지명의에 의한 금융거래를 실시하고 ... 금융거래의 정상화를 꾀함으로써", True),
        # whitespace differs on both sides (PDF line breaks, double spaces)
        ("금융거래의\n정상화를  꾀함\t으로써 경제정의를 실현", True),
        ("금융거래의 정상화를 꾀하고", False),
        ("", False),
    ],
)
def test_is_gold_ignores_whitespace(text: str, expected: bool) -> None:
    assert is_gold("corpus/laws/금융실명법_법률.md", text, [LAW]) is expected


def test_is_gold_needs_the_gold_document() -> None:
    text = "금융거래의 정상화를 꾀함으로써"
    assert not is_gold("corpus/laws/금융실명법_시행령.md", text, [LAW])
    other = GoldRef(doc="laws/금융실명법_시행령.md", art="제3조", anchor="정상화")
    assert is_gold("corpus/laws/금융실명법_시행령.md", text, [LAW, other])
    assert not is_gold("corpus/laws/금융실명법_시행령.md", text, [])


# ---------------------------------------------------------------- retrieval


@pytest.mark.parametrize(
    ("relevance", "k", "hit", "mrr"),
    [
        ([False, True, False], 1, 0.0, 0.0),
        ([False, True, False], 2, 1.0, 0.5),
        ([False, False, False, True], 10, 1.0, 0.25),
        ([True, True], 5, 1.0, 1.0),
        ([], 5, 0.0, 0.0),
    ],
)
def test_hit_and_mrr(relevance: list[bool], k: int, hit: float, mrr: float) -> None:
    assert hit_at_k(relevance, k) == hit
    assert mrr_at_k(relevance, k) == pytest.approx(mrr)


def test_ndcg_hand_computed() -> None:
    # one relevant chunk in the index, found at rank 2: (1/log2 3) / 1
    assert ndcg_at_k([False, True], 1, 10) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k([False, True], 1, 10) == pytest.approx(0.6309297535714575)
    # two relevant in the index, found at ranks 1 and 3: (1 + 1/2) / (1 + 1/log2 3)
    assert ndcg_at_k([True, False, True], 2, 10) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    # three relevant in the index but only one found, at rank 1: 1 / (1 + 0.6309 + 0.5)
    assert ndcg_at_k([True, False, False], 3, 10) == pytest.approx(1 / (1 + 1 / math.log2(3) + 0.5))
    # five relevant in the index, k=2, both top ranks relevant: ideal is capped at k
    assert ndcg_at_k([True, True, False], 5, 2) == pytest.approx(1.0)
    # relevant only beyond k counts nothing
    assert ndcg_at_k([False, False, True], 1, 2) == 0.0
    # no relevant chunk in the index at all
    assert ndcg_at_k([False], 0, 10) == 0.0
    assert dcg_at_k([True, True, True, True], 4) == pytest.approx(
        1 + 1 / math.log2(3) + 0.5 + 1 / math.log2(5)
    )


def test_bad_k_is_rejected() -> None:
    with pytest.raises(ValueError):
        hit_at_k([True], 0)
    with pytest.raises(ValueError):
        ndcg_at_k([True], -1, 5)


# ---------------------------------------------------------------- citations and answers


def judged(
    in_scope: bool,
    refused: bool,
    cites: tuple[bool, ...],
    invalid: int = 0,
    covered: tuple[bool, ...] = (),
) -> AnswerJudgement:
    return AnswerJudgement(in_scope, refused, cites, invalid, covered)


def test_citation_precision_recall_and_invalid_rate() -> None:
    judgements = [
        judged(True, False, (True, False), invalid=1),  # 1 of 2 citations gold
        judged(True, False, (False,)),  # cites, but no gold
        judged(True, True, ()),  # refused an in-scope question
        judged(False, False, (False,), invalid=1),  # out of scope, answered anyway
    ]
    # precision: in-scope valid citations 3, gold 1
    assert citation_precision(judgements) == pytest.approx(1 / 3)
    # recall: in-scope questions 3, with a gold citation 1
    assert citation_recall(judgements) == pytest.approx(1 / 3)
    # invalid: 2 invalid markers over 2 + 4 markers in all
    assert invalid_citation_rate(judgements) == pytest.approx(2 / 6)


def test_citation_metrics_undefined_without_citations() -> None:
    judgements = [judged(True, True, ()), judged(False, True, ())]
    assert citation_precision(judgements) is None
    assert citation_recall(judgements) == 0.0
    assert invalid_citation_rate(judgements) is None


def test_refusal_accuracy() -> None:
    judgements = [
        judged(True, False, ()),
        judged(True, False, ()),
        judged(True, True, ()),
        judged(False, True, ()),
        judged(False, False, ()),
    ]
    assert refusal_accuracy(judgements, in_scope=True) == pytest.approx(2 / 3)
    assert refusal_accuracy(judgements, in_scope=False) == pytest.approx(1 / 2)
    assert refusal_accuracy(judgements[:3], in_scope=False) is None


def test_anchor_coverage() -> None:
    gold = (
        GoldRef("laws/금융실명법_시행령.md", "제3조", "주민등록표에 기재된 성명"),
        GoldRef("laws/금융실명법_시행령.md", "제3조", "주민등록번호"),
    )
    covered = anchors_covered(
        "실지명의는 주민등록표에\n기재된 성명 및 주민등록번호입니다 [1].", gold
    )
    assert covered == (True, True)
    partly = anchors_covered("주민등록번호로 확인합니다.", gold)
    assert partly == (False, True)
    judgements = [
        judged(True, False, (), covered=covered),  # 1.0
        judged(True, False, (), covered=partly),  # 0.5
        judged(True, True, (), covered=(True,)),  # refused: 0 whatever the text says
        judged(False, False, (), covered=()),  # out of scope: not counted
    ]
    assert anchor_coverage(judgements) == pytest.approx(1.5 / 3)


# ---------------------------------------------------------------- latency


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([0.010], 50, 0.010),
        ([0.010, 0.020], 50, 0.015),
        ([0.040, 0.010, 0.030, 0.020], 50, 0.025),
        # (n-1)*0.95 = 3.8 -> 0.030 + 0.8 * (0.040 - 0.030)
        ([0.040, 0.010, 0.030, 0.020, 0.030], 95, 0.038),
        ([0.005, 0.001, 0.009], 100, 0.009),
        ([0.005, 0.001, 0.009], 0, 0.001),
    ],
)
def test_percentile(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


def test_latency_summary_in_milliseconds() -> None:
    summary = latency_summary([0.010, 0.020, 0.030])
    assert summary.n == 3
    assert summary.p50_ms == pytest.approx(20.0)
    assert summary.p95_ms == pytest.approx(29.0)
    assert summary.mean_ms == pytest.approx(20.0)
    assert latency_summary([]).p50_ms is None


# ---------------------------------------------------------------- QA files


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "질문.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_qa_reads_gold_and_out_of_scope(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        json.dumps(
            {
                "id": "q1",
                "q": "금융실명법의 목적은?",
                "gold": [
                    {
                        "doc": "laws/금융실명법_법률.md",
                        "art": "제1조",
                        "anchor": "금융거래의 정상화",
                    }
                ],
            },
            ensure_ascii=False,
        ),
        "",
        json.dumps(
            {"id": "q2", "q": "오늘 점심 메뉴 추천해 줘", "gold": [], "out_of_scope": True},
            ensure_ascii=False,
        ),
    )
    items = load_qa(path)
    assert [i.id for i in items] == ["q1", "q2"]
    assert items[0].gold[0].anchor == "금융거래의 정상화"
    assert items[0].in_scope and not items[1].in_scope
    assert items[1].line == 3


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "q1", "q": "목적은?", "gold": [', "not valid JSON"),
        ('["q1"]', "expected a JSON object"),
        ('{"q": "목적은?", "gold": []}', "missing or empty 'id'"),
        ('{"id": "q1", "q": "  ", "gold": []}', "has no 'q' text"),
        ('{"id": "q1", "q": "목적은?", "gold": []}', "empty 'gold' list"),
        ('{"id": "q1", "q": "목적은?"}', "needs a 'gold' list"),
        ('{"id": "q1", "q": "목적은?", "gold": [{"doc": "a.md"}]}', "has no 'anchor'"),
        ('{"id": "q1", "q": "목적은?", "gold": [{"anchor": "정상화"}]}', "has no 'doc'"),
        ('{"id": "q1", "q": "목적은?", "gold": [], "out_of_scope": "yes"}', "out_of_scope"),
    ],
)
def test_load_qa_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    good = '{"id": "q0", "q": "실명확인이란?", "gold": [{"doc": "a.md", "anchor": "실명"}]}'
    path = write(tmp_path, good, line)
    with pytest.raises(InputError) as caught:
        load_qa(path)
    assert f"{path}:2" in str(caught.value)
    assert message in str(caught.value)


def test_load_qa_duplicate_missing_and_empty(tmp_path: Path) -> None:
    good = '{"id": "q0", "q": "실명확인이란?", "gold": [{"doc": "a.md", "anchor": "실명"}]}'
    with pytest.raises(InputError, match="duplicate id 'q0'"):
        load_qa(write(tmp_path, good, good))
    with pytest.raises(InputError, match="does not exist"):
        load_qa(tmp_path / "없음.jsonl")
    with pytest.raises(InputError, match="holds no questions"):
        load_qa(write(tmp_path, "", "  "))
