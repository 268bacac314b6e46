"""Retrieval-augmented SFT examples in the exact inference prompt.

    python -m training.build_sft --qa reviewed.jsonl --index DIR --out sft.jsonl \
        [--k 4] [--refusal-share 0.2] [--seed 0] [--max-passage-chars N] [--answer-template T]

For each reviewed Q/A pair the question is searched in the index; the prompt is
``fnrag.prompts.build_prompt(question, hits)`` with ``k`` passages: the pair's source
chunk among retrieved distractors (``source_position``: at a random place, as RAFT does,
or where retrieval ranked it, so the model also learns what rank means at inference,
where the best passage usually comes first), and the target is the answer
citing that position as ``[n]`` (``answer_template``; smoke runs use a fixed short sentence). A ``refusal_share`` of the examples has the source
passage (and every passage containing the answer) removed and the target
``REFUSAL_SENTENCE``. Each line records the passage chunk ids so the prompt can be rebuilt.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fnrag.errors import FnragError, InputError
from fnrag.types import Chunk, Hit
from training.config import config_help, load_config, opt, read_jsonl, write_jsonl
from training.textutil import CITATION

_WS = re.compile(r"\s+")
SOURCE_POSITIONS = ("random", "retrieved")


@dataclass(frozen=True)
class BuildSFTConfig:
    qa: str = opt("reviewed.jsonl", "Reviewed Alpaca Q/A lines (instruction, output, chunk_id).")
    index: str = opt("", "Index directory the Q/A pairs were generated from.")
    out: str = opt("sft.jsonl", "Output JSON lines: prompt, completion and provenance.")
    k: int = opt(4, "Passages per prompt (source + distractors).")
    refusal_share: float = opt(0.2, "Share of examples whose answer is removed; target = refusal.")
    seed: int = opt(0, "Random seed for positions, refusal choice and filler distractors.")
    search_mode: str = opt("hybrid", "Index.search mode used to find distractors.")
    source_position: str = opt(
        "random",
        "Where the source passage goes: random (RAFT) or retrieved (its rank in the "
        "search for the question; random when the search did not return it).",
    )
    max_passage_chars: int = opt(
        0, "Cut each passage to this many characters (0 = whole). Only for CPU smoke runs."
    )
    answer_template: str = opt(
        "{answer} [{n}]",
        "Cited target; {answer} = the reviewed answer, {n} = the source passage position. "
        "CPU smoke runs use a short fixed sentence so a 135M model only learns to cite.",
    )


def _norm(text: str) -> str:
    return _WS.sub("", text)


def contains_answer(passage: str, answer: str) -> bool:
    """Whether the passage holds the answer verbatim (whitespace-insensitive)."""
    needle = _norm(CITATION.sub("", answer)).rstrip(".")
    return bool(needle) and needle in _norm(passage)


def cite(answer: str, n: int, template: str = "{answer} [{n}]") -> str:
    """The training target: the answer (any stray markers removed) citing passage ``n``."""
    return template.format(answer=CITATION.sub("", answer).strip(), n=n)


def _cut(hit: Hit, limit: int) -> Hit:
    return (
        dataclasses.replace(hit, text=hit.text[:limit]) if limit and len(hit.text) > limit else hit
    )


def passages_for(chunks: Sequence[Chunk], limit: int) -> list[Hit]:
    """Hits ranked 1..n from chunks, as the prompt numbers them."""
    return [_cut(Hit.from_chunk(c, rank=i, score=1.0), limit) for i, c in enumerate(chunks, 1)]


def build_examples(
    config: BuildSFTConfig, records: Sequence[dict[str, Any]], index: Any
) -> list[dict[str, Any]]:
    """One SFT example per Q/A record (see the module docstring)."""
    from fnrag.prompts import PROMPT_VERSION, REFUSAL_SENTENCE, build_prompt

    if config.k < 1:
        raise InputError("k must be at least 1")
    if not 0.0 <= config.refusal_share <= 1.0:
        raise InputError("refusal_share must be between 0 and 1")
    if config.source_position not in SOURCE_POSITIONS:
        raise InputError(
            f"source_position must be random or retrieved (got {config.source_position!r})"
        )
    if not config.answer_template.rstrip().endswith("[{n}]"):
        raise InputError("answer_template must end with [{n}], the citation of the source")
    rng = random.Random(config.seed)
    n_refusal = round(config.refusal_share * len(records))
    refusal_ids = set(rng.sample(range(len(records)), n_refusal))
    all_chunks = list(index.chunks)
    examples = []
    for number, record in enumerate(records):
        question, answer, chunk_id = (
            record.get("instruction"),
            record.get("output"),
            record.get("chunk_id"),
        )
        if not (
            isinstance(question, str) and isinstance(answer, str) and isinstance(chunk_id, str)
        ):
            raise InputError(
                f"{config.qa} record {number + 1}: needs instruction, output and chunk_id strings"
            )
        try:
            source = index.chunk(chunk_id)
        except (KeyError, FnragError) as error:
            raise InputError(
                f"{config.qa} record {number + 1}: chunk {chunk_id} is not in {config.index}; "
                "use the index the Q/A pairs were generated from"
            ) from error
        refusal = number in refusal_ids
        wanted = config.k if refusal else config.k - 1
        seen = {source.chunk_id}
        distractors: list[Chunk] = []
        retrieved = [
            index.chunk(h.chunk_id)
            for h in index.search(question, k=config.k * 3, mode=config.search_mode)
        ]
        ranked = [c.chunk_id for c in retrieved]
        # The chunks the search ranked above the source, when it found the source.
        above = set(ranked[: ranked.index(source.chunk_id)]) if source.chunk_id in ranked else None
        filler = all_chunks[:]
        rng.shuffle(filler)
        for chunk in [*retrieved, *filler]:
            if len(distractors) == wanted:
                break
            if chunk.chunk_id in seen or contains_answer(chunk.text, answer):
                continue
            seen.add(chunk.chunk_id)
            distractors.append(chunk)
        if refusal:
            chosen, position, target = distractors, None, REFUSAL_SENTENCE
        else:
            position = rng.randrange(len(distractors) + 1)
            if config.source_position == "retrieved" and above is not None:
                position = sum(c.chunk_id in above for c in distractors)
            chosen = [*distractors[:position], source, *distractors[position:]]
            target = cite(answer, position + 1, config.answer_template)
        hits = passages_for(chosen, config.max_passage_chars)
        examples.append(
            {
                "id": record.get("id", f"qa-{number}"),
                "prompt": build_prompt(question, hits),
                "completion": target,
                "question": question,
                "answer": answer,
                "chunk_id": chunk_id,
                "refusal": refusal,
                "source_position": None if position is None else position + 1,
                "n_passages": len(hits),
                "passage_ids": [c.chunk_id for c in chosen],
                "max_passage_chars": config.max_passage_chars,
                "prompt_version": PROMPT_VERSION,
            }
        )
    return examples


def build_sft(config: BuildSFTConfig, index: Any = None) -> dict[str, Any]:
    """Read ``config.qa``, write ``config.out``; returns counts."""
    if index is None:
        from fnrag.index.search import load_index

        index = load_index(config.index)
    records = list(read_jsonl(config.qa))
    if not records:
        raise InputError(f"{config.qa} has no Q/A records; run training.review import first")
    examples = build_examples(config, records, index)
    write_jsonl(config.out, examples)
    refusals = sum(1 for e in examples if e["refusal"])
    return {"examples": len(examples), "refusal": refusals, "cited": len(examples) - refusals}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.build_sft",
        description=__doc__,
        epilog="Config keys:\n" + config_help(BuildSFTConfig),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="YAML file with BuildSFTConfig keys")
    parser.add_argument("--qa")
    parser.add_argument("--index")
    parser.add_argument("--out")
    parser.add_argument("--k", type=int)
    parser.add_argument("--refusal-share", dest="refusal_share", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--search-mode", dest="search_mode")
    parser.add_argument("--max-passage-chars", dest="max_passage_chars", type=int)
    parser.add_argument("--answer-template", dest="answer_template")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k != "config" and v is not None}
    try:
        config = load_config(BuildSFTConfig, args.config, overrides)
        if not config.index:
            parser.error("--index is required")
        print(json.dumps(build_sft(config), ensure_ascii=False))
    except FnragError as error:
        print(f"build_sft: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
