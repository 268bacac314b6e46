"""CPU per warm ``ask`` with the extractive composer composing each answer once, against
composing it twice (once to number the passages in reading order, once to answer), in
the same process.

Usage::

    python benchmarks/bench_compose.py --index INDEX_DIR [--rounds 5]

``INDEX_DIR``: the real corpus indexed with the default embedder. Every in-scope and
out-of-scope question of dev_qa, tune_qa and practitioner_qa is asked in each round, the
two generators alternating round by round (a busy machine slows both alike). Prints CPU
and wall milliseconds per ask (median over rounds), their ratio, and whether the two
produce the same answers (they must).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ask import DEFAULT_SETS

from fnrag.answering.assistant import Assistant
from fnrag.evaluation.qa import load_qa
from fnrag.generators.extractive import ExtractiveGenerator
from fnrag.index.search import load_index
from fnrag.types import Hit, Retrieval


class ComposingTwice(ExtractiveGenerator):
    """The previous behaviour: the answer composed for the reading order is not kept."""

    def passage_order(self, retrieval: Retrieval) -> tuple[Hit, ...]:
        hits = super().passage_order(retrieval)
        self._ordered.answer = None
        return hits


def one_round(assistant: Assistant, questions: list[str]) -> tuple[float, float, list[str]]:
    cpu, wall = time.process_time(), time.perf_counter()
    texts = [assistant.ask(q).text for q in questions]
    n = len(questions)
    return (time.process_time() - cpu) * 1000 / n, (time.perf_counter() - wall) * 1000 / n, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    index = load_index(args.index)
    questions = [item.question for path in DEFAULT_SETS for item in load_qa(path)]
    ways = {
        "composed twice (before)": Assistant(index, generator=ComposingTwice(), log=False),
        "composed once": Assistant(index, generator=ExtractiveGenerator(), log=False),
    }
    for assistant in ways.values():
        one_round(assistant, questions[:10])  # warm-up: embedder, Kiwi, caches
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    answers: dict[str, list[str]] = {}
    for _ in range(args.rounds):
        for name, assistant in ways.items():
            cpu, wall, texts = one_round(assistant, questions)
            figures[name].append((cpu, wall))
            answers[name] = texts
    print(f"{len(questions)} questions x {args.rounds} rounds, warm, real index {args.index}")
    print("| way | CPU ms per ask | wall ms per ask |")
    print("|---|---|---|")
    medians = {}
    for name, rows in figures.items():
        cpu = statistics.median(r[0] for r in rows)
        wall = statistics.median(r[1] for r in rows)
        medians[name] = (cpu, wall)
        print(f"| {name} | {cpu:.1f} | {wall:.1f} |")
    (before_cpu, before_wall), (after_cpu, after_wall) = medians.values()
    print(
        f"ratio once / twice: CPU {after_cpu / before_cpu:.3f}, wall {after_wall / before_wall:.3f}"
    )
    before, after = answers.values()
    same = before == after
    print(f"same answers: {same}")


if __name__ == "__main__":
    main()
