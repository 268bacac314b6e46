"""Writing and reading the service's records: answers (with their conversation),
feedback, and the audit trail; and the down-voted or commented answers for review.

Every function takes text that is already PII-masked except :func:`add_feedback`'s
comment, which it masks itself (a practitioner may paste a customer's number).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fnrag.errors import InputError
from fnrag.storage.db import Database, now

RATINGS = ("up", "down")
REASONS = ("wrong_answer", "wrong_citation", "incomplete", "other")
MAX_COMMENT_CHARS = 4000


class UnknownAnswerError(InputError):
    """Feedback names an answer id the database does not hold."""


@dataclass(frozen=True)
class StoredAnswer:
    """What ``record_answer`` writes for one chat response.

    Attributes:
        id: the response id (``chatcmpl-…``), the key feedback refers to.
        conversation_id: the conversation it belongs to (created if new).
        user: the key name or proxy user who asked.
        question: the PII-masked question; resolved_question: what was answered, when the
            follow-up was rewritten from the history.
        answer: the answer text; refused / refusal_reason as in ``Answer``.
        citations: the citations as the API returned them.
        index_version: the build id of the index that answered.
        generator: the generator's name; as_of: the date asked about, if any.
        timings: milliseconds per stage.
    """

    id: str
    conversation_id: str
    user: str
    question: str
    resolved_question: str | None
    answer: str
    refused: bool
    refusal_reason: str | None
    citations: Sequence[Mapping[str, Any]]
    index_version: str
    generator: str
    as_of: str | None
    timings: Mapping[str, float]


def audit(conn: Any, actor: str, action: str, detail: Mapping[str, Any]) -> None:
    """One audit row, inside the caller's transaction."""
    from sqlalchemy import insert

    from fnrag.storage.schema import audit as audit_table

    conn.execute(
        insert(audit_table).values(at=now(), actor=actor, action=action, detail=dict(detail))
    )


def record_answer(db: Database, stored: StoredAnswer) -> None:
    """Store one answer (and its conversation, when new) in one transaction."""
    from sqlalchemy import insert, select

    from fnrag.storage.schema import answers, conversations

    with db.begin() as conn:
        known = conn.execute(
            select(conversations.c.id).where(conversations.c.id == stored.conversation_id)
        ).first()
        if known is None:
            conn.execute(
                insert(conversations).values(
                    id=stored.conversation_id, created_at=now(), user_name=stored.user
                )
            )
        conn.execute(
            insert(answers).values(
                id=stored.id,
                conversation_id=stored.conversation_id,
                created_at=now(),
                user_name=stored.user,
                question=stored.question,
                resolved_question=stored.resolved_question,
                answer=stored.answer,
                refused=stored.refused,
                refusal_reason=stored.refusal_reason,
                citations=[dict(c) for c in stored.citations],
                index_version=stored.index_version,
                generator=stored.generator,
                as_of=stored.as_of,
                timings=dict(stored.timings),
            )
        )


def add_feedback(
    db: Database,
    answer_id: str,
    rating: str,
    reason: str | None = None,
    comment: str = "",
    user: str = "",
) -> int:
    """Store one rating of an answer; returns the feedback id.

    Raises:
        InputError: an unknown rating or reason, or a comment that is too long.
        UnknownAnswerError: no answer has that id.
    """
    from sqlalchemy import insert, select

    from fnrag.answering.pii import mask_pii
    from fnrag.storage.schema import answers, feedback

    if rating not in RATINGS:
        raise InputError(f"rating must be one of {', '.join(RATINGS)} (got {rating!r})")
    if reason is not None and reason not in REASONS:
        raise InputError(f"reason must be one of {', '.join(REASONS)} (got {reason!r})")
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT_CHARS:
        raise InputError(f"comment must be text of at most {MAX_COMMENT_CHARS} characters")
    with db.begin() as conn:
        if conn.execute(select(answers.c.id).where(answers.c.id == answer_id)).first() is None:
            raise UnknownAnswerError(
                f"no answer with id {answer_id!r}; send the id of a chat response"
            )
        created = conn.execute(
            insert(feedback).values(
                answer_id=answer_id,
                created_at=now(),
                user_name=user,
                rating=rating,
                reason=reason,
                comment=mask_pii(comment.strip()).text,
            )
        )
        return int(created.inserted_primary_key[0])


def count(db: Database, table: str) -> int:
    """Rows in ``table`` (for tests and the benchmark's lost-write check)."""
    from sqlalchemy import func, select

    from fnrag.storage import schema

    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(getattr(schema, table))).scalar())


def review_records(db: Database) -> list[dict[str, Any]]:
    """Answers that were down-voted or commented on, as self-instruct-style records
    (``id``, ``instruction``, ``output``, ``section``, ``chunk_id``, ``feedback``) that
    ``training.review export`` turns into review-sheet rows; oldest first."""
    from sqlalchemy import or_, select

    from fnrag.storage.schema import answers, feedback

    query = (
        select(answers, feedback.c.rating, feedback.c.reason, feedback.c.comment)
        .join(feedback, feedback.c.answer_id == answers.c.id)
        .where(or_(feedback.c.rating == "down", feedback.c.comment != ""))
        .order_by(answers.c.created_at, answers.c.id, feedback.c.id)
    )
    records: dict[str, dict[str, Any]] = {}
    with db.engine.connect() as conn:
        for row in conn.execute(query):
            record = records.get(row.id)
            if record is None:
                lead = row.citations[0] if row.citations else {}
                record = records[row.id] = {
                    "id": row.id,
                    "instruction": row.resolved_question or row.question,
                    "output": row.answer,
                    "section": lead.get("section", ""),
                    "chunk_id": lead.get("chunk_id", ""),
                    "citations": row.citations,
                    "index_version": row.index_version,
                    "feedback": [],
                }
            record["feedback"].append(
                {"rating": row.rating, "reason": row.reason, "comment": row.comment}
            )
    return list(records.values())
