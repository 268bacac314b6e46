"""The tables, as SQLAlchemy Core metadata (the migrations create the same tables).

Times are UTC, timezone-aware. JSON columns hold the citations and timings exactly as
the chat API returned them. No column holds raw user text: questions and comments are
masked by ``fnrag.answering.pii.mask_pii`` before they are written.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("user_name", String(200), nullable=False, default=""),
)

answers = Table(
    "answers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("conversation_id", String(64), ForeignKey("conversations.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("user_name", String(200), nullable=False, default=""),
    Column("question", Text, nullable=False),
    Column("resolved_question", Text, nullable=True),
    Column("answer", Text, nullable=False),
    Column("refused", Boolean, nullable=False, default=False),
    Column("refusal_reason", String(40), nullable=True),
    Column("citations", JSON, nullable=False),
    Column("index_version", String(100), nullable=False, default=""),
    Column("generator", String(40), nullable=False, default=""),
    Column("as_of", String(20), nullable=True),
    Column("timings", JSON, nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("answer_id", String(64), ForeignKey("answers.id"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("user_name", String(200), nullable=False, default=""),
    Column("rating", String(8), nullable=False),
    Column("reason", String(40), nullable=True),
    Column("comment", Text, nullable=False, default=""),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(60), nullable=False),
    Column("detail", JSON, nullable=False),
)
