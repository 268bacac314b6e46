"""Helpers for the service tests: a live ``fnrag serve`` subprocess on 127.0.0.1 and a
throw-away PostgreSQL cluster from the distribution's binaries (no mock of either)."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fnrag_cli(
    args: Sequence[str], env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``fnrag ARGS`` in a subprocess (the installed CLI's code path)."""
    return subprocess.run(
        [sys.executable, "-m", "fnrag.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=check,
        cwd=REPO,
    )


def create_key(db_url: str, role: str, name: str = "김대리") -> str:
    """A new API key made by ``fnrag keys create`` (its last line)."""
    out = fnrag_cli(["keys", "create", "--name", name, "--role", role, "--db", db_url])
    return out.stdout.strip().splitlines()[-1]


def http(
    method: str,
    url: str,
    body: Any = None,
    key: str | None = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple[int, Any]:
    """(status, parsed JSON body or text) of one request; never raises on 4xx/5xx."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


class Server:
    """``fnrag serve`` in a subprocess; ``url`` is its ``/v1`` base."""

    def __init__(
        self,
        index: Path | str,
        db_url: str,
        home: Path,
        workers: int = 1,
        extra: Sequence[str] = (),
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = self.base + "/v1"
        self.db_url = db_url
        self.home = home
        self.log_path = home / f"serve-{self.port}.log"
        home.mkdir(parents=True, exist_ok=True)
        # The converted embedder of the caller's home, so no worker converts it again.
        models = Path(os.environ.get("FNRAG_HOME") or Path.home() / ".cache/fnrag") / "models"
        if models.is_dir() and not (home / "models").exists():
            (home / "models").symlink_to(models.resolve(), target_is_directory=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "FNRAG_HOME": str(home)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fnrag.cli",
                "serve",
                "--index",
                str(index),
                "--db",
                db_url,
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                *extra,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )

    def wait_ready(self, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"fnrag serve exited with {self.process.returncode}:\n{self.log()}"
                )
            with contextlib.suppress(OSError):
                status, body = http("GET", self.base + "/readyz", timeout=2)
                if status == 200:
                    return body
            time.sleep(0.2)
        raise TimeoutError(f"fnrag serve was not ready in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def workers(self) -> set[int]:
        """The worker processes' ids (the supervisor's children, less multiprocessing's
        resource tracker)."""
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return set()
        found = set()
        for child in children:
            try:
                if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.add(int(child))
            except OSError:
                continue
        return found

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        return self.process.returncode


# --- PostgreSQL ------------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` with initdb, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def _as_postgres(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root: run them as the distribution's user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """A fresh cluster on a free 127.0.0.1 port; yields its superuser URL (trust auth)."""
    binaries = postgres_bin()
    assert binaries is not None
    root = Path(tempfile.mkdtemp(prefix="fnrag-pg-"))
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres(
            [
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres(
            [
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(data / "server.log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def new_database(server_url: str, name: str) -> str:
    """A new empty database on the cluster at ``server_url``; returns its URL."""
    import psycopg

    plain = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


# --- fixtures (imported by the test modules that use them) -------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A PostgreSQL cluster for the session, or skip when the binaries are absent."""
    if postgres_bin() is None:
        pytest.skip(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); "
            "install it with: apt-get install -y postgresql (scripts/install-dev.sh does)"
        )
    with postgres_cluster() as url:
        yield url


_databases = iter(range(1, 10_000))


def database_url(kind: str, tmp: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database of ``kind`` (``sqlite`` or ``postgresql``)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'fnrag.db'}"
    server = request.getfixturevalue("pg_server_url")
    return new_database(server, f"fnrag_test_{os.getpid()}_{next(_databases)}")
