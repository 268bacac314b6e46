"""Any OpenAI-compatible chat endpoint: LM Studio, vLLM, llama.cpp server, OpenAI.

Settings come from arguments, else ``FNRAG_OPENAI_BASE_URL`` /
``FNRAG_OPENAI_MODEL`` / ``OPENAI_API_KEY``. Local servers ignore the key, so a
placeholder is sent when none is set. Temperature 0: answers must be reproducible.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

from fnrag.errors import GenerationError, InputError, missing_extra
from fnrag.generators.base import Generation
from fnrag.prompts import build_messages
from fnrag.types import Hit

_PLACEHOLDER_KEY = "sk-no-key-needed"


class OpenAIGenerator:
    """Chat completions against an OpenAI-compatible server.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000/v1``; env ``FNRAG_OPENAI_BASE_URL``;
            None means api.openai.com.
        model: model name/alias; env ``FNRAG_OPENAI_MODEL``.
        api_key: env ``OPENAI_API_KEY``; a placeholder for local servers.
        timeout: seconds per request.
        max_retries: retries on connection errors, 429 and 5xx (with backoff).
        max_tokens / temperature: generation settings.
        http_client: an ``httpx.Client`` to use (tests hook requests through it).
    """

    name = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        max_tokens: int = 256,
        temperature: float = 0.0,
        http_client: Any = None,
    ) -> None:
        try:
            import openai
        except ImportError:
            raise missing_extra("openai", "openai") from None
        self.base_url = base_url or os.environ.get("FNRAG_OPENAI_BASE_URL") or None
        self.model = model or os.environ.get("FNRAG_OPENAI_MODEL")
        if not self.model:
            raise InputError(
                "the openai generator needs a model name: "
                "pass --model NAME or set FNRAG_OPENAI_MODEL"
            )
        key = api_key or os.environ.get("OPENAI_API_KEY") or _PLACEHOLDER_KEY
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=key,
            timeout=timeout,
            max_retries=max_retries,
            http_client=http_client,
        )

    def _request(self, prompt: str, question: str, passages: Sequence[Hit]) -> dict[str, Any]:
        messages = build_messages(question, passages)
        # The caller's prompt is authoritative (it is what training used).
        messages[-1]["content"] = prompt
        return {
            "model": self.model,
            "messages": messages,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }

    def _fail(self, error: Exception) -> GenerationError:
        where = self.base_url or "api.openai.com"
        return GenerationError(
            f"the OpenAI-compatible endpoint at {where} failed ({type(error).__name__}: {error}); "
            "check that the server runs and --base-url/--model/--api-key are right"
        )

    def generate(self, prompt: str, *, question: str, passages: Sequence[Hit]) -> Generation:
        import openai

        started = time.perf_counter()
        try:
            response = self._client.chat.completions.create(
                **self._request(prompt, question, passages)
            )
        except openai.OpenAIError as error:
            raise self._fail(error) from error
        choice = response.choices[0]
        usage = response.usage
        return Generation(
            text=(choice.message.content or "").strip(),
            finish_reason=choice.finish_reason or "stop",
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            seconds=time.perf_counter() - started,
        )

    def stream(self, prompt: str, *, question: str, passages: Sequence[Hit]) -> Iterator[str]:
        """Yield text deltas as the server sends them."""
        import openai

        try:
            chunks = self._client.chat.completions.create(
                **self._request(prompt, question, passages), stream=True
            )
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except openai.OpenAIError as error:
            raise self._fail(error) from error
