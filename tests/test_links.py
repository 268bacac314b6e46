"""Following statute cross-references (issue 13): the 과태료/벌칙 article naming the duty a
penalty question is about, and the decree defining an amount the act delegates, are
placed just above that provision, and the composer answers from them.

The statutes here are written for the test (a fictional 예금거래 보호에 관한 법률 and its
decree) and indexed for real: Kiwi, BM25, FAISS, the hashing embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from fnrag.answering.assistant import Assistant
from fnrag.index.build import build_index
from fnrag.index.fusion import FusionConfig, SearchConfig
from fnrag.index.links import ArticleKey, ReferenceGraph, law_family, references
from fnrag.index.search import load_index
from fnrag.text import strip_markers

ACT = "예금거래 보호에 관한 법률"
DECREE = f"{ACT} 시행령"

ACT_TEXT = f"""---
제목: {ACT}
시행일자: 2024-01-01
---

# {ACT}

##### 제1조 (목적)

이 법은 예금거래의 투명성을 높이고 고객을 보호함을 목적으로 한다.

##### 제3조 (고액 현금거래 보고)

① 금융회사등은 5천만원의 범위에서 대통령령으로 정하는 금액 이상의 현금을 고객에게 지급하거나 고객으로부터 영수한 경우에는 그 사실을 30일 이내에 감독원장에게 보고하여야 한다.

② 금융회사등은 제1항에 따른 보고를 회피할 목적으로 현금 거래를 나누는 고객이 있으면 그 사실을 보고하여야 한다.

##### 제5조 (고객 확인)

① 금융회사등은 계좌를 새로 개설하거나 대통령령으로 정하는 금액 이상으로 일회성 거래를 하는 고객의 신원을 확인하여야 한다.

##### 제9조 (벌칙)

① 제7조를 위반하여 신고를 하지 아니하고 영업을 한 자는 5년 이하의 징역 또는 5천만원 이하의 벌금에 처한다.

② 제5조제1항을 위반한 자는 1년 이하의 징역 또는 1천만원 이하의 벌금에 처한다.

##### 제10조 (과태료)

① 제3조제1항을 위반하여 보고를 하지 아니한 자에게는 3천만원 이하의 과태료를 부과한다.

② 제1항에 따른 과태료는 감독원장이 부과ㆍ징수한다.

## 부칙 <제100호,2024.1.1>

제1조(시행일) 이 법은 공포 후 6개월이 경과한 날부터 시행한다. 다만, 제3조제1항의 보고와 제10조의 과태료는 공포한 날부터 시행한다.
"""

DECREE_TEXT = f"""---
제목: {DECREE}
시행일자: 2024-01-01
---

# {DECREE}

##### 제1조 (목적)

이 영은 「{ACT}」에서 위임된 사항과 그 시행에 필요한 사항을 규정함을 목적으로 한다.

##### 제2조 (보고 기준금액)

법 제3조제1항에서 "대통령령으로 정하는 금액"이란 1천만원을 말한다.

##### 제3조 (일회성 거래의 금액)

법 제5조제1항에서 "대통령령으로 정하는 금액"이란 1천5백만원을 말한다.

##### 제4조 (보고의 방법)

법 제3조제1항에 따른 보고는 전자문서로 한다.
"""


@pytest.fixture(scope="module")
def linked_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = tmp_path_factory.mktemp("linked-corpus")
    (corpus / "act.md").write_text(ACT_TEXT, encoding="utf-8")
    (corpus / "decree.md").write_text(DECREE_TEXT, encoding="utf-8")
    out = tmp_path_factory.mktemp("linked-index")
    build_index([str(corpus / "act.md"), str(corpus / "decree.md")], out, embedder="hashing")
    return out


def _article(section: str) -> str:
    return section.split(" > ")[1].split(" ")[0]


def _top(index_dir: Path, question: str, follow: bool = True) -> list:  # type: ignore[type-arg]
    config = SearchConfig(fusion=FusionConfig(follow_references=follow))
    return load_index(index_dir, config=config).search(question, k=5)


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        # A decree's "법" is its act; its bare 제N조 is itself.
        (
            "법 제5조의2제1항제1호에서 정하는 금액",
            "decree",
            {ArticleKey(ACT, "act", "제5조의2")},
        ),
        ("제2항에 따른 제3조의 보고", "decree", {ArticleKey(ACT, "decree", "제3조")}),
        # An act's bare 제N조 is its own; 「…」 names a law by title.
        (
            "제3조ㆍ제4조의2제1항을 위반한 자",
            "act",
            {ArticleKey(ACT, "act", "제3조"), ArticleKey(ACT, "act", "제4조의2")},
        ),
        (f"「{DECREE}」 제13조제2항에 따른 기관", "rule", {ArticleKey(ACT, "decree", "제13조")}),
        # Another law, or "같은 법" (named earlier), is no article of this family.
        ("「소득세법」 제88조에 따른 양도", "decree", set()),
        ("같은 법 제7조에 따른 신고", "decree", set()),
    ],
)
def test_references_resolve_to_the_law_they_name(text: str, kind: str, expected: set) -> None:  # type: ignore[type-arg]
    titles = {"".join(t.split()): law_family(t) for t in (ACT, DECREE)}
    assert references(text, ACT, kind, titles) == expected


def test_law_family_strips_the_decree_and_rule_suffix() -> None:
    assert law_family(DECREE) == (ACT, "decree")
    assert law_family(f"{ACT} 시행규칙") == (ACT, "rule")
    assert law_family(ACT) == (ACT, "act")


def test_graph_reads_penalties_and_delegations(linked_index: Path) -> None:
    index = load_index(linked_index)
    graph = ReferenceGraph(index.chunks)
    by_article = {
        _article(c.section): row
        for row, c in enumerate(index.chunks)
        if c.title == ACT and "부칙" not in c.section
    }
    fine = by_article["제10조"]
    assert graph.penalty[fine]
    assert ArticleKey(ACT, "act", "제3조") in graph.refs[fine]
    delegated = {
        (d.source.article, d.term) for defined in graph.delegations.values() for d in defined
    }
    assert delegated == {("제3조", "금액"), ("제5조", "금액")}
    # A 부칙 names 제3조 too, but it is amendment metadata: no references kept.
    addenda = [row for row, c in enumerate(index.chunks) if "부칙" in c.section]
    assert addenda and all(graph.own[row] is None and not graph.refs[row] for row in addenda)


@pytest.mark.parametrize(
    ("question", "expected", "anchor"),
    [
        # The 과태료 article names the duty the question's words are about.
        ("현금 보고를 빠뜨리면 과태료가 얼마나 나오나요?", "제10조", "제3조"),
        # 징역 asks about the 벌칙, not the 과태료.
        ("계좌를 새로 열면서 고객 신원을 확인하지 않으면 징역을 받나요?", "제9조", "제5조"),
        # An amount the act delegates is in the decree that defines it.
        ("현금을 얼마 이상 주고받으면 보고 대상이 되나요?", "제2조", "제3조"),
        ("일회성 거래는 얼마 이상이면 고객 신원을 확인하나요?", "제3조", "제5조"),
    ],
)
def test_a_reference_places_the_answering_article_first(
    linked_index: Path, question: str, expected: str, anchor: str
) -> None:
    hits = _top(linked_index, question)
    assert _article(hits[0].section) == expected
    assert hits[0].linked_article == anchor
    anchor_hit = next(h for h in hits if h.chunk_id == hits[0].linked_to)
    assert _article(anchor_hit.section) == anchor and anchor_hit.title == ACT
    assert hits[0].score > anchor_hit.score
    # Without the step the same question ranks it on its own words only.
    plain = _top(linked_index, question, follow=False)
    assert all(h.linked_to is None for h in plain)
    assert [h.chunk_id for h in plain] != [h.chunk_id for h in hits]


def test_a_chunk_outside_the_searched_versions_is_never_placed(linked_index: Path) -> None:
    """Only text in force on the asked date is searched; a reference must not bring back
    a 과태료 article of another version (here: masked out)."""
    import numpy as np

    from fnrag.index.plan import plan_query

    index = load_index(linked_index)
    question = "현금 보고를 빠뜨리면 과태료가 얼마나 나오나요?"
    ranked = [
        (row, 1.0 - 0.01 * j)
        for j, row in enumerate(
            row for row, c in enumerate(index.chunks) if "제3조 (고액" in c.section
        )
    ]
    fine = next(row for row, c in enumerate(index.chunks) if "과태료" in c.section)
    plan = plan_query(question)
    assert fine in index.references.promotions(plan, ranked, None)
    allowed = np.ones(len(index.chunks), dtype=bool)
    allowed[fine] = False
    assert fine not in index.references.promotions(plan, ranked, allowed)


@pytest.mark.parametrize(
    "question",
    [
        # A deadline is no amount: the act's own "30일 이내" answers.
        "현금 보고는 며칠 안에 해야 하나요?",
        # Not asking for a number or a penalty.
        "고액 현금거래 보고는 누구에게 하나요?",
    ],
)
def test_no_reference_is_followed_when_the_question_does_not_ask_for_it(
    linked_index: Path, question: str
) -> None:
    hits = _top(linked_index, question)
    assert all(h.linked_to is None for h in hits)
    assert [h.chunk_id for h in hits] == [h.chunk_id for h in _top(linked_index, question, False)]


@pytest.mark.parametrize(
    ("question", "first_line", "quote", "duty_shown"),
    [
        (
            "현금 보고를 빠뜨리면 과태료가 얼마나 나오나요?",
            "3천만원 이하의 과태료를 부과한다",
            "제3조제1항을 위반하여",
            False,  # the 과태료 sentence names the duty itself; the margin cuts the rest
        ),
        (
            "현금을 얼마 이상 주고받으면 보고 대상이 되나요?",
            "1천만원을 말한다",
            '"대통령령으로 정하는 금액"이란 1천만원',
            True,
        ),
    ],
)
def test_the_answer_leads_with_the_linked_article(
    linked_index: Path, question: str, first_line: str, quote: str, duty_shown: bool
) -> None:
    # The pre-generation refusal policy for a non-e5 embedder is word coverage, not
    # what this test is about (tests/test_refusal_calibration.py is); the composer's
    # own sentence bar still applies.
    answer = Assistant(linked_index, log=False, refusal=False).ask(question)
    assert not answer.refused
    lines = answer.text.splitlines()
    assert first_line in lines[0] and lines[0].rstrip().endswith("[1]")
    assert quote in strip_markers(lines[1])
    assert answer.lead is not None and answer.lead.n == 1
    assert answer.lead.section.split(" > ")[0] in (ACT, DECREE)
    # The lead is the linked passage; the provision it names is passage 2.
    assert answer.passages[0].linked_to == answer.passages[1].chunk_id
    assert any(c.n == 2 for c in answer.citations) == duty_shown


def test_a_penalty_ranked_first_on_its_own_words_quotes_the_paragraph_naming_the_duty(
    linked_index: Path,
) -> None:
    """ "징역이나 벌금" matches every 벌칙 paragraph; the one naming the duty asked about
    (제5조: 고객 신원 확인) is the answer, wherever retrieval ranked the article."""
    question = "고객 신원 확인을 안 하면 징역이나 벌금을 받나요?"
    hits = _top(linked_index, question)
    assert _article(hits[0].section) == "제9조" and hits[0].linked_article == "제5조"
    answer = Assistant(linked_index, log=False, refusal=False).ask(question)
    assert answer.lead is not None and "1년 이하의 징역" in answer.lead.quote
    assert answer.lead.reference.endswith("제9조제2항")
    config = SearchConfig(fusion=FusionConfig(follow_references=False))
    plain = Assistant(load_index(linked_index, config=config), log=False, refusal=False)
    lead = plain.ask(question).lead
    assert lead is not None and "5년 이하의 징역" in lead.quote


@pytest.mark.parametrize(
    ("question", "article", "amount"),
    [
        ("거래정보 제공 내용을 기록하지 않으면 과태료를 내나요?", "제7조 (과태료)", "3천만원"),
        (
            "자금세탁 의심거래를 보고하지 않은 금융회사에 과태료는 얼마인가요?",
            "제20조 (과태료)",
            "3천만원",
        ),
        ("일회성 금융거래를 하는 고객은 얼마부터 고객확인을 해야 하나요?", "제10조의3", "만원"),
    ],
)
def test_real_statutes_answer_from_the_article_a_reference_leads_to(
    real_index_dir: Path, question: str, article: str, amount: str
) -> None:
    answer = Assistant(real_index_dir, log=False).ask(question)
    assert not answer.refused
    first = answer.passages[0]
    assert article in first.section and first.linked_to is not None
    assert answer.lead is not None and article in answer.lead.section
    assert amount in answer.text.splitlines()[0]


@pytest.mark.parametrize(
    ("question", "number", "kinds", "yes_no"),
    [
        ("현금을 얼마부터 보고해야 하나요?", True, ["amount"], False),
        ("통보는 며칠 안에 해야 하죠?", True, ["time"], False),
        ("실명확인을 생략해도 되나요?", False, [], True),
        (
            "How much cash in one day makes a currency transaction report necessary?",
            True,
            ["amount"],
            False,
        ),
        (
            "How long is a virtual asset service provider's registration valid?",
            True,
            ["time"],
            False,
        ),
        # A yes/no whose Korean reading would hold 기준금액: no amount is asked for.
        (
            "A customer deposits USD 20,000 in cash. Does foreign currency count toward the CTR threshold?",
            False,
            [],
            True,
        ),
    ],
)
def test_what_a_question_asks_for_is_read_in_its_own_language(
    question: str, number: bool, kinds: list[str], yes_no: bool
) -> None:
    from fnrag.index.cues import asks_number, asks_yes_no, number_kinds

    assert asks_number(question) is number
    assert number_kinds(question) == kinds
    assert asks_yes_no(question) is yes_no


def test_search_command_says_which_provision_a_linked_hit_names(linked_index: Path) -> None:
    import subprocess
    import sys

    question = "현금 보고를 빠뜨리면 과태료가 얼마나 나오나요?"
    shown = subprocess.run(
        [sys.executable, "-m", "fnrag.cli", "search", question, "--index", str(linked_index)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout.splitlines()
    assert shown[0].startswith("[1]") and "제10조 (과태료)" in shown[1]
    assert shown[2] == "    (names 제3조 of [2])"
    assert "제3조 (고액 현금거래 보고)" in shown[shown.index("    (names 제3조 of [2])") + 3]
    plain = subprocess.run(
        [
            sys.executable,
            "-m",
            "fnrag.cli",
            "search",
            question,
            "--index",
            str(linked_index),
            "--no-follow-references",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    assert "(names " not in plain


def test_a_penalty_naming_another_paragraph_of_the_duty_is_not_linked() -> None:
    """제4조 split in two chunks (①~④ and ⑤): a 벌칙 for "제4조제5항" does not sanction
    what ①~④ say; a 과태료 for "제4조제1항" does, and one naming 제4조 whole does too."""
    from fnrag.index.plan import plan_query
    from fnrag.types import Chunk

    def chunk(n: int, section: str, text: str) -> Chunk:
        return Chunk(f"c{n}", "act.md", ACT, f"{ACT} > {section}", text, 0, 0)

    chunks = [
        chunk(0, "제4조 (의심거래 보고) > ①~④", "① 금융회사등은 의심되는 거래를 보고하여야 한다."),
        chunk(1, "제4조 (의심거래 보고) > ⑤", "⑤ 누구든지 보고된 자료를 열람하여서는 아니 된다."),
        chunk(
            2, "제16조 (벌칙)", "제4조제5항을 위반하여 자료를 열람한 자는 5년 이하의 징역에 처한다."
        ),
        chunk(
            3,
            "제20조 (과태료)",
            "제4조제1항을 위반하여 보고를 하지 아니한 자에게는 3천만원 이하의 과태료를 부과한다.",
        ),
        chunk(4, "제21조 (과태료)", "제4조를 위반한 자에게는 1천만원 이하의 과태료를 부과한다."),
    ]
    graph = ReferenceGraph(chunks)
    plan = plan_query("의심거래 보고를 안 하면 처벌받나요?")
    moves = graph.promotions(plan, [(0, 1.0), (1, 0.9)], None)
    assert set(moves) == {3, 4}
    # Asked from the ⑤ chunk, only the 벌칙 naming ⑤ (and the one naming 제4조 whole) follow.
    assert set(graph.promotions(plan, [(1, 1.0), (0, 0.9)], None)) == {2, 4}
