"""The openai generator against a real OpenAI-compatible server (llama-cpp-python)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from ask_fixtures import sample_hits
from llama_server import LlamaServer, require_server_extra
from test_api import ListIndex
from test_generators import smollm2_gguf

from fnrag.answering.assistant import Assistant
from fnrag.prompts import REFUSAL_SENTENCE

pytestmark = [pytest.mark.slow, pytest.mark.server]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_server_extra()
    log = tmp_path_factory.mktemp("server") / "server.log"
    running = LlamaServer(smollm2_gguf(), "smol", log, n_ctx=2048)
    try:
        yield running.wait_ready()
    finally:
        running.stop()


def _recording_client(bodies: list[dict]) -> object:
    import httpx

    def record(request: httpx.Request) -> None:
        bodies.append(json.loads(request.content.decode("utf-8")))

    return httpx.Client(event_hooks={"request": [record]})


def _recording_assistant(server: str, bodies: list[dict], max_tokens: int) -> Assistant:
    # Generous timeout and no retries: a retried slow request would be recorded twice.
    return Assistant(
        ListIndex(sample_hits()),
        "openai",
        base_url=server,
        model="smol",
        max_tokens=max_tokens,
        timeout=300,
        max_retries=0,
        http_client=_recording_client(bodies),
    )


QUESTION = "증거 인멸 우려가 있으면 거래정보 제공사실 통보를 유예할 수 있나요?"


def test_request_carries_fenced_numbered_passages_and_answer_is_verified(server: str) -> None:
    bodies: list[dict] = []
    assistant = _recording_assistant(server, bodies, max_tokens=48)
    answer = assistant.ask(QUESTION)
    assert len(bodies) == 1
    user = bodies[0]["messages"][-1]["content"]
    assert bodies[0]["model"] == "smol" and bodies[0]["messages"][0]["role"] == "system"
    for n in (1, 2, 3):
        assert f"「자료 {n}」" in user and f"「/자료 {n}」" in user
    assert "### Response:" in user and QUESTION in user
    # A 135M model rarely cites correctly: either verified citations or the refusal path.
    assert answer.raw_text
    if answer.refused:
        assert answer.text == REFUSAL_SENTENCE and answer.citations == ()
    else:
        assert answer.grounded
        for citation in answer.citations:
            assert citation.quote in answer.passages[citation.n - 1].text


def test_resident_number_reaches_the_server_masked(server: str) -> None:
    bodies: list[dict] = []
    assistant = _recording_assistant(server, bodies, max_tokens=8)
    assistant.ask("주민등록번호 900101-1234568 고객의 거래정보 제공사실 통보 유예는?")
    sent = json.dumps(bodies, ensure_ascii=False)
    assert "900101-1234568" not in sent and "9001011234568" not in sent


def test_streaming_through_the_server(server: str) -> None:
    pieces: list[str] = []
    assistant = Assistant(
        ListIndex(sample_hits()),
        "openai",
        base_url=server,
        model="smol",
        max_tokens=24,
        timeout=300,
    )
    answer = assistant.ask(QUESTION, on_text=pieces.append)
    assert len(pieces) > 1 and "".join(pieces).strip() == answer.raw_text
