"""Measure ``ask`` (extractive) against the issue-3 targets on a real index.

Usage::

    python benchmarks/bench_ask.py --index INDEX_DIR [--dev ../shared/corpus/dev_qa.jsonl]

Prints: citation validity (every quote inside its passage, no invented [n]),
gold passage among citations (in-scope; gold = the cited passage comes from the
gold document and contains the gold anchor, whitespace ignored), refusal rates
(dev in/out of scope and the written sets of refusal_questions.py), and warm
latency percentiles. Targets: 100%, >= 90%, 100% / <= 5%, p50 <= 100 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from refusal_questions import IN_SCOPE, OFF_TOPIC

from fnrag.answering.assistant import Answer, Assistant
from fnrag.evaluation.metrics import GoldRef, is_gold
from fnrag.evaluation.qa import load_qa


def valid(answer: Answer) -> bool:
    numbers = {c.n for c in answer.citations}
    return all(
        c.quote in answer.passages[c.n - 1].text and c.chunk_id == answer.passages[c.n - 1].chunk_id
        for c in answer.citations
    ) and numbers <= set(range(1, len(answer.passages) + 1))


def gold_cited(answer: Answer, gold: tuple[GoldRef, ...]) -> bool:
    """The rule fnrag eval uses: some cited passage is a gold passage."""
    return any(
        is_gold(answer.passages[c.n - 1].source, answer.passages[c.n - 1].text, gold)
        for c in answer.citations
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", required=True)
    default_dev = Path(__file__).resolve().parents[2] / "shared/corpus/dev_qa.jsonl"
    parser.add_argument("--dev", default=str(default_dev))
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    dev = load_qa(args.dev)
    assistant = Assistant(args.index, k=args.k, log=False)
    assistant.ask("금융실명법의 목적은 무엇인가요?")  # warm-up: embedder, Kiwi, caches
    answers: list[Answer] = []
    latencies: list[float] = []
    for item in dev:
        started = time.perf_counter()
        answers.append(assistant.ask(item.question))
        latencies.append((time.perf_counter() - started) * 1000)
    inscope = [(d, a) for d, a in zip(dev, answers, strict=True) if not d.out_of_scope]
    outscope = [(d, a) for d, a in zip(dev, answers, strict=True) if d.out_of_scope]
    if args.verbose:
        for d, a in zip(dev, answers, strict=True):
            mark = "OOS" if d.out_of_scope else ("gold" if gold_cited(a, d.gold) else "MISS")
            print(f"[{d.id} {mark}] {d.question}\n    → {a.text[:160]}")
    written_in = [assistant.ask(q) for q in IN_SCOPE]
    written_off = [assistant.ask(q) for q in OFF_TOPIC]
    every = answers + written_in + written_off
    print(f"citation validity: {sum(valid(a) for a in every)}/{len(every)}")
    invented = sum(len(a.invalid_citations) for a in every)
    print(f"invalid markers removed by verification: {invented}")
    hits = sum(gold_cited(a, d.gold) for d, a in inscope)
    print(f"gold among citations (dev in-scope): {hits}/{len(inscope)} = {hits / len(inscope):.0%}")
    print(f"dev out-of-scope refused: {sum(a.refused for _, a in outscope)}/{len(outscope)}")
    print(f"dev in-scope refused: {sum(a.refused for _, a in inscope)}/{len(inscope)}")
    print(f"written in-scope refused: {sum(a.refused for a in written_in)}/{len(written_in)}")
    print(f"written off-topic refused: {sum(a.refused for a in written_off)}/{len(written_off)}")
    ordered = sorted(latencies)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    print(
        f"warm ask latency (dev, n={len(latencies)}): p50 {statistics.median(latencies):.1f} ms, "
        f"p95 {p95:.1f} ms, max {max(latencies):.1f} ms"
    )


if __name__ == "__main__":
    main()
