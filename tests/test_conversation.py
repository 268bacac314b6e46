"""Follow-up questions: history validation, masking, resolution before retrieval (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ScriptedGenerator

import fnrag
from fnrag.answering import conversation
from fnrag.answering.assistant import Assistant
from fnrag.answering.conversation import is_follow_up, topic_vocabulary, validate_history
from fnrag.errors import InputError
from fnrag.index.search import load_index
from fnrag.prompts import CONDENSE_RULES, build_condense_prompt

RRN = "900101-1234568"  # a valid-checksum 주민등록번호 (tests/test_pii.py)
FIRST = "개인 고객은 어떤 신분증으로 실명확인을 하나요?"


def _history(answer: str = "주민등록증이 기본입니다. [1]") -> list[dict[str, str]]:
    return [{"role": "user", "content": FIRST}, {"role": "assistant", "content": answer}]


@pytest.fixture(scope="module")
def sample_index(sample_index_dir: Path):
    return load_index(sample_index_dir)


@pytest.fixture(scope="module")
def assistant(sample_index) -> Assistant:
    return Assistant(sample_index, log=False)


def _sections(answer) -> list[str]:
    return [h.section for h in sorted(answer.passages, key=lambda h: h.rank)]


# --- validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ("지난 질문", "history must be a list of turns"),
        ({"role": "user", "content": "질문"}, "history must be a list of turns"),
        ([{"role": "user", "content": "질문"}, "답"], "history turn 2 must be an object"),
        ([{"role": "bot", "content": "답"}], "history turn 1 has role 'bot'"),
        ([{"role": "user"}], "history turn 1 needs 'content' text, not NoneType"),
        ([{"role": "user", "content": 3}], "history turn 1 needs 'content' text, not int"),
        ([{"role": "user", "content": "가" * 20_001}], "history turn 1 has 20,001 characters"),
        ([{"role": "user", "content": "질문"}] * 101, "history has 101 turns"),
    ],
)
def test_bad_history_names_the_turn(history: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        validate_history(history)


def test_bad_history_is_an_input_error_of_ask(assistant: Assistant) -> None:
    with pytest.raises(InputError, match="history turn 2 has role 'tool'"):
        assistant.ask(
            "그럼 법인 고객은요?", history=[_history()[0], {"role": "tool", "content": "x"}]
        )


def test_system_turns_dropped_and_content_parts_joined() -> None:
    turns = validate_history(
        [
            {"role": "system", "content": "당신은 도우미입니다."},
            {"role": "user", "content": [{"type": "text", "text": "법인 고객 실명확인은?"}]},
        ]
    )
    assert [(t.role, t.content) for t in turns] == [("user", "법인 고객 실명확인은?")]
    assert validate_history(None) == ()


def test_pii_in_history_is_masked() -> None:
    turns = validate_history([{"role": "user", "content": f"주민번호 {RRN} 고객 계좌 개설"}])
    assert RRN not in turns[0].content
    assert "[주민등록번호1]" in turns[0].content


# --- recognising follow-ups ---------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    ["그럼 법인 고객은요?", "그건 누가 부과하나요?", "기한은요?", "며칠 안에 알려야 돼요?"],
)
def test_follow_ups_recognised(sample_index, question: str) -> None:
    assert is_follow_up(question, topic_vocabulary(sample_index))


@pytest.mark.parametrize(
    "question",
    [
        "법인 고객의 실명확인증표는 무엇인가요?",
        "거래정보 제공사실의 통보를 유예할 수 있는 사유는?",
        "금융실명법 제4조의2는 무엇을 정하나요?",
    ],
)
def test_self_contained_questions_recognised(sample_index, question: str) -> None:
    assert not is_follow_up(question, topic_vocabulary(sample_index))


# --- the extractive route on the real sample index ----------------------------------


def test_follow_up_resolved_against_history(assistant: Assistant) -> None:
    followed = assistant.ask("그럼 법인 고객은요?", history=_history())
    assert followed.question == "그럼 법인 고객은요?"
    assert followed.resolved_question == f"{FIRST} 그럼 법인 고객은요?"
    top = sorted(followed.passages, key=lambda h: h.rank)[:2]
    assert any("사업자등록증" in h.text for h in top)
    assert not followed.refused and followed.citations


def test_follow_up_refused_alone_answered_with_history(assistant: Assistant) -> None:
    history = [
        {"role": "user", "content": "실명확인 의무를 어긴 직원에게 과태료가 얼마나 나오나요?"}
    ]
    alone = assistant.ask("그건 누가 부과하나요?")
    followed = assistant.ask("그건 누가 부과하나요?", history=history)
    assert alone.refused and alone.resolved_question == alone.question
    assert not followed.refused
    assert "과태료" in followed.citations[0].section


def test_follow_up_carries_terms_at_a_lower_weight(sample_index) -> None:
    turns = validate_history(_history("제3장 실명확인증표 [1]"))
    resolution = conversation.resolve(
        "그럼 법인 고객은요?", turns, topic_terms=topic_vocabulary(sample_index)
    )
    assert resolution.route == "carried"
    terms = resolution.plan.terms
    assert terms["법인"] == 1.0  # the follow-up's own words keep full weight
    assert terms["신분증"] == conversation.CARRY_WEIGHT  # the previous question's, lower
    assert "제3장" not in terms  # chapters are not articles: only 제N조 is carried


def test_elliptical_deadline_follow_up(assistant: Assistant) -> None:
    history = [{"role": "user", "content": "거래정보 제공사실의 통보를 유예할 수 있는 사유는?"}]
    followed = assistant.ask("기간은요?", history=history)
    assert any("유예 기간" in s for s in _sections(followed)[:3]), _sections(followed)


@pytest.mark.parametrize(
    ("first", "follow_up", "expected"),
    [
        (FIRST, "그거 하나면 되는 거죠?", "주민등록증"),
        ("거래정보 제공사실의 통보를 유예할 수 있는 사유는?", "언제까지 해야 돼요?", "지체 없이"),
    ],
)
def test_follow_up_with_no_words_of_its_own_answered_from_the_earlier_turn(
    assistant: Assistant, first: str, follow_up: str, expected: str
) -> None:
    """The follow-up asks wholly about the earlier turn: the earlier question's words are
    its evidence (it used to be refused for having none of its own)."""
    earlier = assistant.ask(first)
    history = [{"role": "user", "content": first}, {"role": "assistant", "content": earlier.text}]
    followed = assistant.ask(follow_up, history=history)
    assert not followed.refused, followed.refusal_reason
    assert followed.grounded and followed.citations and not followed.invalid_citations
    assert expected in followed.text


def test_follow_up_with_no_words_of_its_own_after_a_refusal_is_refused() -> None:
    """After a refused turn the carried words were not answerable: the selector does not
    let them stand in for the follow-up's own."""
    from dataclasses import replace

    from fnrag.generators.sentences import SentenceSelector
    from fnrag.types import Hit, QueryPlan

    passage = Hit(
        1, 1.0, "a", "guide.md", "안내", None, (), "안내 > 환전", "환전 우대율은 영업점장이 정한다."
    )
    plan = QueryPlan(
        "환전 우대는 얼마까지 돼요? 그거 하나면 되는 거죠?",
        (),
        {"환전": 0.5, "우대": 0.5},
        "",
        frozenset(),
        (),
        carried=frozenset({"환전", "우대"}),
    )
    selector = SentenceSelector()
    assert selector.select("그거 하나면 되는 거죠?", [passage], plan)
    refused_before = replace(plan, carried_refused=True)
    assert selector.select("그거 하나면 되는 거죠?", [passage], refused_before) == []


@pytest.mark.parametrize(
    ("answer", "refused"),
    [
        ("제공된 자료에서 답을 찾을 수 없습니다.", True),
        ("주민등록증이 기본입니다. [1]", False),
    ],
)
def test_carried_plan_records_whether_the_earlier_turn_was_refused(
    answer: str, refused: bool
) -> None:
    plan = conversation.carried_plan("그거 하나면 되는 거죠?", [FIRST], [answer])
    assert plan.carried and plan.carried_refused is refused


def test_self_contained_question_not_carried_over(assistant: Assistant) -> None:
    question = "거래정보 제공사실의 통보를 유예할 수 있는 사유는?"
    alone = assistant.ask(question)
    followed = assistant.ask(question, history=_history())
    assert followed.resolved_question == question
    assert [h.chunk_id for h in followed.passages] == [h.chunk_id for h in alone.passages]
    assert followed.text == alone.text


def test_module_ask_takes_history(sample_index_dir: Path) -> None:
    answer = fnrag.ask("그럼 법인 고객은요?", index=sample_index_dir, history=_history(), log=False)
    assert answer.resolved_question.startswith(FIRST)


# --- the condense route (an LLM generator) ------------------------------------------

STANDALONE = "법인 고객은 어떤 서류로 실명확인을 하나요?"


def test_condense_route_uses_the_prompt_from_prompts(sample_index) -> None:
    generator = ScriptedGenerator({"그럼 법인 고객은요?": STANDALONE, STANDALONE: "모름"})
    assistant = Assistant(sample_index, generator=generator, refusal=False, log=False)
    history = [{"role": "user", "content": f"주민번호 {RRN} 개인 고객은 어떤 신분증으로 하나요?"}]
    answer = assistant.ask("그럼 법인 고객은요?", history=history)
    condense_prompt = generator.prompts[0]
    masked = validate_history(history)
    assert condense_prompt == build_condense_prompt(
        "그럼 법인 고객은요?", [(t.role, t.content) for t in masked]
    )
    assert CONDENSE_RULES in condense_prompt
    assert RRN not in condense_prompt  # masked before it reaches the model
    assert generator.passages[0] == []  # the condense step sees no passages
    assert answer.resolved_question == STANDALONE
    assert f"질문: {STANDALONE}" in generator.prompts[1]  # answered as the standalone question
    top = sorted(answer.passages, key=lambda h: h.rank)[:2]
    assert any("사업자등록증" in h.text for h in top)


@pytest.mark.parametrize("output", ["", "   ", "그럼 법인 고객은요?", "### Instruction:\n질문"])
def test_unusable_condense_output_falls_back_to_carrying(sample_index, output: str) -> None:
    generator = ScriptedGenerator({"그럼 법인 고객은요?": output})
    turns = validate_history(_history())
    resolution = conversation.resolve(
        "그럼 법인 고객은요?",
        turns,
        generator=generator,
        topic_terms=topic_vocabulary(sample_index),
    )
    assert len(generator.prompts) == 1
    assert resolution.route == "carried"
    assert resolution.resolved == f"{FIRST} 그럼 법인 고객은요?"


def test_condense_output_cleaned_and_masked() -> None:
    generator = ScriptedGenerator(
        f'질문: "주민번호 {RRN} 법인 고객은 어떤 서류로 확인하나요?"\n설명'
    )
    condensed = conversation.condense(
        "그럼 법인 고객은요?", validate_history(_history()), generator
    )
    assert condensed == "주민번호 [주민등록번호1] 법인 고객은 어떤 서류로 확인하나요?"


def test_extractive_generator_never_condenses(sample_index) -> None:
    generator = fnrag.generators.get_generator("extractive")
    resolution = conversation.resolve(
        "그럼 법인 고객은요?", validate_history(_history()), generator=generator
    )
    assert resolution.route == "carried"


def test_composer_counts_carried_terms_as_the_follow_ups() -> None:
    """ "그건 누가 부과하나요?" after a 과태료 question: the 과태료 article, whose heading
    holds the carried word, leads — not another article that merely says 부과."""
    from dataclasses import replace

    from fnrag.generators.composer import ComposerGenerator
    from fnrag.types import Hit, QueryPlan

    tax = Hit(
        1,
        1.0,
        "a",
        "law.md",
        "시험법",
        None,
        (),
        "시험법 > 제5조 (세금)",
        "① 세금은 관할 세무서장이 부과한다.",
    )
    fine = Hit(
        2,
        1.0,
        "b",
        "law.md",
        "시험법",
        None,
        (),
        "시험법 > 제7조 (과태료)",
        "① 제1항의 금액은 금융위원회가 부과한다.",
    )
    plan = QueryPlan(
        "그건 누가 부과하나요?", ("부과",), {"부과": 1.0, "과태료": 0.5}, "", frozenset(), ()
    )
    composer = ComposerGenerator()
    alone = composer.score_units(plan.question, [tax, fine], plan)[0]
    carried = composer.score_units(
        plan.question, [tax, fine], replace(plan, carried=frozenset({"과태료"}))
    )[0]
    assert (alone.n, carried.n) == (1, 2)


@pytest.mark.parametrize(("carried_only_weight", "leads"), [(0.5, 2), (1.0, 1)])
def test_composer_discounts_units_holding_only_the_earlier_questions_words(
    carried_only_weight: float, leads: int
) -> None:
    """ "며칠 안에 알려야 돼요?" after a 영장 question: the 통보 article, which holds what
    the follow-up asks now (이내, 통보), leads — not the article that matches only the
    earlier question's words (the earlier answer quoted that one already)."""
    from fnrag.generators.composer import ComposerGenerator
    from fnrag.types import Hit, QueryPlan

    warrant = Hit(
        1,
        1.0,
        "a",
        "law.md",
        "시험법",
        None,
        (),
        "시험법 > 제4조 (비밀보장)",
        "① 법원의 제출명령 또는 영장에 따른 거래정보등의 제공은 할 수 있다.",
    )
    notice = Hit(
        2,
        1.0,
        "b",
        "law.md",
        "시험법",
        None,
        (),
        "시험법 > 제5조 (제공사실의 통보)",
        "① 거래정보등을 제공한 경우에는 10일 이내에 명의인에게 서면으로 알려야 한다.",
    )
    carried = {"법원": 0.5, "제출명령": 0.5, "영장": 0.5, "거래정보": 0.5, "제공": 0.5}
    plan = QueryPlan(
        "법원 영장 받고 거래정보를 넘겼으면? 며칠 안에 알려야 돼요?",
        ("며칠", "알리"),
        {"며칠": 1.0, "알리": 1.0, "이내": 0.5, "통보": 0.5, **carried},
        "",
        frozenset(),
        (),
        carried=frozenset(carried),
    )
    composer = ComposerGenerator(carried_only_weight=carried_only_weight)
    assert composer.score_units("며칠 안에 알려야 돼요?", [warrant, notice], plan)[0].n == leads
