"""``fnrag.ask()``: one warm :class:`Assistant` per index folder and settings, kept
for the process, and served again after a rebuild in place (its build id changed).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from fnrag.answering.assistant import Assistant
from fnrag.generators import Generator
from fnrag.types import Answer

__all__ = ["ask"]


# One Assistant per (index folder, generator, k, options) so repeated ask() calls stay
# warm, with the manifest's stat when it was loaded: a rebuild in place replaces
# manifest.json, and the next call then serves the new build.
_assistants: dict[tuple[Any, ...], tuple[Assistant, tuple[int, ...] | None]] = {}
_assistants_lock = threading.Lock()


def _manifest_stat(index_dir: Path) -> tuple[int, ...] | None:
    try:
        stat = (index_dir / "manifest.json").stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def _build_id(index_dir: Path) -> str | None:
    import json

    try:
        manifest = json.loads((index_dir / "manifest.json").read_bytes())
    except (OSError, ValueError):
        return None
    return str(manifest.get("build_id", "")) if isinstance(manifest, dict) else None


def ask(
    question: str,
    index: Any = None,
    generator: str | Generator = "extractive",
    k: int = 5,
    *,
    as_of: Any = None,
    history: Any = None,
    **kw: Any,
) -> Answer:
    """Answer one question with verified citations (see ``Assistant`` for options).

    With an index folder (or None: the default index), the loaded index and generator
    are kept for later calls; an index rebuilt in that folder is reloaded on the next
    call (its build id changed), keeping the generator.

    Example:
        >>> from fnrag import ask  # doctest: +SKIP
        >>> ask("금융실명법의 목적은 무엇인가요?", index="index/").text  # doctest: +SKIP
    """
    if index is not None and not isinstance(index, str | Path):
        return Assistant(index, generator, k=k, **kw).ask(question, as_of=as_of, history=history)
    from fnrag.paths import default_index_dir

    # Resolved now, not when first cached: $FNRAG_INDEX may point elsewhere by now.
    index_dir = Path(index) if index is not None else default_index_dir()
    try:
        key: tuple[Any, ...] | None = (
            str(index_dir.absolute()),
            generator,
            k,
            tuple(sorted(kw.items())),
        )
        hash(key)
    except TypeError:
        key = None
    if key is None:
        return Assistant(index_dir, generator, k=k, **kw).ask(
            question, as_of=as_of, history=history
        )
    with _assistants_lock:
        stat = _manifest_stat(index_dir)
        cached = _assistants.get(key)
        if cached is None:
            assistant = Assistant(index_dir, generator, k=k, **kw)
        else:
            assistant, seen = cached
            if stat != seen and _build_id(index_dir) != str(
                getattr(assistant.index, "version", "")
            ):
                # A new build: everything that depends on the index (its embedder's
                # refusal calibration, the scope passages) is set up again; the
                # generator (possibly a loaded model) is reused as it is.
                assistant = Assistant(index_dir, assistant.generator, k=k, **kw)
        _assistants[key] = (assistant, stat)
    return assistant.ask(question, as_of=as_of, history=history)
