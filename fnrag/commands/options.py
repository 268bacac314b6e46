"""The settings every command shares, as options: ``--config FILE`` plus one option per
field of the stage configs it uses (``fnrag ask --min-coverage 0.4``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from fnrag.config import add_options, overrides_from
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


def add_settings(parser: argparse.ArgumentParser, sections: Sequence[str]) -> None:
    """``--config`` and the options of ``sections`` (keys of :data:`SECTIONS`)."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="YAML settings file (default: $FNRAG_CONFIG); options given here win",
    )
    parser.set_defaults(settings_sections=tuple(sections))
    for name in sections:
        add_options(parser, SECTIONS[name], flags=FLAGS, choices=CHOICES)


def settings_from(args: argparse.Namespace) -> Settings:
    """The YAML file's settings (or the defaults) with the options given on top."""
    overrides = {}
    for name in getattr(args, "settings_sections", ()):
        given = overrides_from(args, SECTIONS[name])
        if given:
            overrides[name] = given
    return load_settings(getattr(args, "config", None), overrides)
