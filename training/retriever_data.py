"""Training pairs for the retriever: read, resolved to an index's chunks, hard negatives mined.

Two input formats are accepted, told apart by the first record:

* reviewed pairs (``training.review import``): ``instruction`` + ``chunk_id``;
* eval-format QA (``benchmarks/data/tune_qa.jsonl``): ``q`` + ``gold`` ``{doc, anchor}``,
  resolved to every chunk of the index that ``fnrag.evaluation.metrics.is_gold`` accepts.

Negatives come from both retrievers of the index (dense and BM25, alternating by rank)
and never include a gold chunk, a chunk overlapping a gold chunk's span, or any chunk
whose text holds a gold anchor: a passage that answers the question taught as a negative
would push the model away from correct answers.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fnrag.errors import InputError
from fnrag.evaluation.metrics import GoldRef, is_gold, squash
from fnrag.evaluation.qa import load_qa
from fnrag.types import Chunk
from training.config import read_jsonl


@dataclass(frozen=True)
class Pair:
    """One question with the chunk that answers it.

    Attributes:
        item: the question's id (pairs of one question share it and one split side).
        question: the question text.
        positive: row of the answering chunk in the index.
        gold_rows: every row that answers it (never a negative; relevant when scoring).
        anchors: squashed gold anchors (a chunk holding one is never a negative).
        gold: the eval-format gold entries (empty for reviewed pairs).
    """

    item: str
    question: str
    positive: int
    gold_rows: frozenset[int]
    anchors: tuple[str, ...] = ()
    gold: tuple[GoldRef, ...] = ()


def data_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _first_record(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"training file {path} does not exist; pass an existing JSONL to --qa")
    with path.open(encoding="utf-8-sig") as handle:
        for line in handle:
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    raise InputError(
                        f"{path}: the first line is not JSON; write one JSON object per line"
                    ) from None
                return record if isinstance(record, dict) else {}
    raise InputError(
        f"training file {path} is empty; add reviewed pairs (instruction + chunk_id) "
        "or QA items (q + gold)"
    )


def load_pairs(path: str | Path, chunks: Sequence[Chunk]) -> tuple[list[Pair], int]:
    """(pairs, skipped out-of-scope items) from either format, resolved against ``chunks``."""
    path = Path(path)
    first = _first_record(path)
    if "q" in first:
        return _qa_pairs(path, chunks)
    if "instruction" in first or "chunk_id" in first:
        return _reviewed_pairs(path, chunks), 0
    raise InputError(
        f"{path}: records need either 'q' + 'gold' (eval QA) or 'instruction' + 'chunk_id' "
        "(reviewed pairs)"
    )


def _overlapping(chunks: Sequence[Chunk], row: int) -> set[int]:
    gold = chunks[row]
    return {
        i
        for i, c in enumerate(chunks)
        if c.source == gold.source and c.start < gold.end and gold.start < c.end
    }


def _reviewed_pairs(path: Path, chunks: Sequence[Chunk]) -> list[Pair]:
    rows = {c.chunk_id: i for i, c in enumerate(chunks)}
    pairs = []
    for number, record in enumerate(read_jsonl(path), 1):
        question = str(record.get("instruction") or "").strip()
        chunk_id = str(record.get("chunk_id") or "")
        if not question or not chunk_id:
            raise InputError(
                f"{path} record {number}: a reviewed pair needs 'instruction' and 'chunk_id'"
            )
        if chunk_id not in rows:
            raise InputError(
                f"{path} record {number}: chunk_id {chunk_id!r} is not in the index; "
                "pass the index the pairs were generated from"
            )
        row = rows[chunk_id]
        item = str(record.get("id") or f"line{number}")
        pairs.append(Pair(item, question, row, frozenset(_overlapping(chunks, row))))
    return pairs


def _qa_pairs(path: Path, chunks: Sequence[Chunk]) -> tuple[list[Pair], int]:
    pairs: list[Pair] = []
    skipped = 0
    for item in load_qa(path):
        if item.out_of_scope:
            skipped += 1
            continue
        gold_rows = frozenset(
            i for i, c in enumerate(chunks) if is_gold(c.source, c.text, item.gold)
        )
        anchors = tuple(squash(ref.anchor) for ref in item.gold)
        for ref in item.gold:
            rows = [i for i, c in enumerate(chunks) if is_gold(c.source, c.text, (ref,))]
            if not rows:
                raise InputError(
                    f"{path}:{item.line}: the anchor {ref.anchor!r} of {item.id!r} ({ref.doc}) "
                    "is in no chunk of the index; fix the anchor or index that document"
                )
            # The shortest holder is the most specific passage for the question.
            positive = min(rows, key=lambda i: len(chunks[i].text))
            pairs.append(Pair(item.id, item.question, positive, gold_rows, anchors, item.gold))
    return pairs, skipped


def is_excluded(pair: Pair, row: int, chunk: Chunk) -> bool:
    """Whether ``chunk`` may not serve as a negative for ``pair``."""
    if row in pair.gold_rows or row == pair.positive:
        return True
    squashed = squash(chunk.text) if pair.anchors else ""
    return any(anchor in squashed for anchor in pair.anchors)


def mine_negatives(index: Any, pairs: Sequence[Pair], per_pair: int, depth: int) -> list[list[int]]:
    """For each pair, ``per_pair`` rows from the index's dense and BM25 rankings (alternating,
    best first), none of them gold (see :func:`is_excluded`)."""
    rows = {c.chunk_id: i for i, c in enumerate(index.chunks)}
    mined: list[list[int]] = []
    for pair in pairs:
        dense = [rows[h.chunk_id] for h in index.search(pair.question, k=depth, mode="dense")]
        lexical = [rows[h.chunk_id] for h in index.search(pair.question, k=depth, mode="lexical")]
        chosen: list[int] = []
        for rank in range(depth):
            for ranking in (dense, lexical):
                if rank >= len(ranking) or len(chosen) >= per_pair:
                    continue
                row = ranking[rank]
                if row not in chosen and not is_excluded(pair, row, index.chunks[row]):
                    chosen.append(row)
        mined.append(chosen)
    return mined


def split_pairs(pairs: Sequence[Pair], fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """(train, held out) by question, so no held-out question is trained on."""
    items = sorted({p.item for p in pairs})
    held = 0 if fraction <= 0 or len(items) < 2 else max(1, round(len(items) * fraction))
    held_items = set(random.Random(seed).sample(items, min(held, len(items) - 1)))
    return (
        [p for p in pairs if p.item not in held_items],
        [p for p in pairs if p.item in held_items],
    )
