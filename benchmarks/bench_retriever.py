"""Retriever fine-tuning benchmark: tuned vs untuned e5-small, measured in one run.

Usage:
    python benchmarks/bench_retriever.py [--corpus ../shared/corpus] [--base-index DIR]
        [--config training/configs/retriever-cpu.yaml] [--json-out benchmarks/results/retriever.json]

Trains ``training.retriever`` on ``benchmarks/data/tune_qa.jsonl`` only (a subprocess, so
its wall time and peak RSS are its own), builds the real-corpus index with the tuned
model (``build_index(..., embedder=MODEL_DIR)``, the int8 ONNX route fnrag loads by
default) and scores both indexes on dev_qa and practitioner_qa, which are never trained
on: hit@1, hit@5 and MRR@10, hybrid and dense-only, hybrid with the built-in practitioner
vocabulary and without it (``$FNRAG_VOCABULARY`` naming a ``builtin: false`` file).
Answers too (``Assistant.ask``, extractive; ``bench_ask.py``'s measures): first cited
gold, gold cited, in-scope and out-of-scope refusals, and the written refusal sets, for
the untuned index, the tuned one with the thresholds training carried over
(``training.retriever_scope``), and the tuned one with the e5 defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fnrag.evaluation.qa import load_qa  # noqa: E402
from fnrag.evaluation.runner import evaluate_retrieval  # noqa: E402
from fnrag.files import write_file_atomic  # noqa: E402
from fnrag.index.build import build_index  # noqa: E402
from fnrag.index.search import load_index  # noqa: E402
from fnrag.korean.vocabulary import VOCABULARY_ENV  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
# The same six real-corpus files as the retrieval benchmark (and tests/conftest.py).
from bench_ask import measure_set, summarise  # noqa: E402
from bench_retrieval import FILES  # noqa: E402
from refusal_questions import IN_SCOPE, OFF_TOPIC  # noqa: E402

TRAIN = REPO / "benchmarks" / "data" / "tune_qa.jsonl"
HELD_OUT = {"practitioner_qa": REPO / "benchmarks" / "data" / "practitioner_qa.jsonl"}


def scores(index_dir: Path, qa: Path, mode: str) -> dict[str, float]:
    index = load_index(index_dir)
    items = load_qa(qa)
    result = evaluate_retrieval(
        mode, lambda q, k: index.search(q, k=k, mode=mode), index.chunks, items
    )
    data = result.scores.to_json()
    return {key: round(data[key], 4) for key in ("hit@1", "hit@5", "mrr@10")}


ASK_MEASURES = ("first cited gold", "gold cited", "in-scope refused", "out-of-scope refused")


def ask_scores(index_dir: Path, qa_files: dict[str, Path], recorded: bool = True) -> dict:
    """bench_ask's measures per set and the written refusal sets; ``recorded=False``
    drops the thresholds the tuned model recorded (the e5 defaults apply)."""
    from fnrag.answering.assistant import Assistant

    index = load_index(index_dir)
    if not recorded:
        index.manifest.get("embedder_provenance", {}).pop("refusal", None)
    assistant = Assistant(index, log=False)
    row: dict = {}
    for name, qa in qa_files.items():
        summary = summarise(measure_set(assistant, name, load_qa(qa)))
        row[name] = {key: summary[key] for key in ASK_MEASURES}
    row["written in-scope refused"] = (
        f"{sum(assistant.ask(q).refused for q in IN_SCOPE)}/{len(IN_SCOPE)}"
    )
    row["written off-topic refused"] = (
        f"{sum(assistant.ask(q).refused for q in OFF_TOPIC)}/{len(OFF_TOPIC)}"
    )
    return row


def train(base_index: Path, out: Path, config: str) -> dict:
    command = [sys.executable, "-m", "training.retriever", "--qa", str(TRAIN)]
    command += ["--index", str(base_index), "--out", str(out), "--config", config]
    command += ["--eval-fraction", "0"]
    started = time.perf_counter()
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"training failed:\n{run.stderr[-3000:]}")
    report = json.loads(run.stdout.strip().splitlines()[-1])
    # ru_maxrss of the children is the largest single child's peak: the trainer's.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "command": " ".join(command),
        "wall_s": round(seconds, 1),
        "peak_rss_mb": round(peak),
    }, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus"))
    parser.add_argument("--base-index", help="an index of FILES built with the default embedder")
    parser.add_argument("--config", default="training/configs/retriever-cpu.yaml")
    parser.add_argument("--json-out", default=str(REPO / "benchmarks/results/retriever.json"))
    args = parser.parse_args()
    corpus = Path(args.corpus)
    if not corpus.is_dir():
        print(f"no corpus at {corpus}; pass --corpus", file=sys.stderr)
        return 2
    held_out = {"dev_qa": corpus / "dev_qa.jsonl", **HELD_OUT}
    assert TRAIN not in held_out.values()
    sources = [str(corpus / name) for name in FILES]
    results: dict = {
        "run": {"argv": sys.argv, "python": platform.python_version(), "cpus": os.cpu_count()},
        "train_file": str(TRAIN.relative_to(REPO)),
    }
    with tempfile.TemporaryDirectory(prefix="bench-retriever-") as tmp:
        work = Path(tmp)
        base_index = Path(args.base_index) if args.base_index else work / "index-base"
        if not args.base_index:
            build_index(sources, base_index)
        model = work / "model"
        results["training"], results["training_report"] = train(base_index, model, args.config)
        print(f"trained: {results['training']}", flush=True)
        started = time.perf_counter()
        build_index(sources, work / "index-tuned", embedder=str(model))
        results["tuned_build_s"] = round(time.perf_counter() - started, 1)
        no_vocab = work / "no-vocabulary.yaml"
        no_vocab.write_text("builtin: false\nterms: {}\n", encoding="utf-8")
        indexes = {"untuned": base_index, "tuned": work / "index-tuned"}
        table: dict = {}
        for qa_name, qa in held_out.items():
            for model_name, index_dir in indexes.items():
                row = {
                    "hybrid": scores(index_dir, qa, "hybrid"),
                    "dense": scores(index_dir, qa, "dense"),
                }
                os.environ[VOCABULARY_ENV] = str(no_vocab)
                try:
                    row["hybrid_no_vocabulary"] = scores(index_dir, qa, "hybrid")
                finally:
                    del os.environ[VOCABULARY_ENV]
                table[f"{qa_name}/{model_name}"] = row
                print(qa_name, model_name, json.dumps(row), flush=True)
        results["scores"] = table
        asks = {
            "untuned": ask_scores(base_index, held_out),
            "tuned, thresholds carried over": ask_scores(work / "index-tuned", held_out),
            "tuned, e5 default thresholds": ask_scores(work / "index-tuned", held_out, False),
        }
        for name, row in asks.items():
            print("ask", name, json.dumps(row, ensure_ascii=False), flush=True)
        results["ask"] = asks
    write_file_atomic(
        Path(args.json_out),
        (json.dumps(results, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
