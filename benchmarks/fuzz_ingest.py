"""Fuzz ingestion (load_document + chunk_document) with hypothesis-driven mutations.

Usage:
    python benchmarks/fuzz_ingest.py [--seconds 600] [--per-exec-timeout 20] [--crash-dir DIR]

Seeds: valid and hostile PDFs, Markdown (with front matter) and text built by
tests/hostile_files.py plus the sample corpus.  Hypothesis draws a seed file and a
list of mutations (bit flips, byte/ chunk insertion, deletion, truncation, splices
of PDF tokens).  Each mutant is ingested in this process under a 4 GiB address
space limit and a SIGALRM per-execution timeout.

Outcome per execution: ok, fnrag (a FnragError: the intended clean refusal), hang
(per-exec timeout) or crash (any other exception).  Crashes are saved to
--crash-dir with their traceback.  Exit status 1 when any crash or hang occurred.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import logging
import resource
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import hostile_files as hf  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fnrag.chunking import chunk_document  # noqa: E402
from fnrag.errors import FnragError  # noqa: E402
from fnrag.ingest.sources import load_document  # noqa: E402

PDF_TOKENS = [
    b"obj",
    b"endobj",
    b"stream",
    b"endstream",
    b"<<",
    b">>",
    b"[",
    b"]",
    b"/Filter /FlateDecode",
    b"%%EOF",
    b"xref",
    b"trailer",
    b"startxref",
    b"R",
    b"/Length 999999",
    b"BT",
    b"ET",
    b"Tj",
    b"/Encrypt",
    b"\x00",
    b"\xff\xfe",
    b"(\\",
    b"<FEFF",
    b"/ToUnicode",
]
TEXT_TOKENS = [
    "---",
    "\n---\n",
    "제목: ",
    "&a",
    "*a",
    "!!python/object",
    "# ",
    "제1조(목적)",
    "①",
    "\ud7a3",
    "\u202e",
    "\x00",
    "\r\n",
    "```",
    "<|eot_id|>",
    "1\\.",
    "**",
]


class _Hang(Exception):
    pass


class _Stop(Exception):
    pass


# Seeds too big or too slow to mutate thousands of times (each is tested once
# in tests/test_hostile_input.py).
_SKIP = ("too_big_txt", "long_line_txt", "flate_bomb_pdf", "yaml_bomb_md")


def seeds() -> list[tuple[str, bytes]]:
    """(suffix, bytes) for every seed file."""
    named = [
        (Path(file_name).suffix, build())
        for name, (file_name, build) in {**hf.HOSTILE_FILES, **hf.ODD_BUT_VALID}.items()
        if name not in _SKIP
    ]
    for path in sorted((ROOT / "index" / "sample").glob("*.md")):
        data = path.read_bytes()[:20_000]
        named += [(".md", data), (".txt", data)]
    return named


def mutate(data: bytes, suffix: str, ops: list[tuple[int, int, int]]) -> bytes:
    buf = bytearray(data)
    tokens = (
        PDF_TOKENS
        if suffix == ".pdf"
        else [t.encode("utf-8", "surrogatepass") for t in TEXT_TOKENS]
    )
    for kind, a, b in ops:
        n = max(len(buf), 1)
        pos = a % n
        if kind == 0 and buf:
            buf[pos] ^= 1 << (b % 8)
        elif kind == 1:
            buf[pos:pos] = bytes([b % 256]) * (1 + b % 7)
        elif kind == 2:
            del buf[pos : pos + 1 + b % 64]
        elif kind == 3:
            buf[pos:pos] = tokens[b % len(tokens)]
        elif kind == 4:
            buf = buf[: pos + 1]
        elif kind == 5 and buf:
            start = b % n
            buf[pos:pos] = buf[start : start + 1 + b % 256]
        elif kind == 6:
            buf[pos:pos] = tokens[b % len(tokens)] * (1 + b % 50)
    return bytes(buf)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600, help="total fuzzing time")
    parser.add_argument(
        "--per-exec-timeout", type=int, default=20, help="seconds before a run counts as a hang"
    )
    parser.add_argument(
        "--memory-mb", type=int, default=4096, help="address-space limit for this process"
    )
    parser.add_argument(
        "--crash-dir", type=Path, default=Path(tempfile.gettempdir()) / "fnrag-fuzz-crashes"
    )
    args = parser.parse_args()

    logging.getLogger("pypdf").setLevel(logging.CRITICAL)  # pypdf warns on every broken object
    limit = args.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    corpus = seeds()
    counts: collections.Counter[str] = collections.Counter()
    crash_types: collections.Counter[str] = collections.Counter()
    work = Path(tempfile.mkdtemp(prefix="fnrag-fuzz-"))
    args.crash_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.seconds

    def on_alarm(signum: int, frame: object) -> None:
        raise _Hang()

    signal.signal(signal.SIGALRM, on_alarm)
    op = st.tuples(st.integers(0, 6), st.integers(0, 1 << 24), st.integers(0, 1 << 16))

    @settings(
        max_examples=10**9,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        phases=[__import__("hypothesis").Phase.generate],
    )
    @given(seed=st.integers(0, len(corpus) - 1), ops=st.lists(op, min_size=0, max_size=8))
    def one(seed: int, ops: list[tuple[int, int, int]]) -> None:
        if time.monotonic() > deadline:
            raise _Stop()
        suffix, data = corpus[seed]
        mutant = mutate(data, suffix, ops)
        path = work / f"mutant{suffix}"
        path.write_bytes(mutant)
        signal.alarm(args.per_exec_timeout)
        try:
            chunk_document(load_document(path, path.name))
            counts["ok"] += 1
        except FnragError:
            counts["fnrag"] += 1
        except _Hang:
            counts["hang"] += 1
            _save(args.crash_dir, mutant, suffix, "hang")
        except Exception as error:
            counts["crash"] += 1
            crash_types[f"{type(error).__name__}: {str(error)[:120]}"] += 1
            _save(args.crash_dir, mutant, suffix, traceback.format_exc())
        finally:
            signal.alarm(0)

    started = time.monotonic()
    with contextlib.suppress(_Stop):
        one()
    elapsed = time.monotonic() - started
    total = sum(counts.values())
    print(
        f"fuzz_ingest: {total} executions in {elapsed:.0f} s ({total / max(elapsed, 1e-9):.1f}/s), "
        f"{len(corpus)} seeds"
    )
    print(
        f"  outcomes: ok {counts['ok']}, FnragError {counts['fnrag']}, crashes {counts['crash']}, "
        f"hangs {counts['hang']}"
    )
    for kind, n in crash_types.most_common(10):
        print(f"  crash x{n}: {kind}")
    if counts["crash"] or counts["hang"]:
        print(f"  crashing inputs saved in {args.crash_dir}")
    return 1 if counts["crash"] or counts["hang"] else 0


def _save(folder: Path, data: bytes, suffix: str, note: str) -> None:
    digest = hashlib.sha256(data).hexdigest()[:16]
    (folder / f"{digest}{suffix}").write_bytes(data)
    (folder / f"{digest}.txt").write_text(note, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
