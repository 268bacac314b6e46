"""``fnrag search``: the best passages for a query, with where they come from."""

from __future__ import annotations

import argparse
import json

from fnrag.commands.common import add_as_of, print_line, version_label
from fnrag.commands.options import add_settings, settings_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("search", help="find the passages that best match a query")
    parser.add_argument("query", metavar="QUERY")
    parser.add_argument("--index", help="index directory (default: $FNRAG_INDEX or index/default)")
    parser.add_argument(
        "--index-key",
        metavar="FILE",
        help="refuse the index unless it is signed with this key file "
        "(default: $FNRAG_INDEX_KEY; see build-index --sign-key)",
    )
    parser.add_argument("--json", action="store_true", help="print the hits as a JSON list")
    add_as_of(parser)
    add_settings(parser, ["search"])  # -k, --mode, the fusion weights, --config
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fnrag.index.search import load_index

    settings = settings_from(args)
    index = load_index(args.index, verify_key=args.index_key, config=settings.search)
    hits = index.search(args.query, as_of=args.as_of)
    if args.json:
        print_line(json.dumps([hit.to_json() for hit in hits], ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print_line("no matching passages")
    rank_of = {hit.chunk_id: hit.rank for hit in hits}
    for hit in hits:
        page = f", p.{hit.page}" if hit.page is not None else ""
        print_line(f"[{hit.rank}] {hit.score:.3f}  {hit.title}{page}{version_label(hit)}")
        print_line(f"    {hit.section}")
        if hit.linked_to:
            # Ranked by the reference, not by its own words: say which provision led here.
            via = (
                f"[{rank_of[hit.linked_to]}]"
                if hit.linked_to in rank_of
                else index.chunk(hit.linked_to).section
            )
            print_line(f"    (names {hit.linked_article} of {via})")
        snippet = " ".join(hit.text.split())
        print_line(f"    {snippet[:200]}{'…' if len(snippet) > 200 else ''}")
    return 0
