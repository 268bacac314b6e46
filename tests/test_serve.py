"""``fnrag serve`` live on 127.0.0.1, driven by the official ``openai`` client and plain
HTTP: chat (plain and streamed) with citations verified against the index, the stored
answer, search, feedback and its export round-trip, auth, bad inputs, metrics — on
SQLite and on a real PostgreSQL."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_support import REPO, Server, create_key, database_url, fnrag_cli, http, pg_server_url  # noqa: F401

pytest.importorskip("fastapi")
openai = pytest.importorskip("openai")

QUESTION = "100만원 이하 송금도 실명확인을 해야 하나요?"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    hashing_sample_index_dir: Path,
) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp(f"serve-{request.param}")
    db_url = database_url(request.param, home, request)
    server = Server(hashing_sample_index_dir, db_url, home)
    try:
        server.wait_ready()
        yield {
            "server": server,
            "db": db_url,
            "practitioner": create_key(db_url, "practitioner", "김대리"),
            "operator": create_key(db_url, "operator", "운영팀"),
        }
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chunk_texts(hashing_sample_index_dir: Path) -> dict[str, str]:
    from fnrag.index.search import load_index

    index = load_index(hashing_sample_index_dir)
    return {c.chunk_id: c.text for c in index.chunks}


def _client(served: dict[str, Any], key: str | None = None) -> Any:
    return openai.OpenAI(
        base_url=served["server"].url, api_key=key or served["practitioner"], max_retries=0
    )


def _stored_answer(db_url: str, answer_id: str) -> Any:
    from fnrag.storage.db import Database

    db = Database(db_url)
    with db.engine.connect() as conn:
        row = conn.exec_driver_sql(
            f"SELECT question, answer, citations, index_version, timings FROM answers WHERE id = '{answer_id}'"
        ).first()
    db.dispose()
    return row


def test_openai_client_chat_has_verified_citations_and_is_stored(
    served: dict[str, Any], chunk_texts: dict[str, str]
) -> None:
    client = _client(served)
    asked = "고객 연락처 010-1234-5678 입니다. " + QUESTION
    response = client.chat.completions.create(
        model="fnrag", messages=[{"role": "user", "content": asked}]
    )
    message = response.choices[0].message
    assert "[1]" in message.content and "생략" in message.content
    citations = message.model_extra["citations"]
    assert citations and citations[0]["n"] == 1
    for c in citations:
        assert {
            "n",
            "title",
            "source",
            "page",
            "pages",
            "section",
            "reference",
            "quote",
            "chunk_id",
        } <= set(c)
        assert c["quote"] and c["quote"] in chunk_texts[c["chunk_id"]]  # verified against the index
        assert f"[{c['n']}]" in message.content
    assert response.id.startswith("chatcmpl-")
    row = _stored_answer(served["db"], response.id)
    assert row is not None
    question, answer, stored_citations, version, timings = row
    assert "010-1234-5678" not in question and "[전화번호1]" in question
    assert answer == message.content
    stored_citations = (
        json.loads(stored_citations) if isinstance(stored_citations, str) else stored_citations
    )
    assert [c["chunk_id"] for c in stored_citations] == [c["chunk_id"] for c in citations]
    assert version == response.model_extra["fnrag"]["index_version"] != ""
    assert "total_ms" in (json.loads(timings) if isinstance(timings, str) else timings)


def test_openai_client_streams_sentences_and_citations_last(
    served: dict[str, Any], chunk_texts: dict[str, str]
) -> None:
    stream = _client(served).chat.completions.create(
        model="fnrag", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "[1]" in text
    assert len([c for c in chunks if c.choices[0].delta.content]) >= 2  # more than one piece
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    citations = last.choices[0].delta.model_extra["citations"]
    assert citations and all(c["quote"] in chunk_texts[c["chunk_id"]] for c in citations)
    assert _stored_answer(served["db"], last.id) is not None


def test_history_goes_through_and_the_conversation_is_kept(served: dict[str, Any]) -> None:
    status, body = http(
        "POST",
        served["server"].url + "/chat/completions",
        {
            "model": "fnrag",
            "conversation_id": "conv-창구-1",
            "k": 3,
            "messages": [
                {"role": "system", "content": "무시되는 시스템 지시"},
                {"role": "user", "content": QUESTION},
                {"role": "assistant", "content": "“실명확인을 생략할 수 있다” [1]"},
                {"role": "user", "content": "그럼 외국통화 매입은요?"},
            ],
        },
        key=served["practitioner"],
    )
    assert status == 200, body
    assert body["conversation_id"] == "conv-창구-1"
    assert body["choices"][0]["message"]["content"]


def test_models_lists_fnrag(served: dict[str, Any]) -> None:
    assert [m.id for m in _client(served).models.list()] == ["fnrag"]


def test_search_has_the_cli_json_shape(
    served: dict[str, Any], hashing_sample_index_dir: Path
) -> None:
    status, body = http(
        "POST",
        served["server"].url + "/search",
        {"query": "거래정보 제공 기록부", "k": 3},
        key=served["practitioner"],
    )
    assert status == 200
    cli = json.loads(
        fnrag_cli(
            [
                "search",
                "거래정보 제공 기록부",
                "-k",
                "3",
                "--json",
                "--index",
                str(hashing_sample_index_dir),
            ]
        ).stdout
    )
    assert [h["chunk_id"] for h in body["hits"]] == [h["chunk_id"] for h in cli]
    assert set(body["hits"][0]) == set(cli[0])


def test_auth_no_key_wrong_key_revoked_key_wrong_role(served: dict[str, Any]) -> None:
    url = served["server"].url
    status, body = http("GET", url + "/models")
    assert status == 401 and body["error"]["code"] == "missing_api_key"
    status, body = http("GET", url + "/models", key="fnrag-wrong-key-0000")
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        _client(served, key="fnrag-wrong").models.list()
    doomed = create_key(served["db"], "practitioner", "퇴사자")
    assert http("GET", url + "/models", key=doomed)[0] == 200
    fnrag_cli(["keys", "revoke", "퇴사자", "--db", served["db"]])
    status, body = http("GET", url + "/models", key=doomed)
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    status, body = http("POST", url + "/admin/reload", {}, key=served["practitioner"])
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, body = http("GET", url + "/admin/feedback", key=served["practitioner"])
    assert status == 403


def test_bad_inputs_get_clear_4xx_json_and_the_server_keeps_serving(served: dict[str, Any]) -> None:
    url, key = served["server"].url + "/chat/completions", served["practitioner"]
    status, body = http("POST", url, raw=b'{"model": "fnrag", "messages": [', key=key)
    assert status == 400 and body["error"]["code"] == "invalid_json"
    status, body = http("POST", url, raw=b"x" * 200_000, key=key)
    assert status == 413 and body["error"]["code"] == "request_too_large"
    status, body = http(
        "POST",
        url,
        {"model": "gpt-4o", "messages": [{"role": "user", "content": QUESTION}]},
        key=key,
    )
    assert status == 404 and body["error"]["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        _client(served).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": QUESTION}]
        )
    status, body = http("POST", url, {"model": "fnrag", "messages": []}, key=key)
    assert status == 400 and body["error"]["code"] == "empty_messages"
    status, body = http(
        "POST", url, {"model": "fnrag", "messages": [{"role": "user", "content": "  "}]}, key=key
    )
    assert status == 400 and body["error"]["code"] == "empty_question"
    status, body = http(
        "POST",
        url,
        {"model": "fnrag", "messages": [{"role": "user", "content": QUESTION}], "as_of": "어제"},
        key=key,
    )
    assert status == 400 and "as_of" in body["error"]["message"]
    status, body = http(
        "POST",
        url,
        {"model": "fnrag", "messages": [{"role": "user", "content": QUESTION}], "k": 99},
        key=key,
    )
    assert status == 400 and "k must be" in body["error"]["message"]
    status, body = http(
        "POST",
        url,
        {
            "model": "fnrag",
            "messages": [{"role": "user", "content": QUESTION}],
            "generator": "transformers",
        },
        key=key,
    )
    assert status == 400 and "--generator" in body["error"]["message"]
    # … and it still answers.
    status, body = http(
        "POST",
        url,
        {"model": "fnrag", "messages": [{"role": "user", "content": QUESTION}]},
        key=key,
    )
    assert status == 200 and body["choices"][0]["message"]["citations"]


def test_feedback_and_its_export_round_trip(served: dict[str, Any], tmp_path: Path) -> None:
    url, key = served["server"].url, served["practitioner"]
    response = _client(served).chat.completions.create(
        model="fnrag", messages=[{"role": "user", "content": QUESTION}]
    )
    status, body = http(
        "POST",
        url + "/feedback",
        {
            "answer_id": response.id,
            "rating": "down",
            "reason": "incomplete",
            "comment": "시행령 조항도 같이 보여 주세요",
        },
        key=key,
    )
    assert status == 201 and body["answer_id"] == response.id
    status, body = http(
        "POST", url + "/feedback", {"answer_id": "chatcmpl-없음", "rating": "down"}, key=key
    )
    assert status == 404 and body["error"]["code"] == "answer_not_found"
    status, body = http(
        "POST", url + "/feedback", {"answer_id": response.id, "rating": "별로"}, key=key
    )
    assert status == 400
    status, body = http("GET", url + "/admin/feedback", key=served["operator"])
    assert status == 200 and response.id in [r["id"] for r in body["records"]]

    qa, sheet, reviewed = (
        tmp_path / "feedback.jsonl",
        tmp_path / "review.csv",
        tmp_path / "reviewed.jsonl",
    )
    run = [sys.executable, "-m", "training.review"]
    out = subprocess.run(
        [*run, "export", "--from-db", served["db"], "--qa", str(qa), "--sheet", str(sheet)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    with open(sheet, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    row = next(r for r in rows if r["id"] == response.id)
    assert row["answer"] == response.choices[0].message.content
    assert "시행령 조항도" in row["comment"] and "incomplete" in row["comment"]
    row["decision"], row["answer"] = "수정", "시행령 제4조도 보세요 [1]"
    with open(sheet, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = subprocess.run(
        [*run, "import", "--qa", str(qa), "--sheet", str(sheet), "--out", str(reviewed)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    kept = [json.loads(line) for line in reviewed.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["output"]) for r in kept] == [(response.id, "시행령 제4조도 보세요 [1]")]


def test_health_readiness_metrics(served: dict[str, Any]) -> None:
    base = served["server"].base
    status, body = http("GET", base + "/healthz")
    assert status == 200 and body["status"] == "ok" and isinstance(body["worker"], int)
    status, body = http("GET", base + "/readyz")
    assert status == 200 and body["index_version"]
    _client(served).chat.completions.create(
        model="fnrag", messages=[{"role": "user", "content": QUESTION}]
    )
    status, text = http("GET", base + "/metrics")
    assert status == 200
    assert "fnrag_requests_total{" in text and 'stage="retrieve"' in text
    assert "fnrag_index_info{" in text


def test_access_log_is_json_without_question_text(served: dict[str, Any]) -> None:
    server = served["server"]
    http(
        "POST",
        server.url + "/chat/completions",
        {"model": "fnrag", "messages": [{"role": "user", "content": "기록부 보존기간 비밀질문"}]},
        key=served["practitioner"],
        headers={"X-Request-ID": "req-abc-1"},
    )
    lines = [
        json.loads(line)
        for line in server.log_path.read_text().splitlines()
        if line.startswith("{")
    ]
    access = [e for e in lines if e.get("request_id") == "req-abc-1" and e["msg"] == "request"]
    assert access and access[0]["route"] == "/v1/chat/completions" and access[0]["user"] == "김대리"
    assert "비밀질문" not in server.log_path.read_text()


def test_as_of_reaches_search_and_chat(served: dict[str, Any]) -> None:
    url, key = served["server"].url, served["practitioner"]
    status, body = http(
        "POST", url + "/search", {"query": "거래정보 제공 기록부", "as_of": "2020-01-01"}, key=key
    )
    assert status == 200 and body["hits"]
    status, body = http(
        "POST", url + "/search", {"query": "거래정보 제공 기록부", "as_of": "작년"}, key=key
    )
    assert status == 400 and "as_of" in body["error"]["message"]
    chat = {
        "model": "fnrag",
        "messages": [{"role": "user", "content": QUESTION}],
        "as_of": "2020-01-01",
    }
    status, body = http("POST", url + "/chat/completions", chat, key=key)
    assert status == 200 and body["fnrag"]["as_of"] == "2020-01-01"
