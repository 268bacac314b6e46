"""Korean PII masking: every kind is caught, look-alikes survive, placeholders are consistent."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
from pii_samples import covered, lookalike_samples, pii_samples, score

from fnrag.answering import pii
from fnrag.answering.pii import mask_pii


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("주민등록번호 900101-1234568 고객의 거래내역", "900101-1234568", pii.RRN),
        ("주민번호는9001011234568이고요", "9001011234568", pii.RRN),
        ("2021년생 아이 210315-3847261 명의 통장", "210315-3847261", pii.RRN),
        ("외국인 고객 850505-5123456 실명확인", "850505-5123456", pii.FOREIGNER),
        ("법인등록번호 110111-0012346 으로 개설", "110111-0012346", pii.CORPORATE),
        ("사업자등록번호 220-81-62517 인 법인", "220-81-62517", pii.BUSINESS),
        ("사업자 2208162517 확인", "2208162517", pii.BUSINESS),
        ("카드 4111-1111-1111-1111 분실", "4111-1111-1111-1111", pii.CARD),
        ("카드번호 4111 1111 1111 1111", "4111 1111 1111 1111", pii.CARD),
        ("아멕스 3782-822463-10005 결제", "3782-822463-10005", pii.CARD),
        ("신한 110-123-456789 계좌로 이체", "110-123-456789", pii.ACCOUNT),
        ("국민 123456-12-123456 계좌", "123456-12-123456", pii.ACCOUNT),
        ("카카오뱅크 3333-01-1234567 입금", "3333-01-1234567", pii.ACCOUNT),
        ("농협 352-1234-5678-93 해지", "352-1234-5678-93", pii.ACCOUNT),
        ("계좌번호 35212345678931 조회", "35212345678931", pii.ACCOUNT),
        ("휴대폰 010-1234-5678 으로 연락", "010-1234-5678", pii.PHONE),
        ("연락처01098765432입니다", "01098765432", pii.PHONE),
        ("지점 02-123-4567 문의", "02-123-4567", pii.PHONE),
        ("해외에서 +82 10-1234-5678 로", "+82 10-1234-5678", pii.PHONE),
        ("메일 hong.gildong@bank.co.kr 로 회신", "hong.gildong@bank.co.kr", pii.EMAIL),
    ],
)
def test_masks_each_kind(text: str, value: str, kind: str) -> None:
    masked = mask_pii(text)
    assert value not in masked.text
    assert [r.kind for r in masked.replacements] == [kind]
    assert f"[{kind}1]" in masked.text


@pytest.mark.parametrize(
    "text",
    [
        "금융실명법 제4조의2에 따른 통보",
        "제3조제3항제2호의 예외",
        "100만원 이하 송금",
        "시행일은 2025-04-01 입니다",
        "[시행 2025.4.1.] [법률 제20894호, 2025.3.31., 일부개정]",
        "대통령령 제35038호",
        "은행검사매뉴얼 p.219 참조",
        "- 219 -",
        "6개월 이내에 통보",
        "과태료 1,000,000원",
        "3천만원 이하의 과태료",
        "금융위원회고시 제2024-12호",
        "고객센터 1588-9999",
        "대법원 2019다12345 판결",
        "20250401 기준",
        "총 12345678901원 거래",
        "ISBN 978-89-7522-123-4",
        "영업시간 09:00~18:00",
    ],
)
def test_leaves_lookalikes_alone(text: str) -> None:
    masked = mask_pii(text)
    assert masked.text == text
    assert masked.replacements == ()


def test_same_value_gets_same_placeholder_across_formats() -> None:
    masked = mask_pii(
        "900101-1234568 와 9001011234568, 그리고 010-1111-2222 와 01011112222, 850505-5123456"
    )
    assert masked.text == (
        "[주민등록번호1] 와 [주민등록번호1], 그리고 [전화번호1] 와 [전화번호1], [외국인등록번호1]"
    )
    assert len(masked.replacements) == 5


def test_different_values_get_numbered_placeholders() -> None:
    masked = mask_pii("010-1111-2222 에서 010-3333-4444 로 번호 변경, 다시 010-1111-2222")
    assert masked.text == "[전화번호1] 에서 [전화번호2] 로 번호 변경, 다시 [전화번호1]"


def test_replacements_never_hold_the_raw_value() -> None:
    text = "주민번호 900101-1234568 카드 4111-1111-1111-1111 메일 a@b.co.kr"
    masked = mask_pii(text)
    for replacement in masked.replacements:
        for value in dataclasses.astuple(replacement):
            assert str(value) not in ("900101-1234568", "4111-1111-1111-1111", "a@b.co.kr")
    assert "1234568" not in repr(masked)
    # Spans point back into the original text.
    assert [text[r.start : r.end] for r in masked.replacements] == [
        "900101-1234568",
        "4111-1111-1111-1111",
        "a@b.co.kr",
    ]


def test_result_is_frozen() -> None:
    masked = mask_pii("010-1234-5678")
    with pytest.raises(dataclasses.FrozenInstanceError):
        masked.text = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        masked.replacements[0].kind = "x"  # type: ignore[misc]


def test_checksum_status_is_flagged() -> None:
    valid = mask_pii("900101-1234568").replacements[0]
    post_2020 = mask_pii("210315-3847261").replacements[0]  # random tail since 2020-10
    assert valid.checksum_ok is True
    assert post_2020.checksum_ok is False
    assert post_2020.kind == pii.RRN


def test_not_a_date_and_not_a_corporate_checksum_is_not_a_registration_number() -> None:
    # 13 digits, month 13, corporate check digit wrong: left to the account rule.
    masked = mask_pii("991332-1234567")
    assert [r.kind for r in masked.replacements] == [pii.ACCOUNT]


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (pii.rrn_checksum_ok, "9001011234568", "9001011234567"),
        (pii.foreigner_checksum_ok, "8505055123456", "8505055123457"),
        (pii.corporate_checksum_ok, "1101110012346", "1101110012347"),
        (pii.business_checksum_ok, "2208162517", "2208162518"),
        (pii.luhn_ok, "4111111111111111", "4111111111111112"),
    ],
)
def test_check_digit_functions(check, good: str, bad: str) -> None:  # type: ignore[no-untyped-def]
    assert check(good)
    assert not check(bad)


def test_empty_and_plain_text() -> None:
    assert mask_pii("") == pii.MaskedText("", ())
    assert not mask_pii("금융실명제란 무엇인가요?").masked


def test_generated_sets_meet_targets() -> None:
    positives, negatives = pii_samples(), lookalike_samples()
    assert len(positives) >= 200 and len(negatives) >= 200
    recall, false_positive_rate = score(positives, negatives)
    missed = [s.text for s in positives if not covered(s)]
    flagged = [s.text for s in negatives if mask_pii(s.text).masked]
    assert recall >= 0.99, missed
    assert false_positive_rate <= 0.01, flagged


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_sets_other_seeds(seed: int) -> None:
    recall, false_positive_rate = score(pii_samples(seed), lookalike_samples(seed))
    assert recall >= 0.99
    assert false_positive_rate <= 0.01


def test_generated_kinds_are_mostly_right() -> None:
    # Any mask counts for recall; the kind label matters for readable answers.
    samples = pii_samples()
    right = sum(1 for s in samples if mask_pii(s.text).replacements[0].kind == s.kind)
    assert right / len(samples) >= 0.9


# --- issue 19: dash, space and full-width variants ---------------------------

DASHES = "\u2010\u2011\u2012\u2013\u2014\u2212\u30fc\ufe63\uff0d"  # ‐ ‑ ‒ – — − ー ﹣ －
SPACES = "\u00a0\u2009\u202f\u3000"  # NBSP, thin, narrow NBSP, ideographic


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("주민번호 900101–1234567 고객", "주민번호 [주민등록번호1] 고객"),
        ("우리은행 1002 345 678901 계좌로 이체", "우리은행 [계좌번호1] 계좌로 이체"),
    ],
)
def test_issue_19_examples_are_masked(text: str, expected: str) -> None:
    masked = mask_pii(text)
    assert masked.text == expected
    [replacement] = masked.replacements
    assert text[replacement.start : replacement.end] in ("900101–1234567", "1002 345 678901")


@pytest.mark.parametrize("dash", list(DASHES))
def test_every_dash_variant_is_masked(dash: str) -> None:
    rrn = f"900101{dash}1234568"
    text = f"고객 {rrn} 명의 계좌 110{dash}123{dash}456789, 휴대폰 010{dash}1234{dash}5678"
    masked = mask_pii(text)
    assert masked.text == "고객 [주민등록번호1] 명의 계좌 [계좌번호1], 휴대폰 [전화번호1]"
    assert [text[r.start : r.end] for r in masked.replacements] == [
        rrn,
        f"110{dash}123{dash}456789",
        f"010{dash}1234{dash}5678",
    ]


@pytest.mark.parametrize("space", list(SPACES))
def test_every_space_variant_is_masked(space: str) -> None:
    text = f"카드 4111{space}1111{space}1111{space}1111, 계좌 1002{space}345{space}678901 해지"
    masked = mask_pii(text)
    assert masked.text == "카드 [카드번호1], 계좌 [계좌번호1] 해지"
    assert [r.kind for r in masked.replacements] == [pii.CARD, pii.ACCOUNT]


def test_full_width_digits_are_masked_and_the_rest_is_kept_as_written() -> None:
    text = "고객\u00a0홍길동（주민번호 ９００１０１－１２３４５６８）\u3000연락처 ０１０－１２３４－５６７８"
    masked = mask_pii(text)
    assert masked.text == "고객\u00a0홍길동（주민번호 [주민등록번호1]）\u3000연락처 [전화번호1]"
    assert [text[r.start : r.end] for r in masked.replacements] == [
        "９００１０１－１２３４５６８",
        "０１０－１２３４－５６７８",
    ]
    assert masked.replacements[0].checksum_ok is True


def test_a_variant_and_its_plain_form_share_a_placeholder() -> None:
    masked = mask_pii(
        "900101-1234568 과 ９００１０１–１２３４５６８, 1002-345-678901 과 1002 345 678901"
    )
    assert masked.text == "[주민등록번호1] 과 [주민등록번호1], [계좌번호1] 과 [계좌번호1]"


def test_fold_variants_keeps_length() -> None:
    text = "".join(DASHES + SPACES) + "０１２３４５６７８９＋（）＠한글"
    folded = pii.fold_variants(text)
    assert len(folded) == len(text)
    assert folded == "-" * len(DASHES) + " " * len(SPACES) + "0123456789+()@한글"


@pytest.mark.parametrize(
    "text",
    [
        "금융실명법 제４조의２에 따른 통보",
        "１００만원 이하 송금",
        "시행일 2016.\u00a012.\u00a01.",
        "시행일 2025–04–01",
        "법률 제１４２４２호",
        "금융위원회고시 제2024－12호",
        "고객센터 1588–9999",
        "연도별 2019 2020 2021 2022 건수",
        "연도별 2010\u00a02011\u00a02012\u00a02013\u00a02014",
        "100 200 300 400",
        "총 1002 345 678901원",
        "제4조 제1항 제2호",
    ],
)
def test_variant_lookalikes_are_left_alone(text: str) -> None:
    assert mask_pii(text).text == text
    assert not mask_pii(text).masked


def test_space_grouped_account_is_the_whole_run() -> None:
    # A one-digit count after the number is not one of its groups.
    assert mask_pii("1002 345 678901 2건 이체").text == "[계좌번호1] 2건 이체"
    # Part of a longer row of numbers is not an account (nor a phone number: 02 4600589).
    assert not mask_pii("3748 02 4600589 1234").masked


def test_generated_variants_meet_targets() -> None:
    positives = [s for s in pii_samples() if s.variant]
    negatives = [s for s in lookalike_samples() if s.variant]
    assert len(positives) >= 250 and len(negatives) >= 200
    missed = [s.text for s in positives if not covered(s)]
    flagged = [s.text for s in negatives if mask_pii(s.text).masked]
    assert missed == []
    assert flagged == []


def test_fnrag_ask_json_masks_variants(hashing_sample_index_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    question = "주민번호 900101–1234567, 계좌 1002 345 678901 고객의 실명확인은?"
    out = subprocess.run(
        [sys.executable, "-m", "fnrag.cli", "ask", question, "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "FNRAG_INDEX": str(hashing_sample_index_dir)},
        check=True,
    ).stdout
    assert "1234567" not in out and "678901" not in out
    assert "[주민등록번호1]" in out and "[계좌번호1]" in out
