"""A real llama-cpp-python OpenAI-compatible server for tests, that says so when it dies.

A server that crashes mid-test (a native build tuned to another CPU dies with SIGSEGV or
SIGILL on its first completion) otherwise shows up as an httpx ``RemoteProtocolError``.
Every server started here is registered; this module is also a pytest plugin (loaded by
``conftest.py``) whose report hook asks :func:`death_notes` after a failed test and puts
the exit signal and the server log's tail at the top of the report.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

LOG_TAIL_CHARS = 3000
_STARTED: list[LlamaServer] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def describe_exit(code: int) -> str:
    """``exit status 1`` or ``killed by SIGSEGV (signal 11)``."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "an unknown signal"
        return f"killed by {name} (signal {-code})"
    return f"exit status {code}"


class LlamaServer:
    """``python -m llama_cpp.server`` on 127.0.0.1, its output kept in a log file."""

    def __init__(self, model: Path, alias: str, log: Path, *, n_ctx: int = 2048) -> None:
        self.alias = alias
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.reported = False
        self.stopped_by_us = False
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "llama_cpp.server",
                    "--model",
                    str(model),
                    "--model_alias",
                    alias,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--n_ctx",
                    str(n_ctx),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _STARTED.append(self)

    def wait_ready(self, seconds: float = 90) -> str:
        """Block until ``/v1/models`` answers; fail the test with the log if it never does."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(self.death_note() or "llama_cpp.server exited during start")
            try:
                urllib.request.urlopen(f"{self.url}/models", timeout=1)
                return self.url
            except OSError:
                time.sleep(0.3)
        pytest.fail(f"llama_cpp.server did not start within {seconds:.0f} s\n{self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:]
        except OSError:
            return "(no server log)"

    def death_note(self) -> str | None:
        """What happened, when the server is no longer running; None while it runs."""
        code = self.process.poll()
        if code is None or self.stopped_by_us:
            return None
        return (
            f"llama_cpp.server on port {self.port} died: {describe_exit(code)}.\n"
            f"The last lines of its log ({self.log}):\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Stop the server; a server that had died already stays on record, so the
        failed test's report still names it."""
        if self.process.poll() is None:
            self.stopped_by_us = True
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def death_notes() -> list[str]:
    """Notes on servers that died since the last call (each reported once)."""
    notes = []
    for server in _STARTED:
        note = server.death_note()
        if note and not server.reported:
            server.reported = True
            notes.append(note)
    return notes


def require_server_extra() -> None:
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError as error:
        pytest.skip(
            f"llama-cpp-python[server] is not installed ({error}); "
            "run scripts/install-dev.sh (it builds the portable wheel)"
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """Name a llama_cpp.server that died during a failed test, with its signal and log."""
    report = yield
    if getattr(report, "failed", False):
        notes = death_notes()
        if notes:
            report.longrepr = "\n\n".join([*notes, str(report.longrepr)])  # type: ignore[attr-defined]
    return report
