"""Render README's "Measured" figures from the benchmark's JSON, never by hand (issue 19).

Usage:
    python3 benchmarks/readme_figures.py [--json benchmarks/results/retrieval.json]
        [--readme README.md] [--check]

``benchmarks/bench_retrieval.py --json-out benchmarks/results/retrieval.json`` writes the
figures; this script replaces what README holds between ``<!-- figures:retrieval -->``
and ``<!-- /figures -->`` with the table they render to.  ``--check`` changes nothing and
exits 1 when README's block differs (tests/test_readme_figures.py runs the same check).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "retrieval.json"
DEFAULT_README = ROOT / "README.md"
END_MARKER = "<!-- /figures -->"
WIDTH = 95  # README's prose wraps here
QA_SET = "dev_qa.jsonl"
# (row label in README, system name in the benchmark's JSON)
SYSTEMS = (
    ("fnrag hybrid", "fnrag hybrid"),
    (
        "quick-start RAG (1000/200 splitter + FAISS, same embedder in fp32)",
        "quick-start baseline (fp32)",
    ),
)


class FiguresError(Exception):
    """The JSON or README is not what this script expects; the message says what to do."""


def start_marker(name: str) -> str:
    return f"<!-- figures:{name} -->"


def _get(figures: dict[str, Any], *keys: str) -> Any:
    value: Any = figures
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            raise FiguresError(
                f"the benchmark JSON has no {'.'.join(keys)}; rerun "
                "benchmarks/bench_retrieval.py without --skip-baseline-build and with --json-out"
            )
        value = value[key]
    return value


def render_retrieval(figures: dict[str, Any]) -> str:
    """The Markdown between the retrieval markers (no markers, ends with a newline)."""
    lines = ["| dev_qa | hit@1 | hit@5 | MRR@10 |", "|---|---|---|---|"]
    for label, system in SYSTEMS:
        scores = _get(figures, "qa", QA_SET, system)
        lines.append(
            f"| {label} | {scores['hit@1']:.2f} | {scores['hit@5']:.2f} | {scores['mrr@10']:.2f} |"
        )
    build_ratio = _get(figures, "baseline_build", "ratio")
    rebuild_ratio = _get(figures, "rebuild", "ratio")
    p50 = _get(figures, "latency", "warm_p50_ms")
    cold = _get(figures, "latency", "cold_cli_s")
    run = _get(figures, "run")
    # 1-minute load average at the start and at the end: absolute times depend on it.
    loads = [run.get(f"load_average_{when}", [None])[0] for when in ("before", "after")]
    load = "–".join(f"{value:.1f}" for value in loads if value is not None) or "unknown"
    paragraphs = (
        f"Build of that corpus: {build_ratio:.2f}× the quick-start baseline's time; rebuild "
        f"after one document changed: {rebuild_ratio:.1%} of a full build; warm search p50 "
        f"{p50:.0f} ms; cold `fnrag search` {cold:.1f} s.",
        f"Measured {run['date']} on {run['cpus']} CPU cores (load {load}; commit "
        f"{run['commit']}); written by `python3 benchmarks/readme_figures.py` from "
        "`benchmarks/results/retrieval.json`, which this command wrote:",
    )
    for paragraph in paragraphs:
        lines += ["", _wrap(paragraph)]
    lines += ["", f"    {run['command']}"]
    return "\n".join(lines) + "\n"


def _wrap(paragraph: str) -> str:
    # Never break inside a `code span`: a command split over two lines is hard to copy.
    spans = re.sub(r"`[^`]*`", lambda m: m.group(0).replace(" ", "\0"), paragraph)
    return textwrap.fill(spans, WIDTH, break_on_hyphens=False).replace("\0", " ")


def _block_span(text: str, name: str) -> tuple[int, int]:
    start_tag = start_marker(name)
    start = text.find(start_tag)
    if start < 0 or text.find(start_tag, start + 1) >= 0:
        raise FiguresError(f"README must hold {start_tag} exactly once (it marks the figures)")
    body = text.index("\n", start) + 1
    end = text.find(END_MARKER, body)
    if end < 0:
        raise FiguresError(f"{start_tag} in README has no {END_MARKER} after it")
    return body, end


def current_block(readme: str, name: str = "retrieval") -> str:
    """What README holds between the markers of ``name``."""
    body, end = _block_span(readme, name)
    return readme[body:end]


def replace_block(readme: str, rendered: str, name: str = "retrieval") -> str:
    """``readme`` with the block of ``name`` replaced by ``rendered``; nothing else changes."""
    body, end = _block_span(readme, name)
    return readme[:body] + rendered + readme[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="benchmark figures")
    parser.add_argument("--readme", type=Path, default=DEFAULT_README)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if README differs; change nothing"
    )
    args = parser.parse_args(argv)
    try:
        figures = json.loads(args.json.read_text(encoding="utf-8"))
        readme = args.readme.read_text(encoding="utf-8")
        updated = replace_block(readme, render_retrieval(figures))
    except (OSError, ValueError, FiguresError) as error:
        print(f"readme_figures: error: {error}", file=sys.stderr)
        return 2
    if updated == readme:
        print(f"{args.readme}: figures match {args.json}")
        return 0
    if args.check:
        diff = difflib.unified_diff(
            current_block(readme).splitlines(),
            current_block(updated).splitlines(),
            "README (by hand)",
            "rendered from JSON",
            lineterm="",
        )
        print("\n".join(diff))
        print(
            f"{args.readme}: figures differ from {args.json}; run python3 "
            "benchmarks/readme_figures.py to rewrite them",
            file=sys.stderr,
        )
        return 1
    tmp = args.readme.with_name(f".{args.readme.name}.figures-tmp")
    tmp.write_text(updated, encoding="utf-8")
    tmp.replace(args.readme)
    print(f"{args.readme}: figures rewritten from {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
