"""README's "Measured" figures are what the committed benchmark JSON renders to (issue 19).

Fast: no corpus, no model; ``benchmarks/readme_figures.py`` is run on real files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "readme_figures.py"
FIGURES = ROOT / "benchmarks" / "results" / "retrieval.json"
README = ROOT / "README.md"
sys.path.insert(0, str(SCRIPT.parent))

import readme_figures  # noqa: E402


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60
    )


def test_readme_table_is_what_the_committed_json_renders_to() -> None:
    figures = json.loads(FIGURES.read_text(encoding="utf-8"))
    block = readme_figures.current_block(README.read_text(encoding="utf-8"))
    assert block == readme_figures.render_retrieval(figures), (
        "README's figures were edited by hand: run python3 benchmarks/readme_figures.py"
    )
    assert run_script("--check").returncode == 0


def test_the_json_names_the_command_that_measured_it() -> None:
    run = json.loads(FIGURES.read_text(encoding="utf-8"))["run"]
    assert run["command"].startswith("python3 benchmarks/bench_retrieval.py ")
    assert "--json-out benchmarks/results/retrieval.json" in run["command"]


def test_check_catches_a_hand_edit_and_a_rewrite_fixes_only_the_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    original = README.read_text(encoding="utf-8")
    block = readme_figures.current_block(original)
    hit_row = next(line for line in block.splitlines() if line.startswith("| fnrag hybrid |"))
    edited = original.replace(hit_row, "| fnrag hybrid | 0.99 | 0.99 | 0.99 |")
    readme.write_text(edited + "\n손으로 쓴 끝줄\n", encoding="utf-8")

    checked = run_script("--check", "--readme", str(readme))
    assert checked.returncode == 1
    assert "+" + hit_row in checked.stdout and "figures differ" in checked.stderr
    assert "0.99" in readme.read_text(encoding="utf-8")  # --check changes nothing

    assert run_script("--readme", str(readme)).returncode == 0
    assert readme.read_text(encoding="utf-8") == original + "\n손으로 쓴 끝줄\n"
    assert run_script("--check", "--readme", str(readme)).returncode == 0


def test_missing_markers_and_missing_figures_are_errors(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# 표 없음\n", encoding="utf-8")
    done = run_script("--check", "--readme", str(readme))
    assert done.returncode == 2
    assert "<!-- figures:retrieval -->" in done.stderr

    figures = json.loads(FIGURES.read_text(encoding="utf-8"))
    del figures["baseline_build"]  # a run with --skip-baseline-build
    with pytest.raises(readme_figures.FiguresError, match="without --skip-baseline-build"):
        readme_figures.render_retrieval(figures)
