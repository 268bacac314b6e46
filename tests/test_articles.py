"""Whole-article passages (``fnrag.index.articles``): a short statute article chunked by
항 is searched by chunk and shown as one passage, with its document offsets exact; long
articles, 부칙 and guide text stay as chunked."""

from __future__ import annotations

from pathlib import Path

import pytest

from fnrag.answering.assistant import Assistant
from fnrag.evaluation.metrics import squash
from fnrag.generators.composer import _in_ranked_chunk
from fnrag.index.build import build_index
from fnrag.index.fusion import FusionConfig, SearchConfig
from fnrag.index.search import load_index
from fnrag.ingest.sources import load_document

TITLE = "가상 금융거래 비밀보장법"
# 제4조의2: three 항 of ~300 characters each, more than one 700-character chunk holds.
NOTICE = (
    "① 금융회사등은 명의인의 서면상의 동의를 받아 거래정보등을 제공한 경우에는 제공한 날부터 "
    "10일 이내에 제공한 거래정보등의 주요 내용, 사용 목적, 제공받은 자 및 제공일 등을 명의인에게 "
    "서면으로 통보하여야 한다. 이 통보는 등기우편이나 전자우편으로 할 수 있으며, 명의인이 "
    "주소를 바꾼 경우에는 금융회사등에 마지막으로 알린 주소로 보낸다. 통보한 내용과 날짜는 "
    "금융회사등이 정한 장부에 적어 두고, 명의인이 요구하면 그 사본을 내주어야 하며, 사본을 내줄 "
    "때에는 명의인 본인인지를 실명확인증표로 확인한다.\n\n"
    "② 금융회사등은 통보 대상 거래정보등의 요구자로부터 사람의 생명이나 신체의 안전을 위협할 "
    "우려가 있는 경우, 증거 인멸이나 증인 위협 등 공정한 사법절차의 진행을 방해할 우려가 있는 "
    "경우에 해당하는 사유로 통보의 유예를 서면으로 요청받은 경우에는 제1항에도 불구하고 "
    "유예요청기간 동안 통보를 유예하여야 한다. 요청은 사유를 적은 문서로 하여야 한다. 문서에는 "
    "요청하는 기관의 담당자와 책임자의 성명과 직책, 유예를 요청하는 기간과 그 사유를 적고, "
    "금융회사등은 받은 문서를 제공 기록과 함께 보관한다.\n\n"
    "③ 제2항에도 불구하고 조세에 관한 법률에 따른 거래정보등의 제공을 요구하는 자가 통보의 "
    "유예를 요청하는 경우에는 요청을 받은 때마다 그 날부터 6개월의 범위에서 유예기간을 "
    "연장하여야 한다. 다만, 유예기간은 모두 합하여 1년을 넘을 수 없으며, 연장을 요청하는 "
    "문서에는 처음 유예를 요청한 날과 그 사유를 함께 적어야 한다."
)
LONG = "\n\n".join(
    f"{'①②③④⑤⑥'[i]} " + "금융회사등은 장부를 보관하여야 한다. " * 20 for i in range(6)
)
STATUTE = f"""---
제목: {TITLE}
법령구분: 법률
시행일자: 2025-04-01
---

# {TITLE}

##### 제1조 (목적)

이 법은 금융거래의 비밀을 보장함을 목적으로 한다.

##### 제4조의2 (거래정보등의 제공사실의 통보)

{NOTICE}

##### 제9조 (장부의 보관)

{LONG}

## 부칙 <제100호,2020.1.1>

##### 제1조 (시행일)

이 법은 공포한 날부터 시행한다. 다만, 제4조의2의 통보 유예 기간의 연장에 관한 부분은 공포 후 6개월이 경과한 날부터 시행한다. 유예 기간에 관한 경과조치는 대통령령으로 정한다. {"통보 유예 기간의 연장은 종전의 규정에 따른다. " * 12}
"""


@pytest.fixture(scope="module")
def statute_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("articles")
    source = work / "비밀보장법.md"
    source.write_text(STATUTE, encoding="utf-8")
    build_index([str(source)], work / "index", embedder="hashing")
    return source, work / "index"


def _config(article_chars: int) -> SearchConfig:
    return SearchConfig(fusion=FusionConfig(article_chars=article_chars))


def test_a_short_article_is_one_passage_with_exact_offsets(statute_index) -> None:
    source, index_dir = statute_index
    index = load_index(index_dir)
    notice = [c for c in index.chunks if "제4조의2" in c.section]
    assert len(notice) >= 2  # chunked by 항, as indexed
    hits = index.search("조세 관련 통보유예 기간은 얼마나 연장되나요?", k=3)
    hit = next(h for h in hits if "제4조의2" in h.section)
    assert sum("제4조의2" in h.section for h in hits) == 1  # one passage, not one per chunk
    assert hit.section == f"{TITLE} > 제4조의2 (거래정보등의 제공사실의 통보)"
    assert "10일 이내" in hit.text and "6개월의 범위에서" in hit.text
    assert [p[0] for p in hit.parts] == [c.chunk_id for c in notice]
    assert hit.to_json()["chunk_ids"] == [c.chunk_id for c in notice]
    assert hit.chunk_id in {c.chunk_id for c in notice}
    # The passage is the document's own span: offsets in it are offsets in the document.
    document = load_document(source, str(source)).text
    span = document[hit.start : hit.end]
    assert len(span) == len(hit.text) and squash(span) == squash(hit.text)
    at = hit.text.index("6개월의 범위에서")
    assert document[hit.start + at :].startswith("6개월의 범위에서")
    # The page's passage view shows what the answer showed.
    assert index.passage(notice[-1].chunk_id).text == hit.text


def test_chunks_stay_as_indexed_when_turned_off(statute_index) -> None:
    _, index_dir = statute_index
    index = load_index(index_dir, config=_config(0))
    hits = index.search("조세 관련 통보유예 기간은 얼마나 연장되나요?", k=3)
    assert all(not h.parts for h in hits)
    assert any("제4조의2" in h.section and " > " in h.section.split("제4조의2")[1] for h in hits)
    assert index.passage(hits[0].chunk_id).text == index.chunk(hits[0].chunk_id).text


@pytest.mark.parametrize(
    ("question", "section_part"),
    [
        ("금융회사등은 장부를 얼마나 보관하나요?", "제9조"),
        ("통보 유예 기간 연장의 시행일은?", "부칙"),
    ],
)
def test_long_articles_and_addenda_are_not_joined(statute_index, question, section_part) -> None:
    _, index_dir = statute_index
    index = load_index(index_dir)
    rows = [c for c in index.chunks if section_part in c.section]
    hits = [h for h in index.search(question, k=10) if section_part in h.section]
    assert hits
    assert all(not h.parts for h in hits)
    assert {h.chunk_id for h in hits} <= {c.chunk_id for c in rows}


def test_answers_from_a_joined_article_cite_verified_quotes(statute_index) -> None:
    _, index_dir = statute_index
    answer = Assistant(load_index(index_dir), log=False, refusal=False).ask(
        "조세 관련 통보유예는 몇 개월씩 연장되나요?"
    )
    assert not answer.refused and answer.citations
    for citation in answer.citations:
        passage = answer.passages[citation.n - 1]
        assert citation.quote in passage.text and citation.chunk_id == passage.chunk_id
        at = passage.text.index(citation.quote)
        assert citation.quote_start == passage.start + at
    assert "6개월" in answer.text


def test_support_from_another_joined_article_comes_from_its_ranked_chunk(statute_index) -> None:
    _, index_dir = statute_index
    hits = load_index(index_dir).search("조세 관련 통보유예 기간은 얼마나 연장되나요?", k=3)
    hit = next(h for h in hits if "제4조의2" in h.section)
    from fnrag.generators.units import passage_units

    units = passage_units(hit.text, hit.section, hit.source).units
    ranked = next(p for p in hit.parts if p[0] == hit.chunk_id)
    inside = [i for i, u in enumerate(units) if _in_ranked_chunk(hit, i)]
    outside = [i for i in range(len(units)) if i not in inside]
    assert inside and outside  # the joined article holds units of other chunks too
    ranked_text = squash(hit.text[ranked[1] - hit.start : ranked[2] - hit.start])
    assert all(squash(units[i].text)[:20] in ranked_text for i in inside)
