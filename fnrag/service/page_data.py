"""What the practitioner page reads besides the chat API: a passage by chunk id, whether
the loaded index is the bundled sample, and the user's past conversations.

Everything here reads the app's current index and database (``request.app.state``);
nothing writes. Lookups are cached per loaded index object, so a reload (a new index)
starts fresh.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

from fnrag.paths import sample_corpus_dir

# How many past conversations the side list shows.
MAX_CONVERSATIONS = 50
# Turns read back from one conversation.
MAX_TURNS = 100

_lock = threading.Lock()


@dataclass
class _IndexFacts:
    index: Any
    chunks: dict[str, Any]
    sample: bool
    versions: bool


_facts: _IndexFacts | None = None


def _sample_digests() -> set[str]:
    root = sample_corpus_dir()
    digests: set[str] = set()
    if root.is_dir():
        for path in sorted(root.iterdir()):
            if (
                path.is_file()
                and path.suffix in (".md", ".txt", ".pdf")
                and path.name != "README.md"
            ):
                digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    return digests


def facts(index: Any) -> _IndexFacts:
    """Chunks by id, and the sample and versions flags, of ``index`` (cached)."""
    global _facts
    with _lock:
        known = _facts
    if known is not None and known.index is index:
        return known
    chunks = {chunk.chunk_id: chunk for chunk in getattr(index, "chunks", [])}
    manifest = getattr(index, "manifest", {}) or {}
    digests = {entry.get("sha256") for entry in manifest.get("sources", [])}
    sample = bool(digests & _sample_digests())
    versions = any(getattr(chunk, "version", None) for chunk in chunks.values())
    made = _IndexFacts(index, chunks, sample, versions)
    with _lock:
        _facts = made
    return made


def passage_json(chunk: Any) -> dict[str, Any]:
    """The chunk as the citation panel shows it."""
    return {
        "chunk_id": chunk.chunk_id,
        "title": chunk.title,
        "source": chunk.source,
        "section": chunk.section,
        "text": chunk.text,
        "start": chunk.start,
        "end": chunk.end,
        "page": chunk.page,
        "pages": list(chunk.pages),
        "pdf_page": chunk.pdf_page,
        "pdf_pages": list(chunk.pdf_pages),
        "effective_date": chunk.effective_date,
        "version": getattr(chunk, "version", None),
        "effective_from": getattr(chunk, "effective_from", None),
        "effective_to": getattr(chunk, "effective_to", None),
    }


def conversations(db: Any, user: str) -> list[dict[str, Any]]:
    """The user's conversations, newest first: id, when, first question, turns."""
    from sqlalchemy import func, select

    from fnrag.storage.schema import answers

    first = (
        select(
            answers.c.conversation_id,
            func.min(answers.c.created_at).label("started"),
            func.max(answers.c.created_at).label("latest"),
            func.count().label("turns"),
        )
        .where(answers.c.user_name == user)
        .group_by(answers.c.conversation_id)
        .order_by(func.max(answers.c.created_at).desc())
        .limit(MAX_CONVERSATIONS)
    )
    with db.engine.connect() as conn:
        rows = conn.execute(first).all()
        titles: dict[str, str] = {}
        if rows:
            ids = [row.conversation_id for row in rows]
            opening = (
                select(answers.c.conversation_id, answers.c.question, answers.c.created_at)
                .where(answers.c.conversation_id.in_(ids), answers.c.user_name == user)
                .order_by(answers.c.created_at, answers.c.id)
            )
            for row in conn.execute(opening):
                titles.setdefault(row.conversation_id, row.question)
    return [
        {
            "id": row.conversation_id,
            "created_at": _iso(row.started),
            "updated_at": _iso(row.latest),
            "turns": int(row.turns),
            "title": titles.get(row.conversation_id, "")[:80],
        }
        for row in rows
    ]


def conversation_turns(db: Any, user: str, conversation_id: str) -> list[dict[str, Any]] | None:
    """The turns of one of the user's conversations, oldest first; None if not theirs."""
    from sqlalchemy import select

    from fnrag.storage.schema import answers

    query = (
        select(answers)
        .where(answers.c.conversation_id == conversation_id, answers.c.user_name == user)
        .order_by(answers.c.created_at, answers.c.id)
        .limit(MAX_TURNS)
    )
    with db.engine.connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        return None
    return [
        {
            "id": row.id,
            "question": row.question,
            "resolved_question": row.resolved_question,
            "answer": row.answer,
            "refused": bool(row.refused),
            "citations": row.citations or [],
            "as_of": row.as_of,
            "created_at": _iso(row.created_at),
        }
        for row in rows
    ]


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value or "")
