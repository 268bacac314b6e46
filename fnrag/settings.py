"""Everything a bank can tune without editing code, in one YAML file.

``Settings`` gathers the stage configs — ``search`` (:class:`SearchConfig`, with the
fusion weights inside), ``refusal`` (:class:`RefusalPolicy`), ``ask`` (:class:`AskConfig`)
and ``chunking`` (:class:`ChunkConfig`) — and :func:`load_settings` reads them from
``--config FILE`` or ``$FNRAG_CONFIG``::

    search:
      k: 5
      fusion: {lexical_weight: 0.6, article_boost: 0.3}
    refusal:
      min_coverage: 0.5
    ask:
      generator: extractive
    chunking:
      max_chars: 700

Defaults are the calibrated values; every field is also a command-line option
(``fnrag ask --help``). The refusal thresholds on cosines are calibrated on e5 and
apply only to e5 indexes; the rest is embedder-independent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fnrag.answering.refusal import RefusalPolicy
from fnrag.chunking.spans import ChunkConfig
from fnrag.config import config_from_mapping, opt, read_yaml
from fnrag.errors import InputError
from fnrag.generators import GENERATOR_NAMES
from fnrag.index.fusion import SearchConfig

__all__ = ["AskConfig", "ChunkConfig", "RefusalPolicy", "SearchConfig", "Settings", "load_settings"]


@dataclass(frozen=True)
class AskConfig:
    """How ``ask`` turns retrieved passages into an answer."""

    generator: str = opt(
        "extractive", "how the answer is written: extractive, transformers, openai"
    )
    refuse_ungrounded: bool = opt(
        True, "replace an answer left without a valid citation by the refusal sentence"
    )
    repoint_citations: bool = opt(
        True,
        "move the marker of a verbatim quote that names the wrong passage to the one "
        "passage holding it (the wrong number is still reported)",
    )
    log: bool = opt(True, "write one structured log record per question (no raw PII)")
    log_question: bool = opt(False, "put the PII-masked question text into that record")

    def __post_init__(self) -> None:
        if self.generator not in GENERATOR_NAMES:
            raise InputError(
                f"unknown generator {self.generator!r}; choose one of {', '.join(GENERATOR_NAMES)}"
            )


@dataclass(frozen=True)
class Settings:
    """All of fnrag's settings, one section per stage."""

    search: SearchConfig = opt(SearchConfig(), "retrieval: k, mode and the fusion weights")  # noqa: RUF009
    refusal: RefusalPolicy = opt(RefusalPolicy(), "when to refuse on weak evidence")  # noqa: RUF009
    ask: AskConfig = opt(AskConfig(), "how answers are written")  # noqa: RUF009
    chunking: ChunkConfig = opt(ChunkConfig(), "how documents are cut (build-index)")  # noqa: RUF009


def load_settings(
    path: str | os.PathLike[str] | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Settings from ``path`` (else ``$FNRAG_CONFIG``, else the defaults), then
    ``overrides`` (a nested mapping, e.g. from command-line options) on top."""
    chosen = path if path is not None else os.environ.get("FNRAG_CONFIG") or None
    settings = Settings()
    if chosen:
        settings = config_from_mapping(Settings, read_yaml(Path(chosen)), origin=str(chosen))
    if overrides:
        settings = config_from_mapping(Settings, overrides, "command line", base=settings)
    return settings
