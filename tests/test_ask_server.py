"""The openai generator against a real OpenAI-compatible server (llama-cpp-python)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from ask_fixtures import sample_hits
from test_api import ListIndex
from test_generators import smollm2_gguf

from fnrag.api import Assistant
from fnrag.prompts import REFUSAL_SENTENCE

pytestmark = [pytest.mark.slow, pytest.mark.server]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError as error:
        pytest.skip(
            f"llama-cpp-python[server] is not installed ({error}); "
            "pip install 'llama-cpp-python[server]'"
        )
    gguf = smollm2_gguf()
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(gguf),
                "--model_alias",
                "smol",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "2048",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("llama_cpp.server did not start within 90 s")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


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
