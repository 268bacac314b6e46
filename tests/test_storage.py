"""The service database on SQLite and on a real PostgreSQL: migrations, answers with
citations, feedback (masked), keys, and the review export's records."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from serve_support import database_url, pg_server_url  # noqa: F401

pytest.importorskip("sqlalchemy")

from fnrag.errors import InputError
from fnrag.storage.db import Database
from fnrag.storage.records import (
    StoredAnswer,
    UnknownAnswerError,
    add_feedback,
    count,
    record_answer,
    review_records,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    database = Database(database_url(request.param, tmp_path, request))
    database.migrate()
    yield database
    database.dispose()


def _answer(answer_id: str, conversation: str = "conv-1") -> StoredAnswer:
    return StoredAnswer(
        id=answer_id,
        conversation_id=conversation,
        user="김대리",
        question="100만원 이하 송금도 실명확인을 해야 하나요?",
        resolved_question=None,
        answer="“실명확인을 생략할 수 있다” [1]",
        refused=False,
        refusal_reason=None,
        citations=[
            {
                "n": 1,
                "chunk_id": "c1",
                "section": "제2장 > 다. 소액 송금 등",
                "quote": "생략할 수 있다",
            }
        ],
        index_version="build-1",
        generator="extractive",
        as_of=None,
        timings={"total_ms": 12.5},
    )


def test_migrate_is_idempotent_and_reports_the_revision(db: Database) -> None:
    assert db.migrate() == "0001"
    assert db.revision() == "0001"


def test_answers_and_feedback_are_stored_with_comments_masked(db: Database) -> None:
    record_answer(db, _answer("chatcmpl-1"))
    record_answer(db, _answer("chatcmpl-2"))  # same conversation: created once
    assert count(db, "conversations") == 1 and count(db, "answers") == 2
    add_feedback(
        db,
        "chatcmpl-1",
        "down",
        "wrong_citation",
        "고객 010-1234-5678 건은 시행령 조항이 다릅니다",
        "김대리",
    )
    add_feedback(db, "chatcmpl-2", "up")
    records = review_records(db)
    assert [r["id"] for r in records] == ["chatcmpl-1"]  # only the down-voted one
    record = records[0]
    assert record["chunk_id"] == "c1" and record["section"].startswith("제2장")
    assert record["citations"][0]["quote"] == "생략할 수 있다"
    comment = record["feedback"][0]["comment"]
    assert "010-1234-5678" not in comment and "[전화번호1]" in comment


def test_feedback_is_checked(db: Database) -> None:
    record_answer(db, _answer("chatcmpl-1"))
    with pytest.raises(UnknownAnswerError):
        add_feedback(db, "chatcmpl-없음", "down")
    with pytest.raises(InputError, match="rating"):
        add_feedback(db, "chatcmpl-1", "별로")
    with pytest.raises(InputError, match="reason"):
        add_feedback(db, "chatcmpl-1", "down", "맘에 안 듦")
    assert count(db, "feedback") == 0


def test_concurrent_feedback_writes_are_all_kept(db: Database) -> None:
    record_answer(db, _answer("chatcmpl-1"))
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(25):
                add_feedback(db, "chatcmpl-1", "down", "other", f"의견 {n}-{i}")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert count(db, "feedback") == 200


def test_a_failed_transaction_leaves_nothing(db: Database) -> None:
    from sqlalchemy import insert

    from fnrag.storage.schema import conversations

    with pytest.raises(RuntimeError), db.begin() as conn:
        conn.execute(
            insert(conversations).values(
                id="conv-x", created_at=__import__("datetime").datetime.now(), user_name=""
            )
        )
        raise RuntimeError("중간에 실패")
    assert count(db, "conversations") == 0
