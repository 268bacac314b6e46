"""Embedding speed and agreement of the default model's backends, in one process.

Usage::

    python benchmarks/bench_embeddings.py [--n 64] [--chars 900] [--threads 2]

Embeds N Korean passages of about CHARS characters (statute text from
../shared/corpus/laws when present, else the bundled sample corpus in index/sample)
with torch fp32 (sentence-transformers), onnxruntime fp32 and onnxruntime int8, and
prints seconds, the speed-up over torch fp32 and the min/mean cosine to torch fp32.
The one-time conversion and ONNX export happen before timing.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_LAWS = REPO.parent / "shared" / "corpus" / "laws"
SAMPLE = REPO / "index" / "sample"


def passages(n: int, chars: int) -> tuple[list[str], str]:
    """N windows of about ``chars`` characters cut at whitespace, and where they came from."""
    files = sorted(SHARED_LAWS.rglob("*.md")) if SHARED_LAWS.is_dir() else []
    origin = str(SHARED_LAWS)
    if not files:
        files, origin = sorted(SAMPLE.rglob("*.md")), str(SAMPLE)
    if not files:
        sys.exit("no Korean text found: need ../shared/corpus/laws or index/sample")
    text = ""
    for f in files:
        body = f.read_text(encoding="utf-8")
        body = re.sub(r"\A---\n.*?\n---\n", "", body, flags=re.S)  # YAML front matter
        text += re.sub(r"[ \t]+", " ", body) + "\n"
    out: list[str] = []
    start = 0
    while len(out) < n:
        if start >= len(text) - chars // 2:
            start = 0  # wrap around on a small corpus
        end = text.rfind(" ", start, start + chars)
        end = end if end > start + chars // 2 else start + chars
        out.append(text[start:end].strip())
        start = end
    return out, origin


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--chars", type=int, default=900)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3, help="rounds; the best time counts")
    args = ap.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    from fnrag.embedders.factory import load_embedder

    texts, origin = passages(args.n, args.chars)
    print(
        f"{len(texts)} passages, mean {sum(map(len, texts)) / len(texts):.0f} chars, from {origin}"
    )
    print(f"threads: torch {torch.get_num_threads()}, onnxruntime {os.cpu_count()} (os.cpu_count)")
    embedders = {b: load_embedder(backend=b) for b in ("torch", "onnx", "onnx-int8")}
    for emb in embedders.values():
        emb.encode_passages(texts[:2], batch_size=2)  # warm-up: first-call allocations
    # Rounds interleave the backends and keep each one's best time, so a burst of
    # load from other processes on a shared machine doesn't favour one backend.
    best = dict.fromkeys(embedders, float("inf"))
    results = {}
    for _ in range(args.repeats):
        for backend, emb in embedders.items():
            t0 = time.perf_counter()
            vecs = emb.encode_passages(texts, batch_size=args.batch_size)
            best[backend] = min(best[backend], time.perf_counter() - t0)
            results[backend] = (best[backend], vecs)
    load = os.getloadavg()[0]
    print(f"best of {args.repeats} rounds; 1-min load average at the end: {load:.1f}")
    base_t, base_v = results["torch"]
    print(f"{'backend':<10} {'seconds':>8} {'vs torch':>9} {'min cos':>8} {'mean cos':>9}")
    for backend, (secs, vecs) in results.items():
        cos = (vecs * base_v).sum(axis=1)
        print(
            f"{backend:<10} {secs:8.2f} {base_t / secs:8.2f}x {float(np.min(cos)):8.4f} "
            f"{float(np.mean(cos)):9.4f}"
        )


if __name__ == "__main__":
    main()
