"""``fnrag build-index``: ingest sources into an index directory."""

from __future__ import annotations

import argparse

from fnrag.commands.common import print_line
from fnrag.commands.options import add_settings, settings_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build-index",
        help="build (or update) an index from PDF, Markdown and text files",
        description="Ingest SOURCE files and folders into an index. With no SOURCE, builds the "
        "bundled sample corpus into the default index location.",
    )
    parser.add_argument("sources", nargs="*", metavar="SOURCE", help="files or folders to index")
    parser.add_argument("--out", help="index directory (default: $FNRAG_INDEX or index/default)")
    parser.add_argument(
        "--embedder",
        help="sentence-transformers model name or local path "
        "(default: the bundled multilingual-e5-small)",
    )
    parser.add_argument(
        "--sign-key",
        metavar="FILE",
        help="sign the manifest with this HMAC key file of 32+ random bytes, made with "
        "`head -c 32 /dev/urandom > index.key` (default: $FNRAG_INDEX_KEY, else unsigned)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress on stderr (bars on a terminal, timed lines otherwise)",
    )
    parser.add_argument(
        "--effective-from",
        metavar="YYYY-MM-DD",
        help="date the statutes that state no 시행일자 (plain-text or PDF laws) as versions in "
        "force from this day (one file: a FILE.meta.yaml sidecar with 시행일자)",
    )
    add_settings(parser, ["chunking"])  # --max-chars, --include-chapters, --config
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fnrag.index.build import build_index

    report = build_index(
        args.sources,
        args.out,
        args.embedder,
        progress=not args.quiet,
        sign_key=args.sign_key,
        chunking=settings_from(args).chunking,
        effective_from=args.effective_from,
    )
    for file in report.files:
        note = " (unchanged, reused)" if file.reused else ""
        print_line(f"  {file.source}: {file.chunks} chunks [{file.kind}]{note}")
    for path, reason in report.skipped:
        print_line(f"  skipped {path}: {reason}")
    for note in report.notes:
        print_line(f"  note: {note}")
    seconds = report.seconds
    print_line(
        f"indexed {report.chunks} chunks from {len(report.files)} files into {report.index_dir} "
        f"(embedded {report.embedded}, reused {report.reused_embeddings}; "
        f"{seconds.get('total', 0):.1f}s, embedding {seconds.get('embed', 0):.1f}s) "
        f"with {report.embedder.get('name')}"
    )
    return 0
