"""Operating ``fnrag serve``: a reload (SIGHUP and ``/v1/admin/reload``) switches two
workers to a new build while requests keep succeeding, SIGTERM under load fails no
request in flight, and (in process) the rate limit, the trusted proxy and the body
limit."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from serve_support import Server, create_key, http

pytest.importorskip("fastapi")

QUESTION = "100만원 이하 송금도 실명확인을 해야 하나요?"
CHAT = {"model": "fnrag", "messages": [{"role": "user", "content": QUESTION}]}


class Load:
    """``threads`` clients asking in a loop until stopped; every status is kept. Each
    keeps one keep-alive connection, as real clients do: a server that closes it under
    a request being sent fails that request."""

    def __init__(self, url: str, key: str, threads: int = 4, body: dict[str, Any] = CHAT) -> None:
        self.statuses: list[int] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._client, args=(url, key, body), daemon=True)
            for _ in range(threads)
        ]
        for t in self.threads:
            t.start()

    def _client(self, url: str, key: str, body: dict[str, Any]) -> None:
        import httpx

        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as session:
            while not self.stop.is_set():
                try:
                    response = session.post(url + "/chat/completions", json=body)
                    status, answer = response.status_code, response.text
                except Exception as error:  # a refused or reset connection: a failure
                    status, answer = -1, repr(error)
                with self._lock:
                    self.statuses.append(status)
                    if status != 200:
                        self.failures.append(f"{status}: {answer[:200]}")

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(90)


def _wait_for(check: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError("condition not reached")


def _versions(server: Server) -> set[str]:
    """The builds 12 readiness answers name (a draining worker's 503 names none)."""
    answers = [http("GET", server.base + "/readyz") for _ in range(12)]
    return {body["index_version"] for status, body in answers if status == 200}


def _build(corpus: Path, out: Path) -> str:
    from fnrag.index.build import build_index
    from fnrag.index.search import load_index

    build_index([str(corpus)], out, embedder="hashing")
    return load_index(out).version


def _switch(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` atomically (a new symlink renamed over the old)."""
    fresh = link.with_name(link.name + ".new")
    fresh.symlink_to(target, target_is_directory=True)
    os.replace(fresh, link)


def test_reload_switches_two_workers_to_the_new_build_without_failing_requests(
    tmp_path: Path, hashing_sample_index_dir: Path, sample_corpus: Path
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(sample_corpus, corpus)
    (corpus / "04_추가.md").write_text(
        "# 추가 안내\n\n## 1. 새 조항\n\n신규 지침에 따라 창구 직원은 재확인 절차를 거친다.\n",
        encoding="utf-8",
    )
    new_version = _build(corpus, tmp_path / "build-b")
    link = tmp_path / "current"
    link.symlink_to(hashing_sample_index_dir, target_is_directory=True)
    db = f"sqlite:///{tmp_path / 'fnrag.db'}"
    server = Server(link, db, tmp_path / "home", workers=2, extra=["--rate-limit", "0"])
    try:
        old_version = server.wait_ready()["index_version"]
        assert old_version != new_version
        key = create_key(db, "practitioner")
        operator = create_key(db, "operator", "운영팀")
        load = Load(server.url, key)
        time.sleep(1.0)
        _switch(link, tmp_path / "build-b")
        before = server.workers()
        assert len(before) == 2
        server.signal(signal.SIGHUP)

        def replaced() -> bool:  # both workers are new ones, and they serve the new build
            now = server.workers()
            return len(now) == 2 and not now & before and _versions(server) == {new_version}

        _wait_for(replaced)
        # And back, through the operator's endpoint.
        _switch(link, hashing_sample_index_dir)
        status, body = http("POST", server.url + "/admin/reload", {}, key=operator)
        assert status == 200, body
        assert (body["previous_version"], body["index_version"]) == (new_version, old_version)
        _wait_for(lambda: _versions(server) == {old_version})
        time.sleep(0.5)
        load.finish()
        assert load.statuses and not load.failures, load.failures[:5]
        assert len(load.statuses) >= 10
    finally:
        server.stop()


def test_sigterm_under_load_finishes_requests_in_flight(
    tmp_path: Path, hashing_sample_index_dir: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'fnrag.db'}"
    server = Server(
        hashing_sample_index_dir, db, tmp_path / "home", workers=2, extra=["--rate-limit", "0"]
    )
    try:
        server.wait_ready()
        key = create_key(db, "practitioner")
        load = Load(server.url, key, threads=6, body={**CHAT, "stream": True})
        _wait_for(lambda: len(load.statuses) >= 10, timeout=60)
        load.stop.set()  # no new requests from here; those in flight must succeed
        server.signal(signal.SIGTERM)
        load.finish()
        assert server.process.wait(60) == 0
        assert load.statuses and not load.failures, load.failures[:5]
    finally:
        server.stop()


def _worker_behind(host: str, port: int, connections: int) -> list[int]:
    """Open ``connections`` keep-alive connections at once, as a chat client pool does,
    then ask /healthz once on each: the worker process that answered each one."""
    import json
    import socket

    opened = [socket.create_connection((host, port), timeout=30) for _ in range(connections)]
    workers = []
    try:
        for conn in opened:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
            )
            while len(body) < length:
                body += conn.recv(4096)
            workers.append(json.loads(body)["worker"])
    finally:
        for conn in opened:
            conn.close()
    return workers


def test_connections_are_spread_over_the_workers(
    tmp_path: Path, hashing_sample_index_dir: Path
) -> None:
    """With one shared socket a burst of connections went to whichever worker woke first
    and stayed there (keep-alive); each worker now has its own SO_REUSEPORT socket."""
    from collections import Counter

    db = f"sqlite:///{tmp_path / 'fnrag.db'}"
    server = Server(hashing_sample_index_dir, db, tmp_path / "home", workers=2)
    try:
        server.wait_ready()
        pids = server.workers()
        host, port = server.base.split("//")[1].rsplit(":", 1)
        counts = Counter(_worker_behind(host, int(port), 32))
        assert set(counts) == pids, (counts, pids)
        # Fair hashing puts <= 5 of 32 on one worker with probability ~1e-4.
        assert min(counts.values()) >= 6, counts
        # A reload keeps every slot on its socket: still both workers, new processes.
        server.signal(signal.SIGHUP)
        _wait_for(lambda: server.workers().isdisjoint(pids) and len(server.workers()) == 2, 300)
        server.wait_ready()
        counts = Counter(_worker_behind(host, int(port), 32))
        assert set(counts) == server.workers() and min(counts.values()) >= 6, counts
    finally:
        server.stop()


# --- in process: limits and the trusted proxy ---------------------------------------


def _app_client(index_dir: Path, tmp_path: Path, **options: Any) -> Any:
    from fastapi.testclient import TestClient

    from fnrag.service.app import create_app
    from fnrag.service.config import ServeConfig

    config = ServeConfig(index=str(index_dir), db=f"sqlite:///{tmp_path / 'fnrag.db'}", **options)
    return TestClient(create_app(config))


def test_rate_limit_answers_429_with_retry_after(
    tmp_path: Path, hashing_sample_index_dir: Path
) -> None:
    with _app_client(hashing_sample_index_dir, tmp_path, rate_limit=3) as client:
        key = create_key(f"sqlite:///{tmp_path / 'fnrag.db'}", "practitioner")
        statuses = [
            client.get("/v1/models", headers={"Authorization": f"Bearer {key}"}) for _ in range(5)
        ]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
        assert statuses[-1].json()["error"]["code"] == "rate_limited"
        assert int(statuses[-1].headers["Retry-After"]) >= 1


def test_trusted_proxy_header_only_from_a_trusted_address(
    tmp_path: Path, hashing_sample_index_dir: Path
) -> None:
    # Starlette's test client connects from the address "testclient".
    with _app_client(
        hashing_sample_index_dir,
        tmp_path,
        trusted_proxy_header="X-Bank-User",
        trusted_proxies="testclient",
    ) as client:
        response = client.post(
            "/v1/chat/completions", json=CHAT, headers={"X-Bank-User": "hong.gildong"}
        )
        assert response.status_code == 200 and response.json()["choices"][0]["message"]["citations"]
        assert (
            client.post("/v1/admin/reload", headers={"X-Bank-User": "hong.gildong"}).status_code
            == 403
        )
        assert client.get("/v1/models").status_code == 401
    with _app_client(
        hashing_sample_index_dir,
        tmp_path,
        trusted_proxy_header="X-Bank-User",
        trusted_proxies="10.0.0.1",
    ) as client:
        assert client.get("/v1/models", headers={"X-Bank-User": "hong.gildong"}).status_code == 401


def test_no_auth_is_refused_off_loopback() -> None:
    from fnrag.errors import InputError
    from fnrag.service.config import ServeConfig

    with pytest.raises(InputError, match=r"127\.0\.0\.1"):
        ServeConfig(host="0.0.0.0", auth=False)
    assert ServeConfig(auth=False).auth is False


def test_a_streamed_oversized_body_is_refused(
    tmp_path: Path, hashing_sample_index_dir: Path
) -> None:
    with _app_client(hashing_sample_index_dir, tmp_path, auth=False, max_body_bytes=2048) as client:

        def chunks() -> Any:  # no Content-Length: the limit counts what arrives
            for _ in range(10):
                yield b"x" * 1000

        response = client.post("/v1/chat/completions", content=chunks())
        assert (
            response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
        )
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
