"""Structure-aware chunking: statutes by 조/항/호, guide prose by headings and cases."""

from __future__ import annotations

import functools
import itertools
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fnrag.chunking import chunk_document
from fnrag.ingest.sources import collect_sources, load_document
from fnrag.types import Chunk, Document
from tests.conftest import REAL_CORPUS_FILES

LAW = "금융실명거래 및 비밀보장에 관한 법률"
FILLER = (
    "금융회사등은 명의인의 서면상의 동의를 받아 "
    "거래정보등을 제공한 경우에는 그 사실을 통보하여야 한다. "
)


def statute(text: str) -> Document:
    return Document(
        source="법률.md", title=LAW, kind="statute", text=text, metadata={"시행일자": "2025-04-01"}
    )


def long_article() -> str:
    return (
        "##### 제4조의2 (거래정보등의 제공사실의 통보)\n\n"
        f"① {FILLER * 3}\n\n"
        "② 금융회사등은 다음 각 호의 어느 하나에 해당하는 사유로 "
        "통보의 유예를 서면으로 요청받은 경우에는 통보를 유예하여야 한다.\n\n"
        "  1. 해당 통보가 사람의 생명이나 신체의 안전을 위협할 우려가 있는 경우\n"
        "  2. 해당 통보가 증거 인멸, 증인 위협 등 "
        "공정한 사법절차의 진행을 방해할 우려가 명백한 경우\n"
        "    가. 증인에게 연락하는 경우\n"
        "  3. 해당 통보가 질문ㆍ조사 등의 행정절차의 진행을 방해할 우려가 명백한 경우\n\n"
        f"③ {FILLER * 4}\n"
    )


def test_short_article_is_one_chunk_with_its_path() -> None:
    doc = statute(
        "# 법률\n\n##### 제1조 (목적)\n\n"
        "이 법은 금융거래의 정상화를 꾀함을 목적으로 한다.\n\n"
        "##### 제2조 (정의)\n\n용어의 뜻은 다음과 같다.\n"
    )
    chunks = chunk_document(doc)
    assert [c.section for c in chunks] == [f"{LAW} > 제1조 (목적)", f"{LAW} > 제2조 (정의)"]
    assert chunks[0].text.startswith("##### 제1조 (목적)") and "제2조" not in chunks[0].text
    assert chunks[0].effective_date == "2025-04-01" and chunks[0].page is None


def test_long_article_splits_at_paragraphs_and_keeps_items_with_their_paragraph() -> None:
    doc = statute(long_article())
    chunks = chunk_document(doc, max_chars=400)
    sections = [c.section for c in chunks]
    base = f"{LAW} > 제4조의2 (거래정보등의 제공사실의 통보)"
    assert f"{base} > ②" in sections and f"{base} > ③" in sections
    second = next(c for c in chunks if c.section == f"{base} > ②")
    assert second.text.startswith("② 금융회사등은")
    for item in (
        "1. 해당 통보가 사람의",
        "2. 해당 통보가 증거 인멸",
        "가. 증인에게",
        "3. 해당 통보가 질문",
    ):
        assert item in second.text
    first = chunks[0]
    assert first.text.startswith("##### 제4조의2") and "①" in first.text
    assert all(len(c.text) <= 400 for c in chunks)


def test_overlong_paragraph_splits_at_items() -> None:
    items = "\n".join(f"  {n}. {FILLER.strip()} ({n}번째 경우)" for n in range(1, 9))
    doc = statute(
        "##### 제4조 (금융거래의 비밀보장)\n\n① 다음 각 호의 경우에는 제공할 수 있다.\n\n"
        f"{items}\n\n② 짧은 항이다.\n"
    )
    chunks = chunk_document(doc, max_chars=300)
    first_para = [c for c in chunks if c.section.endswith("> ①")]
    assert len(first_para) >= 3
    assert first_para[0].text.startswith("##### 제4조") and "① 다음 각 호" in first_para[0].text
    for c in first_para[1:]:
        assert re.match(r"\d+\. ", c.text), c.text[:20]  # each later piece opens at a 호
    assert chunks[-1].section.endswith("> ②")


def test_addenda_get_their_own_section() -> None:
    doc = statute(
        "##### 제10조 (권한의 위탁)\n\n권한의 일부를 위탁할 수 있다.\n\n## 부칙\n\n"
        "부칙 <제20894호, 2025.4.1.>\n\n이 법은 공포한 날부터 시행한다.\n\n"
        "부칙 <제5493호,1997.12.31>\n\n제1조 (시행일) 이 법은 공포한 날부터 시행한다.\n"
    )
    sections = [c.section for c in chunk_document(doc)]
    assert sections == [
        f"{LAW} > 제10조 (권한의 위탁)",
        f"{LAW} > 부칙 <제20894호, 2025.4.1.>",
        f"{LAW} > 부칙 <제5493호,1997.12.31>",
    ]


def test_pdf_style_statute_articles_inline() -> None:
    doc = statute(
        "신용정보의 이용 및 보호에 관한 법률\n"
        "[시행 2024. 8. 14.] [법률 제20304호, 2024. 2. 13., 일부개정]\n"
        "제1장 총칙\n제1조(목적) 이 법은 신용정보의 이용을 목적으로 한다.\n"
        "제2조(정의) 이 법에서 사용하는 용어의 뜻은 다음과 같다.\n1. “신용정보”란 정보를 말한다.\n"
    )
    chunks = chunk_document(doc)
    assert [c.section.split(" > ")[-1] for c in chunks][-2:] == ["제1조 (목적)", "제2조 (정의)"]
    assert "제1장 총칙" not in chunks[-1].text
    with_chapters = chunk_document(doc, include_chapters=True)
    assert with_chapters[-1].section == f"{LAW} > 제1장 총칙 > 제2조 (정의)"


GUIDE = """# 실무 안내(샘플)

# 제1장 실명확인

## 1. 실명확인의 원칙

### 가. 계좌 개설

계좌를 새로 만들 때에는 실지명의를 확인한다. 확인한 직원은 거래신청서에 기록을 남긴다.

### 나. 대리인

대리인이 오면 본인과 대리인 모두의 실명을 확인한다.

【사례 1】 배우자가 대신 온 경우

Q: 남편이 아내 명의 계좌를 대신 만들 수 있나요?

A: 위임장과 대리인의 실명확인증표 원본을 확인한 뒤에 개설합니다.

# 제2장 비밀보장

## 1. 제공 금지

명의인의 동의 없이 거래정보등을 제공하지 아니한다.
"""


def guide(text: str = GUIDE) -> Document:
    return Document(source="해설.md", title="실무 안내(샘플)", kind="guide", text=text)


def test_guide_splits_by_headings_and_keeps_case_boxes_whole() -> None:
    chunks = chunk_document(guide(), max_chars=200)
    case = next(c for c in chunks if "【사례 1】" in c.text)
    assert case.section.endswith("> 【사례 1】 배우자가 대신 온 경우")
    assert "Q: 남편이" in case.text and "A: 위임장과" in case.text
    assert "나. 대리인" not in case.text
    chapter2 = next(c for c in chunks if "제공하지 아니한다" in c.text)
    assert chapter2.section == "실무 안내(샘플) > 제2장 비밀보장 > 1. 제공 금지"
    assert "제1장" not in chapter2.text
    deed = next(c for c in chunks if "계좌를 새로 만들 때" in c.text)
    assert "1. 실명확인의 원칙" in deed.section


def test_long_guide_section_is_cut_with_overlap() -> None:
    sentences = [
        f"{n}번째 문장에서 금융회사등은 실명확인증표 원본을 확인하여야 한다." for n in range(1, 40)
    ]
    doc = guide("# 제1장 긴 절\n\n" + " ".join(sentences) + "\n")
    chunks = chunk_document(doc, max_chars=300)
    assert len(chunks) >= 5 and all(len(c.text) <= 300 for c in chunks)
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end  # consecutive pieces share context
    for sentence in sentences:  # no sentence is lost at a cut
        assert any(sentence in c.text for c in chunks)


def test_plain_text_headings_without_markdown() -> None:
    text = (
        "제1장 총설\n1. 목적\n이 안내는 실명확인 업무를 설명한다.\n"
        "가. 범위\n예금과 신탁 거래를 다룬다.\n"
        "제2장 비밀보장\n거래정보등은 함부로 제공하지 않는다.\n"
    )
    chunks = chunk_document(
        Document(source="메모.txt", title="메모", kind="text", text=text), max_chars=60
    )
    last = chunks[-1]
    assert last.section == "메모 > 제2장 비밀보장" and "거래정보등" in last.text


def test_chunk_ids_are_stable_and_unique() -> None:
    a = chunk_document(statute(long_article()), max_chars=400)
    b = chunk_document(statute(long_article()), max_chars=400)
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    assert len({c.chunk_id for c in a}) == len(a)
    assert all(re.fullmatch(r"[0-9a-f]{16}", c.chunk_id) for c in a)
    repeated = statute("##### 제1조 (목적)\n\n삭제\n\n##### 제1조 (목적)\n\n삭제\n")
    ids = [c.chunk_id for c in chunk_document(repeated)]
    assert len(ids) == 2 and len(set(ids)) == 2


def assert_verbatim(doc: Document, chunks: list[Chunk], max_chars: int) -> None:
    for c in chunks:
        assert c.text == doc.text[c.start : c.end]
        assert c.text.strip() == c.text and c.text
        assert len(c.text) <= max_chars
        assert c.source == doc.source and c.title == doc.title


PIECES = st.sampled_from(
    [
        "# 제1장 총설\n",
        "## 1. 실명확인\n",
        "### 가. 대상\n",
        "(1) 개인 고객은 주민등록증으로 확인한다.\n",
        "【사례 2】 외국인 고객\n",
        "Q: 여권만 있어도 되나요?\n",
        "A: 여권으로 확인할 수 있습니다.\n",
        "##### 제3조 (금융실명거래)\n",
        "① 금융회사등은 실명으로 거래하여야 한다.\n",
        "  1. 실명이 확인된 계좌에 의한 계속거래\n",
        "    가. 공과금 수납\n",
        "부칙 <제20894호,2025.4.1>\n",
        FILLER * 3 + "\n",
        "\n",
        "   \n",
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    pieces=st.lists(PIECES, min_size=1, max_size=40),
    kind=st.sampled_from(["statute", "guide", "text"]),
    max_chars=st.integers(120, 700),
)
def test_chunks_are_verbatim_slices_property(pieces: list[str], kind: str, max_chars: int) -> None:
    text = "".join(pieces).strip("\n")
    doc = Document(source="생성.md", title="생성 문서", kind=kind, text=text)
    chunks = chunk_document(doc, max_chars=max_chars)
    assert_verbatim(doc, chunks, max_chars)
    if kind != "statute":  # prose chunks cover every non-blank line
        covered = set()
        for c in chunks:
            covered.update(range(c.start, c.end))
        for m in re.finditer(r"\S+", text):
            assert m.start() in covered


def test_sample_corpus_chunks_are_verbatim(sample_corpus: Path) -> None:
    for path, shown in collect_sources([sample_corpus]):
        doc = load_document(path, shown)
        chunks = chunk_document(doc)
        assert len(chunks) >= 5
        assert_verbatim(doc, chunks, 700)
        assert any("【사례" in c.section for c in chunks)


@functools.cache
def _real(corpus: Path, rel: str) -> tuple[Document, tuple[Chunk, ...]]:
    doc = load_document(corpus / rel, rel)
    return doc, tuple(chunk_document(doc))


@pytest.mark.corpus
@pytest.mark.parametrize("rel", REAL_CORPUS_FILES)
def test_real_corpus_chunks_are_verbatim(shared_corpus: Path, rel: str) -> None:
    doc, chunks = _real(shared_corpus, rel)
    assert_verbatim(doc, list(chunks), 700)
    if rel.endswith(".pdf"):
        assert doc.kind == "guide" and all(c.page is not None for c in chunks)
    else:
        assert doc.kind == "statute" and doc.effective_date


@pytest.mark.corpus
def test_every_dev_anchor_is_inside_one_chunk_of_its_document(shared_corpus: Path) -> None:
    missing = []
    for line in (shared_corpus / "dev_qa.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        for gold in item["gold"]:
            anchor = re.sub(r"\s+", "", gold["anchor"])
            _, chunks = _real(shared_corpus, gold["doc"])
            if not any(anchor in re.sub(r"\s+", "", c.text) for c in chunks):
                missing.append((item["id"], gold["doc"], gold["anchor"]))
    assert not missing


@pytest.mark.corpus
def test_manual_pdf_maps_the_real_name_check_item_to_printed_page_219(shared_corpus: Path) -> None:
    _, chunks = _real(shared_corpus, "pdf/은행검사매뉴얼_2025-07.pdf")
    hit = next(c for c in chunks if "비실명계좌의 이자소득에 대한 이자소득세" in c.text)
    assert hit.page == 219


@pytest.mark.corpus
def test_manual_citation_carries_printed_and_pdf_page(
    shared_corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 「실명거래 취급의 적정성」 is printed p.219 on PDF page 56 (a sheet of two pages).
    from conftest import ListIndex

    from fnrag.answering.assistant import Assistant
    from fnrag.commands.ask import _show
    from fnrag.types import Hit

    _, chunks = _real(shared_corpus, "pdf/은행검사매뉴얼_2025-07.pdf")
    chunk = next(c for c in chunks if re.search(r"실명거래\s*취급의\s*적정성", c.text))
    assert (chunk.page, chunk.pdf_page, chunk.pdf_pages) == (219, 56, (56,))
    hit = Hit.from_chunk(chunk, 1, 1.0)
    assert (hit.pdf_page, hit.pdf_pages) == (56, (56,))
    answer = Assistant(ListIndex([hit]), refusal=False, log=False).ask(
        "신규계좌 개설시 실명확인증표로 실명확인을 하나요?"
    )
    citation = answer.citations[0]
    assert (citation.page, citation.pdf_page, citation.pdf_pages) == (219, 56, (56,))
    assert answer.to_json()["citations"][0]["pdf_page"] == 56
    _show(answer)
    assert "은행검사매뉴얼 2025-07, p.219 (PDF 56)" in capsys.readouterr().out


def test_pdf_pages_are_the_file_pages_and_old_chunks_still_load() -> None:
    from fnrag.types import Page

    pages = (Page(1, (), "표지\n"), Page(2, (11,), "가나다라\n"), Page(2, (12,), "마바사아\n"))
    text = "".join(p.text for p in pages)
    doc = Document(
        source="guide.pdf",
        title="안내서",
        kind="guide",
        text=text,
        pages=pages,
        page_starts=(0, 3, 8),
    )
    chunk = chunk_document(doc)[0]
    assert (chunk.page, chunk.pages, chunk.pdf_page, chunk.pdf_pages) == (1, (1, 11, 12), 1, (1, 2))
    old = chunk.to_dict()
    del old["pdf_page"], old["pdf_pages"]  # an index built before PDF pages were kept
    loaded = Chunk.from_dict(old)
    assert (loaded.pdf_page, loaded.pdf_pages) == (None, ())
    assert Chunk.from_dict(json.loads(json.dumps(chunk.to_dict()))) == chunk


@pytest.mark.corpus
def test_law_go_kr_pdf_drops_running_header(shared_corpus: Path) -> None:
    doc = load_document(
        shared_corpus / "pdf/신용정보법_20240814.pdf", "pdf/신용정보법_20240814.pdf"
    )
    assert "국가법령정보센터" not in doc.text
    assert doc.title == "신용정보의 이용 및 보호에 관한 법률" and doc.kind == "statute"
    assert [p.printed for p in doc.pages[:3]] == [(1,), (2,), (3,)]
    assert doc.effective_date == "2024-08-14"
