"""Law versions on small Korean statutes: chains from front matter, status on a date,
as-of search in every retriever, notices, diff alignment and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from fnrag.answering.assistant import Assistant
from fnrag.errors import IngestError, InputError, NoTextInForceError
from fnrag.evaluation.qa import parse_qa_line
from fnrag.index.build import build_index
from fnrag.index.search import load_index
from fnrag.versions.chains import IN_FORCE, PROSPECTIVE, SUPERSEDED, UNDATED, status
from fnrag.versions.diff import align, article_name

FRONT = """---
제목: 시험거래 보호에 관한 법률
법령ID: '900001'
법령구분: 법률
공포일자: {promulgated}
공포번호: '{number}'
시행일자: {effective}
---

# 시험거래 보호에 관한 법률

"""

V2015 = """##### 제1조 (목적)

이 법은 시험거래의 비밀을 보호함을 목적으로 한다.

##### 제2조 (확인 서류)

금융회사는 다음 각 호의 서류로 고객을 확인하여야 한다.

  1. 주민등록증
  2. 운전면허증
  3. 여권

##### 제3조 (보관 기간)

① 금융회사는 거래기록을 3년간 보관하여야 한다.

② 보관 의무를 위반한 자에게는 100만원 이하의 과태료를 부과한다.
"""

V2020 = """##### 제1조 (목적)

이 법은 시험거래의 비밀을 보호함을 목적으로 한다.

##### 제2조 (확인 서류)

금융회사는 다음 각 호의 서류로 고객을 확인하여야 한다. <개정 2018.3.1, 2019.6.1>

  1. 주민등록증
  2. 모바일 신분증
  3. 운전면허증
  4. 삭제 <2019.6.1>

##### 제3조 (보관 기간)

① 금융회사는 거래기록을 5년간 보관하여야 한다. <개정 2019.6.1>

② 보관 의무를 위반한 자에게는 300만원 이하의 과태료를 부과한다. <개정 2019.6.1>

##### 제4조 (전자 보관)

금융회사는 거래기록을 전자문서로 보관할 수 있다. <신설 2019.6.1>
"""

V2099 = V2020.replace("5년간 보관하여야", "10년간 보관하여야")

GUIDE = """# 시험거래 실무 안내

시험거래 고객의 거래기록 보관 기간은 법령에 따른다. 보관 방법은 지점장이 정한다.
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def versioned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("laws")
    _write(
        folder,
        "v2015.md",
        FRONT.format(promulgated="2015-01-02", number="100", effective="2015-07-01") + V2015,
    )
    _write(
        folder,
        "v2020.md",
        FRONT.format(promulgated="2019-06-01", number="200", effective="2020-01-01") + V2020,
    )
    _write(
        folder,
        "v2099.md",
        FRONT.format(promulgated="2026-11-01", number="300", effective="2099-01-01") + V2099,
    )
    _write(folder, "guide.md", GUIDE)
    out = tmp_path_factory.mktemp("versioned-index")
    build_index([str(folder)], out, embedder="hashing")
    return out


@pytest.fixture(scope="module")
def index(versioned: Path):
    return load_index(versioned)


def test_chain_links_versions_by_effective_date(index) -> None:
    chunks = [c for c in index.chunks if c.law_id == "900001"]
    ranges = {(c.source.rsplit("/", 1)[-1], c.effective_from, c.effective_to) for c in chunks}
    assert ranges == {
        ("v2015.md", "2015-07-01", "2020-01-01"),
        ("v2020.md", "2020-01-01", "2099-01-01"),
        ("v2099.md", "2099-01-01", None),
    }
    labels = {c.version for c in chunks}
    assert "법률 제200호, 2020. 1. 1. 시행" in labels
    guide = [c for c in index.chunks if c.source.endswith("guide.md")]
    assert guide and all(c.law_id is None and c.version is None for c in guide)
    chain = index.manifest["versions"][0]
    assert [v["effective_from"] for v in chain["versions"]] == [
        "2015-07-01",
        "2020-01-01",
        "2099-01-01",
    ]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2015-06-30", {"v2015.md": PROSPECTIVE, "v2020.md": PROSPECTIVE}),
        ("2015-07-01", {"v2015.md": IN_FORCE, "v2020.md": PROSPECTIVE}),
        ("2019-12-31", {"v2015.md": IN_FORCE, "v2020.md": PROSPECTIVE}),
        ("2020-01-01", {"v2015.md": SUPERSEDED, "v2020.md": IN_FORCE}),
        ("2026-12-01", {"v2015.md": SUPERSEDED, "v2020.md": IN_FORCE, "v2099.md": PROSPECTIVE}),
    ],
)
def test_status_on_a_date(index, day: str, expected: dict[str, str]) -> None:
    by_file = {c.source.rsplit("/", 1)[-1]: c for c in index.chunks}
    for name, want in expected.items():
        assert status(by_file[name], date.fromisoformat(day)) == want
    assert status(by_file["guide.md"], date.fromisoformat(day)) == UNDATED


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
@pytest.mark.parametrize(
    ("as_of", "allowed"),
    [
        (None, {"v2020.md", "guide.md"}),
        ("2017-03-01", {"v2015.md", "guide.md"}),
        (date(2099, 5, 1), {"v2099.md", "guide.md"}),
    ],
)
def test_search_keeps_to_text_in_force(index, mode: str, as_of, allowed: set[str]) -> None:
    hits = index.search("거래기록 보관 기간 과태료 확인 서류", k=6, mode=mode, as_of=as_of)
    assert {h.source.rsplit("/", 1)[-1] for h in hits} <= allowed
    if mode != "lexical":
        # A filtered search still returns k results when that many are in force.
        in_force = sum(1 for c in index.chunks if c.source.rsplit("/", 1)[-1] in allowed)
        assert len(hits) == min(6, in_force)


def test_before_the_oldest_version_is_a_clear_answer(index) -> None:
    with pytest.raises(NoTextInForceError, match="2015-07-01"):
        index.search("보관 기간", as_of="2001-01-01")
    answer = Assistant(index, log=False).ask("거래기록 보관 기간은?", as_of="2001-01-01")
    assert answer.refused and answer.refusal_reason == "no text in force"
    assert "2001. 1. 1. 당시 시행 중이던 법령 본문이 색인에 없어" in answer.text
    assert "2015. 7. 1." in answer.text


def test_citations_carry_their_version_and_notices(index) -> None:
    assistant = Assistant(index, log=False)
    now = assistant.ask("금융회사는 거래기록을 몇 년간 보관하여야 하나요?")
    assert now.as_of == date.today().isoformat()
    assert now.citations and {c.version for c in now.citations} == {
        "법률 제200호, 2020. 1. 1. 시행"
    }
    assert any("5년간" in c.quote for c in now.citations)
    # The promulgated 2099 text changes 제3조: said, not silently left out.
    assert any("제3조: 2099. 1. 1. 시행 예정 개정 있음" in n for n in now.notices)
    then = assistant.ask("금융회사는 거래기록을 몇 년간 보관하여야 하나요?", as_of="2018-06-30")
    assert {c.effective_from for c in then.citations} == {"2015-07-01"}
    assert any("3년간" in c.quote for c in then.citations)
    # 2018-03-01 is an amendment of 제2조 (a note in the 2020 text) the index lacks as text.
    asked = assistant.ask("고객 확인 서류는 무엇인가요?", as_of="2018-06-30")
    assert any("2018. 3. 1." in n and "다를 수 있습니다" in n for n in asked.notices), asked.notices
    before = assistant.ask("고객 확인 서류는 무엇인가요?", as_of="2017-06-30")
    assert not any("다를 수 있습니다" in n for n in before.notices)


def test_diff_aligns_by_words_not_numbers(index) -> None:
    diff = index.diff("시험거래 보호에 관한 법률", "2", "2017-03-01", "2021-01-01")
    by_status = {}
    for change in diff.changes:
        by_status.setdefault(change.status, []).append(change)
    assert [c.new_text for c in by_status["added"]] == ["모바일 신분증"]
    assert [(c.old_path, c.new_path) for c in by_status["renumbered"]] == [("제2호", "제3호")]
    assert [c.old_text for c in by_status["removed"]] == ["여권"]
    assert by_status["removed"][0].new_path == "제4호"  # left in place as 삭제
    # The note <개정 …> is not a change of the words.
    assert any(c.status == "unchanged" and c.old_path == "본문" for c in diff.changes)
    third = index.diff("시험거래", "제3조", "2017-03-01", "2021-01-01")
    assert [(c.status, c.old_path) for c in third.changes] == [
        ("changed", "제1항"),
        ("changed", "제2항"),
    ]
    fourth = index.diff("시험거래", "제4조", "2017-03-01", "2021-01-01")
    assert [c.status for c in fourth.changes] == ["added"] and not fourth.from_text
    unchanged = index.diff("시험거래", "제1조", "2017-03-01", "2021-01-01")
    assert not unchanged.changed


def test_align_handles_renumbered_and_deleted_units() -> None:
    old = [("제1호", "가나다 라마바"), ("제2호", "사아자 차카타"), ("제3호", "파하 거너더")]
    new = [
        ("제1호", "가나다 라마바"),
        ("제2호", "새로 들어온 호의 문장"),
        ("제3호", "사아자 차카타"),
        ("제4호", ""),
    ]
    changes = align(old, new)
    assert [(c.status, c.old_path, c.new_path) for c in changes] == [
        ("unchanged", "제1호", "제1호"),
        ("added", "", "제2호"),
        ("renumbered", "제2호", "제3호"),
        ("removed", "제3호", "제4호"),
    ]


@pytest.mark.parametrize(
    ("given", "name"),
    [("4", "제4조"), ("제4조의2", "제4조의2"), ("4의2", "제4조의2"), (" 제 10 조 ", "제10조")],
)
def test_article_names(given: str, name: str) -> None:
    assert article_name(given) == name


def test_diff_bad_input_says_what_to_do(index) -> None:
    with pytest.raises(InputError, match="is not an article"):
        index.diff("시험거래", "넷째 조", "2017-03-01")
    with pytest.raises(InputError, match="no law '주택법'"):
        index.diff("주택법", "제1조", "2017-03-01")
    with pytest.raises(InputError, match=r"in force on 2001\. 1\. 1\."):
        index.diff("시험거래", "제1조", "2001-01-01")
    with pytest.raises(InputError, match="is not a date"):
        index.diff("시험거래", "제1조", "2017-02-30")


def _law(folder: Path, name: str, body: str = V2015, **front: str) -> Path:
    values = {"promulgated": "2015-01-02", "number": "100", "effective": "2015-07-01", **front}
    return _write(folder, name, FRONT.format(**values) + body)


def test_two_versions_with_one_effective_date_are_refused(tmp_path: Path) -> None:
    _law(tmp_path, "a.md")
    _law(tmp_path, "b.md", V2020)
    with pytest.raises(
        IngestError, match="both versions of 법령ID 900001 in force from 2015-07-01"
    ):
        build_index([str(tmp_path)], tmp_path / "idx", embedder="hashing")
    assert not (tmp_path / "idx" / "manifest.json").exists()


def test_an_effective_date_that_is_not_a_date_names_the_file(tmp_path: Path) -> None:
    _law(tmp_path, "a.md", effective="2015년 칠월")
    with pytest.raises(IngestError, match=r"a\.md: 시행일자 '2015년 칠월' is not a date"):
        build_index([str(tmp_path)], tmp_path / "idx", embedder="hashing")


def test_same_law_id_with_another_title_is_one_chain_with_a_note(tmp_path: Path) -> None:
    _law(tmp_path, "a.md")
    renamed = FRONT.replace(
        "제목: 시험거래 보호에 관한 법률", "제목: 시험거래 및 비밀 보호에 관한 법률"
    )
    _write(
        tmp_path,
        "b.md",
        renamed.format(promulgated="2019-06-01", number="200", effective="2020-01-01") + V2020,
    )
    report = build_index([str(tmp_path)], tmp_path / "idx", embedder="hashing")
    assert any("share 법령ID 900001 but their titles differ" in n for n in report.notes)
    ends = {
        c.source.rsplit("/", 1)[-1]: c.effective_to for c in load_index(tmp_path / "idx").chunks
    }
    assert ends == {"a.md": "2020-01-01", "b.md": None}


def test_sidecar_dates_a_file_without_front_matter(tmp_path: Path) -> None:
    law = _write(tmp_path, "plain.md", "# 시험거래 보호에 관한 법률\n\n" + V2015)
    side = tmp_path / "plain.md.meta.yaml"
    side.write_text(
        "시행일자: 2015-07-01\n법령ID: '900001'\n법령구분: 법률\n공포번호: '100'\n",
        encoding="utf-8",
    )
    build_index([str(law)], tmp_path / "idx", embedder="hashing")
    chunks = load_index(tmp_path / "idx").chunks
    assert {c.version for c in chunks} == {"법률 제100호, 2015. 7. 1. 시행"}
    # A corrected sidecar is a changed source: the file is read again.
    side.write_text("시행일자: 2015-08-01\n법령ID: '900001'\n", encoding="utf-8")
    build_index([str(law)], tmp_path / "idx", embedder="hashing")
    assert {c.effective_from for c in load_index(tmp_path / "idx").chunks} == {"2015-08-01"}


def test_adding_a_version_embeds_only_the_articles_that_changed(tmp_path: Path) -> None:
    old = _law(tmp_path, "v2015.md")
    out = tmp_path / "idx"
    first = build_index([str(old)], out, embedder="hashing")
    new = _law(
        tmp_path, "v2020.md", V2020, promulgated="2019-06-01", number="200", effective="2020-01-01"
    )
    second = build_index([str(old), str(new)], out, embedder="hashing")
    assert second.chunks == 2 * first.chunks + 1  # 제4조 is new
    assert second.reused_embeddings == first.chunks + 1  # 제1조 of 2020 reads as in 2015
    assert second.embedded == second.chunks - second.reused_embeddings


def test_qa_items_take_an_as_of_date(tmp_path: Path) -> None:
    line = json.dumps(
        {
            "id": "a1",
            "q": "보관 기간은?",
            "as_of": "2017.3.1",
            "gold": [{"doc": "x.md", "anchor": "3년간"}],
        },
        ensure_ascii=False,
    )
    assert parse_qa_line(line, tmp_path / "qa.jsonl", 1).as_of == "2017-03-01"
    bad = line.replace("2017.3.1", "어제")
    with pytest.raises(InputError, match=r"qa\.jsonl:1: question 'a1': as_of '어제' is not a date"):
        parse_qa_line(bad, tmp_path / "qa.jsonl", 1)


def _fnrag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fnrag.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_as_of_and_diff(versioned: Path) -> None:
    then = _fnrag(
        "search", "거래기록 보관 기간", "--index", str(versioned), "--as-of", "2017-03-01", "--json"
    )
    assert then.returncode == 0, then.stderr
    assert {h["version"] for h in json.loads(then.stdout)} <= {
        "법률 제100호, 2015. 7. 1. 시행",
        None,
    }
    shown = _fnrag(
        "ask",
        "금융회사는 거래기록을 몇 년간 보관하여야 하나요?",
        "--index",
        str(versioned),
        "--as-of",
        "2018-01-01",
    )
    assert shown.returncode == 0, shown.stderr
    assert "(법률 제100호, 2015. 7. 1. 시행)" in shown.stdout and "참고: " in shown.stdout
    diff = _fnrag(
        "diff",
        "시험거래",
        "제3조",
        "--from",
        "2017-03-01",
        "--to",
        "2021-01-01",
        "--index",
        str(versioned),
    )
    assert diff.returncode == 0, diff.stderr
    assert (
        "~ 제1항 → 제1항" in diff.stdout
        and "- 금융회사는 거래기록을 3년간 보관하여야 한다." in diff.stdout
    )
    as_json = json.loads(
        _fnrag(
            "diff",
            "시험거래",
            "3",
            "--from",
            "2017-03-01",
            "--to",
            "2021-01-01",
            "--json",
            "--index",
            str(versioned),
        ).stdout
    )
    assert as_json["changed"] and as_json["from_version"] == "법률 제100호, 2015. 7. 1. 시행"
    bad = _fnrag("search", "보관", "--index", str(versioned), "--as-of", "2017-02-30")
    assert (
        bad.returncode == 2
        and "--as-of '2017-02-30' is not a date; write it as YYYY-MM-DD" in bad.stderr
    )


def test_a_superseded_version_does_not_change_how_todays_text_scores(tmp_path: Path) -> None:
    new = _law(
        tmp_path, "v2020.md", V2020, promulgated="2019-06-01", number="200", effective="2020-01-01"
    )
    guide = _write(tmp_path, "guide.md", GUIDE)
    build_index([str(new), str(guide)], tmp_path / "one", embedder="hashing")
    old = _law(tmp_path, "v2015.md")
    build_index([str(old), str(new), str(guide)], tmp_path / "two", embedder="hashing")
    one, two = load_index(tmp_path / "one"), load_index(tmp_path / "two")
    for question in ("거래기록 보관 기간", "고객 확인 서류 운전면허증", "과태료 부과"):
        for mode in ("lexical", "hybrid"):
            a = [(h.chunk_id, round(h.score, 5)) for h in one.search(question, k=4, mode=mode)]
            b = [(h.chunk_id, round(h.score, 5)) for h in two.search(question, k=4, mode=mode)]
            assert a == b, (question, mode)


def test_effective_from_dates_undated_statutes_only(tmp_path: Path) -> None:
    law = _write(tmp_path, "law.txt", "시험거래 보호에 관한 법률\n\n" + V2015.replace("##### ", ""))
    guide = _write(tmp_path, "guide.md", GUIDE)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fnrag.cli",
            "build-index",
            str(law),
            str(guide),
            "--out",
            str(tmp_path / "idx"),
            "--embedder",
            "hashing",
            "--effective-from",
            "2015-07-01",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "law.txt states no 시행일자: dated 2015-07-01" in result.stdout
    chunks = load_index(tmp_path / "idx").chunks
    assert {c.effective_from for c in chunks if c.source.endswith("law.txt")} == {"2015-07-01"}
    assert {c.effective_from for c in chunks if c.source.endswith("guide.md")} == {None}
    with pytest.raises(InputError, match="effective_from '7월' is not a date"):
        build_index([str(law)], tmp_path / "other", embedder="hashing", effective_from="7월")


def test_an_index_object_without_dates_says_so() -> None:
    from conftest import ListIndex, ScriptedGenerator

    from fnrag.types import Hit

    hit = Hit(1, 1.0, "c1", "x.md", "시험", None, (), "시험 > 제1조", "거래기록은 3년간 보관한다.")
    assistant = Assistant(
        ListIndex([hit]),
        ScriptedGenerator("거래기록은 3년간 보관한다. [1]"),
        refusal=False,
        log=False,
    )
    assert assistant.ask("보관 기간은?").citations
    with pytest.raises(InputError, match="cannot search as of a date"):
        assistant.ask("보관 기간은?", as_of="2017-03-01")
