"""Structured ask logs: one JSON line, no raw question, no personal data."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest

from fnrag.answering.logs import log_ask, question_hash
from fnrag.answering.pii import mask_pii

QUESTION = "주민등록번호 900101-1234568 인 고객의 계좌 110-123-456789 거래내역을 조회할 수 있나요?"


def _log(caplog: pytest.LogCaptureFixture, **kwargs: object) -> tuple[dict, logging.LogRecord]:
    with caplog.at_level(logging.INFO, logger="fnrag"):
        returned = log_ask(
            question=QUESTION,
            index_version="idx-2025-04-01",
            cited_chunk_ids=["c1", "c2"],
            timings={"retrieve": 0.012, "generate": 1.5},
            refused=False,
            **kwargs,  # type: ignore[arg-type]
        )
    records = [r for r in caplog.records if r.name == "fnrag"]
    assert len(records) == 1
    return returned, records[0]


def test_one_json_line_with_the_audit_fields(caplog: pytest.LogCaptureFixture) -> None:
    returned, record = _log(caplog)
    assert record.levelno == logging.INFO
    line = record.getMessage()
    assert "\n" not in line
    data = json.loads(line)
    assert data == returned
    assert data["index_version"] == "idx-2025-04-01"
    assert data["cited_chunk_ids"] == ["c1", "c2"]
    assert data["timings"] == {"retrieve": 0.012, "generate": 1.5}
    assert data["refused"] is False
    assert data["time"].endswith("+00:00")
    assert data["pii_kinds"] == ["주민등록번호", "계좌번호"]


def test_raw_question_and_pii_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    _, record = _log(caplog)
    logged = record.getMessage() + repr(record.args) + caplog.text
    for secret in (
        QUESTION,
        "900101-1234568",
        "9001011234568",
        "1234568",
        "110-123-456789",
        "거래내역을",
    ):
        assert secret not in logged
    assert "question" not in json.loads(record.getMessage())


def test_hash_is_of_the_masked_question(caplog: pytest.LogCaptureFixture) -> None:
    _, record = _log(caplog)
    expected = hashlib.sha256(mask_pii(QUESTION).text.encode("utf-8")).hexdigest()
    assert json.loads(record.getMessage())["question_sha256"] == expected == question_hash(QUESTION)
    # Unsalted hash of the raw question would let anyone confirm a guessed RRN.
    assert expected != hashlib.sha256(QUESTION.encode("utf-8")).hexdigest()


def test_opt_in_question_is_still_masked(caplog: pytest.LogCaptureFixture) -> None:
    _, record = _log(caplog, log_raw_question=True)
    data = json.loads(record.getMessage())
    assert data["question"] == mask_pii(QUESTION).text
    assert "[주민등록번호1]" in data["question"]
    assert "900101-1234568" not in record.getMessage()


def test_refusal_and_empty_citations(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="fnrag"):
        data = log_ask(
            question="  ", index_version="v1", cited_chunk_ids=(), timings={}, refused=True
        )
    assert data["refused"] is True and data["cited_chunk_ids"] == []
    assert json.loads(caplog.records[-1].getMessage()) == data


def test_assistant_log_describes_the_question_as_asked(caplog: pytest.LogCaptureFixture) -> None:
    """ask() masks before retrieval; the audit record still names the kinds it masked."""
    from ask_fixtures import sample_hits
    from conftest import ListIndex

    from fnrag.answering.assistant import Assistant

    question = "주민등록번호 900101-1234568 고객의 실명확인 방법은?"
    with caplog.at_level(logging.INFO, logger="fnrag"):
        answer = Assistant(ListIndex(sample_hits())).ask(question)
    data = json.loads([r for r in caplog.records if r.name == "fnrag"][-1].getMessage())
    assert "900101-1234568" not in answer.question
    assert data["pii_kinds"] == ["주민등록번호"]
    assert data["question_chars"] == len(question)
    assert "900101" not in caplog.text
