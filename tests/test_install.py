"""The portable llama-cpp-python build: flags in the cache key, no native build reused,
and the installed build checked (issue: CI died with a GPF on a CPU with AMX)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from llama_server import LlamaServer, death_notes, describe_exit, require_server_extra

REPO = Path(__file__).resolve().parent.parent


def _llama_wheel():
    spec = importlib.util.spec_from_file_location(
        "llama_wheel", REPO / "scripts" / "llama_wheel.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lw = _llama_wheel()
NATIVE = "-DGGML_NATIVE=ON"


def test_flags_are_part_of_the_cache_key(tmp_path: Path) -> None:
    portable = lw.build_identity(lw.VERSION, lw.PORTABLE_CMAKE_ARGS)
    native = lw.build_identity(lw.VERSION, NATIVE)
    other_version = lw.build_identity("0.3.35", lw.PORTABLE_CMAKE_ARGS)
    folders = {lw.cache_dir_for(i, tmp_path) for i in (portable, native, other_version)}
    assert len(folders) == 3
    # Spacing of the same flags is not a different build.
    spaced = lw.build_identity(lw.VERSION, "  " + lw.PORTABLE_CMAKE_ARGS.replace(" ", "   "))
    assert lw.cache_dir_for(spaced, tmp_path) == lw.cache_dir_for(portable, tmp_path)


def _fake_cache_entry(folder: Path, identity: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    wheel = folder / f"llama_cpp_python-{identity['version']}-py3-none-linux_x86_64.whl"
    wheel.write_bytes(b"not a real wheel")
    (folder / lw.FLAGS_FILE).write_text(json.dumps(identity), encoding="utf-8")
    return wheel


def test_a_native_build_in_the_portable_slot_is_not_reused(tmp_path: Path) -> None:
    portable = lw.build_identity(lw.VERSION, lw.PORTABLE_CMAKE_ARGS)
    native = lw.build_identity(lw.VERSION, NATIVE)
    # Someone copied a native build under the portable key: its recorded flags say so.
    slot = lw.cache_dir_for(portable, tmp_path)
    _fake_cache_entry(slot, native)
    assert lw.cached_wheel(slot, portable) is None
    assert lw.cached_wheel(slot, native) is not None


def test_a_matching_cache_entry_is_reused(tmp_path: Path) -> None:
    portable = lw.build_identity(lw.VERSION, lw.PORTABLE_CMAKE_ARGS)
    slot = lw.cache_dir_for(portable, tmp_path)
    wheel = _fake_cache_entry(slot, portable)
    assert lw.build_wheel(portable, tmp_path) == wheel  # no compile: found in the cache


def test_flag_file_without_a_wheel_is_not_an_entry(tmp_path: Path) -> None:
    portable = lw.build_identity(lw.VERSION, lw.PORTABLE_CMAKE_ARGS)
    slot = lw.cache_dir_for(portable, tmp_path)
    wheel = _fake_cache_entry(slot, portable)
    wheel.unlink()
    assert lw.cached_wheel(slot, portable) is None


@pytest.mark.parametrize(
    ("info", "bad"),
    [
        ("CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | OPENMP = 1 |", []),
        (
            "CPU : AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | AMX_INT8 = 1 |",
            ["AVX512", "AVX512_VNNI", "AMX_INT8"],
        ),
        ("CPU : AVX512 = 0 | AMX_INT8 = 0 | AVX2 = 1 |", []),
    ],
)
def test_non_portable_features_are_read_off_the_system_info_line(info: str, bad: list[str]) -> None:
    assert lw.non_portable_features(info) == bad


def test_install_script_builds_portably_and_never_from_pip_cache() -> None:
    script = (REPO / "scripts" / "install-dev.sh").read_text(encoding="utf-8")
    assert "scripts/llama_wheel.py wheel" in script and "llama_wheel.py check" in script
    assert "GGML_NATIVE=OFF" in lw.PORTABLE_CMAKE_ARGS
    source = (REPO / "scripts" / "llama_wheel.py").read_text(encoding="utf-8")
    assert '"--no-cache-dir"' in source


@pytest.mark.server
def test_installed_llama_cpp_is_the_portable_build() -> None:
    require_server_extra()
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "llama_wheel.py"), "check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"AVX2 = 1", result.stdout)


def test_exit_codes_are_described() -> None:
    assert describe_exit(-signal.SIGSEGV) == "killed by SIGSEGV (signal 11)"
    assert describe_exit(1) == "exit status 1"


@pytest.mark.slow
@pytest.mark.server
def test_a_server_that_dies_is_named_with_its_signal_and_log(tmp_path: Path) -> None:
    require_server_extra()
    from test_generators import smollm2_gguf

    server = LlamaServer(smollm2_gguf(), "smol", tmp_path / "server.log")
    try:
        server.wait_ready()
        assert server.death_note() is None
        server.process.send_signal(signal.SIGSEGV)  # what a CPU-tuned build died of
        server.process.wait(timeout=30)
        notes = death_notes()
        assert len(notes) == 1 and "killed by SIGSEGV" in notes[0]
        assert "llama_cpp.server" in notes[0] and "Uvicorn running" in notes[0]
        assert death_notes() == []  # reported once
    finally:
        server.stop()


DYING_TEST = """
import signal
from pathlib import Path

import httpx
from llama_server import LlamaServer


def test_request_to_a_server_that_crashed(tmp_path: Path) -> None:
    server = LlamaServer(Path({gguf!r}), "smol", tmp_path / "server.log")
    url = server.wait_ready()
    server.process.send_signal(signal.SIGSEGV)  # as the CPU-tuned build died
    server.process.wait()
    try:
        httpx.post(f"{{url}}/chat/completions", timeout=5,
                   json={{"model": "smol", "messages": [{{"role": "user", "content": "안녕"}}]}})
    finally:
        server.stop()
"""


@pytest.mark.slow
@pytest.mark.server
def test_a_failed_tests_report_names_the_dead_server(tmp_path: Path) -> None:
    """The report of a test whose server crashed opens with the server, not with httpx."""
    require_server_extra()
    from test_generators import smollm2_gguf

    test_file = tmp_path / "test_dying.py"
    test_file.write_text(DYING_TEST.format(gguf=str(smollm2_gguf())), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "llama_server",
            "-p",
            "no:cacheprovider",
            "-q",
            str(test_file),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout[-2000:]
    report = result.stdout
    assert "died: killed by SIGSEGV (signal 11)" in report
    assert "Uvicorn running" in report  # the log's tail
    assert report.index("died: killed by SIGSEGV") < report.index("ConnectError")
