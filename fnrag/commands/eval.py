"""``fnrag eval``: retrieval, citation and answer quality over a QA file.

Examples::

    fnrag eval --qa ../shared/corpus/dev_qa.jsonl --index ./idx --json
    fnrag eval --qa qa.jsonl --index ./idx --modes dense,lexical,hybrid --baseline langchain \\
        --generator extractive --generator transformers:model=./base,adapter=./lora \\
        --out reports/2025-07
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

from fnrag.commands.common import add_as_of
from fnrag.commands.options import add_settings, given_options, settings_from
from fnrag.errors import InputError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="measure retrieval, citations, answers and refusals on a QA file",
        description=(
            "Evaluate an index (and generators) on a JSONL QA file with id, q, gold "
            "[{doc, art, anchor}] and optional out_of_scope; compare retrieval modes, "
            "generators with and without retrieval, and the LangChain quick-start baseline."
        ),
    )
    parser.add_argument("--qa", required=True, metavar="FILE", help="QA file (JSONL)")
    parser.add_argument(
        "--index", metavar="DIR", help="index directory (default: the default index)"
    )
    parser.add_argument(
        "--index-key",
        metavar="FILE",
        help="refuse the index unless it is signed with this key file "
        "(default: $FNRAG_INDEX_KEY; see build-index --sign-key)",
    )
    parser.add_argument(
        "--generator",
        action="append",
        default=[],
        metavar="NAME[:k=v,...]",
        help="generator to evaluate (repeatable; default: extractive), e.g. extractive, "
        "transformers:model=DIR, transformers:model=DIR,adapter=DIR, "
        "openai:base_url=URL,model=NAME",
    )
    parser.add_argument(
        "--no-answers", action="store_true", help="retrieval only: ask no generator"
    )
    parser.add_argument(
        "--modes",
        default="hybrid,dense,lexical",
        help="retrieval modes to compare, comma-separated (default: hybrid,dense,lexical)",
    )
    parser.add_argument(
        "--baseline",
        choices=["langchain"],
        help="also score the LangChain quick-start (1000/200 splitter + FAISS, same embedder) "
        "and whitespace BM25",
    )
    parser.add_argument(
        "--sources",
        nargs="+",
        metavar="PATH",
        help="files the baseline indexes (default: the sources in the index manifest)",
    )
    parser.add_argument(
        "--out", metavar="REPORT_DIR", help="write report.md, chart.png, results.json here"
    )
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    # -k, the fusion weights and refusal thresholds, --config (--modes picks the modes).
    add_as_of(parser)
    add_settings(parser, ["search", "refusal"], skip=["mode"])
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fnrag.evaluation.compare import GeneratorSpec, run_evaluation
    from fnrag.evaluation.qa import load_qa
    from fnrag.evaluation.report import render_markdown, write_report
    from fnrag.index.search import load_index
    from fnrag.paths import default_index_dir

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes:
        raise InputError("--modes is empty; e.g. --modes hybrid,dense,lexical")
    if args.no_answers and args.generator:
        raise InputError("--no-answers and --generator contradict each other; drop one")
    names = [] if args.no_answers else (args.generator or ["extractive"])
    generators = [GeneratorSpec.parse(g) for g in names]
    items = load_qa(args.qa)
    index_dir = args.index or str(default_index_dir())
    settings = settings_from(args)
    index = load_index(index_dir, verify_key=args.index_key, config=settings.search)
    report = run_evaluation(
        index,
        items,
        qa_path=args.qa,
        index_path=index_dir,
        modes=modes,
        generators=generators,
        k=settings.search.k,
        refusal=settings.refusal,
        baseline=args.baseline,
        sources=args.sources,
        progress=not args.no_progress,
        as_of=args.as_of,
    )
    command = _command(args, index_dir)
    if args.out:
        out = write_report(report, args.out, command)
        print(f"report written to {out}/report.md", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    elif not args.out:
        print(render_markdown(report, command), end="")
    return 0


def _command(args: argparse.Namespace, index_dir: str) -> str:
    """The command line that reproduces this run (for the report), from the parsed options."""
    parts = ["fnrag", "eval", "--qa", args.qa, "--index", index_dir, "--modes", args.modes]
    if args.index_key:
        parts += ["--index-key", args.index_key]
    for spec in args.generator:
        parts += ["--generator", spec]
    if args.no_answers:
        parts.append("--no-answers")
    if args.baseline:
        parts += ["--baseline", args.baseline]
    if args.sources:
        parts += ["--sources", *args.sources]
    if args.as_of:
        parts += ["--as-of", args.as_of.isoformat()]
    parts += given_options(args)
    return " ".join(shlex.quote(p) for p in parts)
