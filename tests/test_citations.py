from __future__ import annotations

import re
from pathlib import Path

import pytest
from ask_fixtures import DECREE, LAW, make_hit, sample_hits
from hypothesis import given, settings
from hypothesis import strategies as st

from fnrag.answering.citations import (
    best_quote,
    cited_numbers,
    find_quotes,
    locate,
    parse_markers,
    trail_leading_markers,
    verify_citations,
)
from fnrag.text import split_sentences, strip_markers
from fnrag.types import Chunk, Hit


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("실명확인을 해야 합니다 [1].", (1,)),
        ("통보를 유예합니다 [1, 2].", (1, 2)),
        ("통보를 유예합니다 [2][1]. 목적입니다 [3]", (2, 1, 3)),
        ("근거가 없습니다.", ()),
        ("날짜 2014. 11. 28. 개정 [ 2 ]", (2,)),
    ],
)
def test_cited_numbers(text: str, numbers: tuple[int, ...]) -> None:
    assert cited_numbers(text) == numbers


def test_split_keeps_markers_with_their_sentence_and_dates_whole() -> None:
    text = "개정일은 2014. 11. 28.이다. [1] 통보를 유예한다 [2]. 끝"
    sentences = [text[s:e] for s, e in split_sentences(text)]
    assert sentences == ["개정일은 2014. 11. 28.이다. [1]", "통보를 유예한다 [2].", "끝"]


def test_valid_invalid_and_quotes() -> None:
    hits = sample_hits()
    answer = (
        "개인은 주민등록표에 기재된 성명 및 주민등록번호로 확인합니다 [1]. "
        "“증거 인멸, 증인 위협”이 우려되면 유예합니다 [2][9]. "
        "“존재하지 않는 문구”라고 합니다 [3]."
    )
    check = verify_citations(answer, hits)
    assert [c.n for c in check.citations] == [1, 2]
    assert {(i.n, i.reason) for i in check.invalid} == {
        (9, "unknown passage"),
        (3, "quote not found"),
    }
    assert "[9]" not in check.text and "[3]" not in check.text
    assert "[1]" in check.text and "[2]" in check.text
    assert check.text.endswith("“존재하지 않는 문구”라고 합니다.")
    assert check.grounded
    assert "증거 인멸" in check.citations[1].quote
    assert "주민등록표에 기재된 성명" in check.citations[0].quote


def test_quote_is_whitespace_insensitive() -> None:
    hits = sample_hits()
    check = verify_citations("“증거인멸, 증인  위협 등”의 우려가 있으면 유예합니다 [2].", hits)
    assert [c.n for c in check.citations] == [2]
    assert locate("증거인멸,증인위협", hits[1].text) is not None


def test_law_name_in_brackets_is_checked_against_the_label() -> None:
    hits = sample_hits()
    check = verify_citations(
        "「금융실명거래 및 비밀보장에 관한 법률」의 목적은 경제정의 실현입니다 [3].", hits
    )
    assert [c.n for c in check.citations] == [3]


def test_no_markers_is_ungrounded() -> None:
    check = verify_citations("실명확인은 필요합니다.", sample_hits())
    assert not check.grounded and check.citations == () and check.invalid == ()


def test_quotes_found() -> None:
    assert find_quotes('“가나다” 그리고 "라마바" 그리고 「사아자」 「x」') == (
        "가나다",
        "라마바",
        "사아자",
    )


_korean = st.text(alphabet="가나다라마바사아자차카타파하 .,\n", min_size=0, max_size=60)


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(st.tuples(_korean, st.lists(st.integers(0, 6), max_size=3)), max_size=6),
)
def test_property_every_kept_citation_is_valid_and_quoted_exactly(
    pieces: list[tuple[str, list[int]]],
) -> None:
    hits = sample_hits()
    answer = " ".join(text + "".join(f"[{n}]" for n in numbers) + "." for text, numbers in pieces)
    check = verify_citations(answer, hits)
    for citation in check.citations:
        assert 1 <= citation.n <= len(hits)
        assert citation.quote and citation.quote in hits[citation.n - 1].text
        assert citation.chunk_id == hits[citation.n - 1].chunk_id
    # Nothing invented survives, and every dropped number is reported.
    assert all(1 <= n <= len(hits) for n in cited_numbers(check.text))
    given_numbers = {n for _, numbers in pieces for n in numbers}
    reported = {i.n for i in check.invalid}
    assert given_numbers - set(range(1, len(hits) + 1)) <= reported
    assert strip_markers(check.text) == strip_markers(answer)


@settings(max_examples=100, deadline=None)
@given(sentence=_korean)
def test_property_best_quote_is_a_substring(sentence: str) -> None:
    for hit in sample_hits():
        assert best_quote(sentence, hit.text) in hit.text


def test_parse_markers_spans() -> None:
    text = "가 [1, 2] 나 [3]"
    assert [(text[m.start : m.end], m.numbers) for m in parse_markers(text)] == [
        ("[1, 2]", (1, 2)),
        ("[3]", (3,)),
    ]


def test_markers_without_a_period_still_close_their_sentence() -> None:
    hits = sample_hits()
    answer = (
        "2. 해당 통보가 증거 인멸, 증인 위협 등 공정한 사법절차의 진행을 방해할 우려가 명백한 경우 [2] "
        "이 법은 금융거래의 정상화를 꾀함을 목적으로 한다 [3]"
    )
    check = verify_citations(answer, hits)
    assert [c.n for c in check.citations] == [2, 3]
    assert "증거 인멸" in check.citations[0].quote and "정상화" in check.citations[1].quote


# --- markup is never a quote (issue 19) ----------------------------------------------

# Independent of the implementation: what a reader would call layout, not wording.
_LAYOUT = re.compile(r"^\s*(?:#|\|)|\|[^|]*\||^제\s*\d+\s*조(?:의\s*\d+)?\s*\(.*\)$")


def _is_layout(quote: str) -> bool:
    words = re.sub(r"[\s*#|\-•□o○■]|\[\d+\]|\d+\\?\.|[①-⑳]", "", quote)
    return bool(_LAYOUT.search(quote.strip())) or len(re.findall(r"[가-힣A-Za-z]", words)) < 2


def _statute_chunks(corpus: Path) -> list[Chunk]:
    from fnrag.chunking.chunker import chunk_document
    from fnrag.ingest.sources import load_document

    chunks: list[Chunk] = []
    for path in sorted((corpus / "laws").rglob("*.md")):
        chunks += chunk_document(load_document(path, str(path.relative_to(corpus))))
    return chunks


@pytest.mark.corpus
def test_best_quote_never_picks_markup_in_the_real_statutes(shared_corpus: Path) -> None:
    chunks = _statute_chunks(shared_corpus)
    headed = [c for c in chunks if c.text.lstrip().startswith("#")]
    assert headed, "the statute Markdown keeps its ##### article headings in chunk text"
    layout = []
    for chunk in chunks:
        # Every sentence of the passage (its heading too) as the answer sentence:
        # the quote must still be wording, never the heading line or a bare bullet.
        for start, end in split_sentences(chunk.text):
            quote = best_quote(chunk.text[start:end], chunk.text)
            assert quote in chunk.text
            if _is_layout(quote):
                layout.append((chunk.section, quote))
    assert layout == []


def test_markup_lines_are_not_quoted_and_bullets_are_trimmed() -> None:
    text = (
        "##### 제4조의3 ((거래정보등의 제공내용의 기록·관리))\n\n"
        "| 구분 | 내용 |\n|---|---|\n**①**\n"
        "-금융거래정보를 제공한 경우 「금융정보제공기록부」에 그 내용을 기록․관리하고 있는지\n"
    )
    hit = make_hit(1, "은행검사매뉴얼", "제3 장 > 4. 기타 수신", text)
    assert best_quote("제4조의3 거래정보등의 제공내용의 기록·관리", text).startswith(
        "금융거래정보를"
    )
    check = verify_citations("“거래정보등의 제공내용의 기록·관리”에 관한 조문입니다 [1].", [hit])
    # A quoted title found only in the heading is quoted as those words, not the heading.
    assert [c.quote for c in check.citations] == ["거래정보등의 제공내용의 기록·관리"]


def test_citation_quotes_carry_their_place_in_the_document(sample_corpus: Path) -> None:
    """quote_start/quote_end point into the document's extracted text (for highlighting)."""
    from conftest import ListIndex

    from fnrag.answering.assistant import Assistant
    from fnrag.chunking import chunk_document
    from fnrag.ingest import load_document

    path = next(p for p in sorted(sample_corpus.glob("*.md")) if "시행령" not in p.name)
    document = load_document(path, str(path))
    chunks = chunk_document(document)
    hits = [Hit.from_chunk(c, rank, 1.0 / rank) for rank, c in enumerate(chunks[:5], start=1)]
    question = chunks[1].text.split("\n")[-1][:40]
    answer = Assistant(ListIndex(hits), refusal=False, log=False).ask(question)
    assert answer.citations
    for citation in answer.citations:
        assert document.text[citation.quote_start : citation.quote_end] == citation.quote
        assert citation.to_json()["quote_end"] - citation.to_json()["quote_start"] == len(
            citation.quote
        )


def test_a_misnumbered_verbatim_quote_is_repointed_and_still_reported() -> None:
    hits = sample_hits()
    # The words are passage 3's, the number says 1: the quote decides, the number is
    # reported as the generator's mistake.
    answer = "금융실명법 제1조: “그 비밀을 보장하여 금융거래의 정상화를 꾀함으로써” [1]."
    check = verify_citations(answer, hits)
    assert [c.n for c in check.citations] == [3]
    assert (
        check.text == "금융실명법 제1조: “그 비밀을 보장하여 금융거래의 정상화를 꾀함으로써” [3]."
    )
    assert "그 비밀을 보장하여" in check.citations[0].quote
    assert [(i.n, i.reason, i.repointed_to) for i in check.invalid] == [
        (1, "quote in another passage", 3)
    ]
    assert check.invalid[0].to_json()["repointed_to"] == 3
    strict = verify_citations(answer, hits, repoint=False)
    assert not strict.citations and not strict.grounded
    assert [(i.n, i.reason, i.repointed_to) for i in strict.invalid] == [
        (1, "quote not found", None)
    ]


def test_an_unknown_number_and_extra_markers_collapse_onto_the_holder() -> None:
    hits = sample_hits()
    answer = "“증거 인멸, 증인 위협 등 공정한 사법절차”의 경우 유예합니다 [1][7]."
    check = verify_citations(answer, hits)
    assert [c.n for c in check.citations] == [2]
    assert check.text == "“증거 인멸, 증인 위협 등 공정한 사법절차”의 경우 유예합니다 [2]."
    assert {(i.n, i.reason) for i in check.invalid} == {
        (1, "quote in another passage"),
        (7, "quote in another passage"),
    }


@pytest.mark.parametrize(
    "answer",
    [
        "“개인의 경우” [2].",  # too short to say which passage was meant
        "“금융회사등은” 통보를 유예합니다 [3].",  # short, and in passage 2 only by chance
        "“주민등록번호”와 “경제정의를 실현하고”를 봅니다 [2].",  # quotes in two passages
        "“존재하지 않는 조문의 문구입니다”라고 합니다 [1].",  # verbatim nowhere
    ],
)
def test_quotes_that_do_not_name_one_passage_are_not_repointed(answer: str) -> None:
    check = verify_citations(answer, sample_hits())
    assert not check.citations
    assert all(i.repointed_to is None and i.reason == "quote not found" for i in check.invalid)


def test_a_quote_held_by_several_passages_is_not_repointed() -> None:
    shared = "금융회사등은 명의인의 서면상의 동의를 받아"
    hits = [
        make_hit(1, LAW, f"{LAW} > 제1조", "이 법은 목적이 있다."),
        make_hit(2, LAW, f"{LAW} > 제4조", shared + " 제공한다."),
        make_hit(3, DECREE, f"{DECREE} > 제7조", "① " + shared + " 제공한 경우"),
    ]
    check = verify_citations(f"“{shared}” 제공합니다 [1].", hits)
    assert not check.citations and check.invalid[0].repointed_to is None


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("[3] 금융실명법 제1조: “금융거래의 정상화”", "금융실명법 제1조: “금융거래의 정상화” [3]"),
        ("  [1, 2] 유예합니다.  ", "  유예합니다. [1, 2]"),
        ("[2][1] 통보를 유예한다\n[3] 목적이다", "통보를 유예한다 [2][1]\n목적이다 [3]"),
        # Already in reading layout, or holding markers of its own: left as written.
        ("통보를 유예한다 [2]", "통보를 유예한다 [2]"),
        ("[1] 실명확인 [2] 통보 유예", "[1] 실명확인 [2] 통보 유예"),
        ("[1]", "[1]"),
        ("참고 [1] 조문 없음", "참고 [1] 조문 없음"),
    ],
)
def test_a_line_opening_with_its_marker_reads_with_the_marker_at_its_end(
    written: str, read: str
) -> None:
    assert trail_leading_markers(written) == read


def test_cite_first_answers_verify_as_the_reading_layout_does() -> None:
    hits = sample_hits()
    written = (
        "[3] 금융실명법 제1조: “그 비밀을 보장하여 금융거래의 정상화를 꾀함으로써”\n"
        "[2] 제4조의2: “유예요청기간 동안 통보를 유예하여야 한다.”"
    )
    check = verify_citations(trail_leading_markers(written), hits)
    assert [c.n for c in check.citations] == [3, 2] and not check.invalid
    assert check.text.splitlines()[0].endswith("꾀함으로써” [3]")
