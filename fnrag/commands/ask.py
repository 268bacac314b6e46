"""``fnrag ask``: a cited answer, or the refusal sentence, for each question."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

from fnrag.commands.common import add_as_of, print_line, version_label
from fnrag.commands.options import add_settings, settings_from
from fnrag.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ask",
        help="answer a question with verified citations",
        description="Answer QUESTION from the index with numbered, verified sources. "
        "QUESTION '-' or none reads one question per line from stdin.",
    )
    parser.add_argument("question", metavar="QUESTION", nargs="?", default="-")
    parser.add_argument("--index", help="index directory (default: $FNRAG_INDEX or index/default)")
    parser.add_argument(
        "--index-key",
        metavar="FILE",
        help="refuse the index unless it is signed with this key file "
        "(default: $FNRAG_INDEX_KEY; see build-index --sign-key)",
    )
    parser.add_argument("--model", help="transformers: model folder; openai: model name")
    parser.add_argument("--adapter", help="transformers: peft LoRA adapter folder")
    parser.add_argument("--base-url", help="openai: endpoint, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--api-key", help="openai: API key (default $OPENAI_API_KEY)")
    parser.add_argument(
        "--max-prompt-tokens",
        type=int,
        metavar="N",
        help="openai: the most tokens the prompt may take; passages that don't fit are "
        "left out or shortened (default: the server's context less the answer's room, "
        "when the server tells it)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the Answer as JSON (one line each)"
    )
    parser.add_argument(
        "--stream",
        action="store_true",
        help="show each sentence as soon as it is generated and its citations verify",
    )
    add_as_of(parser)
    # --generator, -k, --mode, the fusion weights, the refusal thresholds, --config.
    add_settings(parser, ["ask", "search", "refusal"])
    parser.set_defaults(func=run)


def _options(args: argparse.Namespace, generator: str) -> dict[str, Any]:
    if args.max_prompt_tokens is not None and generator != "openai":
        raise InputError("--max-prompt-tokens needs --generator openai")
    options: dict[str, Any] = {"model": args.model}
    if generator == "transformers":
        options["adapter"] = args.adapter
    elif generator == "openai":
        options.update(
            base_url=args.base_url, api_key=args.api_key, max_prompt_tokens=args.max_prompt_tokens
        )
    elif args.model or args.adapter or args.base_url:
        raise InputError("--model/--adapter/--base-url need --generator transformers or openai")
    else:
        options = {}
    return options


def _questions(args: argparse.Namespace) -> Iterator[str]:
    if args.question != "-":
        yield args.question
        return
    for line in sys.stdin:
        if line.strip():
            yield line.strip()


def _page_label(citation: Any) -> str:
    """``, p.219 (PDF 56)``: the printed page a reader looks for and the page a PDF
    viewer opens (the PDF page alone when the page prints no other number)."""
    if citation.page is None:
        return ""
    label = f", p.{citation.page}"
    if citation.pdf_page is not None and citation.pdf_page != citation.page:
        label += f" (PDF {citation.pdf_page})"
    return label


def _show(answer: Any, with_text: bool = True) -> None:
    if with_text:
        print_line(answer.text)
    if answer.citations:
        print_line("")
        print_line("출처:")
        for citation in answer.citations:
            page = _page_label(citation)
            # Section paths start with the document title: don't print it twice.
            shown = citation.section.removeprefix(citation.title).lstrip(" >")
            section = f" — {shown}" if shown else ""
            print_line(f"[{citation.n}] {citation.title}{page}{section}{version_label(citation)}")
    for notice in answer.notices if answer.citations else ():
        print_line(f"참고: {notice}")
    if answer.invalid_citations:
        removed = ", ".join(f"[{c.n}] ({c.reason})" for c in answer.invalid_citations)
        print_line(f"(검증에서 제거된 인용: {removed})")


def run(args: argparse.Namespace) -> int:
    from fnrag.answering.assistant import Assistant
    from fnrag.index.search import load_index

    settings = settings_from(args)
    options = _options(args, settings.ask.generator)  # reported before the index loads
    index = load_index(args.index, verify_key=args.index_key, config=settings.search)
    assistant = Assistant.from_settings(index, settings, **options)
    many = args.question == "-"
    status = 0
    for number, question in enumerate(_questions(args)):
        if many and not args.json and number:
            print_line("")
        streaming = args.stream and not args.json
        streamed: list[str] = []

        def echo(piece: str, streamed: list[str] = streamed) -> None:
            streamed.append(piece)
            sys.stdout.write(piece)
            sys.stdout.flush()

        try:
            answer = assistant.ask(question, on_text=echo if streaming else None, as_of=args.as_of)
        except InputError as error:
            if not many:
                raise
            # One bad line of a batch should not lose the answers to the others.
            print(f"fnrag: error: line {number + 1}: {error}", file=sys.stderr)
            status = 2
            continue
        if args.json:
            print_line(json.dumps(answer.to_json(), ensure_ascii=False))
        elif streaming:
            if streamed:
                sys.stdout.write("\n")
            # Verification may have removed markers or refused: then show the final text.
            changed = "".join(streamed).strip() != answer.text
            if changed:
                print_line("검증 후 답변:")
            _show(answer, with_text=changed)
        else:
            _show(answer)
    return status
