"""``POST /v1/chat/completions`` (OpenAI-compatible) and ``GET /v1/models``.

The last user message is the question; the user and assistant turns before it are the
history (system messages are ignored: the prompt is fnrag's own). The answer keeps its
``[n]`` markers in ``message.content`` and its verified citations in
``message.citations``; with ``stream: true``, verified sentences go out as SSE chunks
as they complete (``Assistant.ask(on_text=…)`` in a thread, bridged through a queue)
and the last chunk carries ``delta.citations``. Every answer is stored (masked
question, answer, citations, index version, timings) under the response ``id``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as _dt
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from fnrag.service.auth import AsPractitioner, Principal
from fnrag.service.errors import ApiError, error_body

logger = logging.getLogger("fnrag.service")
MODEL_ID = "fnrag"
ROLES = ("system", "developer", "user", "assistant", "tool")
_DONE = object()


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": …}, …]
        parts = [
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        ]
        return "".join(parts)
    if content is None:
        return ""
    raise ApiError(400, f"{where}.content must be text or a list of text parts", "invalid_request")


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or ApiError 400 saying what is wrong."""
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(
            400, f"the body is not valid JSON ({error}); send a JSON object", "invalid_json"
        ) from error
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", "invalid_json")
    return body


@dataclasses.dataclass(frozen=True)
class ChatRequest:
    question: str
    history: list[dict[str, str]]
    stream: bool
    k: int | None
    generator: str | None
    as_of: str | None
    conversation_id: str


def parse_chat(body: dict[str, Any]) -> ChatRequest:
    model = body.get("model")
    if model != MODEL_ID:
        raise ApiError(
            404, f"the model {model!r} does not exist; use model={MODEL_ID!r}", "model_not_found"
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(
            400, "messages must be a non-empty list of {role, content}", "empty_messages"
        )
    turns: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise ApiError(
                400,
                f"messages[{i}] needs a role ({', '.join(ROLES)}) and content",
                "invalid_message",
            )
        if message["role"] in ("user", "assistant"):
            turns.append(
                {
                    "role": message["role"],
                    "content": _text(message.get("content"), f"messages[{i}]"),
                }
            )
    if not turns or turns[-1]["role"] != "user" or not turns[-1]["content"].strip():
        raise ApiError(
            400, "the last message must be the user's question, and not empty", "empty_question"
        )
    k = body.get("k")
    if k is not None and (not isinstance(k, int) or isinstance(k, bool)):
        raise ApiError(400, "k must be an integer", "invalid_request")
    generator = body.get("generator")
    if generator is not None and not isinstance(generator, str):
        raise ApiError(400, "generator must be a name", "invalid_request")
    as_of = body.get("as_of")
    if as_of is not None:
        try:
            as_of = _dt.date.fromisoformat(str(as_of)).isoformat()
        except ValueError as error:
            raise ApiError(
                400, f"as_of must be a date like 2024-01-31 (got {as_of!r})", "invalid_request"
            ) from error
    conversation = body.get("conversation_id")
    if conversation is not None and (
        not isinstance(conversation, str) or not 0 < len(conversation) <= 64
    ):
        raise ApiError(400, "conversation_id must be text of 1-64 characters", "invalid_request")
    return ChatRequest(
        question=turns[-1]["content"],
        history=turns[:-1],
        stream=bool(body.get("stream")),
        k=k,
        generator=generator,
        as_of=as_of,
        conversation_id=conversation or "conv-" + uuid.uuid4().hex,
    )


def _answer(service: Any, chat: ChatRequest, on_text: Any = None) -> tuple[Any, str]:
    """Ask (in a worker thread) and count it; (the Answer, the index version)."""
    loaded = service.loaded  # one build for the whole request, even across a reload
    assistant = service.assistant(chat.generator, chat.k, loaded=loaded)
    answer = assistant.ask(
        chat.question, on_text=on_text, as_of=chat.as_of, history=chat.history or None
    )
    metrics, t = service.metrics, answer.timings
    for stage, ms in (
        ("retrieve", t.retrieve_ms),
        ("generate", t.generate_ms),
        ("verify", t.verify_ms),
        ("total", t.total_ms),
    ):
        metrics.observe("fnrag_stage_seconds", "Time per answering stage.", ms / 1000, stage=stage)
    if answer.refused:
        metrics.inc(
            "fnrag_refusals_total",
            "Answers that were the refusal sentence.",
            reason=str(answer.refusal_reason),
        )
    return answer, loaded.version


def _store(
    service: Any,
    chat: ChatRequest,
    principal: Principal,
    response_id: str,
    answer: Any,
    version: str,
) -> None:
    """Store the answer under the response id (after the ask gate: a slow commit does not
    hold a slot that another question could use)."""
    from fnrag.storage.records import StoredAnswer, record_answer

    record_answer(
        service.db,
        StoredAnswer(
            id=response_id,
            conversation_id=chat.conversation_id,
            user=principal.name,
            question=answer.question,  # masked by ask()
            # Resolved from the history too, which ask() may not have masked.
            resolved_question=_masked(getattr(answer, "resolved_question", None) or "") or None,
            answer=_masked(answer.text),
            refused=answer.refused,
            refusal_reason=answer.refusal_reason,
            citations=[c.to_json() for c in answer.citations],
            index_version=version,
            generator=answer.generator,
            as_of=chat.as_of,
            timings=answer.timings.to_json(),
        ),
    )


def _masked(text: str) -> str:
    from fnrag.answering.pii import mask_pii

    return mask_pii(text).text


def _extra(answer: Any, chat: ChatRequest, version: str) -> dict[str, Any]:
    return {
        "refused": answer.refused,
        "refusal_reason": answer.refusal_reason,
        "grounded": answer.grounded,
        "resolved_question": getattr(answer, "resolved_question", None),
        "index_version": version,
        "as_of": chat.as_of,
        "timings": answer.timings.to_json(),
    }


def register(router: Any) -> None:
    @router.get("/v1/models")
    async def models(principal: AsPractitioner) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "fnrag"}],
        }

    @router.post("/v1/chat/completions")
    async def chat_completions(request: Request, principal: AsPractitioner) -> Any:
        service = request.app.state.service
        chat = parse_chat(parse_body(await request.body()))
        response_id = "chatcmpl-" + uuid.uuid4().hex
        created = int(time.time())
        gate = request.app.state.ask_gate
        if chat.stream:
            return StreamingResponse(
                _stream(service, gate, chat, principal, response_id, created),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        async with gate:
            answer, version = await run_in_threadpool(_answer, service, chat)
        await run_in_threadpool(_store, service, chat, principal, response_id, answer, version)
        message = {
            "role": "assistant",
            "content": answer.text,
            "citations": [c.to_json() for c in answer.citations],
        }
        return {
            "id": response_id,
            "object": "chat.completion",
            "created": created,
            "model": MODEL_ID,
            "choices": [
                {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "conversation_id": chat.conversation_id,
            "fnrag": _extra(answer, chat, version),
        }


async def _stream(
    service: Any, gate: Any, chat: ChatRequest, principal: Principal, response_id: str, created: int
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        body = {
            "id": response_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL_ID,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            **extra,
        }
        return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"

    def on_text(sentence: str) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, sentence)

    def work() -> None:
        try:
            result: Any = _answer(service, chat, on_text)
        except Exception as error:  # handed to the event loop, answered as an SSE error
            from fnrag.errors import InputError

            if not isinstance(error, InputError | ApiError):
                logger.exception(
                    "streamed answer failed", extra={"fields": {"error_type": type(error).__name__}}
                )
            result = error
        loop.call_soon_threadsafe(queue.put_nowait, (_DONE, result))

    yield chunk({"role": "assistant", "content": ""})
    async with gate:
        task = loop.run_in_executor(None, work)
        sent: list[str] = []
        while True:
            item = await queue.get()
            if isinstance(item, tuple) and item and item[0] is _DONE:
                result = item[1]
                break
            piece = (" " if sent else "") + item
            sent.append(item)
            yield chunk({"content": piece})
        await task
    if not isinstance(result, Exception):
        try:
            await run_in_threadpool(_store, service, chat, principal, response_id, *result)
        except Exception as error:
            logger.exception(
                "storing the answer failed", extra={"fields": {"error_type": type(error).__name__}}
            )
            result = error
    if isinstance(result, Exception):
        from fnrag.errors import InputError

        status, code = (
            (400, "invalid_request")
            if isinstance(result, InputError | ApiError)
            else (500, "internal_error")
        )
        if status >= 500:  # the HTTP status was 200 already: count it here
            service.metrics.inc(
                "fnrag_errors_total", "Requests answered with a 5xx.", route="/v1/chat/completions"
            )
        message = str(result) if status == 400 else "internal error; the server logged it"
        yield (
            b"data: "
            + json.dumps(error_body(status, message, code), ensure_ascii=False).encode()
            + b"\n\n"
        )
        yield b"data: [DONE]\n\n"
        return
    answer, version = result
    if not sent:  # a refusal (or a generator that streamed nothing): the whole text now
        yield chunk({"content": answer.text})
    yield chunk(
        {"citations": [c.to_json() for c in answer.citations]},
        "stop",
        conversation_id=chat.conversation_id,
        fnrag={**_extra(answer, chat, version), "content": answer.text},
    )
    yield b"data: [DONE]\n\n"
