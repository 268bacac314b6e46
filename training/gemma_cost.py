"""Seconds per LoRA step on Gemma 3 270M, with and without each lever (issue 18).

    python -m training.gemma_cost --data sft.jsonl [--data short.jsonl] [--steps 2] \
        [--variants full-all,resp-all,resp-top6,...] [--out cost.json]

A variant is ``LOSS-LAYERS[-gc]``: LOSS ``full`` (the model's own loss: logits over every
position and the whole 262k vocabulary) or ``resp`` (``training.batches.response_loss``:
the LM head on response tokens only); LAYERS ``all`` or ``topN`` (LoRA on the last N of 18
decoder layers, so backward stops there); ``-gc`` adds gradient checkpointing. Each data
file is one passage setting (e.g. whole chunks, k 5, against 200-character windows, k 3).
Every (file, variant) runs in its own process — the same loading code as
``training.sft`` (peft, fp32 on CPU, LoRA r 8 on all seven linear projections) — with one
untimed warm-up step, then ``--steps`` timed optimizer steps at batch 1 on the longest
rows; it reports the median and fastest s/step, tokens/row, the 1-minute load average
(other work on a shared machine) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_VARIANTS = "full-all,resp-all,resp-top6,resp-top6-gc"


def parse_variant(name: str) -> dict[str, Any]:
    parts = name.split("-")
    if parts[0] not in ("full", "resp") or len(parts) < 2:
        raise SystemExit(f"bad variant {name!r}: write LOSS-LAYERS[-gc], e.g. resp-top6")
    layers = 0 if parts[1] == "all" else int(parts[1].removeprefix("top"))
    return {"loss": parts[0], "lora_layers": layers, "gc": parts[2:] == ["gc"]}


def one(data: str, variant: str, steps: int, rows: int, threads: int) -> dict[str, Any]:
    """Load, warm up, time ``steps`` steps; runs inside the child process."""
    import torch

    from training.batches import collate, response_loss, tokenize_examples
    from training.config import SFTConfig, read_jsonl
    from training.sft import _load, resolve_base

    if threads:
        torch.set_num_threads(threads)
    spec = parse_variant(variant)
    config = SFTConfig(
        base_model="gemma3-270m",
        backend="peft",
        lora_r=8,
        lora_alpha=16,
        lora_layers=spec["lora_layers"],
        gradient_checkpointing=spec["gc"],
        max_seq_len=8192,
    )
    torch.manual_seed(0)
    t = time.perf_counter()
    model, tokenizer = _load(config, "peft", resolve_base(config.base_model))
    load_s = time.perf_counter() - t
    examples = sorted(read_jsonl(data), key=lambda r: len(r["prompt"]), reverse=True)
    # The longest rows (the cost that bounds a run), cycled through the steps.
    tokenized, _ = tokenize_examples(tokenizer, examples[: max(rows, 1)], config.max_seq_len)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    pad = tokenizer.pad_token_id

    def step(row: dict[str, Any]) -> float:
        batch = collate([row], pad)
        # full: the model's own loss, logits at every position over the whole vocabulary
        loss = response_loss(model, batch) if spec["loss"] == "resp" else model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss)

    step(tokenized[0])
    times = []
    for i in range(steps):
        t = time.perf_counter()
        step(tokenized[(i + 1) % len(tokenized)])
        times.append(time.perf_counter() - t)
    lengths = [len(r["input_ids"]) for r in tokenized]
    return {
        "data": data,
        "variant": variant,
        # The median: a shared machine's other work shows up as outliers, not as a shift.
        "s_per_step": statistics.median(times),
        "s_per_step_min": min(times),
        "step_s": times,
        "load_average_1m": os.getloadavg()[0],
        "tokens_per_row_mean": sum(lengths) / len(lengths),
        "response_tokens_mean": sum(sum(1 for x in r["labels"] if x != -100) for r in tokenized)
        / len(tokenized),
        "load_s": load_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "threads": torch.get_num_threads(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.gemma_cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", action="append", required=True, help="build_sft/gemma_data JSONL")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--rows", type=int, default=3, help="longest rows cycled through")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", nargs=2, metavar=("DATA", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        data, variant = args.child
        print(json.dumps(one(data, variant, args.steps, args.rows, args.threads)))
        return 0
    results = []
    for data in args.data:
        for variant in args.variants.split(","):
            command = [sys.executable, "-m", "training.gemma_cost", "--data", data]
            command += ["--steps", str(args.steps), "--rows", str(args.rows)]
            command += ["--threads", str(args.threads), "--child", data, variant]
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                results.append({"data": data, "variant": variant, "error": done.stderr[-600:]})
            else:
                results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            r = results[-1]
            print(
                f"{Path(data).name} {variant}: "
                + (
                    f"{r['s_per_step']:.1f} s/step (min {r['s_per_step_min']:.1f}), "
                    f"{r['tokens_per_row_mean']:.0f} tokens/row, load {r['load_average_1m']:.1f}, "
                    f"peak {r['peak_rss_mb']:.0f} MB"
                    if "error" not in r
                    else "error " + r["error"][-200:]
                ),
                flush=True,
            )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
