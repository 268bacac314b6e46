"""Measure ``ask`` (extractive) on several question sets, side by side (issues 3 and 13).

Usage::

    python benchmarks/bench_ask.py --index INDEX_DIR [--qa FILE ...] [--generator SPEC]
        [--dump OUT.jsonl] [--verbose] [--compare-references]

Default sets: ``../shared/corpus/dev_qa.jsonl``, ``benchmarks/data/tune_qa.jsonl`` and
``benchmarks/data/practitioner_qa.jsonl``. ``--generator`` takes a generator name
(``extractive``) or ``module:Class`` (built with no arguments).

Per set (gold = the passage comes from the gold document and contains the gold anchor,
whitespace ignored; in-scope questions; a refused answer counts as a miss):

* first cited gold: the passage behind the answer's first ``[n]`` is gold;
* gold cited: some cited passage is gold;
* anchor in answer: a gold anchor (whitespace removed) is in the answer text;
* cited precision: gold cited passages / all cited passages (pooled over answers);
* median chars: median answer length (answered in-scope questions);
* refused in / out of scope; citation validity (every quote inside its passage, every
  ``[n]`` a shown passage) over all answers;
* retrieval hit@1 / hit@5 of the passages ``ask`` retrieved; warm ask p50 / p95.

The written refusal sets of ``refusal_questions.py`` are reported on one extra line.
``--compare-references`` also measures, in the same process and before the default, the
same index searched without following statute references
(``FusionConfig.follow_references=False``): each set's column comes in pairs;
``--compare-articles`` likewise with chunks shown as indexed (``article_chars=0``: no
short article joined into one passage).
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from refusal_questions import IN_SCOPE, OFF_TOPIC

from fnrag.answering.assistant import Answer, Assistant
from fnrag.answering.citations import cited_numbers
from fnrag.evaluation.metrics import GoldRef, is_gold, squash
from fnrag.evaluation.qa import QAItem, load_qa
from fnrag.index.fusion import FusionConfig, SearchConfig
from fnrag.index.search import load_index

_HERE = Path(__file__).resolve().parent
DEFAULT_SETS = (
    _HERE.parents[1] / "shared/corpus/dev_qa.jsonl",
    _HERE / "data/tune_qa.jsonl",
    _HERE / "data/practitioner_qa.jsonl",
)


def valid(answer: Answer) -> bool:
    numbers = {c.n for c in answer.citations}
    return all(
        c.quote in answer.passages[c.n - 1].text and c.chunk_id == answer.passages[c.n - 1].chunk_id
        for c in answer.citations
    ) and numbers <= set(range(1, len(answer.passages) + 1))


def _gold_passage(answer: Answer, n: int, gold: tuple[GoldRef, ...]) -> bool:
    hit = answer.passages[n - 1]
    return is_gold(hit.source, hit.text, gold)


def gold_cited(answer: Answer, gold: tuple[GoldRef, ...]) -> bool:
    """The rule fnrag eval uses: some cited passage is a gold passage."""
    return any(_gold_passage(answer, c.n, gold) for c in answer.citations)


def first_cited_gold(answer: Answer, gold: tuple[GoldRef, ...]) -> bool:
    """The passage behind the answer text's first ``[n]`` is gold."""
    if answer.refused:
        return False
    numbers = cited_numbers(answer.text)
    return bool(numbers) and _gold_passage(answer, numbers[0], gold)


def anchor_in_answer(answer: Answer, gold: tuple[GoldRef, ...]) -> bool:
    if answer.refused:
        return False
    text = squash(answer.text)
    return any(squash(ref.anchor) in text for ref in gold)


@dataclass
class SetResult:
    name: str
    items: list[QAItem]
    answers: list[Answer]
    latencies: list[float]
    rows: dict[str, str] = field(default_factory=dict)


def measure_set(assistant: Assistant, name: str, items: list[QAItem]) -> SetResult:
    answers: list[Answer] = []
    latencies: list[float] = []
    for item in items:
        started = time.perf_counter()
        answers.append(assistant.ask(item.question))
        latencies.append((time.perf_counter() - started) * 1000)
    return SetResult(name, items, answers, latencies)


def _share(count: int, total: int) -> str:
    return f"{count / total:.3f} ({count}/{total})" if total else "-"


def summarise(result: SetResult) -> dict[str, str]:
    pairs = list(zip(result.items, result.answers, strict=True))
    inscope = [(d, a) for d, a in pairs if d.in_scope]
    outscope = [(d, a) for d, a in pairs if d.out_of_scope]
    n = len(inscope)
    cited = gold = 0
    for d, a in inscope:
        if a.refused:
            continue
        cited += len(a.citations)
        gold += sum(_gold_passage(a, c.n, d.gold) for c in a.citations)
    lengths = [len(a.text) for _, a in inscope if not a.refused]
    # By retrieval rank: the extractive composer numbers passages in reading order.
    rel = [
        [is_gold(h.source, h.text, d.gold) for h in sorted(a.passages, key=lambda h: h.rank)]
        for d, a in inscope
    ]
    ordered = sorted(result.latencies)
    p95 = ordered[int(0.95 * (len(ordered) - 1))] if ordered else 0.0
    return {
        "first cited gold": _share(sum(first_cited_gold(a, d.gold) for d, a in inscope), n),
        "gold cited": _share(sum(gold_cited(a, d.gold) for d, a in inscope), n),
        "anchor in answer": _share(sum(anchor_in_answer(a, d.gold) for d, a in inscope), n),
        "cited precision": _share(gold, cited),
        "median answer chars": f"{statistics.median(lengths):.0f}" if lengths else "-",
        "in-scope refused": _share(sum(a.refused for _, a in inscope), n),
        "out-of-scope refused": _share(sum(a.refused for _, a in outscope), len(outscope)),
        "citation validity": _share(sum(valid(a) for _, a in pairs), len(pairs)),
        "retrieval hit@1": _share(sum(any(r[:1]) for r in rel), n),
        "retrieval hit@5": _share(sum(any(r[:5]) for r in rel), n),
        "warm ask p50 / p95 ms": f"{statistics.median(ordered):.1f} / {p95:.1f}",
    }


def _generator(spec: str) -> Any:
    if ":" not in spec:
        return spec
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)()


def baseline_assistant(args: argparse.Namespace) -> tuple[Assistant, str] | None:
    """The same index with the step ``--compare-references`` / ``--compare-articles`` turns
    off (warm), and the label of its columns; None when neither is asked for."""
    if args.compare_references:
        off: dict[str, Any] = {"follow_references": False}
        label = "without references"
    elif args.compare_articles:
        off, label = {"article_chars": 0}, "chunks as indexed"
    else:
        return None
    plain = load_index(args.index, config=SearchConfig(fusion=FusionConfig(**off)))
    before = Assistant(plain, generator=_generator(args.generator), k=args.k, log=False)
    before.ask("금융실명법의 목적은 무엇인가요?")  # warm-up: embedder, Kiwi, caches
    return before, label


def _dump(results: list[SetResult], path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for result in results:
            for d, a in zip(result.items, result.answers, strict=True):
                record = {
                    "set": result.name,
                    "id": d.id,
                    "q": d.question,
                    "oos": d.out_of_scope,
                    "refused": a.refused,
                    "first_gold": first_cited_gold(a, d.gold),
                    "anchor": anchor_in_answer(a, d.gold),
                    "answer": a.text,
                    "cited": [[c.n, c.section, _gold_passage(a, c.n, d.gold)] for c in a.citations],
                    "passages": [
                        [h.section, is_gold(h.source, h.text, d.gold)] for h in a.passages
                    ],
                }
                out.write(json.dumps(record, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", required=True)
    parser.add_argument("--qa", action="append", help="a QA JSONL file (repeatable)")
    parser.add_argument("--generator", default="extractive")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--dump", type=Path, help="write one JSON line per question here")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--compare-references",
        action="store_true",
        help="also measure the same index without following statute references (baseline)",
    )
    parser.add_argument(
        "--compare-articles",
        action="store_true",
        help="also measure the same index showing chunks as indexed, short articles not "
        "joined into one passage (baseline)",
    )
    args = parser.parse_args()
    paths = [Path(p) for p in args.qa] if args.qa else list(DEFAULT_SETS)
    baseline: list[SetResult] = []
    compared = baseline_assistant(args)
    if compared is not None:
        before, label = compared
        baseline = [measure_set(before, f"{p.stem} {label}", load_qa(p)) for p in paths]
    assistant = Assistant(args.index, generator=_generator(args.generator), k=args.k, log=False)
    assistant.ask("금융실명법의 목적은 무엇인가요?")  # warm-up: embedder, Kiwi, caches
    results = [measure_set(assistant, p.stem, load_qa(p)) for p in paths]
    if args.verbose:
        for result in results:
            for d, a in zip(result.items, result.answers, strict=True):
                mark = "OOS" if d.out_of_scope else ("gold" if gold_cited(a, d.gold) else "MISS")
                print(f"[{d.id} {mark}] {d.question}\n    → {a.text[:200]}")
    if args.dump:
        _dump(results, args.dump)
    shown = (
        [x for pair in zip(baseline, results, strict=True) for x in pair] if baseline else results
    )
    summaries = [summarise(r) for r in shown]
    names = [r.name for r in shown]
    print("| measure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for key in summaries[0]:
        print(f"| {key} | " + " | ".join(s[key] for s in summaries) + " |")
    written_in = [assistant.ask(q) for q in IN_SCOPE]
    written_off = [assistant.ask(q) for q in OFF_TOPIC]
    written = written_in + written_off
    print(
        f"written sets: in-scope refused {sum(a.refused for a in written_in)}/{len(written_in)}, "
        f"off-topic refused {sum(a.refused for a in written_off)}/{len(written_off)}, "
        f"validity {sum(valid(a) for a in written)}/{len(written)}"
    )


if __name__ == "__main__":
    main()
