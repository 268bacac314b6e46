"""Stage B of the Gemma benchmark: train the adapters and write every side's raw answers.

    python -m training.gemma_stageb --data out/gemma/data --out DIR \
        [--config training/configs/gemma-gpu.yaml] [--sizes 75,150,0] [--batch 64] \
        [--max-new-tokens 256] [--limit N] [--adapter DIR (no training)] [--seed N] \
        [--verbatim off,cited,shown]

Runs where the accelerator is: it needs torch, transformers, peft, trl and datasets, and
no index (no faiss, Kiwi or onnxruntime). The questions' exact prompts come from stage A
(``benchmarks/bench_gemma.py prompts`` → ``DATA/prompts.jsonl``: the passages fnrag's
retrieval gave, as ``fnrag ask`` would show them); stage C scores what this writes with
fnrag's own citation verification (``bench_gemma.py score``).

For each training size (``sft-<n>.jsonl``; 0 = all of ``sft.jsonl``) it trains with
``training.sft`` (``eval_file`` = ``sft_heldout.jsonl``), then generates: ``base`` (no
adapter) and ``tuned-<n>`` over the prompts, and closed-book (the same prompt with no
passages) for ``base`` and the largest adapter. Generation is
:class:`~fnrag.generators.transformers_backend.TransformersGenerator`'s own settings
(greedy, repetition penalty 1.1, raw Alpaca prompt with BOS, stop at EOS); ``--batch 1``
is its ``generate`` exactly, larger batches left-pad the same inputs. Writes
``DIR/raw.jsonl``, ``DIR/stageb.json`` (training metrics, timings, device) and
``DIR/run-<n>/adapter`` per size. Trained runs and finished sides (``raw-<side>.jsonl``)
are kept and skipped when the same command runs again, so a call cut off by the device's
time limit is resumed by the next one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fnrag.errors import FnragError
from training.config import read_jsonl, write_json, write_jsonl


def generate_rows(gen: Any, prompts: Sequence[str], batch: int) -> list[dict[str, Any]]:
    """Raw generations for ``prompts`` (in order) with ``gen``'s model and settings."""
    import torch

    if batch <= 1:
        out = []
        for prompt in prompts:
            g = gen.generate(prompt, question="", passages=())
            out.append(
                {
                    "text": g.text,
                    "finish": g.finish_reason,
                    "prompt_tokens": g.prompt_tokens,
                    "completion_tokens": g.completion_tokens,
                    "seconds": g.seconds,
                }
            )
        return out
    tokenizer = gen.tokenizer
    eos = tokenizer.eos_token_id
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # less padding
    results: dict[int, dict[str, Any]] = {}
    for start in range(0, len(order), batch):
        part = order[start : start + batch]
        tokenizer.padding_side = "left"
        enc = tokenizer(
            [gen.render(prompts[i]) for i in part],
            return_tensors="pt",
            padding=True,
            add_special_tokens=not gen.use_chat_template,
        ).to(gen.device)
        started = time.perf_counter()
        width = int(enc["input_ids"].shape[1])
        processors = gen.logits_processors([prompts[i] for i in part], width)
        with torch.inference_mode():
            output = gen.model.generate(
                **enc, **gen._generate_kwargs(), logits_processor=processors
            )
        seconds = (time.perf_counter() - started) / len(part)
        for row, i in enumerate(part):
            new = output[row, width:].tolist()
            stop = eos in new
            new = new[: new.index(eos) + 1] if stop else new
            results[i] = {
                "text": str(tokenizer.decode(new, skip_special_tokens=True)).strip(),
                "finish": "stop" if stop else "length",
                "prompt_tokens": int(enc["attention_mask"][row].sum()),
                "completion_tokens": len(new),
                "seconds": seconds,
            }
    return [results[i] for i in range(len(prompts))]


def run_side(
    side: str,
    model: Path,
    adapter: Path | None,
    rows: Sequence[dict[str, Any]],
    args: Any,
    verbatim: str = "off",
) -> list[dict[str, Any]]:
    """One side's generations: over the prompts (kind rag), or closed-book."""
    from fnrag.generators.transformers_backend import TransformersGenerator

    closed = side.startswith("closed-")
    gen = TransformersGenerator(
        model=model,
        adapter=adapter,
        max_new_tokens=args.max_new_tokens,
        chat_template=False,
        verbatim=verbatim,
    )
    todo = [r for r in rows if closed or r.get("prompt")]
    prompts = [r["closed_prompt"] if closed else r["prompt"] for r in todo]
    started = time.perf_counter()
    made = generate_rows(gen, prompts, args.batch)
    print(f"{side}: {len(made)} answers in {time.perf_counter() - started:.1f} s", flush=True)
    return [
        {"side": side, "kind": "closed" if closed else "rag", "set": r["set"], "id": r["id"], **m}
        for r, m in zip(todo, made, strict=True)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.gemma_stageb",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", required=True, type=Path, help="training.gemma_data folder")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--config", default="training/configs/gemma-gpu.yaml")
    parser.add_argument("--sizes", default="0", help="training sizes (sft-<n>.jsonl; 0 = all)")
    parser.add_argument("--batch", type=int, default=64, help="prompts per generate call")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--limit", type=int, default=0, help="first N prompts only (smoke)")
    parser.add_argument("--adapter", type=Path, help="use this adapter; train nothing")
    parser.add_argument("--no-base", action="store_true", help="skip the base model's sides")
    parser.add_argument(
        "--verbatim",
        default="off",
        help="comma-separated verbatim settings for the tuned sides (off, cited, shown): "
        "each other than off adds a side named tuned-<n>-verbatim-<setting>; base and "
        "closed-book sides are generated without it",
    )
    parser.add_argument(
        "--seed",
        type=int,
        help="training seed (LoRA init and data order; default: the config's): a second "
        "seed on the same data measures how much of a difference is the seed's",
    )
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except FnragError as error:
        print(f"gemma_stageb: error: {error}", file=sys.stderr)
        return 2


def _run(args: Any) -> int:
    import torch

    from training.config import SFTConfig, load_config
    from training.gemma import prepare_gemma
    from training.sft import train

    started = time.perf_counter()
    model = prepare_gemma()
    timings: dict[str, float] = {"prepare_s": time.perf_counter() - started}
    rows = list(read_jsonl(args.data / "prompts.jsonl"))
    rows = rows[: args.limit] if args.limit else rows
    runs: dict[str, Any] = {}
    adapters: dict[str, Path] = {}
    if args.adapter:
        adapters["tuned"] = args.adapter
    else:
        for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
            name = "all" if size == 0 else str(size)
            train_file = args.data / ("sft.jsonl" if size == 0 else f"sft-{size}.jsonl")
            config = load_config(
                SFTConfig,
                args.config,
                {
                    "train_file": str(train_file),
                    "eval_file": str(args.data / "sft_heldout.jsonl"),
                    "seed": args.seed,  # None: the config's
                },
            )
            run = args.out / f"run-{name}"
            if (run / "metrics.json").is_file() and (run / "adapter").is_dir():
                # Trained by an earlier call that ran out of time: resume after it.
                runs[name] = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
            else:
                t = time.perf_counter()
                runs[name] = train(config, run).metrics
                timings[f"train_{name}_s"] = time.perf_counter() - t
            adapters[f"tuned-{name}"] = run / "adapter"
    settings = [v.strip() for v in args.verbatim.split(",") if v.strip()] or ["off"]
    sides: list[tuple[str, Path | None, str]] = [] if args.no_base else [("base", None, "off")]
    for name, path in adapters.items():
        sides += [(name if v == "off" else f"{name}-verbatim-{v}", path, v) for v in settings]
    last = list(adapters.items())[-1:] if adapters else []
    sides += [] if args.no_base else [("closed-base", None, "off")]
    sides += [(f"closed-{name}", path, "off") for name, path in last]
    raw: list[dict[str, Any]] = []
    for side, adapter, verbatim in sides:
        done = args.out / f"raw-{side}.jsonl"
        if not done.is_file():  # one file per side, so a second call resumes
            t = time.perf_counter()
            write_jsonl(done, run_side(side, model, adapter, rows, args, verbatim))
            timings[f"generate_{side}_s"] = time.perf_counter() - t
        raw += read_jsonl(done)
    write_jsonl(args.out / "raw.jsonl", raw)
    timings["total_s"] = time.perf_counter() - started
    write_json(
        args.out / "stageb.json",
        {
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            "torch": torch.__version__,
            "batch": args.batch,
            "max_new_tokens": args.max_new_tokens,
            "prompts": len(rows),
            "seed": args.seed,
            "sides": [s for s, _, _ in sides],
            "verbatim": settings,
            "adapters": {k: str(v) for k, v in adapters.items()},
            "train": runs,
            "timings": timings,
        },
    )
    print(json.dumps({"raw": len(raw), "timings": timings}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
