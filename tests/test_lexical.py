"""Kiwi-BM25: article references and amounts survive, BM25 ranks sensibly."""

from __future__ import annotations

import numpy as np
import pytest

from fnrag.index.bm25 import BM25Index
from fnrag.korean.tokens import special_tokens, tokenize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("제4조의2에 따른 거래정보등의 제공사실 통보", "제4조의2"),
        ("시행령 제8조에 따라", "제8조"),
        ("같은 법 제3조제3항에 따른", "제3조"),
        ("같은 법 제3조제3항에 따른", "제3항"),
        ("제 4 조 의 2", "제4조의2"),
        ("100만원 이하의 송금", "100만원"),
        ("1,000만 원을 초과하는", "1000만원"),
        ("5년간 보관", "5년"),
        ("10일 이내에 통보", "10일"),
        ("6개월의 범위에서", "6개월"),
        ("② 금융회사등은", "제2항"),
    ],
)
def test_references_and_quantities_are_single_tokens(text: str, expected: str) -> None:
    assert expected in tokenize(text)


def test_article_branch_is_distinct_from_article() -> None:
    tokens = tokenize("제4조의2")
    assert "제4조의2" in tokens
    assert "제4조" not in tokens


def test_amount_in_trillions_is_not_an_article() -> None:
    tokens = tokenize("100조원 규모의 기금")
    assert "100조원" in tokens
    assert not any(t.startswith("제100조") for t in tokens)


def test_special_tokens_blank_their_spans() -> None:
    tokens, rest = special_tokens("제4조의2 및 100만원")
    assert tokens == ["제4조의2", "100만원"]
    assert "4" not in rest and "100" not in rest
    assert len(rest) == len("제4조의2 및 100만원")


@pytest.mark.parametrize(
    ("text", "morpheme"),
    [
        ("실명확인증표를 징구하는지", "실명"),
        ("거래정보등의 제공사실을 통보하여야 한다", "통보"),
        ("거래정보등의 제공", "거래정보"),
        ("금융회사등은 거래자의 실지명의로", "실지명의"),
    ],
)
def test_content_morphemes_and_noun_compounds(text: str, morpheme: str) -> None:
    assert morpheme in tokenize(text)


def test_particles_and_light_verbs_are_dropped() -> None:
    tokens = tokenize("금융회사는 실명을 확인하여야 한다")
    for noise in ("는", "을", "하", "다", "여야"):
        assert noise not in tokens


def _reference_bm25(
    docs: list[list[str]], query: list[str], k1: float = 1.2, b: float = 0.75
) -> np.ndarray:
    n = len(docs)
    avg = sum(len(d) for d in docs) / n
    scores = np.zeros(n)
    for term in query:
        df = sum(term in d for d in docs)
        if not df:
            continue
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        for i, d in enumerate(docs):
            tf = d.count(term)
            scores[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avg))
    return scores


def test_bm25_matches_a_direct_implementation() -> None:
    docs = [
        ["실명", "확인", "금융", "거래"],
        ["비밀", "보장", "거래", "정보", "제공"],
        ["과태료", "부과", "기준", "거래", "거래"],
        [],
        ["실명", "실명", "확인", "생략"],
    ]
    index = BM25Index.from_token_lists(docs)
    for query in (["실명", "확인"], ["거래"], ["없는단어"], ["거래", "거래", "제공"]):
        np.testing.assert_allclose(index.scores(query), _reference_bm25(docs, query), rtol=1e-5)


def test_bm25_round_trips_without_pickle(tmp_path) -> None:
    docs = [["차명", "거래", "금지"], ["실명", "확인"], ["제4조의2", "통보", "유예"]]
    index = BM25Index.from_token_lists(docs)
    names = index.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / names["arrays"], tmp_path / names["vocabulary"])
    np.testing.assert_allclose(loaded.scores(["통보", "실명"]), index.scores(["통보", "실명"]))
    assert loaded.doc_terms(2) == index.doc_terms(2)
    # np.load with allow_pickle=False must be able to read everything we wrote.
    with np.load(tmp_path / names["arrays"], allow_pickle=False) as data:
        assert set(data.files) == {"doc_ptr", "term_ids", "term_freqs"}
