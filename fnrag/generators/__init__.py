"""Answer generators, chosen by name: ``extractive`` (default), ``transformers``, ``openai``.

Add a backend by adding a module and one line to ``_BACKENDS``: the CLI's ``--generator``
choices and the settings' validation read the registry.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from fnrag.errors import InputError
from fnrag.generators.base import (
    BudgetedGenerator,
    ContextOverflowError,
    Generation,
    Generator,
    StreamingGenerator,
)

__all__ = [
    "GENERATOR_NAMES",
    "BudgetedGenerator",
    "ContextOverflowError",
    "Generation",
    "Generator",
    "StreamingGenerator",
    "get_generator",
]

# name -> (module, class); modules load lazily because two of them pull in heavy libraries.
_BACKENDS = {
    "extractive": ("fnrag.generators.extractive", "ExtractiveGenerator"),
    "transformers": ("fnrag.generators.transformers_backend", "TransformersGenerator"),
    "openai": ("fnrag.generators.openai_backend", "OpenAIGenerator"),
}
GENERATOR_NAMES = tuple(_BACKENDS)


def get_generator(name: str | Generator = "extractive", **options: Any) -> Generator:
    """Build a generator by name; an already-built generator is returned as is.

    Options are passed to the backend, e.g. ``model=``/``adapter=`` for
    ``transformers`` or ``base_url=``/``model=``/``api_key=`` for ``openai``;
    options set to None are dropped so backend defaults apply.
    """
    if not isinstance(name, str):
        return name
    try:
        module_name, class_name = _BACKENDS[name]
    except KeyError:
        raise InputError(
            f"unknown generator {name!r}; choose one of: {', '.join(GENERATOR_NAMES)}"
        ) from None
    backend = getattr(importlib.import_module(module_name), class_name)
    given = {k: v for k, v in options.items() if v is not None}
    accepted = _options_of(backend)
    unknown = sorted(set(given) - accepted) if accepted is not None else []
    if unknown:
        raise InputError(
            f"the {name} generator takes no option {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(sorted(accepted or ())) or 'none'}"
        )
    generator: Generator = backend(**given)
    return generator


def _options_of(backend: type) -> set[str] | None:
    """The keyword options a backend's constructor takes (None: it takes any)."""
    parameters = inspect.signature(backend).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL}
