"""The old import path of ``ask``, ``Assistant`` and ``Answer``; they live in
:mod:`fnrag.answering.assistant` (bank code may still import them from here)."""

from fnrag.answering.assistant import Answer, Assistant, Timings, validate_question
from fnrag.answering.warm import ask
from fnrag.types import MAX_QUESTION_CHARS, Citation

__all__ = [
    "MAX_QUESTION_CHARS",
    "Answer",
    "Assistant",
    "Citation",
    "Timings",
    "ask",
    "validate_question",
]
