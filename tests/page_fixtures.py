"""Fixtures for the practitioner page's browser tests: a live ``fnrag serve`` on loopback
(a real subprocess, its own SQLite file and API key) and headless system Chromium driven
by Selenium, with the browser console and the page's network requests readable.

Chromium and chromedriver come from the distribution (``apt-get install chromium
chromium-driver``; ``scripts/install-dev.sh`` does it); the tests skip when either is
missing. Nothing is downloaded at test time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# A cold start loads the embedder (real index: multilingual-e5) before /readyz says ready.
READY_SECONDS = 180


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fnrag(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fnrag.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@dataclass
class LiveServer:
    """One ``fnrag serve`` subprocess and what a test needs to talk to it."""

    url: str
    db_url: str
    key: str
    home: Path
    process: subprocess.Popen[bytes]
    log: Path

    def database(self) -> Any:
        from fnrag.storage import Database

        return Database(self.db_url)

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of ``table`` in the server's database, oldest first."""
        from sqlalchemy import select

        from fnrag.storage import schema

        db = self.database()
        try:
            with db.engine.connect() as conn:
                found = getattr(schema, table)
                return [dict(row._mapping) for row in conn.execute(select(found))]
        finally:
            db.dispose()

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return response.status, dict(response.headers), response.read()


def start_server(index_dir: Path, home: Path, *extra: str) -> LiveServer:
    """``fnrag serve --index DIR`` on a free loopback port, ready, with a practitioner key."""
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "FNRAG_HOME": str(home), "FNRAG_INDEX": str(index_dir)}
    for name in ("FNRAG_DB", "FNRAG_CONFIG", "FNRAG_INDEX_KEY", "FNRAG_SERVE_CONFIG"):
        env.pop(name, None)
    db_url = f"sqlite:///{home / 'fnrag.db'}"
    created = _fnrag(
        "keys", "create", "--name", "창구직원", "--role", "practitioner", "--db", db_url, env=env
    )
    key = created.stdout.strip().splitlines()[-1]
    port = _free_port()
    log = home / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "fnrag.cli", "serve", "--index", str(index_dir),
             "--host", "127.0.0.1", "--port", str(port), "--db", db_url, *extra],
            env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    server = LiveServer(f"http://127.0.0.1:{port}", db_url, key, home, process, log)
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"fnrag serve exited ({process.returncode}):\n{log.read_text()[-3000:]}"
            )
        try:
            if server.get("/readyz")[0] == 200:
                return server
        except OSError:
            pass
        time.sleep(0.25)
    stop_server(server)
    raise RuntimeError(
        f"fnrag serve was not ready in {READY_SECONDS} s:\n{log.read_text()[-3000:]}"
    )


def stop_server(server: LiveServer) -> None:
    """SIGTERM to the server's own process group (it started one), then SIGKILL."""
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A factory: ``serve(index_dir)`` starts a live server; all stop at module end."""
    started: list[LiveServer] = []

    def make(index_dir: Path, *extra: str) -> LiveServer:
        server = start_server(Path(index_dir), tmp_path_factory.mktemp("page-serve"), *extra)
        started.append(server)
        return server

    yield make
    for server in started:
        stop_server(server)


def _binary(names: tuple[str, ...]) -> str | None:
    return next((found for name in names if (found := shutil.which(name))), None)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless system Chromium under Selenium, console and network logs on."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install -e '.[dev]'")
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = _binary(CHROMIUM_NAMES), _binary(("chromedriver",))
    if chromium is None or driver_path is None:
        pytest.skip(
            "system Chromium or chromedriver is absent: apt-get install chromium chromium-driver"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,800", "--lang=ko-KR", "--no-first-run",
                     "--disable-background-networking", "--disable-extensions"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def viewport(driver: Any, width: int, height: int, mobile: bool = False) -> None:
    """Make the page's viewport exactly ``width`` x ``height`` CSS pixels."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """Console entries of level SEVERE since the last call (the log is drained)."""
    return [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def posted(driver: Any, path: str) -> list[dict[str, Any]]:
    """JSON bodies the page POSTed to ``path`` since the last call (drains the log)."""
    bodies = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") != "Network.requestWillBeSent":
            continue
        request = message["params"]["request"]
        if (
            request.get("method") == "POST"
            and request["url"].endswith(path)
            and request.get("postData")
        ):
            bodies.append(json.loads(request["postData"]))
    return bodies


def open_page(driver: Any, server: LiveServer) -> None:
    """Load the page with a clean tab: no stored key, logs drained."""
    driver.get(server.url + "/")
    driver.execute_script("sessionStorage.clear();")
    driver.get_log("browser")
    driver.get(server.url + "/")  # its console errors stay in the log for the test
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.body.dataset.ready")
    )
    driver.get_log("performance")
