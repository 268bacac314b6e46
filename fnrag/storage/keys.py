"""API keys: created once and shown once, stored as a SHA-256 hash, revocable.

A key is ``fnrag-`` plus 32 random bytes in URL-safe base64: it has the entropy of a
secret, so a plain SHA-256 (not a slow password hash) is the right digest and lets a
request be checked with one indexed lookup. The first characters are kept as a
``prefix`` so an operator can tell keys apart in ``fnrag keys list``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fnrag.errors import InputError
from fnrag.storage.db import Database, now

ROLES = ("practitioner", "operator")
KEY_PREFIX = "fnrag-"
_SHOWN_PREFIX = 12


@dataclass(frozen=True)
class ApiKey:
    """One stored key (never the key itself).

    Attributes:
        id: the row id (what ``fnrag keys revoke`` takes, besides the name).
        name: who or what holds it (a person, a team, the messenger gateway).
        role: ``practitioner`` (chat, search, feedback) or ``operator`` (also reload and
            feedback export).
        prefix: the key's first characters, to tell keys apart.
        created_at: when it was made; revoked_at: when it was revoked (None: active).
    """

    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_key(key: str) -> str:
    """The stored digest of ``key``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _row(row: Any) -> ApiKey:
    return ApiKey(row.id, row.name, row.role, row.prefix, row.created_at, row.revoked_at)


def create_key(db: Database, name: str, role: str) -> tuple[str, ApiKey]:
    """A new key for ``name`` with ``role``: returns (the key, shown only now; its record)."""
    from sqlalchemy import insert, select

    from fnrag.storage.records import audit
    from fnrag.storage.schema import api_keys

    name = name.strip()
    if not name:
        raise InputError("the key needs a --name (who holds it)")
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with db.begin() as conn:
        created = conn.execute(
            insert(api_keys).values(
                name=name,
                role=role,
                key_hash=hash_key(key),
                prefix=key[:_SHOWN_PREFIX],
                created_at=now(),
                revoked_at=None,
            )
        )
        key_id = created.inserted_primary_key[0]
        audit(conn, "cli", "key.create", {"key_id": key_id, "name": name, "role": role})
        record = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one()
    return key, _row(record)


def list_keys(db: Database) -> list[ApiKey]:
    """Every key, active and revoked, oldest first."""
    from sqlalchemy import select

    from fnrag.storage.schema import api_keys

    with db.begin() as conn:
        return [_row(r) for r in conn.execute(select(api_keys).order_by(api_keys.c.id))]


def revoke_key(db: Database, which: str) -> list[ApiKey]:
    """Revoke the active key(s) with id or name ``which``; InputError if there is none."""
    from sqlalchemy import or_, select, update

    from fnrag.storage.records import audit
    from fnrag.storage.schema import api_keys

    match = api_keys.c.name == which
    if which.isdigit():
        match = or_(match, api_keys.c.id == int(which))
    with db.begin() as conn:
        found = [
            _row(r)
            for r in conn.execute(select(api_keys).where(match, api_keys.c.revoked_at.is_(None)))
        ]
        if not found:
            raise InputError(f"no active key with id or name {which!r}; see fnrag keys list")
        ids = [k.id for k in found]
        conn.execute(update(api_keys).where(api_keys.c.id.in_(ids)).values(revoked_at=now()))
        audit(conn, "cli", "key.revoke", {"key_ids": ids})
    return found


def find_key(db: Database, key: str) -> ApiKey | None:
    """The active key whose hash matches ``key``, or None (unknown or revoked)."""
    from sqlalchemy import select

    from fnrag.storage.schema import api_keys

    if not key.startswith(KEY_PREFIX):
        return None
    with db.engine.connect() as conn:
        row = conn.execute(
            select(api_keys).where(
                api_keys.c.key_hash == hash_key(key), api_keys.c.revoked_at.is_(None)
            )
        ).first()
    return _row(row) if row is not None else None
