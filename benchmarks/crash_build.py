"""Crash safety: SIGKILL `fnrag build-index` at random moments; the index must survive.

Usage:
    python benchmarks/crash_build.py [--trials 20] [--embedder hashing] [--max-delay 0] [--seed 6]

Two source sets: A = the sample corpus, B = A plus one extra document.  Reference
answers (hybrid search hits + an extractive ask) are computed for both in separate
folders.  The target index starts as A.  Each trial starts `fnrag build-index` of
the other set into the target directory in a subprocess, SIGKILLs it after a
random delay (uniform in [0, max-delay]; default: 1.2 x the slower reference build), then
loads the target index in this process and checks it answers exactly as A or as B
(never anything else, never an error).  A last normal build checks that leftovers
of killed builds do not break the next one.  Exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUERIES = [
    "실명확인을 생략할 수 있는 거래는?",
    "금융실명제의 취지",
    "차명거래 금지 위반 시 제재",
    "비밀보장 예외",
    "전자금융 비대면 실명확인 절차",
]
EXTRA = """---
제목: 비대면 실명확인 부록(샘플)
---

# 비대면 실명확인 부록(샘플)

## 1. 비대면 실명확인 절차

전자금융 비대면 실명확인 절차는 신분증 사본 제출, 영상통화,
기존 계좌 확인 가운데 두 가지 이상을 거친다.
"""


def answers(index_dir: Path) -> tuple:  # type: ignore[type-arg]
    from fnrag.answering.assistant import Assistant
    from fnrag.index.search import load_index

    index = load_index(index_dir)
    hits = tuple(
        tuple((h.chunk_id, round(h.score, 9)) for h in index.search(q, k=5)) for q in QUERIES
    )
    assistant = Assistant(index, "extractive", log=False)
    asked = tuple(assistant.ask(q).text for q in QUERIES)
    return hits, asked


def build_command(sources: Path, out: Path, embedder: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "fnrag.cli",
        "build-index",
        str(sources),
        "--out",
        str(out),
        "--embedder",
        embedder,
        "--quiet",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--embedder", default="hashing")
    parser.add_argument(
        "--max-delay", type=float, default=0.0, help="seconds; 0 = 1.2 x a measured build"
    )
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    work = Path(tempfile.mkdtemp(prefix="fnrag-crash-"))
    source_a, source_b = work / "A", work / "B"
    shutil.copytree(ROOT / "index" / "sample", source_a)
    shutil.copytree(ROOT / "index" / "sample", source_b)
    (source_b / "99_부록.md").write_text(EXTRA, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def build(sources: Path, out: Path) -> float:
        started = time.monotonic()
        subprocess.run(
            build_command(sources, out, args.embedder),
            check=True,
            env=env,
            cwd=ROOT,
            capture_output=True,
        )
        return time.monotonic() - started

    seconds = max(build(source_a, work / "ref_A"), build(source_b, work / "ref_B"))
    reference = {"A": answers(work / "ref_A"), "B": answers(work / "ref_B")}
    if reference["A"] == reference["B"]:
        print("crash_build: the two source sets answer alike; the check would be blind")
        return 1
    max_delay = args.max_delay or seconds * 1.2
    target = work / "target"
    shutil.copytree(work / "ref_A", target)
    current = "A"
    failures = interrupted = completed = 0
    for trial in range(1, args.trials + 1):
        other = "B" if current == "A" else "A"
        delay = rng.uniform(0, max_delay)
        process = subprocess.Popen(
            build_command(source_b if other == "B" else source_a, target, args.embedder),
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        finished = process.poll() is not None
        if not finished:
            process.send_signal(signal.SIGKILL)
        process.wait()
        try:
            now = answers(target)
        except Exception as error:
            failures += 1
            print(
                f"trial {trial:2d}: kill at {delay:5.2f}s -> index FAILED to load: "
                f"{type(error).__name__}: {error}"
            )
            continue
        state = next((name for name, ref in reference.items() if ref == now), None)
        if state is None:
            failures += 1
            print(
                f"trial {trial:2d}: kill at {delay:5.2f}s -> "
                "index loads but answers like neither A nor B"
            )
            continue
        if finished or state == other:
            completed += state == other
        interrupted += state == current and not finished
        verdict = "committed new index" if state == other else "previous index intact"
        print(
            f"trial {trial:2d}: {'finished' if finished else 'SIGKILL'} at {delay:5.2f}s"
            f" -> {verdict} ({state})"
        )
        current = state
    leftovers = sorted(
        p.name for p in target.iterdir() if p.name not in ("manifest.json", ".build.lock")
    )
    build(source_a if current == "B" else source_b, target)
    final_ok = answers(target) == reference["B" if current == "A" else "A"]
    print(
        f"crash_build: {args.trials} trials, {failures} failures; "
        f"{interrupted} killed mid-build with the "
        f"previous index intact, {completed} committed before the kill; max delay {max_delay:.1f}s "
        f"(one build {seconds:.1f}s)"
    )
    print(
        f"  files in the index dir after the trials: {len(leftovers)}; a normal rebuild afterwards "
        f"{'works' if final_ok else 'FAILED'}"
    )
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failures or not final_ok else 0


if __name__ == "__main__":
    sys.exit(main())
