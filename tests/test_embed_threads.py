"""How many threads the embedder computes with: ``$FNRAG_EMBED_THREADS`` (every core
when unset) and ``fnrag serve --embed-threads``, which caps each worker's."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from fnrag.embedders.base import THREADS_ENV, available_cores, embed_threads
from fnrag.errors import InputError


def test_embed_threads_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert embed_threads() == available_cores() >= 1
    monkeypatch.setenv(THREADS_ENV, " 3 ")
    assert embed_threads() == 3


@pytest.mark.parametrize("value", ["0", "-2", "두 개", "1.5"])
def test_a_bad_thread_count_says_what_to_set(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(THREADS_ENV, value)
    with pytest.raises(InputError, match="FNRAG_EMBED_THREADS must be a whole number"):
        embed_threads()


def test_serve_options_check_the_thread_count(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    import subprocess
    import sys

    from fnrag.service.config import ServeConfig

    with pytest.raises(InputError, match="--embed-threads"):
        ServeConfig(embed_threads=-1)
    # A bad environment stops the supervisor before any worker starts, with the fix.
    env = {**os.environ, THREADS_ENV: "모두", "FNRAG_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "fnrag.cli", "serve", "--index", str(tmp_path), "--no-auth"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "FNRAG_EMBED_THREADS must be a whole number" in done.stderr, done.stderr


@pytest.mark.slow
def test_the_onnx_session_computes_with_the_threads_asked_for(
    monkeypatch: pytest.MonkeyPatch, sample_index_dir: Path
) -> None:
    from fnrag.index.search import load_index

    questions = [
        "금융실명법상 실명확인은 언제 해야 하나요?",
        "비밀보장 의무를 어기면 어떤 처벌을 받나요?",
    ]
    vectors = {}
    for threads in (1, 2):
        monkeypatch.setenv(THREADS_ENV, str(threads))
        embedder = load_index(sample_index_dir).embedder
        assert embedder.backend.startswith("onnx")
        assert embedder.threads == threads
        assert embedder.session.get_session_options().intra_op_num_threads == threads
        vectors[threads] = np.asarray(embedder.encode_queries(questions))
    # Fewer threads change the speed, not the vectors.
    assert np.allclose(vectors[1], vectors[2], atol=1e-5)


@pytest.mark.slow
def test_every_serve_worker_computes_with_the_threads_asked_for(
    tmp_path: Path, sample_index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("fastapi")
    from serve_support import Server, http

    monkeypatch.delenv(THREADS_ENV, raising=False)
    db = f"sqlite:///{tmp_path / 'fnrag.db'}"
    server = Server(sample_index_dir, db, tmp_path / "home", 2, extra=["--embed-threads", "1"])
    try:
        server.wait_ready()
        seen = {http("GET", server.base + "/readyz")[1]["embed_threads"] for _ in range(8)}
        assert seen == {1}, server.log()
    finally:
        server.stop()
