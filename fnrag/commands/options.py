"""The settings every command shares, as options: ``--config FILE`` plus one option per
field of the stage configs it uses (``fnrag ask --min-coverage 0.4``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from fnrag.config import add_options, overrides_from, scalar_fields
from fnrag.generators import GENERATOR_NAMES
from fnrag.index.fusion import SEARCH_MODES
from fnrag.settings import (
    AskConfig,
    ChunkConfig,
    RefusalPolicy,
    SearchConfig,
    Settings,
    load_settings,
)

SECTIONS: dict[str, type] = {
    "search": SearchConfig,
    "refusal": RefusalPolicy,
    "ask": AskConfig,
    "chunking": ChunkConfig,
}
# The options these commands had before settings existed keep their spelling.
FLAGS = {"k": ["-k"]}
CHOICES = {"mode": SEARCH_MODES, "generator": GENERATOR_NAMES}


def add_settings(
    parser: argparse.ArgumentParser, sections: Sequence[str], skip: Sequence[str] = ()
) -> None:
    """``--config`` and the options of ``sections`` (keys of :data:`SECTIONS`), less the
    fields in ``skip`` (a command that has its own option for them)."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="YAML settings file (default: $FNRAG_CONFIG); options given here win",
    )
    parser.set_defaults(settings_sections=tuple(sections))
    for name in sections:
        add_options(parser, SECTIONS[name], flags=FLAGS, choices=CHOICES, skip=skip)


def settings_from(args: argparse.Namespace) -> Settings:
    """The YAML file's settings (or the defaults) with the options given on top."""
    overrides = {}
    for name in getattr(args, "settings_sections", ()):
        given = overrides_from(args, SECTIONS[name])
        if given:
            overrides[name] = given
    return load_settings(getattr(args, "config", None), overrides)


def given_options(args: argparse.Namespace) -> list[str]:
    """The settings options given on the command line, as words that give them again."""
    words = ["--config", args.config] if getattr(args, "config", None) else []
    for name in getattr(args, "settings_sections", ()):
        for f in scalar_fields(SECTIONS[name]):
            value = getattr(args, f.name, None)
            if value is None:
                continue
            flag = (FLAGS.get(f.name) or [f"--{f.name.replace('_', '-')}"])[0]
            if isinstance(value, bool):
                words.append(flag if value else f"--no-{flag.lstrip('-')}")
            else:
                words += [flag, str(value)]
    return words
