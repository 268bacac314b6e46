"""The fast CPU route: a sentence-transformers BERT-style model run by onnxruntime.

Measured on 2 cores (benchmarks/bench_embeddings.py), onnxruntime with int8
weights embeds Korean passages more than twice as fast as torch fp32 with nearly
the same vectors. sentence-transformers' own ONNX backend is avoided on purpose:
its ``optimum-onnx`` dependency pins an old transformers.

The export is done once per model and cached next to the model folder
(``<folder>-onnx/``): ``torch.onnx.export`` (legacy exporter, opset 17, dynamic
batch and sequence axes) writes ``model.onnx``; ``quantize_dynamic`` (QInt8
weights) writes ``model-int8.onnx``. At run time only onnxruntime and
``tokenizers`` are needed. Pooling follows the folder's ``1_Pooling`` config
(mean over the attention mask, or CLS), then L2 normalisation.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from fnrag.embedders.base import BaseEmbedder, embed_threads
from fnrag.errors import FnragError, InputError, missing_dependency
from fnrag.files import file_lock, publish_dir
from fnrag.paths import fnrag_home

EXPORT_VERSION = 2
MARKER = "fnrag_onnx.json"
FILES = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}


def onnx_dir_for(folder: Path, source_sha: str) -> Path:
    """Beside the folder for models fnrag converted; else in fnrag's own cache,
    so a user's model folder (maybe read-only) is never written to."""
    models = (fnrag_home() / "models").resolve()
    if folder.resolve().parent == models:
        return folder.with_name(folder.name + "-onnx")
    return models / f"{folder.resolve().name}-{source_sha[:12]}-onnx"


def _pooling_mode(folder: Path) -> str:
    try:
        cfg = json.loads((folder / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "mean"
    # sentence-transformers 6 writes one "pooling_mode" string; 5.x a flag per mode.
    mode = cfg.get("pooling_mode")
    if mode in ("cls", "mean"):
        return str(mode)
    if mode is None and cfg.get("pooling_mode_cls_token"):
        return "cls"
    if mode is None and cfg.get("pooling_mode_mean_tokens", True):
        return "mean"
    raise InputError(
        f"{folder}: only mean or CLS pooling is supported by the ONNX backends; "
        "use backend='torch' for this model"
    )


def _max_length(folder: Path) -> int:
    """The folder's truncation length, as sentence-transformers applies it with torch:
    ``sentence_bert_config.json``'s ``max_seq_length`` (5.x), else the tokenizer's
    ``model_max_length`` (where 6.x saves it), else 512."""
    for name, key in (
        ("sentence_bert_config.json", "max_seq_length"),
        ("tokenizer_config.json", "model_max_length"),
    ):
        try:
            value = json.loads((folder / name).read_text(encoding="utf-8")).get(key)
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(value, int) and 0 < value <= 8192:
            return value
    return 512


def _read_marker(out: Path, source_sha: str) -> dict[str, Any] | None:
    try:
        data = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = (
        data.get("export_version") == EXPORT_VERSION
        and data.get("source_weights_sha256") == source_sha
    )
    return data if ok else None


def _export(folder: Path, tmp: Path) -> None:
    """torch → ONNX fp32 → ONNX int8, written into ``tmp``."""
    try:
        import onnxruntime.quantization  # noqa: F401  (fail before the slow export)
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise missing_dependency(getattr(exc, "name", None) or "onnx") from exc

    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()

    class Encoder(torch.nn.Module):
        # Only the token states leave the graph; pooling is done in numpy so the
        # same graph serves mean and CLS pooling.
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            out = self.inner(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            )
            return out.last_hidden_state

    ids = torch.tensor([[0, 100, 200, 300, 2], [0, 100, 2, 1, 1]], dtype=torch.long)
    mask = (ids != 1).long()
    fp32 = tmp / FILES["onnx"]
    # The tracer's and the quantizer's advice (TracerWarning, "run pre-processing")
    # is noise for users: the export is verified by tests instead.
    quiet = logging.getLogger()
    level = quiet.level
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quiet.setLevel(logging.ERROR)
        try:
            _trace(Encoder(model), ids, mask, fp32)
            quantize_int8(fp32, tmp / FILES["onnx-int8"])
        finally:
            quiet.setLevel(level)


def _trace(module: Any, ids: Any, mask: Any, fp32: Path) -> None:
    import torch

    torch.onnx.export(
        module,
        (ids, mask),
        str(fp32),
        input_names=["input_ids", "attention_mask"],
        output_names=["last_hidden_state"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "sequence"},
            "last_hidden_state": {0: "batch", 1: "sequence"},
        },
        opset_version=17,
        dynamo=False,
        do_constant_folding=True,
    )


def quantize_int8(fp32: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel scales: per-tensor int8 gave min cosine 0.973 to fp32 on Korean
    # statute passages, per-channel 0.993, at the same speed.
    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True)


def ensure_exported(folder: Path, source_sha: str) -> Path:
    """Export ``folder`` to ONNX once (atomic, race-safe); returns the ONNX folder."""
    out = onnx_dir_for(folder, source_sha)
    if _read_marker(out, source_sha):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(out.parent / f".{out.name}.lock"):
        if _read_marker(out, source_sha):
            return out
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is shared read-only
        try:
            _export(folder, tmp)
            shutil.copyfile(folder / "tokenizer.json", tmp / "tokenizer.json")
            meta = {
                "export_version": EXPORT_VERSION,
                "source_weights_sha256": source_sha,
                "pooling": _pooling_mode(folder),
                "max_length": _max_length(folder),
            }
            (tmp / MARKER).write_text(json.dumps(meta, indent=2), encoding="utf-8")
            publish_dir(tmp, out, marker_ok=lambda d: _read_marker(d, source_sha) is not None)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return out


class OnnxEmbedder(BaseEmbedder):
    """onnxruntime + ``tokenizers``; length-sorted batches to cut padding."""

    def __init__(
        self,
        onnx_dir: Path,
        *,
        name: str,
        backend: str,
        query_prefix: str,
        passage_prefix: str,
        weights_sha256: str,
        max_length: int | None = None,
    ) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise missing_dependency(getattr(exc, "name", None) or "onnxruntime") from exc
        meta = json.loads((onnx_dir / MARKER).read_text(encoding="utf-8"))
        self.pooling = str(meta.get("pooling", "mean"))
        self.tokenizer = Tokenizer.from_file(str(onnx_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length or int(meta.get("max_length", 512)))
        pad = self.tokenizer.token_to_id("<pad>")
        self.pad_id = 0 if pad is None else pad
        opts = ort.SessionOptions()
        self.threads = embed_threads()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        # No busy-waiting between ops: on a shared or busy CPU spinning threads
        # steal time from the threads doing the work (measured 20% slower here).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(onnx_dir / FILES[backend]), opts, providers=["CPUExecutionProvider"]
        )
        self.name = name
        self.backend = backend
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.weights_sha256 = weights_sha256
        self.dimension = int(self.session.get_outputs()[0].shape[-1])

    def _encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        starts: Iterable[int] = range(0, len(order), batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="embedding", unit="batch")
        for start in starts:
            rows = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            (hidden,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
            if self.pooling == "cls":
                pooled = hidden[:, 0, :]
            else:
                m = mask[:, :, None].astype(np.float32)
                pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            out[rows] = pooled
        return out


def load_onnx_embedder(
    folder: Path,
    *,
    name: str,
    backend: str,
    query_prefix: str,
    passage_prefix: str,
    weights_sha256: str,
) -> OnnxEmbedder:
    """Export (first time only) and load ``folder`` for the ``onnx``/``onnx-int8`` backend."""
    if not (folder / "tokenizer.json").is_file():
        raise InputError(
            f"{folder} has no tokenizer.json, which the ONNX backends need; "
            "use backend='torch' for this model"
        )
    _pooling_mode(folder)  # fail early on an unsupported pooling
    try:
        onnx_dir = ensure_exported(folder, weights_sha256)
    except FnragError:
        raise
    except Exception as exc:
        raise FnragError(
            f"exporting {folder} to ONNX failed ({type(exc).__name__}: {exc}); "
            "use backend='torch' (or FNRAG_EMBED_BACKEND=torch)"
        ) from exc
    return OnnxEmbedder(
        onnx_dir,
        name=name,
        backend=backend,
        query_prefix=query_prefix,
        passage_prefix=passage_prefix,
        weights_sha256=weights_sha256,
        # Read from the folder each time, so an export cached before the folder's
        # config was understood still truncates where torch does.
        max_length=_max_length(folder),
    )
