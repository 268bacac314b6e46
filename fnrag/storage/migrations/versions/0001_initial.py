"""The first schema: conversations, answers, feedback, api_keys, audit.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(64), primary_key=True),
        _when("created_at"),
        sa.Column("user_name", sa.String(200), nullable=False),
    )
    op.create_table(
        "answers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "conversation_id", sa.String(64), sa.ForeignKey("conversations.id"), nullable=False
        ),
        _when("created_at"),
        sa.Column("user_name", sa.String(200), nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("resolved_question", sa.Text, nullable=True),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("refused", sa.Boolean, nullable=False),
        sa.Column("refusal_reason", sa.String(40), nullable=True),
        sa.Column("citations", sa.JSON, nullable=False),
        sa.Column("index_version", sa.String(100), nullable=False),
        sa.Column("generator", sa.String(40), nullable=False),
        sa.Column("as_of", sa.String(20), nullable=True),
        sa.Column("timings", sa.JSON, nullable=False),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("answer_id", sa.String(64), sa.ForeignKey("answers.id"), nullable=False),
        _when("created_at"),
        sa.Column("user_name", sa.String(200), nullable=False),
        sa.Column("rating", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(40), nullable=True),
        sa.Column("comment", sa.Text, nullable=False),
    )
    op.create_index("ix_feedback_answer_id", "feedback", ["answer_id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(20), nullable=False),
        _when("created_at"),
        _when("revoked_at", nullable=True),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _when("at"),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in ("audit", "api_keys", "feedback", "answers", "conversations"):
        op.drop_table(table)
