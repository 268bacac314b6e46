"""Regression guard on the real corpus: dev_qa retrieval must stay strong.

Skips when ../shared/corpus is absent (a user's fresh clone).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fnrag.index.search import load_index

pytestmark = [pytest.mark.slow, pytest.mark.corpus]


def _squash(text: str) -> str:
    return "".join(text.split())


def _dev_items(corpus: Path) -> list[dict]:
    lines = (corpus / "dev_qa.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _is_gold(hit, gold: list[dict]) -> bool:
    return any(
        hit.source.replace("\\", "/").endswith(g["doc"])
        and _squash(g["anchor"]) in _squash(hit.text)
        for g in gold
    )


def test_dev_qa_hit_at_5_on_the_real_corpus(real_index_dir: Path, shared_corpus: Path) -> None:
    index = load_index(real_index_dir)
    in_scope = [item for item in _dev_items(shared_corpus) if not item.get("out_of_scope")]
    hits_at_5 = [
        any(_is_gold(h, item["gold"]) for h in index.search(item["q"], k=5)) for item in in_scope
    ]
    assert sum(hits_at_5) / len(hits_at_5) >= 0.90, [
        i["id"] for i, ok in zip(in_scope, hits_at_5, strict=False) if not ok
    ]


def test_every_dev_anchor_is_inside_one_chunk(real_index_dir: Path, shared_corpus: Path) -> None:
    index = load_index(real_index_dir)
    for item in _dev_items(shared_corpus):
        for gold in item["gold"]:
            assert any(_is_gold(chunk, [gold]) for chunk in index.chunks), (
                item["id"],
                gold["anchor"],
            )


def test_pdf_hits_carry_printed_pages(real_index_dir: Path) -> None:
    index = load_index(real_index_dir)
    pdf_chunks = [c for c in index.chunks if c.source.endswith(".pdf")]
    assert pdf_chunks and all(c.page is not None and c.pages for c in pdf_chunks)
    # The check item 「실명거래 취급의 적정성」 is on printed page 219 (PDF page 56).
    assert any(219 in c.pages and "실명" in c.text for c in pdf_chunks)


def test_statute_sections_name_law_and_article(real_index_dir: Path) -> None:
    index = load_index(real_index_dir)
    sections = {c.section for c in index.chunks if c.source.endswith("laws/금융실명법_법률.md")}
    assert any(s.startswith("금융실명거래 및 비밀보장에 관한 법률 > 제4조의2") for s in sections)
