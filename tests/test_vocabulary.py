"""The practitioner vocabulary maps everyday Korean to the statutes' words."""

from __future__ import annotations

import pytest

from fnrag.korean.vocabulary import BUILTIN


@pytest.mark.parametrize(
    ("question", "legal"),
    [
        ("며칠 안에 알려야 돼요?", "일 이내 기간"),
        ("보고 기한은 언제까지예요?", "이내 지체 없이 기간"),
        ("그 과태료는 누가 매겨요?", "부과 징수"),
        ("정해진 양식이 있나요?", "표준양식 서식"),
        ("유예는 몇 번까지 해줄 수 있어요?", "횟수 반복하여"),
        ("같은 은행 안에서 다른 부서에 주는 건요?", "동일한 금융회사등의 내부"),
        ("예금주한테 알려야 하나요?", "명의인"),
    ],
)
def test_everyday_words_expand_to_the_statutes(question: str, legal: str) -> None:
    assert legal in BUILTIN.expansions(question)


def test_longest_match_wins() -> None:
    # "같은 은행" is one practitioner phrase, not "은행" alone.
    found = BUILTIN.expansions("같은 은행 직원끼리 봐도 돼요?")
    assert "동일한 금융회사등의 내부" in found and "금융회사등" not in found
