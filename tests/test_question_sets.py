"""The QA sets (benchmarks/data/*.jsonl and ../shared/corpus/dev_qa.jsonl) are well formed.

Every in-scope question must name gold passages whose anchor really occurs in the named
document, or retrieval and answer benchmarks silently score a phrase nobody can find.
Anchors are compared the way fnrag.evaluation.metrics does (all whitespace removed)
against the text fnrag's ingest produces (Markdown escapes like ``1\\.`` already undone).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from conftest import REAL_CORPUS_FILES, REPO, SHARED_CORPUS

from fnrag.evaluation.metrics import squash
from fnrag.evaluation.qa import load_qa
from fnrag.ingest.sources import load_document

DATA = REPO / "benchmarks" / "data"
SETS = sorted(p.name for p in DATA.glob("*.jsonl"))
DEV = "dev_qa.jsonl"
# The as-of questions' gold for dates on which the 2016 texts were in force.
OLDER_VERSIONS = tuple(
    f"laws/2016-08/{n}"
    for n in ("금융실명법_법률.md", "금융실명법_시행령.md", "금융실명법_시행규칙.md")
)


def _set_path(name: str, corpus: Path | None) -> Path:
    if name == DEV:
        if corpus is None:
            pytest.skip("../shared/corpus is absent")
        return corpus / DEV
    return DATA / name


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


@cache
def _document_text(doc: str) -> str:
    # Loading the 154-page PDF takes seconds; every set shares one squashed copy.
    return squash(load_document(SHARED_CORPUS / doc, doc).text)


def test_benchmark_sets_exist() -> None:
    assert "practitioner_qa.jsonl" in SETS and "tune_qa.jsonl" in SETS


@pytest.mark.parametrize("name", [*SETS, DEV])
def test_ids_unique_and_gold_complete(name: str) -> None:
    path = _set_path(name, SHARED_CORPUS if SHARED_CORPUS.is_dir() else None)
    rows = _rows(path)
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), f"{name}: duplicate ids"
    assert len(load_qa(path)) == len(rows)  # the loader fnrag eval uses accepts every line
    for row in rows:
        if row.get("out_of_scope"):
            assert row.get("gold", []) == [], f"{name} {row['id']}: out-of-scope with gold"
            continue
        assert row["gold"], f"{name} {row['id']}: in-scope without gold"
        for gold in row["gold"]:
            known = (*REAL_CORPUS_FILES, *OLDER_VERSIONS)
            assert gold.get("doc") in known, f"{name} {row['id']}: {gold.get('doc')}"
            assert isinstance(gold.get("anchor"), str) and squash(gold["anchor"])


@pytest.mark.parametrize("name", SETS)
def test_anchor_lengths(name: str) -> None:
    """Anchors of the project's own sets are short phrases (8–40 characters, no whitespace)."""
    for row in _rows(DATA / name):
        for gold in row.get("gold", []):
            assert 8 <= len(squash(gold["anchor"])) <= 40, f"{name} {row['id']}: {gold['anchor']}"


@pytest.mark.parametrize("name", [*SETS, DEV])
def test_every_anchor_occurs_in_its_document(name: str, shared_corpus: Path) -> None:
    missing = [
        f"{row['id']}: {gold['doc']} lacks {gold['anchor']!r}"
        for row in _rows(_set_path(name, shared_corpus))
        for gold in row.get("gold", [])
        if squash(gold["anchor"]) not in _document_text(gold["doc"])
    ]
    assert not missing, f"{name}: " + "; ".join(missing)


def test_anchor_check_reads_ingested_text(shared_corpus: Path) -> None:
    """The check is not vacuous: numbered items read as ingested (``1.``, not ``1\\.``)."""
    law = _document_text("laws/금융실명법_법률.md")
    assert squash("1. 법원의 제출명령 또는 법관이 발부한 영장") in law
    assert squash("1\\. 법원의 제출명령") not in law
    assert squash("금융실명법에 없는 문구입니다") not in law


def test_dialogues_are_two_turn_follow_ups() -> None:
    """benchmarks/data/dialogues.jsonl (issue 15): its gold anchors are checked above with
    the other sets; here its shape: a user turn before each follow-up, and at least 24
    follow-ups split into a tuning and a check half (plus topic switches)."""
    rows = _rows(DATA / "dialogues.jsonl")
    follow_ups = [r for r in rows if r["split"] in ("tune", "check")]
    assert len(follow_ups) >= 24
    assert {r["split"] for r in rows} == {"tune", "check", "switch"}
    for row in rows:
        history = row["history"]
        assert history and history[0]["role"] == "user" and history[0]["content"].strip()
        assert row["q"] not in {t["content"] for t in history}, row["id"]


def test_blind_dialogues_are_follow_ups() -> None:
    """benchmarks/data/dialogues_blind.jsonl: a held-out set written without running fnrag
    on it, so it must stay apart from dialogues.jsonl (no shared ids) and keep its own
    splits: at least 24 follow-ups that need the first turn and 6 topic switches."""
    rows = _rows(DATA / "dialogues_blind.jsonl")
    splits = [r["split"] for r in rows]
    assert splits.count("blind") >= 24
    assert splits.count("blind-switch") >= 6
    assert set(splits) == {"blind", "blind-switch"}
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    tuned = {r["id"] for r in _rows(DATA / "dialogues.jsonl")}
    assert not tuned & set(ids), sorted(tuned & set(ids))
    for row in rows:
        history = row["history"]
        assert history and history[0]["role"] == "user" and history[0]["content"].strip()
        assert row["q"].strip() and row["q"] not in {t["content"] for t in history}, row["id"]
