"""Any OpenAI-compatible chat endpoint: LM Studio, vLLM, llama.cpp server, OpenAI.

Settings come from arguments, else ``FNRAG_OPENAI_BASE_URL`` /
``FNRAG_OPENAI_MODEL`` / ``OPENAI_API_KEY``. Local servers ignore the key, so a
placeholder is sent when none is set. Temperature 0: answers must be reproducible.

The prompt is fitted to the model's context (``fnrag.generators.budget``): the budget
is ``max_prompt_tokens`` when set, else the server's context less ``max_tokens``. The
context comes from ``/models`` where the server lists it (vLLM's ``max_model_len``);
llama-cpp-python lists none, but its context-overflow answer (HTTP 400) states it, and
the prompt is then fitted to that and sent once more. Tokens are counted by the
server's ``/extras/tokenize/count`` (llama-cpp-python), else bounded by UTF-8 bytes.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any

from fnrag.errors import GenerationError, InputError, missing_extra
from fnrag.generators.base import ContextOverflowError, Generation
from fnrag.generators.budget import estimate_tokens
from fnrag.prompts import SYSTEM_PROMPT, build_messages
from fnrag.types import Hit

_PLACEHOLDER_KEY = "sk-no-key-needed"
# Role headers and turn tokens a chat template wraps two messages in (SmolLM2: 14).
_TEMPLATE_TOKENS = 32
# Where servers list a model's context in ``/models`` (vLLM, LM Studio, OpenRouter).
_CONTEXT_KEYS = ("max_model_len", "context_length", "max_context_length", "n_ctx")
# A 400 about the context: OpenAI/vLLM/llama-cpp-python ("maximum context length is
# 2048 tokens … 9030 in the messages"), older llama-cpp-python ("Requested tokens (N)
# exceed context window of 2048"), llama.cpp's server ("exceeds the available context
# size", with n_ctx and n_prompt_tokens).
_OVERFLOW = re.compile(r"context|n_ctx|too many tokens", re.IGNORECASE)
_CONTEXT_SIZE = re.compile(
    r"maximum context length is (\d[\d,]*)|context window of (\d[\d,]*)|\bn_ctx\W{0,4}(\d+)",
    re.IGNORECASE,
)
_PROMPT_SIZE = re.compile(
    r"(\d[\d,]*) (?:tokens )?in the messages|Requested tokens \((\d+)\)"
    r"|n_prompt_tokens\W{0,4}(\d+)",
    re.IGNORECASE,
)


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
        max_prompt_tokens: the most tokens the prompt may take; default: the server's
            context (when it says) less ``max_tokens``. Passages that don't fit are
            left out or shortened (``fnrag.generators.budget``).
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
        max_prompt_tokens: int | None = None,
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
        if max_prompt_tokens is not None and max_prompt_tokens < 1:
            raise InputError(
                f"max_prompt_tokens must be a positive number of tokens (got {max_prompt_tokens})"
            )
        key = api_key or os.environ.get("OPENAI_API_KEY") or _PLACEHOLDER_KEY
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.max_prompt_tokens = max_prompt_tokens
        # The server's context window: None = not asked yet, 0 = it does not say.
        self.context_tokens: int | None = None
        # Whether the server counts tokens (llama-cpp-python): None = not tried yet.
        self._server_counts: bool | None = None
        self._system_tokens: int | None = None
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

    # --- the context budget ------------------------------------------------------------

    def prompt_budget(self) -> int | None:
        """Tokens the prompt may take: ``max_prompt_tokens``, else the server's context
        less the answer's ``max_tokens``; None while the context is unknown."""
        if self.max_prompt_tokens is not None:
            return self.max_prompt_tokens
        if self.context_tokens is None:
            self.context_tokens = self._listed_context() or 0
        return max(1, self.context_tokens - self.max_tokens) if self.context_tokens else None

    def count_prompt_tokens(self, prompt: str) -> int:
        """Tokens of the request for ``prompt``: exact where the server counts, else an
        upper bound; plus the chat template's own tokens."""
        if self._system_tokens is None:
            self._system_tokens = self._count(SYSTEM_PROMPT)
        return self._system_tokens + self._count(prompt) + _TEMPLATE_TOKENS

    def _count(self, text: str) -> int:
        import openai

        if self.base_url and self._server_counts is not False:
            try:
                reply = self._probe().post(
                    f"{self._root()}/extras/tokenize/count",
                    cast_to=object,
                    body={"input": text, "model": self.model},
                )
                count = reply.get("count") if isinstance(reply, dict) else None
                if isinstance(count, int):
                    self._server_counts = True
                    return count
            except (openai.OpenAIError, ValueError, TypeError):
                pass  # no counting endpoint there: estimate from now on
            self._server_counts = False
        return estimate_tokens(text)

    def _listed_context(self) -> int | None:
        import openai

        if not self.base_url:  # api.openai.com lists no context sizes
            return None
        try:
            models = self._probe().models.list().data
        except (openai.OpenAIError, ValueError, TypeError):
            return None  # best effort: an overflow answer names the context too
        for model in models:
            if model.id == self.model or len(models) == 1:
                extra = model.model_extra or {}
                for key in _CONTEXT_KEYS:
                    if isinstance(extra.get(key), int) and extra[key] > 0:
                        return int(extra[key])
        return None

    def _probe(self) -> Any:
        return self._client.with_options(timeout=10, max_retries=0)

    def _root(self) -> str:
        return re.sub(r"/v1/?$", "", (self.base_url or "").rstrip("/"))

    def _fail(self, error: Exception, prompt: str) -> GenerationError:
        where = self.base_url or "api.openai.com"
        overflow = self._overflow(error, prompt)
        if overflow is not None:
            return overflow
        return GenerationError(
            f"the OpenAI-compatible endpoint at {where} failed ({type(error).__name__}: {error}); "
            "check that the server runs and --base-url/--model/--api-key are right"
        )

    def _overflow(self, error: Exception, prompt: str) -> ContextOverflowError | None:
        """A 400 about the context as what it is; the context it names is kept, so
        the next prompt is fitted to it."""
        if getattr(error, "status_code", None) != 400:
            return None
        body = getattr(error, "body", None)
        said = f"{error} {json.dumps(body) if body is not None else ''}"
        if "context_length_exceeded" not in said and not _OVERFLOW.search(said):
            return None
        context = _first_number(_CONTEXT_SIZE, said)
        prompt_tokens = _first_number(_PROMPT_SIZE, said) or self.count_prompt_tokens(prompt)
        if context and self.max_prompt_tokens is None:
            self.context_tokens = context
        where = self.base_url or "api.openai.com"
        size = f" ({context:,} tokens, {self.max_tokens:,} of them kept for the answer)"
        if self.max_prompt_tokens is not None and context:
            advice = f"lower --max-prompt-tokens to at most {context - self.max_tokens:,}"
        else:
            advice = "lower -k, set --max-prompt-tokens,"
        return ContextOverflowError(
            f"the prompt of {prompt_tokens:,} tokens exceeds the context of the model server at "
            f"{where}{size if context else ''}; {advice} or start the server with a larger "
            "--n_ctx",
            prompt_tokens=prompt_tokens,
            context_tokens=context,
        )

    def generate(self, prompt: str, *, question: str, passages: Sequence[Hit]) -> Generation:
        return self._generate(self._client, prompt, question, passages)

    def _generate(
        self, client: Any, prompt: str, question: str, passages: Sequence[Hit]
    ) -> Generation:
        import openai

        started = time.perf_counter()
        try:
            response = client.chat.completions.create(**self._request(prompt, question, passages))
        except openai.OpenAIError as error:
            raise self._fail(error, prompt) from error
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
        except openai.OpenAIError as error:
            raise self._fail(error, prompt) from error
        finished = False
        # Closed when the caller stops reading (a prompt echo): the server stops too.
        with chunks:
            try:
                for chunk in chunks:
                    if not chunk.choices:
                        continue
                    finished = finished or chunk.choices[0].finish_reason is not None
                    if chunk.choices[0].delta.content:
                        finished = True  # text came: whatever ends it, it is an answer
                        yield chunk.choices[0].delta.content
            except openai.OpenAIError as error:
                raise self._fail(error, prompt) from error
        if not finished:
            # llama-cpp-python checks the context only once the stream has begun: an
            # overflow is a 200 whose stream just stops. Asked without streaming, the
            # server answers 400 and names its context (or, if the stream broke for
            # another reason, answers).
            # The server drops the stream's connection: one retry gets a fresh one.
            client = self._client.with_options(max_retries=max(1, self._client.max_retries))
            yield self._generate(client, prompt, question, passages).text


def _first_number(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    if match is None:
        return None
    digits = next(group for group in match.groups() if group)
    return int(digits.replace(",", ""))
