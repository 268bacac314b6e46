"""Follow-up questions (issue 15): second turns asked with their history, alone, and more.

Usage::

    python benchmarks/bench_dialogue.py --index INDEX_DIR [--dialogues FILE] [--generator SPEC]
        [--verbose] [--compare-references] [--compare-articles]

``INDEX_DIR``: the real corpus indexed with the default embedder (as ``tests/conftest.py``
``real_index_dir`` builds it). ``--dialogues`` (default ``benchmarks/data/dialogues.jsonl``):
one dialogue per line, ``{"id", "split", "history": [{"role", "content"}, …], "q", "gold"}``;
``q`` is the last turn and ``gold`` its passages (the QA format, ``fnrag.evaluation.qa``).
When the history ends with a user turn, the assistant's reply to it is what fnrag answers
it (as in a real chat). ``split``: ``tune`` / ``check`` (follow-ups: the method was tuned on
the first half only) or ``switch`` (a self-contained new question: no carry-over wanted);
``benchmarks/data/dialogues_blind.jsonl`` holds ``blind`` follow-ups and ``blind-switch``
questions written without running fnrag on them (a split ending in ``switch`` is
self-contained).

Per split and way of asking the last turn — with its history; alone; the first turn alone
(does the first answer already hold the gold?); first turn and follow-up pasted together as
one question (the naive baseline) — it prints: gold among the top-5 passages, gold cited
(some cited passage is gold: the rule of ``fnrag eval``), refused, citation validity; and
how often the follow-up/self-contained recogniser (``fnrag.answering.conversation``) agrees
with the split, also over the standalone questions of the QA sets. Last, refusal holding
through a conversation: every off-topic question of the written refusal set and the QA sets,
each followed by follow-ups with no words of their own (``BARE_FOLLOW_UPS``): how many of
those are answered after a refused first turn (should be none: nothing was there to ask
about) and after an answered one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ask import DEFAULT_SETS, _generator, _share, baseline_assistant, gold_cited, valid

from fnrag.answering.assistant import Answer, Assistant
from fnrag.answering.conversation import is_follow_up, topic_vocabulary
from fnrag.evaluation.metrics import GoldRef, is_gold
from fnrag.evaluation.qa import load_qa

_HERE = Path(__file__).resolve().parent
DEFAULT_DIALOGUES = _HERE / "data/dialogues.jsonl"
WAYS = ("with history", "alone", "first turn alone", "pasted together")
# Follow-ups that name no topic: what they ask is wholly the earlier turn's.
BARE_FOLLOW_UPS = (
    "그거 하나면 되는 거죠?",
    "언제까지 줘야 해요?",
    "그럼 그건 어떻게 해요?",
    "그건 얼마예요?",
    "몇 번까지 돼요?",
)


def load_dialogues(path: Path) -> list[dict[str, Any]]:
    """Dialogue rows, with their gold parsed by the QA loader (same validation)."""
    items = {item.id: item for item in load_qa(path)}
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    for row in rows:
        row["gold_refs"] = items[str(row["id"])].gold
    return rows


def in_top(answer: Answer, gold: tuple[GoldRef, ...], k: int = 5) -> bool:
    ranked = sorted(answer.passages, key=lambda h: h.rank)[:k]
    return any(is_gold(h.source, h.text, gold) for h in ranked)


def history_of(assistant: Assistant, turns: list[dict[str, str]]) -> list[dict[str, str]]:
    """The dialogue's turns, each user turn left unanswered answered by fnrag."""
    history: list[dict[str, str]] = []
    for i, turn in enumerate(turns):
        history.append(turn)
        unanswered = turn["role"] == "user" and (
            i + 1 == len(turns) or turns[i + 1]["role"] != "assistant"
        )
        if unanswered:
            earlier = history[:-1] or None
            reply = assistant.ask(turn["content"], history=earlier)
            history.append({"role": "assistant", "content": reply.text})
    return history


def run(assistant: Assistant, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    results = []
    for row in rows:
        history = history_of(assistant, row["history"])
        first = next(t["content"] for t in row["history"] if t["role"] == "user")
        started = time.perf_counter()
        followed = assistant.ask(row["q"], history=history)
        elapsed = (time.perf_counter() - started) * 1000
        answers = {
            "with history": followed,
            "alone": assistant.ask(row["q"]),
            "first turn alone": assistant.ask(first),
            "pasted together": assistant.ask(f"{first} {row['q']}"),
        }
        results.append({"row": row, "answers": answers, "ms": elapsed})
    return results


def summarise(results: list[dict[str, Any]], way: str) -> dict[str, str]:
    n = len(results)
    pairs = [(r["row"]["gold_refs"], r["answers"][way]) for r in results]
    return {
        "gold in top 5": _share(sum(in_top(a, g) for g, a in pairs), n),
        "gold cited": _share(sum(gold_cited(a, g) for g, a in pairs), n),
        "refused": _share(sum(a.refused for _, a in pairs), n),
        "citation validity": _share(sum(valid(a) for _, a in pairs), n),
    }


def _splits(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(str(r.get("split")) for r in rows))


def _switch(split: str) -> bool:
    return split.endswith("switch")


def recogniser(index: Any, rows: list[dict[str, Any]]) -> list[str]:
    topics = topic_vocabulary(index)
    lines = []
    for split in _splits(rows):
        chosen = [r for r in rows if r.get("split") == split]
        wanted = not _switch(split)
        agree = sum(is_follow_up(r["q"], topics) == wanted for r in chosen)
        what = "follow-up" if wanted else "self-contained"
        lines.append(f"{split}: recognised as {what} {_share(agree, len(chosen))}")
    standalone = [
        item.question
        for path in DEFAULT_SETS
        if path.is_file()
        for item in load_qa(path)
        if item.in_scope
    ]
    alone = sum(not is_follow_up(q, topics) for q in standalone)
    lines.append(
        f"standalone questions of the QA sets recognised as self-contained "
        f"{_share(alone, len(standalone))}"
    )
    return lines


def off_topic_follow_ups(assistant: Assistant) -> list[str]:
    """Off-topic first turns, each followed by every ``BARE_FOLLOW_UPS`` question."""
    from refusal_questions import OFF_TOPIC

    firsts = list(OFF_TOPIC) + [
        item.question
        for path in DEFAULT_SETS
        if path.is_file()
        for item in load_qa(path)
        if not item.in_scope
    ]
    after = {True: [0, 0], False: [0, 0]}  # first refused → [answered, asked]
    refused_first = 0
    for question in firsts:
        first = assistant.ask(question)
        refused_first += first.refused
        history = [
            {"role": "user", "content": question},
            {"role": "assistant", "content": first.text},
        ]
        for follow_up in BARE_FOLLOW_UPS:
            answer = assistant.ask(follow_up, history=history)
            after[first.refused][0] += not answer.refused
            after[first.refused][1] += 1
    return [
        f"off-topic first turns {len(firsts)}, refused {_share(refused_first, len(firsts))}",
        f"bare follow-ups answered after a refused first turn {_share(*after[True])}",
        f"bare follow-ups answered after an answered (off-topic) first turn {_share(*after[False])}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", required=True)
    parser.add_argument("--dialogues", type=Path, default=DEFAULT_DIALOGUES)
    parser.add_argument("--generator", default="extractive")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--compare-references",
        action="store_true",
        help="first score the follow-ups asked with history on the same index without "
        "following statute references (the baseline, same process)",
    )
    parser.add_argument(
        "--compare-articles",
        action="store_true",
        help="likewise with chunks shown as indexed (no short article joined into one passage)",
    )
    args = parser.parse_args()
    rows = load_dialogues(args.dialogues)
    compared = baseline_assistant(args)
    if compared is not None:
        before, label = compared
        baseline = [r for r in run(before, rows) if not _switch(str(r["row"].get("split")))]
        s = summarise(baseline, "with history")
        print(
            f"{label}: all follow-ups (n={len(baseline)}) with history | " + " | ".join(s.values())
        )
    assistant = Assistant(args.index, generator=_generator(args.generator), k=args.k, log=False)
    assistant.ask("금융실명법의 목적은 무엇인가요?")  # warm-up: embedder, Kiwi, caches
    results = run(assistant, rows)
    if args.verbose:
        for r in results:
            a = r["answers"]["with history"]
            mark = "gold" if gold_cited(a, r["row"]["gold_refs"]) else "MISS"
            print(f"[{r['row']['id']} {mark}] {r['row']['q']} ⇒ {a.resolved_question}")
    splits = _splits(rows)
    groups = {s: [r for r in results if r["row"].get("split") == s] for s in splits}
    follow = [r for r in results if not _switch(str(r["row"].get("split")))]
    if len(groups) > 1 and follow:
        groups["all follow-ups"] = follow
    print(f"dialogues: {args.dialogues.name}, {len(rows)} ({', '.join(splits)})")
    print("| split | asked | gold in top 5 | gold cited | refused | citation validity |")
    print("|---|---|---|---|---|---|")
    for name, group in groups.items():
        for way in WAYS:
            s = summarise(group, way)
            print(f"| {name} (n={len(group)}) | {way} | " + " | ".join(s.values()) + " |")
    for line in recogniser(assistant.index, rows):
        print(line)
    latencies = sorted(r["ms"] for r in results)
    print(f"ask with history p50 {latencies[len(latencies) // 2]:.1f} ms")
    for line in off_topic_follow_ups(assistant):
        print(line)


if __name__ == "__main__":
    main()
