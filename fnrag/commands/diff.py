"""``fnrag diff LAW ARTICLE --from DATE [--to DATE]``: what an amendment changed.

Prints the article as in force on each date, unit by unit (항/호/목): ``~`` changed,
``+`` added, ``-`` removed (or left as 삭제), ``>`` renumbered, with the two versions'
labels; ``--json`` prints the :class:`fnrag.types.ArticleDiff`.
"""

from __future__ import annotations

import argparse
import json

from fnrag.commands.common import print_line

_SIGNS = {"changed": "~", "added": "+", "removed": "-", "renumbered": ">", "unchanged": " "}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="show what changed in an article between two dates (신구조문대비)",
        description="Compare ARTICLE of LAW as in force on --from and on --to, unit by unit.",
    )
    parser.add_argument("law", metavar="LAW", help="e.g. 금융실명법, 시행령, 금융실명법 시행규칙")
    parser.add_argument("article", metavar="ARTICLE", help="e.g. 제4조, 제4조의2 or 4")
    parser.add_argument("--from", dest="from_date", required=True, metavar="YYYY-MM-DD")
    parser.add_argument(
        "--to", dest="to_date", default="today", metavar="YYYY-MM-DD", help="default: today"
    )
    parser.add_argument("--index", help="index directory (default: $FNRAG_INDEX or index/default)")
    parser.add_argument(
        "--index-key", metavar="FILE", help="refuse the index unless it is signed with this key"
    )
    parser.add_argument("--all", action="store_true", help="also print the unchanged units")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fnrag.generators.units import short_law_name
    from fnrag.index.search import load_index
    from fnrag.versions.dates import korean_date

    index = load_index(args.index, verify_key=args.index_key)
    diff = index.diff(args.law, args.article, args.from_date, args.to_date)
    if args.json:
        print_line(json.dumps(diff.to_json(), ensure_ascii=False, indent=2))
        return 0
    print_line(f"{short_law_name(diff.title)} {diff.article}")
    print_line(f"  {korean_date(diff.from_date)} 기준: {diff.from_version or '-'}")
    print_line(f"  {korean_date(diff.to_date)} 기준: {diff.to_version or '-'}")
    if diff.amendments:
        print_line("  그 사이 개정 (부칙):")
        for record in diff.amendments:
            print_line(f"    {record.heading} {record.effective}".rstrip())
    if not diff.changed:
        print_line("변경 없음")
        return 0
    for change in diff.changes:
        if change.status == "unchanged" and not args.all:
            continue
        sign = _SIGNS[change.status]
        if change.status in ("changed", "renumbered"):
            print_line(f"{sign} {change.old_path} → {change.new_path}")
            print_line(f"    - {change.old_text}")
            print_line(f"    + {change.new_text}")
        elif change.status == "removed":
            print_line(
                f"{sign} {change.old_path or change.new_path}: {change.old_text or change.new_text}"
            )
        else:
            print_line(
                f"{sign} {change.new_path or change.old_path}: {change.new_text or change.old_text}"
            )
    return 0
