"""Measure ``fnrag serve`` under load against in-process ``ask()`` (issue 15).

Usage::

    python benchmarks/bench_serve.py [--index DIR] [--workers 2] [--clients 32]
        [--seconds 60] [--feedback 1000] [--no-postgres] [--client raw|httpx]

Without ``--index`` the real-corpus index (the README's six files from
``../shared/corpus``) is built once into ``$FNRAG_HOME/bench-serve/index``. All traffic
is on 127.0.0.1; every phase is bounded in time and the script stops the servers it
starts. Phases:

1. in process: ``Assistant.ask`` (extractive) on the dev questions for ``--inprocess``
   seconds, in one process and in ``--workers`` processes at once (the same compute the
   server has) → answers per second; the latter again right after phase 2, and the server's throughput is
   compared with the mean of the two;
2. the server with ``--workers`` workers (SQLite), ``--clients`` concurrent clients
   asking for ``--seconds`` seconds → errors, answers per second, p50/p95 latency, RSS
   per worker, the cores each worker used (a lopsided split: connections piled on one)
   and the client's own CPU per answer (``--client raw``, the default, is plain asyncio
   sockets: ≈ 0.3 ms per answer against httpx's ≈ 2 ms, CPU the server would lose);
3. a reload under load: SIGHUP, then ``POST /v1/admin/reload``, while the clients ask →
   failed requests;
4. SIGTERM under load: the clients stop sending, SIGTERM follows at once → failed
   requests in flight, exit status;
5. ``--feedback`` feedback writes from ``--clients`` concurrent clients, on SQLite and
   on a throw-away PostgreSQL (``tests/serve_support.py``) → rows stored, lost writes.

The machine may be shared: figures are noisy; the in-process baseline is measured in
the same run for that reason.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE.parent / "tests"))

from serve_support import Server, new_database, postgres_bin, postgres_cluster  # noqa: E402

from fnrag.embedders.base import embed_threads  # noqa: E402

CORPUS = _HERE.parents[1] / "shared" / "corpus"
from bench_retrieval import FILES as REAL_FILES  # noqa: E402  (the README's six files)


def questions() -> list[str]:
    rows = [json.loads(line) for line in (CORPUS / "dev_qa.jsonl").read_text().splitlines() if line]
    return [r["q"] for r in rows if r.get("q")]


def real_index(given: str | None) -> Path:
    if given:
        return Path(given)
    from fnrag.index.build import build_index
    from fnrag.paths import fnrag_home

    out = fnrag_home() / "bench-serve" / "index"
    if not (out / "manifest.json").is_file():
        print(f"building the real-corpus index into {out} …", flush=True)
        build_index([str(CORPUS / name) for name in REAL_FILES], out)
    return out


# --- 1. in process -----------------------------------------------------------------


def _ask_loop(index: str, qs: list[str], seconds: float, out: Any) -> None:
    from fnrag.answering.assistant import Assistant

    assistant = Assistant(index, "extractive", log=False)
    assistant.ask(qs[0])  # warm-up
    done, deadline, cpu = 0, time.perf_counter() + seconds, time.process_time()
    while time.perf_counter() < deadline:
        assistant.ask(qs[done % len(qs)])
        done += 1
    out.put((done, time.process_time() - cpu))


def in_process(index: Path, qs: list[str], processes: int, seconds: float) -> tuple[float, float]:
    """(answers per second, CPU ms per answer) of ``processes`` processes asking."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_ask_loop, args=(str(index), qs, seconds, out)) for _ in range(processes)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join()
    total = sum(done for done, _ in results)
    return total / seconds, 1000 * sum(cpu for _, cpu in results) / max(1, total)


# --- load ----------------------------------------------------------------------------


class Loader:
    """``clients`` concurrent asyncio clients asking until ``stop`` is set."""

    def __init__(self, url: str, key: str, qs: list[str], clients: int) -> None:
        self.url, self.key, self.qs, self.clients = url, key, qs, clients
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.stop = asyncio.Event()

    async def _client(self, http: Any, n: int) -> None:
        i = n
        while not self.stop.is_set():
            body = {
                "model": "fnrag",
                "messages": [{"role": "user", "content": self.qs[i % len(self.qs)]}],
            }
            i += self.clients
            started = time.perf_counter()
            try:
                response = await http.post(self.url + "/chat/completions", json=body)
                ok = response.status_code == 200 and "choices" in response.json()
                error = "" if ok else f"{response.status_code} {response.text[:120]}"
            except Exception as exc:  # a refused or reset connection is a failed request
                error = repr(exc)[:160]
            if error:
                self.failures.append(error)
            else:
                self.latencies.append(time.perf_counter() - started)

    async def run(self, seconds: float | None = None, during: Any = None) -> float:
        import httpx

        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        headers = {"Authorization": f"Bearer {self.key}"}
        async with httpx.AsyncClient(limits=limits, headers=headers, timeout=120) as http:
            return await self._drive(http, seconds, during)

    async def _drive(self, shared: Any, seconds: float | None, during: Any) -> float:
        """Run the clients (each given ``shared``) for ``seconds`` or while ``during``
        runs, then stop them; the wall time."""
        started = time.perf_counter()
        tasks = [asyncio.create_task(self._client(shared, n)) for n in range(self.clients)]
        if during is not None:
            await during(self)
        else:
            await asyncio.sleep(seconds or 0)
        self.stop.set()
        await asyncio.gather(*tasks)
        return time.perf_counter() - started


class RawLoader(Loader):
    """The same clients over plain asyncio sockets: one keep-alive HTTP/1.1 connection
    each, the request bytes built once per question, the JSON body parsed.

    The load generator shares the machine's two cores with the server; httpx spent
    ≈ 2 ms of CPU per answer there, which the server's throughput paid for. This client
    spends a fraction of that, so the figure is the server's, not the client's."""

    async def _connect(self) -> tuple[Any, Any]:
        from urllib.parse import urlsplit

        url = urlsplit(self.url)
        return await asyncio.open_connection(url.hostname, url.port)

    def _requests(self) -> list[bytes]:
        from urllib.parse import urlsplit

        url = urlsplit(self.url)
        host, path = url.netloc, url.path + "/chat/completions"
        built = []
        for q in self.qs:
            body = json.dumps(
                {"model": "fnrag", "messages": [{"role": "user", "content": q}]},
                ensure_ascii=False,
            ).encode()
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {self.key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            built.append(head.encode("latin-1") + body)
        return built

    @staticmethod
    async def _response(reader: Any) -> tuple[int, bytes, bool]:
        """(status, body, server keeps the connection) of one response."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:  # chunked
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                parts.append(await reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(p[:-2] for p in parts)
        return status, body, headers.get("connection", "").lower() != "close"

    async def _client(self, http: Any, n: int) -> None:
        requests, i = http, n
        reader = writer = None
        while not self.stop.is_set():
            request = requests[i % len(requests)]
            i += self.clients
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await self._connect()
                writer.write(request)
                status, body, keep = await self._response(reader)
                ok = status == 200 and "choices" in json.loads(body)
                error = "" if ok else f"{status} {body[:120]!r}"
                if not keep:
                    writer.close()
                    reader = writer = None
            except Exception as exc:  # a refused or reset connection is a failed request
                error = repr(exc)[:160]
                if writer is not None:
                    writer.close()
                reader = writer = None
            if error:
                self.failures.append(error)
            else:
                self.latencies.append(time.perf_counter() - started)
        if writer is not None:
            writer.close()

    async def run(self, seconds: float | None = None, during: Any = None) -> float:
        return await self._drive(self._requests(), seconds, during)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def worker_cpu(pid: int) -> dict[int, float]:
    """CPU seconds used so far by each of the supervisor's children (the workers)."""
    found: dict[int, float] = {}
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    ticks = os.sysconf("SC_CLK_TCK")
    for child in children:
        try:
            if b"resource_tracker" in Path(f"/proc/{child}/cmdline").read_bytes():
                continue  # multiprocessing's helper, not a worker
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            found[int(child)] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        except (OSError, IndexError, ValueError):
            continue
    return found


def workers_cpu(pid: int) -> float:
    """CPU seconds used so far by the supervisor's children (the workers)."""
    return sum(worker_cpu(pid).values())


def worker_rss(pid: int) -> list[float]:
    """RSS in MiB of the server's worker processes (children of the supervisor)."""
    rss = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return rss
    for child in children:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"resource_tracker" in cmdline:
                continue
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return rss


def settle(server: Server, workers: int, quiet: float = 5, timeout: float = 600) -> None:
    """Wait until the supervisor has ``workers`` workers, unchanged for ``quiet`` s."""
    deadline, seen, since = time.monotonic() + timeout, None, time.monotonic()
    while time.monotonic() < deadline:
        try:
            now = (
                Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
                .read_text()
                .split()
            )
        except OSError:
            return
        if now != seen:
            seen, since = now, time.monotonic()
        elif len(worker_rss(server.process.pid)) == workers and time.monotonic() - since >= quiet:
            return
        time.sleep(0.5)


def _make_key(db_url: str, role: str) -> str:
    from fnrag.storage.db import Database
    from fnrag.storage.keys import create_key

    db = Database(db_url)
    db.migrate()
    key, _ = create_key(db, f"bench-{role}", role)
    db.dispose()
    return key


SERVER_OPTIONS: list[str] = ["--rate-limit", "0"]


def _start(index: Path, db_url: str, home: Path, workers: int) -> Server:
    server = Server(index, db_url, home, workers=workers, extra=SERVER_OPTIONS)
    server.wait_ready(600)
    # Every worker answers /readyz before the clock starts.
    return server


async def _reload_during(
    loader: Loader, server: Server, operator: str, report: dict[str, Any]
) -> None:
    import httpx

    await asyncio.sleep(3)
    server.signal(signal.SIGHUP)
    await asyncio.sleep(12)
    async with httpx.AsyncClient(timeout=300) as http:
        response = await http.post(
            server.url + "/admin/reload", json={}, headers={"Authorization": f"Bearer {operator}"}
        )
        report["admin_reload_status"] = response.status_code
    await asyncio.sleep(12)


async def _sigterm_during(loader: Loader, server: Server) -> None:
    await asyncio.sleep(5)
    loader.stop.set()  # no new requests: those in flight must finish
    server.signal(signal.SIGTERM)


async def _feedback(url: str, key: str, answer_id: str, total: int, clients: int) -> list[int]:
    import httpx

    statuses: list[int] = []
    queue = iter(range(total))

    async def client(http: Any) -> None:
        for n in queue:
            body = {
                "answer_id": answer_id,
                "rating": "down" if n % 2 else "up",
                "reason": "other",
                "comment": f"벤치 의견 {n}",
            }
            try:
                statuses.append((await http.post(url + "/feedback", json=body)).status_code)
            except Exception:
                statuses.append(-1)

    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=120) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return statuses


def feedback_phase(
    index: Path, db_url: str, home: Path, workers: int, total: int, clients: int
) -> dict[str, Any]:
    from fnrag.storage.db import Database
    from fnrag.storage.records import count

    key = _make_key(db_url, "practitioner")
    server = _start(index, db_url, home, workers)
    try:
        import httpx

        answer = httpx.post(
            server.url + "/chat/completions",
            json={
                "model": "fnrag",
                "messages": [{"role": "user", "content": "금융실명법의 목적은 무엇인가요?"}],
            },
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        ).json()
        started = time.perf_counter()
        statuses = asyncio.run(_feedback(server.url, key, answer["id"], total, clients))
        seconds = time.perf_counter() - started
    finally:
        server.stop()
    db = Database(db_url)
    stored = count(db, "feedback")
    db.dispose()
    created = sum(1 for s in statuses if s == 201)
    return {
        "sent": total,
        "201": created,
        "stored": stored,
        "lost": created - stored,
        "failed": total - created,
        "writes_per_s": round(total / seconds, 1),
    }


def _finish(report: dict[str, Any]) -> int:
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--inprocess", type=float, default=30, help="seconds of each in-process measurement"
    )
    parser.add_argument("--feedback", type=int, default=1000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--max-concurrent", type=int, help="fnrag serve --max-concurrent")
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="load-phase client: plain asyncio sockets (light) or httpx (the reload and "
        "SIGTERM phases always use httpx)",
    )
    parser.add_argument("--phases", default="inprocess,load,reload,sigterm,feedback")
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    if args.max_concurrent:
        SERVER_OPTIONS.extend(["--max-concurrent", str(args.max_concurrent)])
    index = real_index(args.index)
    qs = questions()
    report: dict[str, Any] = {
        "index": str(index),
        "workers": args.workers,
        "clients": args.clients,
        "client": args.client,
        "questions": len(qs),
        "embed_threads": embed_threads(),
    }

    if "inprocess" in phases:
        qps, cpu_ms = in_process(index, qs, 1, args.inprocess)
        report["inprocess_1_qps"] = round(qps, 2)
        report["inprocess_cpu_ms_per_answer"] = round(cpu_ms, 2)
        qps, _ = in_process(index, qs, args.workers, args.inprocess)
        report[f"inprocess_{args.workers}_qps"] = round(qps, 2)
    print(json.dumps(report, ensure_ascii=False), flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        home = Path(tmp)
        db_url = f"sqlite:///{home / 'load.db'}"
        key, operator = _make_key(db_url, "practitioner"), _make_key(db_url, "operator")
        server = _start(index, db_url, home / "home", args.workers)
        try:
            loader = (RawLoader if args.client == "raw" else Loader)(
                server.url, key, qs, args.clients
            )
            import resource

            per_worker = worker_cpu(server.process.pid)
            cpu_server = sum(per_worker.values())
            usage = resource.getrusage(resource.RUSAGE_SELF)
            elapsed = asyncio.run(loader.run(args.seconds))
            after = resource.getrusage(resource.RUSAGE_SELF)
            per_worker = {
                w: seconds - per_worker.get(w, 0.0)
                for w, seconds in worker_cpu(server.process.pid).items()
            }
            cpu_server = sum(per_worker.values())
            cpu_client = (after.ru_utime + after.ru_stime) - (usage.ru_utime + usage.ru_stime)
            lat = loader.latencies
            report["load"] = {
                "seconds": round(elapsed, 1),
                "answers": len(lat),
                "errors": len(loader.failures),
                "qps": round(len(lat) / elapsed, 2),
                "p50_ms": round(percentile(lat, 0.5) * 1000, 1),
                "p95_ms": round(percentile(lat, 0.95) * 1000, 1),
                "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None,
                "rss_mib_per_worker": [round(r) for r in worker_rss(server.process.pid)],
                "server_cpu_ms_per_answer": round(1000 * cpu_server / max(1, len(lat)), 2),
                # Cores each worker used: a lopsided split means connections piled up on one.
                "cores_per_worker": sorted(
                    (round(seconds / elapsed, 2) for seconds in per_worker.values()),
                    reverse=True,
                ),
                "client_cpu_ms_per_answer": round(1000 * cpu_client / max(1, len(lat)), 2),
                "first_errors": loader.failures[:3],
            }
            if "inprocess" in phases:
                # Measured again right after the load, with the server idle: the
                # machine's speed drifts (the same baseline has read 57 and 81 answers/s
                # minutes apart), and the mean of before and after brackets the load.
                after, _ = in_process(index, qs, args.workers, args.inprocess)
                before = report[f"inprocess_{args.workers}_qps"]
                report[f"inprocess_{args.workers}_qps_after"] = round(after, 2)
                base = (before + after) / 2
                qps = report["load"]["qps"]
                report["load"]["vs_inprocess_same_processes"] = round(qps / base, 3)
                report["load"]["vs_inprocess_before_after"] = [
                    round(qps / before, 3),
                    round(qps / after, 3),
                ]
                report["load"]["vs_inprocess_1"] = round(qps / report["inprocess_1_qps"], 3)
            print(json.dumps(report["load"], ensure_ascii=False), flush=True)

            if "reload" not in phases:
                return _finish(report)
            loader = Loader(server.url, key, qs, args.clients)
            reload_info: dict[str, Any] = {}
            elapsed = asyncio.run(
                loader.run(during=lambda ld: _reload_during(ld, server, operator, reload_info))
            )
            report["reload_under_load"] = {
                "seconds": round(elapsed, 1),
                "answers": len(loader.latencies),
                "failed": len(loader.failures),
                **reload_info,
                "first_errors": loader.failures[:3],
            }
            print(json.dumps(report["reload_under_load"], ensure_ascii=False), flush=True)
            settle(server, args.workers)
            if "sigterm" not in phases:
                return _finish(report)

            loader = Loader(server.url, key, qs, args.clients)
            elapsed = asyncio.run(loader.run(during=lambda ld: _sigterm_during(ld, server)))
            code = server.process.wait(120)
            report["sigterm_under_load"] = {
                "answers": len(loader.latencies),
                "failed": len(loader.failures),
                "exit_status": code,
                "first_errors": loader.failures[:3],
            }
            print(json.dumps(report["sigterm_under_load"], ensure_ascii=False), flush=True)
        finally:
            server.stop()

        if "feedback" not in phases:
            return _finish(report)
        report["feedback_sqlite"] = feedback_phase(
            index,
            f"sqlite:///{home / 'feedback.db'}",
            home / "home-fb",
            args.workers,
            args.feedback,
            args.clients,
        )
        print(json.dumps(report["feedback_sqlite"]), flush=True)
        if not args.no_postgres and postgres_bin() is not None:
            with postgres_cluster() as pg:
                url = new_database(pg, "fnrag_bench")
                report["feedback_postgresql"] = feedback_phase(
                    index, url, home / "home-pg", args.workers, args.feedback, args.clients
                )
            print(json.dumps(report["feedback_postgresql"]), flush=True)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
