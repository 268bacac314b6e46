"""One structured JSON log line per ask, with no personal data in it.

The record carries what an operator needs to audit an answer (when, against which
index, which passages were cited, how long each stage took, whether it refused)
and a SHA-256 of the *masked* question, so equal questions can be counted
without storing them.  The question text itself is logged only when the caller
opts in, and even then only after ``mask_pii``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fnrag.answering.pii import MaskedText, mask_pii

LOGGER_NAME = "fnrag"
EVENT = "fnrag.ask"

logger = logging.getLogger(LOGGER_NAME)


def question_hash(question: str) -> str:
    """SHA-256 (hex) of the PII-masked, whitespace-trimmed question."""
    return hashlib.sha256(mask_pii(question.strip()).text.encode("utf-8")).hexdigest()


def log_ask(
    *,
    question: str,
    index_version: str,
    cited_chunk_ids: Iterable[str],
    timings: Mapping[str, float],
    refused: bool,
    log_raw_question: bool = False,
    masked: MaskedText | None = None,
) -> dict[str, Any]:
    """Emit one JSON line on the ``fnrag`` logger at INFO and return the record.

    Args:
        question: the user's question (never logged verbatim).
        index_version: the index's version / manifest id.
        cited_chunk_ids: ids of the chunks the answer cites.
        timings: seconds per stage, e.g. ``{"retrieve": 0.02, "generate": 1.3}``.
        refused: True when the answer was the refusal sentence.
        log_raw_question: also log the question text, PII-masked.
        masked: ``mask_pii(question.strip())`` when the caller already has it.

    Returns:
        The record that was logged (a plain JSON-ready dict).
    """
    if masked is None:
        masked = mask_pii(question.strip())
    record: dict[str, Any] = {
        "event": EVENT,
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"),
        "index_version": str(index_version),
        "question_sha256": hashlib.sha256(masked.text.encode("utf-8")).hexdigest(),
        "question_chars": len(question),
        "pii_kinds": list(masked.kinds),
        "cited_chunk_ids": [str(c) for c in cited_chunk_ids],
        "timings": {str(k): round(float(v), 6) for k, v in timings.items()},
        "refused": bool(refused),
    }
    if log_raw_question:
        record["question"] = masked.text
    logger.info(json.dumps(record, ensure_ascii=False, sort_keys=True))
    return record
