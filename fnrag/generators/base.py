"""The small interface every answer generator implements."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from fnrag.errors import GenerationError
from fnrag.types import Hit


class ContextOverflowError(GenerationError):
    """The prompt did not fit the model's context window.

    Attributes:
        prompt_tokens: the prompt's tokens as the server counted them (else as estimated).
        context_tokens: the server's context size when it said so, else None.
    """

    def __init__(
        self, message: str, *, prompt_tokens: int | None = None, context_tokens: int | None = None
    ) -> None:
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.context_tokens = context_tokens


@dataclass(frozen=True)
class Generation:
    """What a generator produced for one prompt.

    Attributes:
        text: the raw answer text (citations not yet verified).
        finish_reason: ``"stop"`` (EOS or a stop sequence), ``"length"``
            (max_new_tokens reached) or the backend's own word.
        prompt_tokens: tokens in the prompt, when the backend counts them.
        completion_tokens: tokens generated, when the backend counts them.
        seconds: wall time spent generating.
    """

    text: str
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "seconds": round(self.seconds, 6),
        }


@runtime_checkable
class Generator(Protocol):
    """Turns the Alpaca prompt (plus the question and passages it was built from) into text.

    Backends that can stream also define ``stream(prompt, *, question, passages)``
    yielding text pieces; ``fnrag.answering.assistant`` uses it when the caller asks to stream.
    """

    name: str

    def generate(self, prompt: str, *, question: str, passages: Sequence[Hit]) -> Generation: ...


@runtime_checkable
class StreamingGenerator(Generator, Protocol):
    def stream(self, prompt: str, *, question: str, passages: Sequence[Hit]) -> Iterator[str]: ...


@runtime_checkable
class BudgetedGenerator(Generator, Protocol):
    """A generator whose model has a context window the prompt must fit
    (``fnrag.generators.budget.fit_prompt`` trims the passages to it)."""

    def prompt_budget(self) -> int | None:
        """Tokens the whole prompt may take (the answer's room already left out);
        None when unknown (then the prompt is sent whole)."""
        ...

    def count_prompt_tokens(self, prompt: str) -> int:
        """Tokens the request for ``prompt`` takes, counted so as never to undercount."""
        ...
