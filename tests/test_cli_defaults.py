"""The CLI's defaults do not depend on where it runs, and ``fnrag … | head`` ends quietly
(issue 19, items 2 and 3). Every case runs the real ``fnrag`` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fnrag.embedders.factory import looks_like_path
from fnrag.paths import REPO_ROOT, default_index_dir, sample_corpus_dir

QUESTION = "실명확인은 누가 하나요?"


def fnrag(*args: str, cwd: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fnrag.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def decoy_cwd(tmp_path: Path) -> Path:
    """A working directory whose folders share the names of fnrag's defaults."""
    cwd = tmp_path / "work"
    for name in ("default", "multilingual-e5-small", "hashing"):
        (cwd / name).mkdir(parents=True)
        (cwd / name / "config.json").write_text("{}", encoding="utf-8")
    # Not a sample corpus and not an index: nothing may read these.
    (cwd / "index" / "sample").mkdir(parents=True)
    (cwd / "index" / "sample" / "가짜.md").write_text("# 가짜 문서\n\n읽으면 안 된다.\n", "utf-8")
    (cwd / "index" / "default").mkdir()
    return cwd


# --- item 2: defaults resolve to their documented places only ----------------


@pytest.mark.slow
def test_default_embedder_ignores_folders_named_like_it(decoy_cwd: Path, tmp_path: Path) -> None:
    index = tmp_path / "idx"
    built = fnrag("build-index", str(sample_corpus_dir()), "--out", str(index), cwd=decoy_cwd)
    assert built.returncode == 0, built.stderr
    assert "with multilingual-e5-small" in built.stdout
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["embedder"]["name"] == "multilingual-e5-small"

    # The alias spelled out: the same bundled model (every embedding reused).
    again = fnrag(
        "build-index",
        str(sample_corpus_dir()),
        "--out",
        str(index),
        "--embedder",
        "multilingual-e5-small",
        cwd=decoy_cwd,
    )
    assert again.returncode == 0, again.stderr
    assert "embedded 0" in again.stdout

    found = fnrag("search", QUESTION, "--index", str(index), "--json", cwd=decoy_cwd)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)[0]["title"].startswith("금융실명제 실무 안내")

    asked = fnrag("ask", QUESTION, "--index", str(index), "--json", cwd=decoy_cwd)
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["citations"]


def test_a_folder_is_used_only_when_written_as_a_path(decoy_cwd: Path, tmp_path: Path) -> None:
    built = fnrag(
        "build-index",
        str(sample_corpus_dir()),
        "--out",
        str(tmp_path / "idx"),
        "--embedder",
        "./default",
        cwd=decoy_cwd,
    )
    assert built.returncode == 2
    assert built.stderr.startswith("fnrag: error: cannot load embedding model './default'")
    assert "Traceback" not in built.stderr


def test_a_bare_name_is_not_looked_up_in_the_working_directory(
    decoy_cwd: Path, tmp_path: Path
) -> None:
    (decoy_cwd / "KURE-v1").mkdir()
    built = fnrag(
        "build-index", "--out", str(tmp_path / "idx"), "--embedder", "KURE-v1", cwd=decoy_cwd
    )
    assert built.returncode == 2
    assert "not in the local Hugging Face cache" in built.stderr
    assert "write it as a path: ./KURE-v1" in built.stderr


def test_no_source_builds_the_bundled_sample_not_the_cwd_one(
    decoy_cwd: Path, tmp_path: Path
) -> None:
    index = tmp_path / "idx"
    built = fnrag("build-index", "--out", str(index), "--embedder", "hashing", cwd=decoy_cwd)
    assert built.returncode == 0, built.stderr
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    sources = [Path(s["source"]) for s in manifest["sources"]]
    assert sources and all(s.is_relative_to(sample_corpus_dir()) for s in sources)
    assert "가짜" not in built.stdout


def test_default_index_is_in_the_source_tree_whatever_the_cwd(
    decoy_cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(decoy_cwd)
    monkeypatch.delenv("FNRAG_INDEX")
    assert default_index_dir() == REPO_ROOT / "index" / "default"
    assert default_index_dir().is_absolute() and sample_corpus_dir().is_absolute()


@pytest.mark.parametrize(
    ("spec", "is_path"),
    [
        ("default", False),
        ("multilingual-e5-small", False),
        ("KURE-v1", False),
        ("nlpai-lab/KURE-v1", True),
        ("./default", True),
        ("../models/e5", True),
        ("~/models/e5", True),
        ("/models/e5", True),
        (".cache", True),
    ],
)
def test_looks_like_path(spec: str, is_path: bool) -> None:
    assert looks_like_path(spec) is is_path


# --- item 3: a reader that leaves early ends the command quietly -------------


def _no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert "BrokenPipeError" not in stderr
    assert "Exception ignored" not in stderr


def test_search_into_a_closed_pipe_is_quiet(hashing_sample_index_dir: Path, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fnrag.cli", "search", QUESTION, "--json", "-k", "20"],
        cwd=tmp_path,
        env={**os.environ, "FNRAG_INDEX": str(hashing_sample_index_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before fnrag writes a byte
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 141
    _no_traceback(stderr)


def test_ask_into_head_is_quiet(hashing_sample_index_dir: Path, tmp_path: Path) -> None:
    # `fnrag ask --json < questions | head -c 10`: 40 answers are far more than a pipe
    # holds, so fnrag is still writing when the reader leaves after 10 bytes.
    questions = "".join(f"{QUESTION} {n}\n" for n in range(40))
    process = subprocess.Popen(
        [sys.executable, "-m", "fnrag.cli", "ask", "--json"],
        cwd=tmp_path,
        env={**os.environ, "FNRAG_INDEX": str(hashing_sample_index_dir)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin and process.stdout and process.stderr
    process.stdin.write(questions.encode("utf-8"))
    process.stdin.close()
    assert process.stdout.read(10) == b'{"question'
    process.stdout.close()
    stderr = process.stderr.read().decode("utf-8")
    assert process.wait(timeout=120) == 141
    _no_traceback(stderr)


def test_shell_pipe_into_head_is_quiet(hashing_sample_index_dir: Path, tmp_path: Path) -> None:
    command = (
        f"set -o pipefail; for i in $(seq 40); do echo '{QUESTION}'; done"
        f" | {sys.executable} -m fnrag.cli ask --json | head -c 10"
    )
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=tmp_path,
        env={**os.environ, "FNRAG_INDEX": str(hashing_sample_index_dir)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stdout == '{"question'
    assert done.returncode in (0, 141)
    _no_traceback(done.stderr)


def test_a_full_output_still_ends_with_status_0(
    hashing_sample_index_dir: Path, tmp_path: Path
) -> None:
    found = fnrag(
        "search",
        QUESTION,
        "--index",
        str(hashing_sample_index_dir),
        "--json",
        cwd=tmp_path,
    )
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)


@pytest.mark.slow
def test_a_relative_embedder_path_is_recorded_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """search from another directory must find the model the index was built with."""
    import json

    from fnrag.embedders.factory import ensure_default_model
    from fnrag.index.build import build_index
    from fnrag.index.search import load_index

    model = ensure_default_model()  # a real sentence-transformers folder
    monkeypatch.chdir(model.parent)
    out = tmp_path / "색인"
    build_index([sample_corpus_dir()], out, embedder=f"./{model.name}")
    recorded = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["embedder_spec"]
    assert recorded == str(model.resolve())
    monkeypatch.chdir(tmp_path)  # elsewhere: the relative path would point nowhere
    assert load_index(out).search("실명확인증표에는 무엇이 있나요?", k=2)
