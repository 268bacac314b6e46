"""``fnrag chat``: an interactive conversation with follow-up questions, in a terminal.

Each question is answered with the earlier turns as its history
(``Assistant.ask(question, history=…)``), so "그럼 법인 고객은요?" is resolved against the
question before it. Commands: ``/reset`` (forget the conversation), ``/as-of DATE``
(answer from the law in force on that date; ``/as-of`` alone: today again),
``/sources`` (the last answer's citations with their quotes), ``/help``, ``/quit``.
Reads stdin line by line when it is not a terminal (``printf '…\\n' | fnrag chat``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fnrag.commands.common import add_as_of, print_line
from fnrag.commands.options import add_settings, settings_from
from fnrag.errors import InputError

PROMPT = "질문> "
HELP = (
    "명령: /reset 대화 지우기 · /as-of YYYY-MM-DD 그 날짜에 시행 중인 법령으로 답하기 "
    "(/as-of 만 쓰면 오늘) · /sources 직전 답변의 출처 · /quit 끝내기"
)
# Earlier turns kept as history (a long session must not grow the prompt without end).
MAX_TURNS = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "chat",
        help="an interactive chat with follow-up questions",
        description="Ask questions one after another; follow-ups such as '그럼 법인 고객은요?' "
        "are resolved against the earlier turns. " + HELP,
    )
    parser.add_argument("--index", help="index directory (default: $FNRAG_INDEX or index/default)")
    parser.add_argument(
        "--index-key", metavar="FILE", help="refuse the index unless signed with this key file"
    )
    parser.add_argument("--model", help="transformers: model folder; openai: model name")
    parser.add_argument("--adapter", help="transformers: peft LoRA adapter folder")
    parser.add_argument("--base-url", help="openai: endpoint, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--api-key", help="openai: API key (default $OPENAI_API_KEY)")
    add_as_of(parser)
    add_settings(parser, ["ask", "search", "refusal"])
    parser.set_defaults(func=run)


def _generator_options(args: argparse.Namespace, generator: str) -> dict[str, Any]:
    if generator == "transformers":
        return {"model": args.model, "adapter": args.adapter}
    if generator == "openai":
        return {"model": args.model, "base_url": args.base_url, "api_key": args.api_key}
    if args.model or args.adapter or args.base_url:
        raise InputError("--model/--adapter/--base-url need --generator transformers or openai")
    return {}


def _show_sources(answer: Any) -> None:
    if answer is None:
        print_line("(아직 답변이 없습니다)")
        return
    if not answer.citations:
        print_line("(직전 답변에 출처가 없습니다)")
        return
    for c in answer.citations:
        page = f", p.{c.page}" if c.page is not None else ""
        print_line(f"[{c.n}] {c.reference or c.section}{page}")
        print_line(f"    “{c.quote}”")


class Session:
    """One chat: the turns so far, the date answered for, the last answer."""

    def __init__(self, assistant: Any, as_of: Any = None) -> None:
        self.assistant = assistant
        self.as_of = as_of
        self.history: list[dict[str, str]] = []
        self.last: Any = None

    def command(self, line: str) -> bool:
        """Run a /command; False when the session should end."""
        name, _, rest = line.partition(" ")
        if name in ("/quit", "/exit", "/q"):
            return False
        if name == "/reset":
            self.history, self.last = [], None
            print_line("(대화를 지웠습니다)")
        elif name == "/sources":
            _show_sources(self.last)
        elif name == "/as-of":
            self._set_date(rest.strip())
        elif name == "/help":
            print_line(HELP)
        else:
            print_line(f"(알 수 없는 명령 {name}) {HELP}")
        return True

    def _set_date(self, value: str) -> None:
        if not value:
            self.as_of = None
            print_line("(오늘 시행 중인 법령으로 답합니다)")
            return
        from fnrag.versions.dates import parse_date

        try:
            self.as_of = parse_date(value, what="/as-of")
        except InputError as error:
            print_line(f"fnrag: error: {error}")
            return
        print_line(f"({self.as_of.isoformat()} 시행 법령으로 답합니다)")

    def ask(self, question: str) -> None:
        answer = self.assistant.ask(question, history=self.history or None, as_of=self.as_of)
        if answer.resolved_question and answer.resolved_question != answer.question:
            print_line(f"(이해한 질문: {answer.resolved_question})")
        print_line(answer.text)
        if answer.citations:
            refs = ", ".join(f"[{c.n}] {c.reference or c.section}" for c in answer.citations)
            print_line(f"출처: {refs}")
        self.last = answer
        # The masked question is what the history keeps: no raw PII stays in memory.
        self.history += [
            {"role": "user", "content": answer.question},
            {"role": "assistant", "content": answer.text},
        ]
        self.history = self.history[-MAX_TURNS:]


def run(args: argparse.Namespace) -> int:
    from fnrag.answering.assistant import Assistant
    from fnrag.index.search import load_index

    settings = settings_from(args)
    options = _generator_options(args, settings.ask.generator)
    index = load_index(args.index, verify_key=args.index_key, config=settings.search)
    session = Session(Assistant.from_settings(index, settings, **options), args.as_of)
    interactive = sys.stdin.isatty()
    if interactive:
        print_line(f"fnrag chat — {HELP}")
    while True:
        try:
            line = input(PROMPT) if interactive else sys.stdin.readline()
        except (EOFError, KeyboardInterrupt):
            break
        if not interactive and not line:
            break  # end of the piped input
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            if not session.command(line):
                break
            continue
        try:
            session.ask(line)
        except InputError as error:
            print_line(f"fnrag: error: {error}")
    return 0
