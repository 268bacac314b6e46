"""Fusion is a pure function: check it against a reference and its properties."""

from __future__ import annotations

import numpy as np
import pytest

from fnrag.index.fusion import (
    collapse_overlaps,
    convex_fusion,
    min_max,
    named_articles,
    reciprocal_rank_fusion,
    section_article,
)


def _reference(dense: list[float], lexical: list[float], weight: float) -> list[float]:
    lo, hi = min(dense), max(dense)
    top = max(lexical)
    return [
        weight * (lex / top if top > 0 else 0.0)
        + (1 - weight) * ((d - lo) / (hi - lo) if hi > lo else 1.0)
        for d, lex in zip(dense, lexical, strict=True)
    ]


def test_convex_fusion_matches_reference_on_random_inputs() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(1, 30))
        dense = rng.uniform(0.6, 0.95, n)
        lexical = np.where(rng.random(n) < 0.3, 0.0, rng.uniform(0, 25, n))
        weight = float(rng.uniform(0, 1))
        np.testing.assert_allclose(
            convex_fusion(dense, lexical, weight),
            _reference(list(dense), list(lexical), weight),
            atol=1e-12,
        )


def test_fusion_bounds_and_extremes() -> None:
    rng = np.random.default_rng(1)
    dense, lexical = rng.uniform(0.7, 0.9, 20), rng.uniform(0, 10, 20)
    fused = convex_fusion(dense, lexical, 0.6)
    assert fused.min() >= 0 and fused.max() <= 1 + 1e-12
    # Weight 1 ranks exactly as BM25, weight 0 exactly as dense.
    assert list(np.argsort(-convex_fusion(dense, lexical, 1.0))) == list(np.argsort(-lexical))
    assert list(np.argsort(-convex_fusion(dense, lexical, 0.0))) == list(np.argsort(-dense))


def test_no_lexical_match_stays_zero() -> None:
    fused = convex_fusion(np.array([0.8, 0.8]), np.array([0.0, 0.0]), 0.5)
    np.testing.assert_allclose(fused, [0.5, 0.5])


def test_boost_is_added() -> None:
    base = convex_fusion(np.array([0.7, 0.9]), np.array([1.0, 2.0]), 0.5)
    boosted = convex_fusion(
        np.array([0.7, 0.9]), np.array([1.0, 2.0]), 0.5, boost=np.array([0.3, 0.0])
    )
    np.testing.assert_allclose(boosted - base, [0.3, 0.0])


def test_weight_out_of_range_is_rejected() -> None:
    with pytest.raises(ValueError):
        convex_fusion(np.array([0.5]), np.array([1.0]), 1.5)


def test_min_max_constant_vector() -> None:
    np.testing.assert_allclose(min_max(np.array([0.3, 0.3])), [1.0, 1.0])
    assert min_max(np.array([])).size == 0


def test_rrf_reference() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=60)
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)


@pytest.mark.parametrize(
    ("question", "articles"),
    [
        ("제4조의2에 따른 통보 유예는?", {"제4조의2"}),
        ("시행령 제8조와 법 제3조제3항", {"제8조", "제3조"}),
        ("제 10 조 위탁", {"제10조"}),
        ("실명확인은 어떻게 하나요?", set()),
    ],
)
def test_named_articles(question: str, articles: set[str]) -> None:
    assert named_articles(question) == articles


@pytest.mark.parametrize(
    ("section", "article"),
    [
        (
            "금융실명거래 및 비밀보장에 관한 법률 > 제4조의2 (거래정보등의 제공사실의 통보) > ②",
            "제4조의2",
        ),
        ("금융실명거래 및 비밀보장에 관한 법률 시행령 > 제8조 (동의서)", "제8조"),
        ("금융실명거래 업무해설 > 제2장 실명확인 > 1. 실명확인 대상", None),
    ],
)
def test_section_article(section: str, article: str | None) -> None:
    assert section_article(section) == article


def test_collapse_overlaps_keeps_best_of_overlapping_spans() -> None:
    spans = [("a.md", 0, 100), ("a.md", 80, 180), ("a.md", 180, 260), ("b.md", 0, 100)]
    # 0 overlaps the better-ranked 1; 2 only touches 1's end; 3 is another file.
    assert collapse_overlaps([1, 0, 2, 3], spans, limit=3) == [1, 2, 3]
    # Asked for more than survive, the best dropped ones fill up (k asked, k given).
    assert collapse_overlaps([1, 0, 2, 3], spans, limit=10) == [1, 2, 3, 0]
    assert collapse_overlaps([1, 0, 2, 3], spans, limit=2) == [1, 2]
