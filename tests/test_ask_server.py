"""The openai generator against a real OpenAI-compatible server (llama-cpp-python)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from ask_fixtures import sample_hits
from conftest import ListIndex
from llama_server import LlamaServer, require_server_extra
from test_generators import smollm2_gguf

from fnrag.answering.assistant import Assistant
from fnrag.answering.citations import verify_citations
from fnrag.errors import GenerationError
from fnrag.generators.budget import estimate_tokens
from fnrag.prompts import PROMPT_ECHO, REFUSAL_SENTENCE, build_prompt
from fnrag.text import split_sentences
from fnrag.types import Hit
from tests.conftest import SAMPLE_CORPUS

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


def _recording_client(bodies: list[dict], replies: list[dict] | None = None) -> object:
    """Records each chat request's body (and, given ``replies``, each reply's JSON)."""
    import httpx

    def record(request: httpx.Request) -> None:
        if request.url.path.endswith("/chat/completions"):
            bodies.append(json.loads(request.content.decode("utf-8")))

    def record_reply(response: httpx.Response) -> None:
        if replies is not None and response.request.url.path.endswith("/chat/completions"):
            response.read()
            replies.append({"status": response.status_code, **response.json()})

    return httpx.Client(event_hooks={"request": [record], "response": [record_reply]})


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


def _assert_only_verified(pieces: list[str], passages: Sequence[Hit]) -> None:
    for piece in pieces:
        check = verify_citations(piece, passages)
        assert check.citations and check.invalid == (), piece
        assert PROMPT_ECHO.search(piece) is None, piece
        assert len(split_sentences(piece.strip())) == 1, piece


def test_streaming_passes_on_only_verified_sentences(server: str) -> None:
    pieces: list[str] = []
    hits = _long_hits()
    assistant = Assistant(
        ListIndex(hits),
        "openai",
        base_url=server,
        model="smol",
        max_tokens=48,
        timeout=300,
        refusal=False,
    )
    answer = assistant.ask(QUESTION, on_text=pieces.append)
    # Streaming, llama-cpp-python reports an overflow as a stream that just stops: the
    # context is learnt all the same and the prompt fitted to it.
    assert assistant.generator.context_tokens == 2048 and len(answer.passages) < len(hits)
    # SmolLM2 writes mostly unverifiable text: whatever it wrote, only whole sentences
    # whose citations hold were passed on, and the answer is the verified one.
    assert answer.raw_text
    _assert_only_verified(pieces, answer.passages)
    for piece in pieces:
        assert piece.strip() in answer.text


def _long_hits() -> list[Hit]:
    """Five real guide passages (the bundled sample): together far over 2,048 tokens."""
    from fnrag.chunking.chunker import chunk_document
    from fnrag.ingest.sources import load_document

    path = SAMPLE_CORPUS / "02_비밀보장.md"
    chunks = sorted(chunk_document(load_document(path, str(path))), key=lambda c: -len(c.text))
    return [Hit.from_chunk(chunk, n, 1.0 / n) for n, chunk in enumerate(chunks[:5], start=1)]


def test_prompt_is_fitted_to_the_servers_context(server: str) -> None:
    hits = _long_hits()
    assert estimate_tokens(build_prompt(QUESTION, hits)) > 2 * 2048
    bodies: list[dict] = []
    replies: list[dict] = []
    assistant = Assistant(
        ListIndex(hits),
        "openai",
        base_url=server,
        model="smol",
        max_tokens=16,
        timeout=300,
        max_retries=0,
        http_client=_recording_client(bodies, replies),
        refusal=False,
    )
    answer = assistant.ask(QUESTION)
    # llama-cpp-python lists no context in /models: the first request overflows, its
    # 400 names the context (2,048), and the prompt is fitted to it and sent again.
    assert [r["status"] for r in replies] == [400, 200]
    assert replies[1]["usage"]["prompt_tokens"] <= 2048 - 16
    assert assistant.generator.context_tokens == 2048
    shown = answer.passages
    assert 1 <= len(shown) < len(hits)
    sent = bodies[-1]["messages"][-1]["content"]
    for n, passage in enumerate(shown, start=1):
        # Numbered as retrieved (lowest-ranked left out), each an exact slice of its chunk.
        assert passage.chunk_id == hits[n - 1].chunk_id and passage.text in hits[n - 1].text
        assert f"「자료 {n}」" in sent
    assert f"「자료 {len(shown) + 1}」" not in sent
    for citation in answer.citations:
        assert citation.quote in shown[citation.n - 1].text
    # The next question is fitted at once: no second overflow.
    assistant.ask(QUESTION)
    assert [r["status"] for r in replies] == [400, 200, 200]


def test_context_overflow_is_reported_as_such(server: str) -> None:
    assistant = Assistant(
        ListIndex(_long_hits()),
        "openai",
        base_url=server,
        model="smol",
        max_tokens=16,
        max_prompt_tokens=100_000,
        timeout=300,
        max_retries=0,
        refusal=False,
    )
    with pytest.raises(GenerationError) as caught:
        assistant.ask(QUESTION)
    message = str(caught.value)
    assert "exceeds the context" in message and "2,048 tokens" in message
    assert "--max-prompt-tokens" in message and "--n_ctx" in message
    assert "check that the server runs" not in message and "\n" not in message


def test_byte_estimate_never_undercounts_korean(server: str) -> None:
    import httpx

    root = server.removesuffix("/v1")
    texts = [h.text for h in _long_hits()] + ["가" * 500, "금융실명거래 및 비밀보장에 관한 법률"]
    for text in texts:
        reply = httpx.post(f"{root}/extras/tokenize/count", json={"input": text}, timeout=60)
        assert reply.json()["count"] <= estimate_tokens(text)


def test_cli_stream_prints_only_verified_sentences(
    server: str, hashing_sample_index_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fnrag.cli import main

    question = "거래정보 제공 기록부에는 무엇을 적어야 하나요?"
    argv = ["ask", question, "--index", str(hashing_sample_index_dir), "-k", "2", "--stream"]
    argv += ["--generator", "openai", "--base-url", server, "--model", "smol"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    streamed = out.split("검증 후 답변:")[0].split("출처:")[0].strip()
    assert "###" not in streamed and "Instruction" not in streamed
    if streamed:
        from fnrag.index.search import load_index

        hits = load_index(hashing_sample_index_dir).search(question, k=2)
        _assert_only_verified([streamed[a:b] for a, b in split_sentences(streamed)], hits)
