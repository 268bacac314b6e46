"""The extractive answer composer (issue 13): provision units, the deciding unit first,
lead-ins with their 호, 부칙 out of ordinary answers, the margin cut, number first lines,
reading-order numbering and the structured fields."""

from __future__ import annotations

import re

import pytest
from ask_fixtures import DECREE, LAW, make_hit
from conftest import ListIndex

from fnrag.answering.assistant import Assistant
from fnrag.answering.citations import cited_numbers, find_quotes, locate, verify_citations
from fnrag.evaluation.metrics import squash
from fnrag.generators.composer import ComposerGenerator
from fnrag.generators.extractive import ExtractiveGenerator
from fnrag.generators.units import passage_units
from fnrag.index.fusion import FusionConfig
from fnrag.index.plan import candidate_boosts, plan_query
from fnrag.text import split_sentences, strip_markers

FIU = "특정 금융거래정보의 보고 및 이용 등에 관한 법률"

# 금융실명법 제3조② as the Markdown statutes lay it out: a lead-in and its 호.
EXEMPT = make_hit(
    1,
    LAW,
    f"{LAW} > 제3조 (금융실명거래) > ②",
    "② 금융회사등은 다음 각 호의 어느 하나에 해당하는 경우에는 실명을 확인하지 아니할 수 "
    "있다. <개정 2020.12.29>\n"
    "  1. 실명이 확인된 계좌에 의한 계속거래(繼續去來), 공과금 수납\n"
    "  2. 외국통화의 매입, 외국통화로 표시된 예금의 수입(受入)\n"
    "  3. 다른 법률에 따라 채권을 발행하는 경우로서 총리령으로 정하는 채권의 거래",
)
# 시행령 제4조의2①: 항 → 호 → 목.
DOCUMENTS = make_hit(
    1,
    DECREE,
    f"{DECREE} > 제4조의2 (실명거래의 확인 등) > ①",
    "① 금융거래를 할 때 실지명의는 다음 각 호의 구분에 따른 증표ㆍ서류에 의하여 확인한다.\n"
    "  1. 개인의 경우\n"
    "    가. 주민등록증 발급대상자는 주민등록증\n"
    "    나. 재외국민은 여권 또는 재외국민등록증\n"
    "  2. 법인의 경우: 사업자등록증이나 납세번호를 부여받은 문서 또는 그 사본",
)
ADDENDA = make_hit(
    1,
    FIU,
    f"{FIU} > 부칙 <제17113호,2020.3.24> > 제2조 (가상자산사업자에 대한 경과조치)",
    "제2조 (가상자산사업자에 대한 경과조치) 이 법 시행 당시 영업 중인 가상자산사업자는 이 법 "
    "시행일부터 6개월 이내에 신고하여야 한다.",
)
PENALTY = make_hit(
    2,
    FIU,
    f"{FIU} > 제17조 (벌칙)",
    "##### 제17조 (벌칙)\n\n① 제7조제1항을 위반하여 신고를 하지 아니하고 가상자산거래를 영업으로 "
    "한 자는 5년 이하의 징역 또는 5천만원 이하의 벌금에 처한다.",
)
RECORDS = make_hit(
    1,
    LAW,
    f"{LAW} > 제4조의3 (거래정보등의 제공내용의 기록ㆍ관리) > ②",
    "② 금융회사등은 제1항에 따른 기록을 거래정보등을 제공한 날(제공을 거부한 경우에는 그 "
    "제공을 요구받은 날)부터 5년간 보관하여야 한다.",
)


def _compose(question: str, hits: list, **options: object) -> str:
    return ComposerGenerator(**options).compose(question, hits)  # type: ignore[arg-type]


def _assert_verified(text: str, hits: list) -> None:
    """The verifier accepts every marker, and every quote is verbatim in a cited passage."""
    check = verify_citations(text, hits)
    assert check.invalid == (), check.invalid
    assert check.grounded
    cited = cited_numbers(text)
    for quote in find_quotes(text):
        assert any(locate(quote, hits[n - 1].text) for n in cited), quote


@pytest.mark.parametrize(
    ("question", "item", "absent"),
    [
        ("공과금 수납할 때도 실명확인을 해야 하나요?", "공과금 수납", "채권의 거래"),
        ("외국통화를 매입할 때 실명 확인을 생략할 수 있나요?", "외국통화의 매입", "공과금"),
        ("총리령으로 정하는 채권을 거래할 때 실명확인은?", "채권의 거래", "외국통화의"),
    ],
)
def test_lead_in_is_completed_by_the_matching_item(question: str, item: str, absent: str) -> None:
    text = _compose(question, [EXEMPT])
    _assert_verified(text, [EXEMPT])
    flat = squash(text)
    lead = squash("다음 각 호의 어느 하나에 해당하는 경우에는 실명을 확인하지 아니할 수 있다")
    assert lead in flat and squash(item) in flat
    assert flat.index(lead) < flat.index(squash(item))
    assert squash(absent) not in flat
    assert "<개정" not in text


@pytest.mark.parametrize(
    ("question", "item", "lead_ins"),
    [
        ("재외국민 고객은 어떤 증표로 실명을 확인하나요?", "재외국민등록증", ("개인의 경우",)),
        ("법인 고객은 어떤 서류로 실명확인하나요?", "사업자등록증이나", ()),
        ("외국통화 매입 거래도 확인해야 하나요?", "외국통화의 매입", ()),
    ],
)
def test_an_item_is_never_quoted_without_its_lead_in(
    question: str, item: str, lead_ins: tuple[str, ...]
) -> None:
    hits = [DOCUMENTS, replace_rank(EXEMPT, 2)]
    text = _compose(question, hits)
    _assert_verified(text, hits)
    for line in text.splitlines():
        flat = squash(line)
        if squash(item) not in flat:
            continue
        # The 항's lead-in (and the 호 above a 목) come before the item on its line.
        for lead in ("다음각호", *map(squash, lead_ins)):
            assert lead in flat and flat.index(lead) < flat.index(squash(item)), line
        break
    else:
        pytest.fail(f"{item} not quoted: {text}")


def replace_rank(hit, rank: int):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(hit, rank=rank, score=1.0 / rank, chunk_id=f"c{rank}{hit.chunk_id}")


@pytest.mark.parametrize(
    ("question", "cited_section"),
    [
        ("가상자산사업자가 신고를 안 하고 영업하면 처벌받나요?", "제17조 (벌칙)"),
        ("가상자산사업자 신고를 안 하면 어떻게 되나요?", "제17조 (벌칙)"),
        ("가상자산사업자 신고에 관한 경과조치는 어떻게 되나요?", "부칙"),
        ("이 법 시행 당시 영업 중인 가상자산사업자는 언제까지 신고하나요? 시행일 기준", "부칙"),
    ],
)
def test_addenda_stay_out_of_ordinary_answers_and_answer_when_asked(
    question: str, cited_section: str
) -> None:
    hits = [ADDENDA, PENALTY]
    text = _compose(question, hits)
    _assert_verified(text, hits)
    first = hits[cited_numbers(text)[0] - 1]
    assert cited_section in first.section
    if cited_section != "부칙":
        assert all("부칙" not in hits[n - 1].section for n in cited_numbers(text))


@pytest.mark.parametrize(
    ("question", "penalised"),
    [("가상자산사업자 신고 안 하면 처벌은?", True), ("가상자산사업자 신고 경과조치는?", False)],
)
def test_retrieval_holds_back_addenda_unless_asked(question: str, penalised: bool) -> None:
    config = FusionConfig()
    boosts = candidate_boosts(
        plan_query(question),
        config,
        ["제2조", "제17조"],
        [FIU, FIU],
        [ADDENDA.section, PENALTY.section],
    )
    assert bool(boosts[0] < 0) is penalised
    # A penalty question prefers the 벌칙 article; an addenda question does not.
    assert boosts[1] == pytest.approx(config.penalty_boost if penalised else 0.0)


@pytest.mark.parametrize(("margin", "supporting"), [(0.99, 0), (0.0, 1)])
def test_supporting_units_only_clear_the_margin(margin: float, supporting: int) -> None:
    weaker = make_hit(
        2,
        DECREE,
        f"{DECREE} > 제4조 (실명확인의 생략)",
        "법 제3조제2항제1호에 따라 실명의 확인을 하지 아니할 수 있는 거래는 공과금 수납이다.",
    )
    hits = [EXEMPT, weaker]
    question = "공과금 수납할 때도 실명확인을 해야 하나요?"
    scored = ComposerGenerator().score_units(question, hits)
    best_of_second = max(s.score for s in scored if s.n == 2)
    assert best_of_second < 0.99 * scored[0].score
    text = _compose(question, hits, margin=margin, first_line=False)
    _assert_verified(text, hits)
    assert len(text.splitlines()) == 1 + supporting
    assert (2 in cited_numbers(text)) is bool(supporting)


_WORD = re.compile(r"[가-힣A-Za-z0-9]+")


@pytest.mark.parametrize(
    ("question", "hit", "expected"),
    [
        ("거래정보 제공 기록은 얼마 동안 보관해야 하나요?", RECORDS, "5년간 보관하여야 한다"),
        ("신고 안 하고 가상자산 영업하면 징역 몇 년인가요?", PENALTY, "5년 이하의 징역"),
        ("거래정보 제공 기록 보관 기간은 몇 년이에요?", RECORDS, "5년간 보관하여야 한다"),
    ],
)
def test_number_first_line_uses_only_quoted_words(question: str, hit, expected: str) -> None:  # type: ignore[no-untyped-def]
    text = _compose(question, [hit])
    _assert_verified(text, [hit])
    first = text.splitlines()[0]
    assert squash(expected) in squash(first)
    assert len(strip_markers(first)) <= 80
    words = _WORD.findall(strip_markers(first))
    passage = squash(hit.text)
    assert words and all(word in passage for word in words), first


@pytest.mark.parametrize(
    ("question", "hit", "verdict"),
    [
        ("금융회사가 거래정보 제공 기록을 안 남겨도 되나요?", RECORDS, "보관하여야 한다"),
        ("다른 법률로 발행하는 채권 거래도 실명을 확인하지 아니할 수 있나요?", EXEMPT, None),
    ],
)
def test_yes_no_first_line_is_the_deciding_units_own_verdict(
    question: str, hit, verdict: str | None
) -> None:  # type: ignore[no-untyped-def]
    text = _compose(question, [hit])
    _assert_verified(text, [hit])
    first = text.splitlines()[0]
    if verdict is None:
        # A 호 states a case, not a verdict: the answer opens with the provision itself.
        assert first.startswith("금융실명법 제3조제2항제3호:"), text
        return
    assert first.startswith("“") and first.endswith("[1]") and verdict in first
    assert all(w in squash(hit.text) for w in _WORD.findall(strip_markers(first)))


def _reading_order_hits() -> list:
    unrelated = make_hit(
        1, LAW, f"{LAW} > 제1조 (목적)", "이 법은 금융거래의 정상화를 꾀함을 목적으로 한다."
    )
    return [unrelated, replace_rank(ADDENDA, 2), replace_rank(PENALTY, 3)]


@pytest.mark.parametrize(
    "question",
    ["가상자산사업자가 신고를 안 하고 영업하면 처벌받나요?", "가상자산거래 영업 신고 위반 벌칙은?"],
)
def test_citations_are_numbered_in_reading_order(question: str) -> None:
    answer = Assistant(ListIndex(_reading_order_hits()), log=False, refusal=False).ask(question)
    assert not answer.refused
    numbers = cited_numbers(answer.text)
    assert list(numbers) == list(range(1, len(numbers) + 1))
    assert [c.n for c in answer.citations] == list(numbers)
    # The deciding passage (retrieval rank 3, the 벌칙) is [1]; all shown passages remain.
    assert "제17조" in answer.passages[0].section and answer.passages[0].rank == 3
    assert sorted(h.rank for h in answer.passages) == [1, 2, 3]
    for citation in answer.citations:
        assert citation.quote in answer.passages[citation.n - 1].text


def test_answer_composed_for_the_reading_order_is_the_answer_given() -> None:
    """``passage_order`` composes once; ``generate`` over the renumbered passages reuses
    that answer, which must equal composing afresh over them, and never leaks into
    another question or another thread."""
    import threading

    from fnrag.index.plan import plan_query
    from fnrag.types import Retrieval

    question = "가상자산사업자가 신고를 안 하고 영업하면 처벌받나요?"
    hits = tuple(_reading_order_hits())
    generator = ExtractiveGenerator()
    retrieval = Retrieval(question, plan_query(question), hits, "hybrid")
    ordered = generator.passage_order(retrieval)
    assert ordered[0].rank == 3  # the 벌칙 decides: it is shown first
    kept = generator._ordered.answer[1]
    fresh = ComposerGenerator(gate=generator).compose(question, ordered, retrieval.plan)
    assert kept == fresh and cited_numbers(kept)[0] == 1
    given = generator.generate("", question=question, passages=ordered, retrieval=retrieval)
    assert given.text == fresh
    # Used once: another question over the same passages is composed for itself.
    other = "가상자산거래 영업 신고 위반 벌칙은?"
    generator.passage_order(Retrieval(question, plan_query(question), hits, "hybrid"))
    again = generator.generate("", question=other, passages=ordered)
    assert again.text == ComposerGenerator(gate=generator).compose(other, ordered)
    # Another thread does not see this thread's kept answer.
    generator.passage_order(retrieval)
    seen: list[object] = []
    thread = threading.Thread(
        target=lambda: seen.append(getattr(generator._ordered, "answer", None))
    )
    thread.start()
    thread.join()
    assert seen == [None] and generator._ordered.answer is not None


@pytest.mark.parametrize(
    ("hit", "question", "reference"),
    [
        (
            DOCUMENTS,
            "재외국민은 어떤 증표로 실명을 확인하나요?",
            "금융실명법 시행령 제4조의2제1항제1호나목",
        ),
        (EXEMPT, "공과금 수납할 때도 실명확인을 해야 하나요?", "금융실명법 제3조제2항제1호"),
        (RECORDS, "거래정보 제공 기록은 얼마 동안 보관하나요?", "금융실명법 제4조의3제2항"),
        (
            make_hit(
                1,
                "은행검사매뉴얼 2025-07",
                "은행검사매뉴얼 2025-07 > 제3 장 > 4. 기타 수신",
                "예금 신규계좌 개설시 실명확인증표로 실명확인후 사본을 첨부보관하고 있는지 점검한다.",
                page=219,
            ),
            "신규계좌 개설 때 실명확인증표 사본을 보관하는지 검사하나요?",
            "은행검사매뉴얼 2025-07 p.219",
        ),
    ],
)
def test_structured_fields_lead_and_reference(hit, question: str, reference: str) -> None:  # type: ignore[no-untyped-def]
    if hit.page is not None:
        from dataclasses import replace

        hit = replace(hit, source="pdf/은행검사매뉴얼_2025-07.pdf")
    answer = Assistant(ListIndex([hit]), log=False, refusal=False).ask(question)
    assert not answer.refused and answer.lead is not None
    assert answer.lead == answer.citations[0]
    assert answer.lead.reference == reference
    data = answer.to_json()
    assert data["lead"]["reference"] == reference
    assert data["citations"][0]["reference"] == reference


def test_refused_answer_has_no_lead() -> None:
    answer = Assistant(ListIndex([EXEMPT]), log=False, refusal=False).ask(
        "오늘 점심 메뉴 추천해 줘"
    )
    assert answer.refused and answer.lead is None and answer.to_json()["lead"] is None


def test_statute_units_keep_provisos_and_drop_notes() -> None:
    hit = make_hit(
        1,
        DECREE,
        f"{DECREE} > 제3조 (실지명의)",
        "법 제2조제4호의 규정에 의한 실지명의는 다음 각호의 구분에 따른 명의로 한다. <개정 2002.6.29>\n"
        "  1. 개인의 경우\n\n 주민등록표에 기재된 성명 및 주민등록번호. 다만, 재외국민의 경우에는 "
        "여권에 기재된 성명 및 여권번호",
    )
    units = passage_units(hit.text, hit.section, hit.source).units
    assert [u.level for u in units] == ["para", "item"]
    assert units[1].parent == 0 and units[0].children == [1]
    assert "다만, 재외국민의 경우에는" in units[1].text  # the proviso stays with its sentence
    assert "<개정" not in units[0].text
    for unit in units:
        for piece in unit.pieces:
            assert locate(piece, hit.text) is not None


def test_disabled_composer_keeps_the_sentence_answer() -> None:
    question = "공과금 수납할 때도 실명확인을 해야 하나요?"
    plain = ExtractiveGenerator(compose=False).generate("", question=question, passages=[EXEMPT])
    assert "“" not in plain.text and plain.text.endswith("[1]")
    for start, end in split_sentences(plain.text):
        assert plain.text[start:end]


def test_unbalanced_quotation_marks_fall_back_to_plain_sentences() -> None:
    # One ASCII quote in the lead-in, one in its 호: the verifier would pair them across
    # the composed connector ("” → 제1호 “"), so the composer answers in plain sentences.
    hit = make_hit(
        1,
        LAW,
        f"{LAW} > 제2조 (정의)",
        '① "금융회사등은 다음 각 호의 어느 하나에 해당하는 경우 실명을 확인하여야 하는 거래\n'
        '  1. 공과금 수납 거래" 및 그 밖의 거래',
    )
    question = "공과금 수납 거래도 실명을 확인하나요?"
    text = ComposerGenerator().compose(question, [hit])
    check = verify_citations(text, [hit])
    assert check.invalid == () and check.grounded
    assert "“" not in text and text.endswith("[1]")


CTR = make_hit(
    1,
    FIU,
    f"{FIU} > 제4조의2 (금융회사등의 고액 현금거래 보고) > ①",
    "① 금융회사등은 5천만원의 범위에서 대통령령으로 정하는 금액 이상의 현금을 금융거래등의 "
    "상대방에게 지급하거나 그로부터 영수한 경우에는 그 사실을 30일 이내에 "
    "금융정보분석원장에게 보고하여야 한다.",
)
STR = make_hit(
    1,
    FIU,
    f"{FIU} > 제4조 (불법재산 등으로 의심되는 거래의 보고 등) > ①",
    "① 금융회사등은 다음 각 호의 어느 하나에 해당하는 경우에는 대통령령으로 정하는 바에 따라 "
    "지체 없이 그 사실을 금융정보분석원장에게 보고하여야 한다.\n"
    "  1. 금융거래등과 관련하여 수수(授受)한 재산이 불법재산이라고 의심되는 합당한 근거가 있는 경우\n"
    "  2. 금융거래등의 상대방이 자금세탁행위를 하고 있다고 의심되는 합당한 근거가 있는 경우",
)


@pytest.mark.parametrize(
    ("question", "hit", "expected", "not_expected"),
    [
        ("고액현금거래 보고는 며칠 안에 해야 하나요?", CTR, "30일 이내에", "5천만원"),
        ("고액현금거래 보고 기준 금액은 얼마예요?", CTR, "5천만원의 범위에서", "30일"),
        # The 호 decides which case; the deadline is stated once, in its lead-in.
        ("불법재산이라고 의심되면 언제까지 보고해야 하나요?", STR, "지체 없이", "합당한"),
    ],
)
def test_number_first_line_states_the_kind_of_number_asked(
    question: str, hit, expected: str, not_expected: str
) -> None:  # type: ignore[no-untyped-def]
    text = _compose(question, [hit])
    _assert_verified(text, [hit])
    first = text.splitlines()[0]
    assert expected in first and not_expected not in first, text
    assert all(w in squash(hit.text) for w in _WORD.findall(strip_markers(first)))


def test_reference_of_a_quote_that_opens_with_its_mark() -> None:
    answer = Assistant(ListIndex([CTR]), log=False, refusal=False).ask(
        "고액현금거래 보고는 며칠 안에 해야 하나요?"
    )
    assert answer.lead is not None and answer.lead.quote.startswith("①")
    assert answer.lead.reference == "특정금융정보법 제4조의2제1항"


SECRECY_PENALTY = make_hit(
    1,
    LAW,
    f"{LAW} > 제6조 (벌칙)",
    "##### 제6조 (벌칙)\n\n① 제3조제3항 또는 제4항, 제4조제1항 또는 제3항부터 제5항까지의 규정을 "
    "위반한 자는 5년 이하의 징역 또는 5천만원 이하의 벌금에 처한다.",
)


@pytest.mark.parametrize(
    ("question", "answered"),
    [
        ("직원이 고객 계좌 내역을 지인에게 몰래 알려주면 형사처벌은 어느 정도인가요?", True),
        ("친구 부탁으로 통장 빌려줬는데 처벌 받나요?", True),
        # Without a penalty question the 벌칙 article's rank is no evidence.
        ("직원이 고객 계좌 내역을 지인에게 몰래 알려주면 어떻게 되나요?", False),
    ],
)
def test_penalty_question_in_everyday_words_is_answered_by_the_penalty_article(
    question: str, answered: bool
) -> None:
    hits = [SECRECY_PENALTY, replace_rank(EXEMPT, 2)]
    assert ExtractiveGenerator(compose=False).select(question, hits) == []
    text = _compose(question, hits)
    assert bool(text) is answered
    if answered:
        _assert_verified(text, hits)
        assert cited_numbers(text)[0] == 1 and "5년 이하의 징역" in text
