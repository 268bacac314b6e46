"""Templated Q/A pairs from an index, for smoke runs and CI (no LLM needed).

    python -m training.seed_qa --index DIR --out qa.jsonl [--per-chunk 2] [--max-answer-chars 60]

Each chunk yields up to ``per_chunk`` pairs: a question templated from the chunk's
section heading, answered by one of the chunk's sentences (cut at a word boundary).
The answers are verbatim spans of the chunk, so build_sft can cite them. Content
quality is irrelevant here: the pairs exist to teach a tiny model the answer format.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from fnrag.types import Chunk
from training.config import write_jsonl
from training.textutil import qa_record

TEMPLATES = (
    "{topic}에 관한 규정은 무엇입니까?",
    "{topic}에 대해 알려 주세요.",
    "{topic}의 내용을 설명해 주세요.",
)
_SENTENCE = re.compile(r"[^.!?。\n]+[.!?。]?")


def _topic(chunk: Chunk) -> str:
    parts = [p.strip() for p in chunk.section.split(">") if p.strip()]
    return re.sub(r"^#+\s*", "", parts[-1] if parts else chunk.title).strip() or chunk.title


def _sentences(text: str, limit: int) -> list[str]:
    found = []
    for match in _SENTENCE.finditer(text):
        sentence = match.group(0).strip()
        if len(sentence) < 8 or sentence.startswith("#"):
            continue
        if len(sentence) > limit:
            cut = sentence[:limit]
            sentence = cut[: cut.rfind(" ")] if " " in cut else cut
        found.append(sentence)
    return found


def seed_pairs(
    chunks: Sequence[Chunk], per_chunk: int = 2, max_answer_chars: int = 60
) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for chunk in chunks:
        topic = _topic(chunk)
        for number, answer in enumerate(_sentences(chunk.text, max_answer_chars)[:per_chunk]):
            question = TEMPLATES[(len(records) + number) % len(TEMPLATES)].format(topic=topic)
            if number:
                question = (
                    f"{topic}과 관련하여 {answer[:12].strip()}… 부분은 어떻게 규정되어 있습니까?"
                )
            records.append(qa_record(chunk, f"{chunk.chunk_id}-seed{number}", question, answer))
    return records


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.seed_qa",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--index", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--per-chunk", type=int, default=2)
    parser.add_argument("--max-answer-chars", type=int, default=60)
    parser.add_argument(
        "--limit", type=int, default=0, help="keep at most this many pairs (0 = all)"
    )
    args = parser.parse_args(argv)
    from fnrag.index.search import load_index

    records = seed_pairs(load_index(args.index).chunks, args.per_chunk, args.max_answer_chars)
    if args.limit:
        records = records[: args.limit]
    write_jsonl(args.out, records)
    print(json.dumps({"pairs": len(records)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
