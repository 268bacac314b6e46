"""The README's Python example runs as written (against the bundled sample corpus)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def python_blocks() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_a_python_example() -> None:
    blocks = python_blocks()
    assert blocks and "fnrag.build_index" in blocks[0] and "fnrag.ask" in blocks[0]


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path: Path) -> None:
    # The example's paths are relative to a checkout: run it in a folder that has the
    # checkout's index/sample, and nothing else of the checkout.
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "sample").symlink_to(REPO / "index" / "sample")
    script = tmp_path / "example.py"
    script.write_text(python_blocks()[0], encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert len(lines) >= 4  # three hits and an answer at least
    assert (tmp_path / "my-index" / "manifest.json").is_file()


def test_readme_law_versions_example_runs(tmp_path: Path) -> None:
    shared = REPO.parent / "shared"
    if not (shared / "corpus").is_dir():
        pytest.skip("../shared/corpus is absent")
    block = next(b for b in python_blocks() if "law-versions" in b)
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (tmp_path / "shared").symlink_to(shared)  # the example's ../shared/corpus
    script = checkout / "versions.py"
    script.write_text(block, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    version, notices, changed = result.stdout.splitlines()[-3:]
    assert version == "법률 제14242호, 2016. 12. 1. 시행"
    assert "제4조: 2025. 4. 1. 시행 개정" in notices
    assert changed == "True"
