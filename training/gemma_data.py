"""Teacher-free RAFT data for Gemma: fnrag's verified question sets + templated pairs.

    python -m training.gemma_data --index DIR --out out/gemma/data \
        [--qa benchmarks/data/tune_qa.jsonl --qa benchmarks/data/practitioner_qa.jsonl] \
        [--heldout-fraction 0.2] [--seed-pairs 200] [--k 5] [--max-passage-chars 0]

Without a teacher LLM the reviewed pairs come from what exists offline:

* eval-format question sets (``q`` + gold ``doc``/``anchor``; never dev_qa, which is kept
  for measurement): each in-scope item becomes a reviewed pair whose answer is the
  *deciding sentence* — the sentence of the shortest gold chunk that holds the anchor,
  verbatim; out-of-scope items become refusal examples over what retrieval returns;
* templated pairs from the index (``training.seed_qa``), on chunks no held-out question
  is answered from.

``training.build_sft`` turns the pairs into RAFT examples (the source among retrieved
distractors, a refusal share with every passage holding the answer removed); the target
is then rewritten in the extractive composer's style — ``금융실명법 제3조제3항: “…” [n]``,
the quote an exact span of passage n, so fnrag's citation verifier accepts it. With
``max_passage_chars`` (the CPU lever) every passage becomes a window of whole sentences of
at most that many characters, the source's window holding the deciding sentence; all
windows start at a sentence, so a cut passage does not give the answer away.

A ``heldout_fraction`` of the question-set items (in and out of scope alike, by id) is
kept out of training: ``heldout_qa.jsonl`` (their original lines, for the benchmark beside
dev_qa) and ``sft_heldout.jsonl`` (their RAFT examples, ``training.sft``'s ``eval_file``).
Self-instruct (``training.selfinstruct`` through an ``openai`` client) is the route for a
bank with a teacher model: its reviewed pairs go to ``--reviewed`` and are mixed in as is.
Writes reviewed.jsonl, sft.jsonl (and ``sft-<n>.jsonl`` prefixes for learning curves),
sft_heldout.jsonl, heldout_qa.jsonl and data.json (counts, inputs' sha256).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fnrag.errors import FnragError, InputError
from fnrag.evaluation.metrics import GoldRef, is_gold
from fnrag.evaluation.qa import QAItem, load_qa
from fnrag.types import Chunk
from training.build_sft import SOURCE_POSITIONS
from training.config import opt, read_jsonl, write_json, write_jsonl
from training.gemma_passages import (
    composer_target,
    deciding_span,
    seed_records,
    slice_chunk,
    window,
)

TARGET_STYLES = ("quote-first", "cite-first")
_TRAILING_MARKER = re.compile(r"(.*\S)\s*(\[\d+\])", re.S)

_DATA = Path(__file__).resolve().parent.parent / "benchmarks" / "data"
DEFAULT_QA = (str(_DATA / "tune_qa.jsonl"), str(_DATA / "practitioner_qa.jsonl"))


@dataclass(frozen=True)
class GemmaDataConfig:
    index: str = opt("", "Index directory (the real corpus; the question sets' gold docs).")
    out: str = opt("out/gemma/data", "Output folder.")
    qa: list = field(
        default_factory=lambda: list(DEFAULT_QA),
        metadata={"help": "Eval-format question sets to learn from (never dev_qa)."},
    )
    reviewed: list = field(
        default_factory=list,
        metadata={"help": "Extra reviewed-pairs files (e.g. self-instruct), mixed in as is."},
    )
    heldout_fraction: float = opt(0.2, "Share of question-set items held out (by id).")
    seed_pairs: int = opt(200, "Templated pairs from training.seed_qa (0 = none).")
    k: int = opt(5, "Passages per prompt (as fnrag ask's -k).")
    refusal_share: float = opt(0.25, "Share of the verified pairs made refusal examples.")
    max_passage_chars: int = opt(0, "Passage windows of at most this many chars (0 = whole).")
    source_position: str = opt(
        "retrieved",
        "Where the source passage sits: retrieved (its search rank, as at inference) or "
        "random (RAFT's uniform place).",
    )
    target_style: str = opt(
        "quote-first",
        "quote-first: `reference: “quote” [n]` (the composer's layout); cite-first: "
        "`[n] reference: “quote”` (the passage named before the copy).",
    )
    max_quote_chars: int = opt(
        300, "Longest deciding quote; a longer sentence is cut around the anchor."
    )
    sizes: list = field(
        default_factory=list,
        metadata={"help": "Also write sft-<n>.jsonl with the first n training examples."},
    )
    seed: int = opt(0, "Seed for the split, the sampling and build_sft.")


def load_items(paths: Sequence[str]) -> list[tuple[QAItem, dict[str, Any]]]:
    """Every item of the question sets with its original line; dev_qa is refused."""
    items: list[tuple[QAItem, dict[str, Any]]] = []
    seen: set[str] = set()
    for path in paths:
        if "dev_qa" in Path(path).name:
            raise InputError(f"{path}: dev_qa is the measurement set; never train on it")
        raw = [
            json.loads(line)
            for line in Path(path).read_text(encoding="utf-8-sig").splitlines()
            if line.strip()
        ]
        for item, record in zip(load_qa(path), raw, strict=True):
            if item.id in seen:
                raise InputError(
                    f"{path}: id {item.id!r} is also in another set; ids must be unique"
                )
            seen.add(item.id)
            items.append((item, record))
    return items


def split_items(items: Sequence[QAItem], fraction: float, seed: int) -> set[str]:
    """Held-out ids: ``fraction`` of the in-scope and of the out-of-scope items."""
    rng = random.Random(seed)
    held: set[str] = set()
    for scope in (True, False):
        ids = sorted(i.id for i in items if i.in_scope is scope)
        # At least one of each kind when there are two: both decisions get measured.
        least = 1 if fraction > 0 and len(ids) >= 2 else 0
        held.update(rng.sample(ids, max(least, round(fraction * len(ids)))))
    return held


def pair_records(
    items: Sequence[QAItem], chunks: Sequence[Chunk], limit: int
) -> list[dict[str, Any]]:
    """Reviewed-pairs rows (``qa_record``) whose output is the item's deciding sentence."""
    from training.textutil import qa_record

    rows = []
    for item in items:
        ref = item.gold[0]
        holders = [c for c in chunks if is_gold(c.source, c.text, (ref,))]
        if not holders:
            raise InputError(
                f"{item.id}: the anchor {ref.anchor!r} ({ref.doc}) is in no chunk of the index; "
                "index the real corpus (tests/conftest.py REAL_CORPUS_FILES) or fix the anchor"
            )
        chunk = min(holders, key=lambda c: len(c.text))
        span = deciding_span(chunk.text, ref.anchor, limit)
        assert span is not None  # is_gold found the anchor
        row = qa_record(chunk, item.id, item.question, chunk.text[span[0] : span[1]])
        rows.append({**row, "origin": "qa", "gold": [dataclasses.asdict(g) for g in item.gold]})
    return rows


def finish(
    example: dict[str, Any], index: Any, config: GemmaDataConfig, rng: random.Random
) -> dict[str, Any] | None:
    """Rebuild the prompt over windowed passages and rewrite the target; None = drop
    (a refusal example that still shows a gold passage of its item)."""
    from fnrag.prompts import build_prompt
    from training.build_sft import passages_for

    chunks = [index.chunk(c) for c in example["passage_ids"]]
    gold = tuple(GoldRef(**g) for g in example.get("gold") or ())
    if example["refusal"] and gold and any(is_gold(c.source, c.text, gold) for c in chunks):
        return None
    quote = example["answer"]
    spans: list[tuple[int, int]] = []
    verbatim = False
    for n, chunk in enumerate(chunks, 1):
        limit = config.max_passage_chars
        keep = None
        if n == example["source_position"]:
            at = chunk.text.find(quote) if quote else -1
            verbatim = at >= 0
            # A paraphrased answer (a teacher's) has no span to keep: show the whole source.
            keep, limit = ((at, at + len(quote)), limit) if verbatim else (None, 0)
        spans.append(window(chunk.text, limit, keep, rng))
    hits = passages_for([slice_chunk(c, w) for c, w in zip(chunks, spans, strict=True)], 0)
    out = {
        **example,
        "prompt": build_prompt(example["question"], hits),
        "max_passage_chars": config.max_passage_chars,
        "passage_spans": spans,  # each shown passage = chunk.text[a:b]
    }
    if verbatim:
        n = example["source_position"]
        out["completion"] = composer_target(
            example, chunks[n - 1], hits[n - 1].text, quote, config.target_style
        )
    elif config.target_style == "cite-first" and not example["refusal"]:
        # A teacher's paraphrase keeps build_sft's "{answer} [n]": name the passage first.
        trailing = _TRAILING_MARKER.fullmatch(out["completion"].strip())
        if trailing:
            out["completion"] = f"{trailing[2]} {trailing[1]}"
    return out


def refusal_examples(
    items: Sequence[QAItem], index: Any, config: GemmaDataConfig, rng: random.Random
) -> list[dict[str, Any]]:
    """Out-of-scope questions over what retrieval returns, target the refusal sentence."""
    from fnrag.prompts import PROMPT_VERSION, REFUSAL_SENTENCE, build_prompt
    from training.build_sft import passages_for

    out = []
    for item in items:
        chunks = [index.chunk(h.chunk_id) for h in index.search(item.question, k=config.k)]
        spans = [window(c.text, config.max_passage_chars, None, rng) for c in chunks]
        hits = passages_for([slice_chunk(c, w) for c, w in zip(chunks, spans, strict=True)], 0)
        out.append(
            {
                "id": item.id,
                "prompt": build_prompt(item.question, hits),
                "completion": REFUSAL_SENTENCE,
                "question": item.question,
                "answer": "",
                "chunk_id": None,
                "refusal": True,
                "source_position": None,
                "n_passages": len(hits),
                "passage_ids": [c.chunk_id for c in chunks],
                "max_passage_chars": config.max_passage_chars,
                "passage_spans": spans,
                "prompt_version": PROMPT_VERSION,
                "origin": "out_of_scope",
            }
        )
    return out


def raft(
    records: list[dict[str, Any]],
    oos: Sequence[QAItem],
    index: Any,
    config: GemmaDataConfig,
    seed: int,
) -> tuple[list[dict[str, Any]], int]:
    """(RAFT examples in a seeded order, refusal examples dropped) for the pairs and OOS items."""
    from training.build_sft import BuildSFTConfig, build_examples

    if not records:
        return refusal_examples(oos, index, config, random.Random(seed)), 0
    rng = random.Random(seed)
    # Refusal targets only from the verified questions: a templated question ("제1조
    # (목적)에 관한 규정은?") is still answered by the other laws' passages left in.
    verified = [r for r in records if r.get("origin") == "qa"]
    others = [r for r in records if r.get("origin") != "qa"]
    built = []
    for group, share in ((verified, config.refusal_share), (others, 0.0)):
        if group:
            build = BuildSFTConfig(
                qa="(gemma_data)",
                k=config.k,
                refusal_share=share,
                seed=seed,
                source_position=config.source_position,
            )
            made = build_examples(build, group, index)
            for example, record in zip(made, group, strict=True):
                example.update(origin=record.get("origin", "reviewed"), gold=record.get("gold"))
            built += made
    finished = [finish(e, index, config, rng) for e in built]
    kept = [e for e in finished if e is not None]
    examples = kept + refusal_examples(oos, index, config, rng)
    rng.shuffle(examples)
    return examples, len(finished) - len(kept)


def build(config: GemmaDataConfig, index: Any = None) -> dict[str, Any]:
    """Write the data set (see the module docstring); returns data.json's content."""
    from training.retriever_data import data_sha256

    if config.target_style not in TARGET_STYLES:
        raise InputError(
            f"target_style {config.target_style!r}: use one of {', '.join(TARGET_STYLES)}"
        )
    if index is None:
        from fnrag.index.search import load_index

        index = load_index(config.index)
    chunks = list(index.chunks)
    loaded = load_items(config.qa)
    items = [item for item, _ in loaded]
    held = split_items(items, config.heldout_fraction, config.seed)
    train_items = [i for i in items if i.id not in held]
    held_items = [i for i in items if i.id in held]
    train_pairs = pair_records(
        [i for i in train_items if i.in_scope], chunks, config.max_quote_chars
    )
    held_pairs = pair_records([i for i in held_items if i.in_scope], chunks, config.max_quote_chars)
    banned = [g for i in held_items for g in i.gold]
    seeds = (
        seed_records(chunks, config.seed_pairs, banned, config.max_quote_chars, config.seed)
        if config.seed_pairs
        else []
    )
    extra = [{**r, "origin": "reviewed"} for path in config.reviewed for r in read_jsonl(path)]
    reviewed = train_pairs + seeds + extra
    train, dropped = raft(
        reviewed, [i for i in train_items if i.out_of_scope], index, config, config.seed
    )
    heldout, dropped_held = raft(
        held_pairs, [i for i in held_items if i.out_of_scope], index, config, config.seed + 1
    )
    out = Path(config.out)
    write_jsonl(out / "reviewed.jsonl", reviewed)
    write_jsonl(out / "sft.jsonl", train)
    write_jsonl(out / "sft_heldout.jsonl", heldout)
    write_jsonl(out / "heldout_qa.jsonl", [r for i, r in loaded if i.id in held])
    for size in config.sizes:
        write_jsonl(out / f"sft-{int(size)}.jsonl", train[: int(size)])
    summary = {
        "config": dataclasses.asdict(config),
        "inputs_sha256": {p: data_sha256(p) for p in [*config.qa, *config.reviewed]},
        "items": len(items),
        "heldout_items": len(held),
        "heldout_ids": sorted(held),
        "pairs": {"qa": len(train_pairs), "seed": len(seeds), "reviewed": len(extra)},
        "train_examples": len(train),
        "train_refusals": sum(e["refusal"] for e in train),
        "heldout_examples": len(heldout),
        "heldout_refusals": sum(e["refusal"] for e in heldout),
        "refusals_dropped_gold_shown": dropped + dropped_held,
        "sizes": [int(s) for s in config.sizes],
    }
    write_json(out / "data.json", summary)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    from training.config import config_help, load_config

    parser = argparse.ArgumentParser(
        prog="python -m training.gemma_data",
        description=__doc__,
        epilog="Config keys:\n" + config_help(GemmaDataConfig),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="YAML file with GemmaDataConfig keys")
    parser.add_argument("--index")
    parser.add_argument("--out")
    parser.add_argument("--qa", action="append")
    parser.add_argument("--reviewed", action="append")
    parser.add_argument("--heldout-fraction", dest="heldout_fraction", type=float)
    parser.add_argument("--seed-pairs", dest="seed_pairs", type=int)
    parser.add_argument("--k", type=int)
    parser.add_argument("--refusal-share", dest="refusal_share", type=float)
    parser.add_argument("--max-passage-chars", dest="max_passage_chars", type=int)
    parser.add_argument("--source-position", dest="source_position", choices=SOURCE_POSITIONS)
    parser.add_argument("--target-style", dest="target_style", choices=TARGET_STYLES)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",") if x])
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k != "config" and v is not None}
    try:
        config = load_config(GemmaDataConfig, args.config, overrides)
        if not config.index:
            parser.error("--index is required")
        summary = build(config)
    except FnragError as error:
        print(f"gemma_data: error: {error}", file=sys.stderr)
        return 2
    print(
        json.dumps(
            {
                k: v
                for k, v in summary.items()
                if k not in ("config", "heldout_ids", "inputs_sha256")
            },
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
