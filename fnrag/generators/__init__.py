"""Answer generators, chosen by name: ``extractive`` (default), ``transformers``, ``openai``.

Add a backend by adding a module and one line to ``_BACKENDS``.
"""

from __future__ import annotations

import importlib
from typing import Any

from fnrag.errors import InputError
from fnrag.generators.base import Generation, Generator, StreamingGenerator

__all__ = ["GENERATOR_NAMES", "Generation", "Generator", "StreamingGenerator", "get_generator"]

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
    generator: Generator = backend(**{k: v for k, v in options.items() if v is not None})
    return generator
