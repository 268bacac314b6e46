"""Misspelled Korean words and questions in English (issue 13, robustness).

The speller runs real Kiwi against a vocabulary; the English route runs through the real
tokenizer, the real sample index and, where ../shared is present, the real corpus.
"""

from __future__ import annotations

import pytest

from fnrag.index.plan import plan_query
from fnrag.korean.glossary import english_gloss, is_english
from fnrag.korean.spelling import Speller, letters, suspects

TEXT = (
    "금융회사등은 계좌를 개설할 때 실명확인을 하여야 한다. 위반한 자에게는 과태료를 부과한다. "
    "고액 현금거래 보고는 30일 이내에 한다. 거래정보등의 제공사실 통보유예 기간. "
    "계좌 계좌 계좌 과태료 과태료 실명 실명 실명 거래 거래 거래 통보유예 통보유예 유의 유의 유의 유의"
)
VOCABULARY = {
    "계좌": 40,
    "과태료": 12,
    "실명": 30,
    "확인": 50,
    "실명확인": 20,
    "거래": 90,
    "현금": 8,
    "고액": 6,
    "보고": 40,
    "통보": 25,
    "유예": 9,
    "유의": 14,
    "기회": 5,
    "제도": 7,
}


@pytest.fixture(scope="module")
def speller() -> Speller:
    return Speller(VOCABULARY, TEXT)


@pytest.mark.parametrize(
    ("question", "typed", "word"),
    [
        ("게좌 만들 때 신분증은 뭘 봐요?", "게좌", "계좌"),
        ("통보 안 하면 과태로 대상인가요?", "과태로", "과태료"),
        ("운전면허증으로 실면확인해 줘도 되나요?", "실면", "실명"),
        ("고액현금거레 보고는 언제까지 해요?", "거레", "거래"),
    ],
)
def test_misspelled_words_are_read_as_the_index_writes_them(
    speller: Speller, question: str, typed: str, word: str
) -> None:
    corrected, corrections = speller.correct(question)
    assert [(c.typed, c.word) for c in corrections] == [(typed, word)]
    assert corrected == question.replace(typed, word)


@pytest.mark.parametrize(
    "question",
    [
        "계좌를 만들 때 실명확인을 해야 하나요?",  # spelled right
        "교회나 동창회 통장은 어떻게 만들어요?",  # 교회 is a word (one letter from 기회)
        "그 정보를 친구한테 줘도 되나요?",  # 줘도 is a verb (one letter from 제도)
        "공과금을 수납할 때도 확인하나요?",  # 때 + 도, not a misspelling of anything
        "콜센터 위탁업체에 넘겨도 되나요?",  # words the corpus lacks, Kiwi knows
    ],
)
def test_correct_questions_are_left_alone(speller: Speller, question: str) -> None:
    assert speller.correct(question) == (question, ())


def test_the_corpus_context_picks_among_neighbours(speller: Speller) -> None:
    # 유얘 is one letter from both 유예 and the more frequent 유의; the corpus writes 통보유예.
    corrected, _ = speller.correct("통보유얘 기간은 얼마예요?")
    assert corrected.startswith("통보유예")


def test_text_the_corpus_holds_is_never_a_misspelling() -> None:
    speller = Speller({"계좌": 40}, "고객의 게좌 번호")  # the text itself writes 게좌
    assert speller.correct("게좌 번호") == ("게좌 번호", ())
    # ...but only inside a word: "하게 좌석" does not vouch for 게좌.
    speller = Speller({"계좌": 40}, "하게 좌석")
    assert speller.correct("게좌 번호")[0] == "계좌 번호"


def test_suspects_are_unknown_nouns_and_fragment_runs() -> None:
    question = "과태로 대상인 고액현금거레"
    spans = [question[a:b] for a, b in suspects(question)]
    assert "과태로" in spans and any(s.endswith("거레") for s in spans)
    assert suspects("계좌를 개설할 때 실명확인을 한다") == []


def test_letters_are_three_slots_a_syllable() -> None:
    assert len(letters("계좌")) == 6
    assert sum(a != b for a, b in zip(letters("실면"), letters("실명"), strict=True)) == 1
    with pytest.raises(ValueError):
        letters("A")


def test_retrieval_reads_a_misspelled_question_like_the_right_one(sample_index_dir) -> None:
    from fnrag.index.search import load_index

    index = load_index(sample_index_dir)
    right = index.search("대리인이 계좌를 개설하러 오면 무엇을 확인하나요?", k=3)
    wrong = index.retrieve("대리인이 게좌를 개설하러 오면 무엇을 확인하나요?", k=3)
    assert "계좌" in wrong.plan.tokens and "게좌" not in wrong.plan.tokens
    assert wrong.question.startswith("대리인이 게좌")  # what was asked is kept as asked
    assert [h.chunk_id for h in wrong.hits] == [h.chunk_id for h in right]


# --- English -------------------------------------------------------------------------


def test_an_english_domain_question_is_read_in_the_statutes_words() -> None:
    question = (
        "Which ID documents can we use to verify a foreigner's real name when opening an account?"
    )
    assert is_english(question)
    gloss = english_gloss(question)
    assert "외국인" in gloss and "실명" in gloss and "계좌 개설" in gloss
    plan = plan_query(question)
    assert plan.reading and "외국인" in plan.tokens and "계좌" in plan.tokens
    assert plan.dense_text.startswith(question)  # the embedder still sees the English


@pytest.mark.parametrize(
    "question",
    [
        "How do I reset my online banking password?",  # one domain word among others
        "What is the weather like in Seoul tomorrow?",
        "STR 보고는 언제까지 하나요?",  # Korean with an abbreviation: not English
    ],
)
def test_no_reading_for_other_questions(question: str) -> None:
    assert english_gloss(question) == []
    assert plan_query(question).reading == ""


def test_longer_phrases_claim_their_words_first() -> None:
    gloss = english_gloss(
        "Does foreign currency cash count toward the CTR threshold for customers?"
    )
    assert "외국통화" in gloss and "외국인" not in gloss


def test_english_questions_are_answered_from_the_statutes(real_index_dir) -> None:
    from fnrag.answering.assistant import Assistant

    assistant = Assistant(real_index_dir, log=False)
    answer = assistant.ask(
        "A foreign worker has no alien registration card yet and only a passport. "
        "Which ID documents can we use to verify a foreigner's real name?"
    )
    assert not answer.refused
    assert "외국인등록증" in answer.text and "여권" in answer.text
    off_topic = assistant.ask("Which of your credit cards gives the most airline miles per dollar?")
    assert off_topic.refused
