"""Verbatim decoding on the library path: ``Assistant.ask`` with the transformers generator,
``verbatim="off"`` against ``"cited"`` in the same process, same model and adapter (issue 18).

    python benchmarks/bench_verbatim.py --index IDX --model $(python -m training.gemma) \
        --adapter ADAPTER_DIR [--qa ../shared/corpus/dev_qa.jsonl] [--limit N] [--json OUT]

Per setting: gold cited, answered and verified, invalid markers before verification (markers
the verifier struck / markers written), out-of-scope refused, and seconds per answer (p50,
mean) for the whole ``ask`` on this machine's CPU; then the cited/off latency ratio. The two
settings share one loaded model: only ``generator.verbatim`` changes between the passes, and
the order alternates per question so neither pass gets a warmer cache.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_ask import gold_cited

from fnrag.evaluation.qa import load_qa

SETTINGS = ("off", "cited")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--adapter")
    parser.add_argument("--qa", default="../shared/corpus/dev_qa.jsonl")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from fnrag.answering.assistant import Assistant
    from fnrag.generators.transformers_backend import TransformersGenerator
    from fnrag.index.search import load_index

    items = load_qa(args.qa)
    items = items[: args.limit] if args.limit else items
    generator = TransformersGenerator(
        model=args.model, adapter=args.adapter, chat_template=False, device="cpu"
    )
    assistant = Assistant(load_index(args.index), generator=generator, log=False)
    t = time.perf_counter()
    generator.logits_processors(["warm-up"], 0)  # the token table, built once per generator
    table_s = time.perf_counter() - t
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in SETTINGS}
    for i, item in enumerate(items):
        order = SETTINGS if i % 2 == 0 else SETTINGS[::-1]
        for setting in order:
            generator.verbatim = setting
            started = time.perf_counter()
            answer = assistant.ask(item.question)
            seconds = time.perf_counter() - started
            markers = len(answer.invalid_citations) + len(answer.citations)
            rows[setting].append(
                {
                    "id": item.id,
                    "in_scope": item.in_scope,
                    "refused": answer.refused,
                    "gold": item.in_scope and gold_cited(answer, item.gold),
                    "invalid": len(answer.invalid_citations),
                    "markers": markers,
                    "generated": answer.refusal_reason != "weak evidence",
                    "seconds": seconds,
                    "text": answer.text,
                }
            )
        print(f"{item.id}: " + " | ".join(f"{s} {rows[s][-1]['text'][:60]!r}" for s in SETTINGS))
    summary = {s: _summary(rows[s]) for s in SETTINGS}
    summary["token_table_s"] = round(table_s, 2)
    off, cited = summary["off"]["generated_p50_s"], summary["cited"]["generated_p50_s"]
    summary["latency_ratio_cited_over_off"] = round(cited / off, 3) if off else None
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(
            json.dumps({"summary": summary, "rows": rows}, ensure_ascii=False, indent=1),
            encoding="utf-8",
        )
    return 0


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    inscope = [r for r in rows if r["in_scope"]]
    outside = [r for r in rows if not r["in_scope"]]
    generated = [r["seconds"] for r in rows if r["generated"]]
    markers = sum(r["markers"] for r in rows)
    return {
        "gold cited": f"{sum(r['gold'] for r in inscope)}/{len(inscope)}",
        "answered and verified": f"{sum(not r['refused'] for r in inscope)}/{len(inscope)}",
        "invalid markers before verification": f"{sum(r['invalid'] for r in rows)}/{markers}",
        "out-of-scope refused": f"{sum(r['refused'] for r in outside)}/{len(outside)}",
        "generated_p50_s": round(statistics.median(generated), 2) if generated else None,
        "generated_mean_s": round(statistics.fmean(generated), 2) if generated else None,
    }


if __name__ == "__main__":
    sys.exit(main())
