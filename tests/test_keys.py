"""``fnrag keys``: a key is printed once on the last line, stored only as its hash,
listed by prefix, and revoked by id or name; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from serve_support import database_url, fnrag_cli, pg_server_url  # noqa: F401

pytest.importorskip("sqlalchemy")

from fnrag.storage.db import Database
from fnrag.storage.keys import find_key, hash_key


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_url(request.param, tmp_path, request)


def test_create_list_revoke(db_url: str) -> None:
    created = fnrag_cli(
        ["keys", "create", "--name", "영업점 메신저", "--role", "practitioner", "--db", db_url]
    )
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("fnrag-") and len(key) > 40
    db = Database(db_url)
    found = find_key(db, key)
    assert found is not None and found.name == "영업점 메신저" and found.role == "practitioner"
    # Only the hash is stored: the key itself is nowhere in the table.
    with db.engine.connect() as conn:
        rows = [tuple(map(str, r)) for r in conn.exec_driver_sql("SELECT * FROM api_keys")]
    assert not any(key in cell for row in rows for cell in row)
    assert any(hash_key(key) in row for row in rows)

    listed = json.loads(fnrag_cli(["keys", "list", "--json", "--db", db_url]).stdout)
    assert [(k["name"], k["role"], k["revoked_at"]) for k in listed] == [
        ("영업점 메신저", "practitioner", None)
    ]
    assert key not in json.dumps(listed) and key.startswith(listed[0]["prefix"])

    fnrag_cli(["keys", "revoke", "영업점 메신저", "--db", db_url])
    assert find_key(db, key) is None
    again = fnrag_cli(["keys", "revoke", "영업점 메신저", "--db", db_url], check=False)
    assert again.returncode == 2 and "no active key" in again.stderr
    db.dispose()


def test_unknown_role_is_refused(db_url: str) -> None:
    result = fnrag_cli(
        ["keys", "create", "--name", "x", "--role", "관리자", "--db", db_url], check=False
    )
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_a_wrong_key_matches_nothing(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'k.db'}")
    db.migrate()
    assert find_key(db, "fnrag-없는키") is None
    assert find_key(db, "sk-anything") is None
