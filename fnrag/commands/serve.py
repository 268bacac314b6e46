"""``fnrag serve``: the HTTP service (OpenAI-compatible chat with citations, search,
feedback, API keys, a database); extra ``serve``."""

from __future__ import annotations

import argparse
import dataclasses

from fnrag.config import add_options, overrides_from


def register(subparsers: argparse._SubParsersAction) -> None:
    from fnrag.service.config import ServeConfig

    parser = subparsers.add_parser(
        "serve",
        help="serve chat, search and feedback over HTTP (OpenAI-compatible)",
        description="Serve the index over HTTP: POST /v1/chat/completions (OpenAI-compatible, "
        "citations in message.citations), /v1/search, /v1/feedback, /healthz, /readyz, "
        "/metrics. Keys: fnrag keys create --name NAME --role practitioner. "
        "SIGHUP reloads the index; SIGTERM stops gracefully.",
    )
    parser.add_argument("--index", help="index directory (default: $FNRAG_INDEX or index/default)")
    parser.add_argument(
        "--db",
        metavar="URL",
        help="database URL: sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/NAME "
        "(default: $FNRAG_DB, else sqlite:///$FNRAG_HOME/fnrag.db)",
    )
    add_options(parser, ServeConfig, flags={"k": ["-k"]}, skip=("index", "db"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fnrag.service.config import ServeConfig
    from fnrag.service.server import run as serve

    given = overrides_from(args, ServeConfig)
    given.update({name: getattr(args, name) for name in ("index", "db") if getattr(args, name)})
    known = {f.name for f in dataclasses.fields(ServeConfig)}
    return serve(ServeConfig(**{k: v for k, v in given.items() if k in known}))
