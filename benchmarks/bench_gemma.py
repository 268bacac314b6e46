"""Gemma 3 270M with and without the LoRA adapter against the extractive default (issue 18).

Three stages, so that the accelerator machine needs no index (no faiss, Kiwi, onnx)::

    # A (here): the exact prompts fnrag ask builds, per question
    python benchmarks/bench_gemma.py prompts --index IDX --qa ../shared/corpus/dev_qa.jsonl \
        --qa out/gemma/data/heldout_qa.jsonl --out out/gemma/data/prompts.jsonl [-k 5]
    # B (GPU): train, then every side's raw answers (training/README.md has the command)
    python -m training.gemma_stageb --data out/gemma/data --out OUT
    # C (here): fnrag's own verification of those raw answers, scored beside extractive
    python benchmarks/bench_gemma.py score --index IDX --prompts out/gemma/data/prompts.jsonl \
        --raw OUT/raw.jsonl --out RESULTS.md [--json results.json] [--stageb OUT/stageb.json]

Stage A runs ``Assistant.ask`` with a recording generator: the prompt it records is what the
transformers generator would be sent (the same retrieval, weak-evidence gate and prompt), and
a question the gate refuses gets no prompt. Stage C runs ``Assistant.ask`` again with a
generator that replays the stage-B text for that exact prompt (a differing prompt is an
error: the index or code changed since stage A), so echo cutting, the refusal check,
citation verification and the ungrounded refusal are fnrag's own. Closed-book answers go
through ``fnrag.evaluation.compare.closed_book_answer`` the same way.

Per side and set (gold = gold document + anchor, as ``fnrag eval``; in-scope questions):
gold cited, first cited gold, gold phrase in answer, answered and verified (not refused,
a valid citation left), invalid markers before verification (share of the raw answer's
markers that verification removed), ended at EOS, refusals in and out of scope, citation
validity after verification, and latency (stage B's generation seconds per answer,
batched on its machine; the extractive side's whole ask, here).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_ask import anchor_in_answer, first_cited_gold, gold_cited, valid

from fnrag.evaluation.metrics import GoldRef, squash
from fnrag.evaluation.qa import QAItem, load_qa
from fnrag.generators.base import Generation

EXAMPLES = 5


def _sha(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


class Recorder:
    """A generator that records the prompt it is sent and declines (stage A)."""

    name = "transformers"

    def __init__(self) -> None:
        self.prompt: str | None = None
        self.passages: list[str] = []

    def generate(self, prompt: str, *, question: str, passages: Sequence[Any]) -> Generation:
        from fnrag.prompts import REFUSAL_SENTENCE

        self.prompt, self.passages = prompt, [h.chunk_id for h in passages]
        return Generation(text=REFUSAL_SENTENCE, seconds=0.0)


class Replay:
    """A generator that answers with stage B's raw text for the exact prompt (stage C)."""

    name = "transformers"

    def __init__(self, texts: dict[str, dict[str, Any]], side: str) -> None:
        self.texts, self.side = texts, side

    def generate(self, prompt: str, *, question: str, passages: Sequence[Any]) -> Generation:
        row = self.texts.get(_sha(prompt))
        if row is None:
            raise SystemExit(
                f"{self.side}: no stage-B answer for the prompt of {question!r}; the index or "
                "the prompt code changed since stage A: rerun stages A and B"
            )
        return Generation(text=row["text"], seconds=float(row.get("seconds", 0.0)))


def stage_prompts(args: argparse.Namespace) -> int:
    from fnrag.answering.assistant import Assistant
    from fnrag.prompts import build_prompt

    recorder = Recorder()
    assistant = Assistant(args.index, generator=recorder, k=args.k, log=False)
    rows = []
    for path in args.qa:
        items = load_qa(path)
        if args.limit:  # a smoke run: the first N, and the first out-of-scope one too
            oos = [i for i in items[args.limit :] if i.out_of_scope][:1]
            items = items[: args.limit] + oos
        for item in items:
            recorder.prompt, recorder.passages = None, []
            started = time.perf_counter()
            answer = assistant.ask(item.question)
            rows.append(
                {
                    "set": Path(path).stem,
                    "id": item.id,
                    "question": item.question,
                    "out_of_scope": item.out_of_scope,
                    "prompt": recorder.prompt,
                    "prompt_sha256": _sha(recorder.prompt) if recorder.prompt else None,
                    "passage_ids": recorder.passages,
                    "refused_before_generation": answer.refusal_reason
                    if recorder.prompt is None
                    else None,
                    "closed_prompt": build_prompt(item.question, []),
                    "retrieve_ms": (time.perf_counter() - started) * 1000,
                }
            )
    from training.config import write_jsonl

    write_jsonl(args.out, rows)
    gated = sum(1 for r in rows if r["prompt"] is None)
    print(json.dumps({"questions": len(rows), "refused_before_generation": gated}))
    return 0


def _share(count: int, total: int) -> str:
    return f"{count / total:.3f} ({count}/{total})" if total else "-"


def _markers(text: str) -> int:
    from fnrag.answering.citations import parse_markers
    from fnrag.prompts import cut_at_echo

    return sum(len(m.numbers) for m in parse_markers(cut_at_echo(text)))


def summarise(
    pairs: list[tuple[QAItem, Any, dict[str, Any] | None]],
    closed: bool,
    strict: Sequence[Any] = (),
) -> dict[str, str]:
    """The report's rows for one side over one set (``raw`` None: no generation);
    ``strict``: the same answers verified without re-pointing misnumbered quotes."""
    inscope = [(d, a, r) for d, a, r in pairs if d.in_scope]
    outscope = [(d, a, r) for d, a, r in pairs if d.out_of_scope]
    n = len(inscope)
    generated = [(a, r) for _, a, r in pairs if r is not None]
    markers = sum(_markers(r["text"]) for _, r in generated)
    if closed:
        removed = sum(a.invalid_citations for a, _ in generated)
    else:
        removed = sum(len(a.invalid_citations or ()) for a, _ in generated)
    seconds = [float(r.get("seconds", 0.0)) for _, r in generated] or [
        float(getattr(a, "seconds", 0.0)) for _, a, _ in pairs
    ]
    answered = [a for _, a, _ in inscope if not a.refused and getattr(a, "citations", ())]
    ended = [r for _, r in generated if r.get("finish")]  # the extractive side has none
    return {
        "gold cited": "-"
        if closed
        else _share(sum(gold_cited(a, d.gold) for d, a, _ in inscope), n),
        "first cited gold": "-"
        if closed
        else _share(sum(first_cited_gold(a, d.gold) for d, a, _ in inscope), n),
        "gold phrase in answer": _share(sum(_phrase(a, d.gold) for d, a, _ in inscope), n),
        "answered and verified": "-" if closed else _share(len(answered), n),
        **_strict_rows(pairs, strict, n),
        "invalid markers before verification": _share(removed, markers),
        "markers re-pointed to the passage holding the quote": "-"
        if closed
        else _share(
            sum(
                getattr(i, "repointed_to", None) is not None
                for a, _ in generated
                for i in a.invalid_citations or ()
            ),
            markers,
        ),
        "ended at EOS": _share(sum(r["finish"] == "stop" for r in ended), len(ended)),
        "in-scope refused": _share(sum(a.refused for _, a, _ in inscope), n),
        "out-of-scope refused": _share(sum(a.refused for _, a, _ in outscope), len(outscope)),
        "in-scope refusals: weak evidence / declined / ungrounded": "-"
        if closed
        else " / ".join(
            str(sum(getattr(a, "refusal_reason", None) == why for _, a, _ in inscope))
            for why in ("weak evidence", "declined", "ungrounded")
        ),
        "citation validity": "-"
        if closed
        else _share(sum(valid(a) for _, a, _ in pairs), len(pairs)),
        "latency p50 / mean s": f"{statistics.median(seconds):.2f} / {statistics.mean(seconds):.2f}"
        if seconds
        else "-",
    }


def _strict_rows(
    pairs: list[tuple[QAItem, Any, dict[str, Any] | None]], strict: Sequence[Any], n: int
) -> dict[str, str]:
    """Gold cited / answered without re-pointing: the markers exactly as generated."""
    if not strict:
        return {"gold cited, markers as written": "-", "answered, markers as written": "-"}
    inscope = [(d, a) for (d, _, _), a in zip(pairs, strict, strict=True) if d.in_scope]
    return {
        "gold cited, markers as written": _share(sum(gold_cited(a, d.gold) for d, a in inscope), n),
        "answered, markers as written": _share(
            sum(not a.refused and bool(a.citations) for _, a in inscope), n
        ),
    }


def _phrase(answer: Any, gold: tuple[GoldRef, ...]) -> bool:
    if getattr(answer, "passages", None) is not None:
        return anchor_in_answer(answer, gold)
    text = squash(answer.text)
    return not answer.refused and any(squash(ref.anchor) in text for ref in gold)


def stage_score(args: argparse.Namespace) -> int:
    from fnrag.answering.assistant import Assistant
    from fnrag.evaluation.compare import closed_book_answer
    from fnrag.index.search import load_index
    from training.config import read_jsonl

    index = load_index(args.index)
    prompts = list(read_jsonl(args.prompts))
    raw = [r for path in args.raw for r in read_jsonl(path)]
    qa = {Path(p).stem: {i.id: i for i in load_qa(p)} for p in args.qa}
    sets = list(dict.fromkeys(r["set"] for r in prompts))
    sides = [s for s in dict.fromkeys(r["side"] for r in raw) if not args.side or s in args.side]
    by_prompt = {(r["set"], r["id"]): r for r in prompts}
    results: dict[str, dict[str, list[tuple[QAItem, Any, dict[str, Any] | None]]]] = {}
    strict: dict[str, dict[str, list[Any]]] = {}  # side -> set -> answers, no re-pointing
    extractive = Assistant(index, k=args.k, log=False)
    extractive.ask("금융실명법의 목적은 무엇인가요?")  # warm-up: embedder, Kiwi
    for side in ["extractive", *sides]:
        rows = {(r["set"], r["id"]): r for r in raw if r["side"] == side}
        closed = side.startswith("closed-")
        texts = {}
        for key, r in rows.items():
            p = by_prompt[key]
            texts[_sha(p["closed_prompt"] if closed else p["prompt"])] = r
        replay = Replay(texts, side)
        assistant = (
            extractive
            if side == "extractive"
            else Assistant(index, generator=replay, k=args.k, log=False)
        )
        as_written = Assistant(
            index,
            generator=extractive.generator if side == "extractive" else replay,
            k=args.k,
            log=False,
            repoint_citations=False,
        )
        for p in prompts:
            item = qa[p["set"]][p["id"]]
            key = (p["set"], p["id"])
            if closed and key not in rows:
                continue
            started = time.perf_counter()
            answer = (
                closed_book_answer(replay, item.question)
                if closed
                else assistant.ask(item.question)
            )
            if side == "extractive":  # its latency: the whole ask, measured here
                rows[key] = {
                    "text": answer.text,
                    "finish": None,
                    "seconds": time.perf_counter() - started,
                }
            results.setdefault(side, {}).setdefault(p["set"], []).append(
                (item, answer, rows.get(key))
            )
            if not closed:
                strict.setdefault(side, {}).setdefault(p["set"], []).append(
                    as_written.ask(item.question)
                )
    report = render(results, strict, sets, args)
    Path(args.out).write_text(report, encoding="utf-8")
    print(report)
    if args.json:
        data = {
            side: {
                name: {
                    "summary": summarise(
                        pairs, side.startswith("closed-"), strict.get(side, {}).get(name, ())
                    ),
                    "answers": [
                        {
                            "id": d.id,
                            "refused": a.refused,
                            "answer": a.text,
                            "raw": (r or {}).get("text"),
                        }
                        for d, a, r in pairs
                    ],
                }
                for name, pairs in by_set.items()
            }
            for side, by_set in results.items()
        }
        Path(args.json).write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


def render(
    results: dict[str, Any],
    strict: dict[str, dict[str, list[Any]]],
    sets: Sequence[str],
    args: argparse.Namespace,
) -> str:
    sides = list(results)
    lines = ["# Gemma 3 270M + LoRA against the extractive default (issue 18)", ""]
    if args.stageb:
        meta = json.loads(Path(args.stageb).read_text(encoding="utf-8"))
        lines += [
            f"Stage B: {meta['device']}, torch {meta['torch']}, batch {meta['batch']}, "
            f"max_new_tokens {meta['max_new_tokens']}; timings (s): "
            + ", ".join(f"{k} {v:.1f}" for k, v in meta["timings"].items()),
            "",
        ]
        if meta.get("sides_legend"):
            lines += [f"Sides: {meta['sides_legend']}", ""]
        for name, m in meta.get("train", {}).items():
            lines.append(
                f"- adapter {name}: {m['train_examples']} examples, {m['steps']} steps, loss "
                f"{m['train_loss_first']:.3f} → {m['train_loss_last']:.3f}, held-out loss "
                f"{m['eval_loss_before']:.3f} → {m['eval_loss_after']:.3f}, decision accuracy "
                f"{m['decision_accuracy_before']:.2f} → {m['decision_accuracy_after']:.2f}"
            )
        lines.append("")
    for name in sets:
        summaries = [
            summarise(
                results[s].get(name, []),
                s.startswith("closed-"),
                strict.get(s, {}).get(name, ()),
            )
            for s in sides
        ]
        lines += [
            f"## {name}",
            "",
            "| measure | " + " | ".join(sides) + " |",
            "|---" * (len(sides) + 1) + "|",
        ]
        for key in summaries[0]:
            lines.append(f"| {key} | " + " | ".join(s[key] for s in summaries) + " |")
        lines.append("")
    first = sets[0] if sets else ""
    pairs = {s: results[s].get(first, []) for s in sides}
    chosen = [d.id for d, _, _ in pairs[sides[0]] if d.in_scope][: args.examples]
    lines += [f"## {len(chosen)} answers side by side ({first})", ""]
    for qid in chosen:
        lines.append(f"**{qid}** {next(d.question for d, _, _ in pairs[sides[0]] if d.id == qid)}")
        lines.append("")
        for side in sides:
            answer, raw = next(((a, r) for d, a, r in pairs[side] if d.id == qid), (None, None))
            text = " ".join((answer.text if answer else "(not asked)").split())
            lines.append(f"- {side}: {text[:300]}{'…' if len(text) > 300 else ''}")
            said = " ".join(((raw or {}).get("text") or "").split())
            if side != "extractive" and said and said != text:  # what verification changed
                lines.append(f"  - raw: {said[:160]}{'…' if len(said) > 160 else ''}")
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="stage", required=True)
    a = sub.add_parser("prompts", help="stage A: the exact prompts per question")
    c = sub.add_parser("score", help="stage C: verify and score stage B's raw answers")
    for p in (a, c):
        p.add_argument("--index", required=True)
        p.add_argument("-k", type=int, default=5)
    a.add_argument("--qa", action="append", required=True)
    a.add_argument("--out", required=True)
    a.add_argument(
        "--limit",
        type=int,
        default=0,
        help="first N questions of each set (+ its first out-of-scope one)",
    )
    c.add_argument("--prompts", required=True)
    c.add_argument("--raw", action="append", required=True)
    c.add_argument("--qa", action="append", required=True, help="the QA files stage A read")
    c.add_argument("--out", required=True, help="the markdown report")
    c.add_argument("--json")
    c.add_argument("--stageb", help="stage B's stageb.json (device, timings, training)")
    c.add_argument("--examples", type=int, default=EXAMPLES)
    c.add_argument(
        "--side", action="append", help="score only these sides of the raw files (repeatable)"
    )
    args = parser.parse_args(argv)
    return stage_prompts(args) if args.stage == "prompts" else stage_score(args)


if __name__ == "__main__":
    sys.exit(main())
