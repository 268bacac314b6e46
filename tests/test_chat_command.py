"""``fnrag chat`` with stdin piped (not a terminal): history, /sources, /reset, /as-of, /quit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO


def _chat(index: Path, lines: list[str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fnrag.cli", "chat", "--index", str(index), *extra],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=REPO,
        timeout=300,
    )


def test_piped_session_with_history_sources_and_reset(sample_index_dir: Path) -> None:
    result = _chat(
        sample_index_dir,
        [
            "실명확인 의무를 어긴 직원에게 과태료가 얼마나 나오나요?",
            "그건 누가 부과하나요?",
            "/sources",
            "/reset",
            "/sources",
            "그건 누가 부과하나요?",
            "/quit",
            "이 줄은 읽히지 않습니다",
        ],
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # The follow-up is resolved against the first question and answered with sources.
    assert "(이해한 질문: 실명확인 의무를 어긴 직원에게 과태료가 얼마나 나오나요? 그건 누가" in out
    before_reset, after_reset = out.split("(대화를 지웠습니다)")
    assert "출처: [1]" in before_reset
    assert "“" in before_reset.split("(이해한 질문:")[1]  # /sources prints the quotes
    # After /reset the same follow-up stands alone again: not resolved, and refused.
    assert "(아직 답변이 없습니다)" in after_reset
    assert "이해한 질문" not in after_reset
    assert "제공된 자료에서 답을 찾을 수 없습니다." in after_reset
    assert "읽히지" not in out


def test_as_of_and_unknown_commands(sample_index_dir: Path) -> None:
    result = _chat(sample_index_dir, ["/as-of 2020-01-01", "/as-of 20x", "/as-of", "/foo"])
    assert result.returncode == 0, result.stderr
    assert "(2020-01-01 시행 법령으로 답합니다)" in result.stdout
    assert "fnrag: error: /as-of '20x' is not a date" in result.stdout
    assert "(오늘 시행 중인 법령으로 답합니다)" in result.stdout
    assert "(알 수 없는 명령 /foo)" in result.stdout


def test_as_of_reaches_ask(sample_index_dir: Path) -> None:
    """A question asked under /as-of is answered for that date (undated sample guides
    are always searched, so it is answered)."""
    result = _chat(
        sample_index_dir, ["/as-of 2020-01-01", "법인 고객의 실명확인증표는 무엇인가요?"]
    )
    assert result.returncode == 0, result.stderr
    assert "출처: [1]" in result.stdout


def test_chat_listed_in_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fnrag.cli", "--help"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=REPO,
        timeout=120,
    )
    assert "chat" in result.stdout
