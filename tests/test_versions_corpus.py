"""Law versions on the real corpus (skipped without ../shared/corpus): the law.go.kr
JSON route gives the Markdown route's articles, ``diff`` accounts for every changed
article of the three 금융실명법 texts as an independent comparison finds them, and a
two-version index searched without a date never returns superseded text."""

from __future__ import annotations

import difflib
import re
import unicodedata
from pathlib import Path

import pytest
from conftest import SHARED_CORPUS

from fnrag.chunking.chunker import chunk_document
from fnrag.evaluation.metrics import squash
from fnrag.evaluation.qa import load_qa
from fnrag.index.build import build_index
from fnrag.index.fusion import section_article
from fnrag.index.search import load_index
from fnrag.ingest.sources import load_document

LAWS = ("금융실명법_법률.md", "금융실명법_시행령.md", "금융실명법_시행규칙.md")
SHORT = {
    "금융실명법_법률.md": "금융실명법",
    "금융실명법_시행령.md": "금융실명법 시행령",
    "금융실명법_시행규칙.md": "금융실명법 시행규칙",
}

pytestmark = pytest.mark.skipif(not SHARED_CORPUS.is_dir(), reason="../shared/corpus is absent")


def _articles(chunks) -> dict[str, list]:
    out: dict[str, list] = {}
    for chunk in chunks:
        if "부칙" in chunk.section:
            continue
        article = section_article(chunk.section)
        if article:
            out.setdefault(article, []).append(chunk)
    return out


@pytest.mark.parametrize("name", ["법률", "시행령"])
def test_law_json_gives_the_markdown_articles(name: str) -> None:
    from_json = load_document(
        SHARED_CORPUS / f"law_json/금융실명법_{name}.json", f"law_json/금융실명법_{name}.json"
    )
    from_md = load_document(
        SHARED_CORPUS / f"laws/금융실명법_{name}.md", f"laws/금융실명법_{name}.md"
    )
    for key in ("제목", "법령ID", "법령구분", "공포번호", "시행일자"):
        assert from_json.metadata[key] == from_md.metadata[key], key
    by_json, by_md = _articles(chunk_document(from_json)), _articles(chunk_document(from_md))
    assert list(by_json) == list(by_md)
    for article, md_chunks in by_md.items():
        json_chunks = by_json[article]
        assert [c.section for c in json_chunks] == [c.section for c in md_chunks], article
        assert [squash(c.text) for c in json_chunks] == [squash(c.text) for c in md_chunks], article


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("two-versions")
    files = [SHARED_CORPUS / "laws" / n for n in LAWS] + [
        SHARED_CORPUS / "laws/2016-08" / n for n in LAWS
    ]
    build_index([str(f) for f in files], out, embedder="hashing")
    return out


_NOTE = re.compile(
    r"<(?:개정|신설|전문개정|타법개정)[^<>\n]*>|\[(?:본조신설|전문개정|제목개정|본조제목개정|시행일)[^\[\]\n]*\]"
)
_MARK = re.compile(r"^\s*(?:\*\*)?(?:[①-⑳]|\d+(?:의\d+)?\\?\.|[가-하]\\?\.)(?:\*\*)?\s*")


def _raw_articles(path: Path) -> dict[str, list[str]]:
    """Articles of a law Markdown file as normalised lines, read without fnrag."""
    # NFC as any Korean text comparison must (the files hold compatibility hanja).
    text = unicodedata.normalize("NFC", path.read_text(encoding="utf-8")).split("\n## 부칙", 1)[0]
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        heading = re.match(r"^#####\s*(제\d+조(?:의\d+)?)", line)
        if heading:
            current = heading.group(1)
            out[current] = []
            continue
        words = " ".join(
            _NOTE.sub("", _MARK.sub("", line.replace("\\.", ".").replace("**", ""))).split()
        )
        words = re.sub(r"^삭제\s*<[^<>]*>$", "삭제", words)
        if current and words:
            out[current].append(words)
    return out


@pytest.mark.parametrize("name", LAWS)
def test_diff_matches_an_independent_comparison(two_versions: Path, name: str) -> None:
    index = load_index(two_versions)
    old = _raw_articles(SHARED_CORPUS / "laws/2016-08" / name)
    new = _raw_articles(SHARED_CORPUS / "laws" / name)
    changed = sorted(
        a
        for a in set(old) | set(new)
        if squash(" ".join(old.get(a, []))) != squash(" ".join(new.get(a, [])))
    )
    # (The 2014 and 2017 시행규칙 differ only in a heading's middle dot: no article changed.)
    assert changed or name == "금융실명법_시행규칙.md"
    checked = 0
    for article in sorted(set(old) | set(new)):
        diff = index.diff(SHORT[name], article, "2017-03-01", "today")
        assert diff.changed == (article in changed), article
        if not diff.changed:
            continue
        checked += 1
        # Every line an independent line diff marks is inside a unit fnrag marks.
        marked_old = squash(" ".join(c.old_text for c in diff.changes if c.status != "unchanged"))
        marked_new = squash(" ".join(c.new_text for c in diff.changes if c.status != "unchanged"))
        for op in difflib.ndiff(old.get(article, []), new.get(article, [])):
            if op.startswith("- ") and op[2:] not in ("삭제",):
                assert squash(op[2:]) in marked_old or squash(op[2:]) in marked_new, (article, op)
            elif op.startswith("+ ") and op[2:] != "삭제":
                assert squash(op[2:]) in marked_new, (article, op)
        # And nothing is lost: each side's units put together are the whole article.
        for side, lines in (("old_text", old.get(article, [])), ("new_text", new.get(article, []))):
            units = squash(" ".join(getattr(c, side) for c in diff.changes))
            assert units == squash(" ".join(t for t in lines if t != "삭제")), (article, side)
    assert checked == len(changed)


def test_without_a_date_no_superseded_text_is_retrieved(two_versions: Path) -> None:
    index = load_index(two_versions)
    items = [i for i in load_qa(SHARED_CORPUS / "dev_qa.jsonl") if i.in_scope]
    for item in items:
        for hit in index.search(item.question, k=5):
            assert "2016-08" not in hit.source, (item.id, hit.section)
        for hit in index.search(item.question, k=5, as_of="2017-03-01"):
            assert hit.source.rsplit("/", 2)[-2] == "2016-08" or "시행규칙" in hit.source, (
                item.id,
                hit.source,
            )


def test_addenda_are_amendment_records_and_diff_lists_those_in_between(two_versions: Path) -> None:
    index = load_index(two_versions)
    records = {r.number: r for r in index.amendments("금융실명법")}
    own = records["20894"]
    assert own.promulgated == "2025-04-01" and own.effective == "이 법은 공포한 날부터 시행한다."
    assert own.version == "법률 제20894호, 2025. 4. 1. 시행"
    by_other_law = records["17758"]
    assert by_other_law.amending_law == "국세징수법" and "2021년 1월 1일" in by_other_law.effective
    first = records["5493"]
    assert "일반적 경과조치" in first.transitional and first.promulgated == "1997-12-31"
    diff = index.diff("금융실명법", "제3조", "2017-03-01", "today")
    between = [r.number for r in diff.amendments]
    assert between[0] == "15929" and between[-1] == "20894"
    assert "14242" not in between  # the earlier version itself
    assert all("2016-05-29" < r.promulgated <= "2025-04-01" for r in diff.amendments)
