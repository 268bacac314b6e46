"""Retrieval benchmark on the real corpus: quality, build time, latency, memory.

Usage:
    python benchmarks/bench_retrieval.py [--corpus ../shared/corpus] [--qa FILE ...]
        [--skip-baseline-build] [--json-out benchmarks/results/retrieval.json]

``--json-out`` (alias ``--json``) writes every figure, with the command and machine load,
to a JSON file; ``benchmarks/readme_figures.py`` renders README's "Measured" table from it.

Everything is measured in this one process (plus subprocesses for the cold-start
and memory figures), with the quick-start baseline (RecursiveCharacterTextSplitter
1000/200, PDFs page by page, FAISS, the same e5-small in fp32) built in the same
run, so ratios hold even when the machine's speed drifts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fnrag.embedders.factory import load_embedder  # noqa: E402
from fnrag.evaluation.baseline import WhitespaceBM25, build_quickstart  # noqa: E402
from fnrag.evaluation.metrics import percentile  # noqa: E402
from fnrag.evaluation.qa import load_qa  # noqa: E402
from fnrag.evaluation.runner import evaluate_retrieval  # noqa: E402
from fnrag.files import write_file_atomic  # noqa: E402
from fnrag.index.build import build_index  # noqa: E402
from fnrag.index.fusion import reciprocal_rank_fusion  # noqa: E402
from fnrag.index.search import load_index  # noqa: E402
from fnrag.types import Hit  # noqa: E402

FILES = (
    "laws/금융실명법_법률.md",
    "laws/금융실명법_시행령.md",
    "laws/금융실명법_시행규칙.md",
    "laws/related/특정금융정보법_법률.md",
    "laws/related/특정금융정보법_시행령.md",
    "pdf/은행검사매뉴얼_2025-07.pdf",
)
CHANGED_FILE = "laws/금융실명법_시행규칙.md"


def rrf_search(index, query: str, k: int) -> list[Hit]:
    """Plain RRF of dense and lexical top-50: the reference fusion."""
    dense = index.search(query, k=50, mode="dense")
    lexical = index.search(query, k=50, mode="lexical")
    fused = reciprocal_rank_fusion([[h.chunk_id for h in dense], [h.chunk_id for h in lexical]])
    ranked = sorted(fused, key=lambda cid: -fused[cid])[:k]
    return [
        Hit.from_chunk(index.chunk(cid), rank, fused[cid])
        for rank, cid in enumerate(ranked, start=1)
    ]


def cold_search_seconds(index_dir: Path, query: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "fnrag.cli",
                "search",
                query,
                "--index",
                str(index_dir),
                "--json",
            ],
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent (this
# benchmark, with two models loaded), while VmHWM is the new process's own peak.
SERVE = """
import sys
from fnrag.index.search import load_index  # noqa: E402
index = load_index(sys.argv[1])
questions = sys.argv[2:]
for _ in range(10):
    for q in questions:
        index.search(q, k=5)
status = open("/proc/self/status").read()
print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
"""


def serving_peak_rss_mb(index_dir: Path, questions: list[str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", SERVE, str(index_dir), *questions],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def run_info(argv: list[str]) -> dict:
    """How and where the figures were measured (the README quotes the command)."""
    script = Path(argv[0]).resolve()
    shown = script.relative_to(REPO) if script.is_relative_to(REPO) else script
    git = ["git", "-C", str(REPO)]
    commit = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "command": " ".join(["python3", str(shown), *argv[1:]]),
        "date": time.strftime("%Y-%m-%d"),
        # "+dirty": measured on uncommitted changes to tracked files.
        "commit": f"{commit}+dirty" if commit and dirty else commit or None,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_before": list(os.getloadavg()),
    }


def main() -> int:
    run_started = time.perf_counter()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus"))
    parser.add_argument(
        "--qa", action="append", help="QA JSONL files (default: the corpus's dev_qa.jsonl)"
    )
    parser.add_argument(
        "--skip-baseline-build", action="store_true", help="skip timing the fp32 baseline build"
    )
    parser.add_argument(
        "--json-out", "--json", dest="json", help="write all figures to this JSON file"
    )
    parser.add_argument(
        "--compare-fp32",
        action="store_true",
        help="also build fnrag's index with the fp32 torch embedder, to show what int8 costs",
    )
    args = parser.parse_args()
    corpus = Path(args.corpus)
    if not corpus.is_dir():
        print(f"no corpus at {corpus}; pass --corpus", file=sys.stderr)
        return 2
    qa_files = args.qa or [str(corpus / "dev_qa.jsonl")]
    results: dict = {"run": run_info(sys.argv), "qa": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "corpus"
        for name in FILES:
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(corpus / name, work / name)
        sources = [str(work / name) for name in FILES]
        index_dir = Path(tmp) / "index"

        # Warm the model caches so neither build pays a one-time conversion.
        load_embedder(None).encode_passages(["passage: 준비"])
        started = time.perf_counter()
        report = build_index(sources, index_dir)
        build_seconds = time.perf_counter() - started
        print(
            f"fnrag build: {report.chunks} chunks in {build_seconds:.1f}s "
            f"(embedding {report.seconds['embed']:.1f}s) with {report.embedder['name']}/{report.embedder['backend']}"
        )
        results["build"] = {
            "seconds": build_seconds,
            "chunks": report.chunks,
            "stages": report.seconds,
            "embedder": report.embedder,
        }

        baseline_embedder = load_embedder(None, backend="torch")
        baseline = None
        if not args.skip_baseline_build:
            baseline = build_quickstart(sources, baseline_embedder)
            print(
                f"baseline build (quick-start 1000/200, fp32): {len(baseline.chunks)} chunks in "
                f"{baseline.build_seconds:.1f}s; fnrag/baseline = {build_seconds / baseline.build_seconds:.2f}x"
            )
            results["baseline_build"] = {
                "seconds": baseline.build_seconds,
                "chunks": len(baseline.chunks),
                "ratio": build_seconds / baseline.build_seconds,
            }

        changed = work / CHANGED_FILE
        changed.write_text(
            changed.read_text(encoding="utf-8") + "\n\n개정 메모: 벤치마크용 변경.\n",
            encoding="utf-8",
        )
        started = time.perf_counter()
        rebuild = build_index(sources, index_dir)
        rebuild_seconds = time.perf_counter() - started
        print(
            f"rebuild after changing {CHANGED_FILE}: {rebuild_seconds:.2f}s "
            f"(embedded {rebuild.embedded}, reused {rebuild.reused_embeddings}); "
            f"rebuild/full = {rebuild_seconds / build_seconds:.3f}"
        )
        results["rebuild"] = {
            "seconds": rebuild_seconds,
            "ratio": rebuild_seconds / build_seconds,
            "embedded": rebuild.embedded,
        }

        index = load_index(index_dir)
        index.search("준비", k=1)
        systems = {
            "fnrag hybrid": lambda q, k: index.search(q, k=k),
            "fnrag dense": lambda q, k: index.search(q, k=k, mode="dense"),
            "fnrag lexical (Kiwi BM25)": lambda q, k: index.search(q, k=k, mode="lexical"),
            "plain RRF (dense+Kiwi BM25)": lambda q, k: rrf_search(index, q, k),
        }
        system_chunks = {name: index.chunks for name in systems}
        if args.compare_fp32:
            os.environ["FNRAG_EMBED_BACKEND"] = "torch"
            build_index(sources, Path(tmp) / "index-fp32")
            fp32_index = load_index(Path(tmp) / "index-fp32")
            del os.environ["FNRAG_EMBED_BACKEND"]
            systems["fnrag hybrid, fp32 embedder"] = lambda q, k: fp32_index.search(q, k=k)
            system_chunks["fnrag hybrid, fp32 embedder"] = fp32_index.chunks
        if baseline is None:
            baseline = build_quickstart(sources, baseline_embedder)
        systems["quick-start baseline (fp32)"] = baseline.search
        system_chunks["quick-start baseline (fp32)"] = list(baseline.chunks)
        whitespace = WhitespaceBM25(baseline.chunks)  # the same 1000/200 chunks
        systems["whitespace BM25"] = whitespace.search
        system_chunks["whitespace BM25"] = list(whitespace.chunks)

        for qa_file in qa_files:
            items = load_qa(qa_file)
            rows = {}
            print(f"\n{Path(qa_file).name}: {sum(i.in_scope for i in items)} in-scope questions")
            print(f"{'system':32s} {'hit@1':>6s} {'hit@5':>6s} {'mrr@10':>7s} {'ndcg@10':>8s}")
            for name, search in systems.items():
                scores = evaluate_retrieval(
                    name, search, system_chunks[name], items
                ).scores.to_json()
                rows[name] = scores
                print(
                    f"{name:32s} {scores['hit@1']:6.3f} {scores['hit@5']:6.3f} "
                    f"{scores['mrr@10']:7.3f} {scores['ndcg@10']:8.3f}"
                )
            results["qa"][Path(qa_file).name] = rows

        questions = [item.question for qa_file in qa_files for item in load_qa(qa_file)]
        latencies = []
        for _ in range(5):
            for question in questions:
                started = time.perf_counter()
                index.search(question, k=5)
                latencies.append(time.perf_counter() - started)
        p50, p95 = (
            (percentile(latencies, 50) or 0.0) * 1000,
            (percentile(latencies, 95) or 0.0) * 1000,
        )
        print(
            f"\nwarm search k=5 over {len(latencies)} queries: p50 {p50:.1f} ms, p95 {p95:.1f} ms"
        )
        cold = cold_search_seconds(index_dir, questions[0])
        print(f"cold `fnrag search` (new process, median of 3): {cold:.2f}s")
        rss = serving_peak_rss_mb(index_dir, questions[:20])
        print(f"peak RSS while serving 200 searches: {rss:.0f} MB")
        results["latency"] = {
            "warm_p50_ms": p50,
            "warm_p95_ms": p95,
            "cold_cli_s": cold,
            "serving_peak_rss_mb": rss,
        }
    results["run"]["load_average_after"] = list(os.getloadavg())
    results["run"]["seconds"] = time.perf_counter() - run_started
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(results, ensure_ascii=False, indent=2) + "\n"
        write_file_atomic(out, text.encode("utf-8"))
        print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
