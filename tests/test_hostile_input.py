"""Hostile and broken input gets a clear FnragError in bounded time and memory.

Files are ingested in a child process (tests/ingest_child.py) under a 2 GiB
address-space limit and a generous wall-clock guard, so a hang or a memory blow-up
fails one test instead of the machine.  The guards are not speed assertions.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hostile_files import HOSTILE_FILES, ODD_BUT_VALID, encrypted_pdf, text_pdf

from fnrag.errors import FnragError, InputError

HERE = Path(__file__).resolve().parent
# Generous (every legitimate case here takes under 3 s): a hang, not slowness, is
# what these guards catch.
GUARD_SECONDS = 30
CLI_GUARD_SECONDS = 120
MEMORY_MB = 2048


def run_child(path: Path) -> dict:
    try:
        done = subprocess.run(
            [sys.executable, str(HERE / "ingest_child.py"), str(path), str(MEMORY_MB)],
            capture_output=True,
            text=True,
            timeout=GUARD_SECONDS,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"ingesting {path.name} did not finish within {GUARD_SECONDS} s")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"child died (status {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(lines[-1])


# Cases that once exposed bugs stay here as xfail markers only while a bug is open.
_KNOWN_BUGS: dict[str, str] = {}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(name, marks=pytest.mark.xfail(reason=_KNOWN_BUGS[name], strict=True))
        if name in _KNOWN_BUGS
        else name
        for name in HOSTILE_FILES
    ],
)
def test_hostile_file_gives_clear_error(case: str, tmp_path: Path) -> None:
    file_name, build = HOSTILE_FILES[case]
    path = tmp_path / file_name
    path.write_bytes(build())
    result = run_child(path)
    assert result["outcome"] == "fnrag", result
    assert file_name in result["message"]  # the message names the file


def test_every_hostile_file_message_is_one_line_without_raw_bytes(tmp_path: Path) -> None:
    # Messages are file name, cause and fix: no YAML excerpts over several lines, no
    # PDF bytes (pypdf's "b'...%%EOF'" text), no markers the reader cannot act on.
    from fnrag.ingest.sources import load_document

    for case, (file_name, build) in HOSTILE_FILES.items():
        if case in ("too_big_txt", "flate_bomb_pdf", "many_pages_pdf"):
            continue  # slow to build; their messages are fixed strings
        path = tmp_path / file_name
        path.write_bytes(build())
        try:
            load_document(path, file_name)
        except FnragError as error:
            _assert_clean(str(error), file_name)
        else:
            pytest.fail(f"{case} was accepted")


def _assert_clean(message: str, file_name: str) -> None:
    assert message.startswith(file_name), message
    assert "\n" not in message, message
    for raw in ("b'", 'b"', "%%EOF", "%PDF", " obj", "@"):
        assert raw not in message, message
    assert len(message) < 300, message


def test_damaged_pdfs_never_echo_pypdf_text(tmp_path: Path) -> None:
    # Real broken files: a 5-byte hole at every 7th offset of a valid PDF, end marker
    # kept, so pypdf parses far enough to fail in its many ways (xref, objects,
    # streams, trailer). pypdf's messages quote the bytes around the damage.
    from fnrag.errors import IngestError
    from fnrag.ingest.sources import load_document

    data = text_pdf()
    failures = 0
    for cut in range(10, len(data) - 20, 7):
        path = tmp_path / f"손상-{cut}.pdf"
        path.write_bytes(data[:cut] + data[cut + 5 :])
        try:
            load_document(path, path.name)
        except IngestError as error:
            failures += 1
            _assert_clean(str(error), path.name)
    assert failures > 20  # the holes really break most of these files


@pytest.mark.parametrize("case", list(ODD_BUT_VALID))
def test_odd_but_valid_file_does_not_crash(case: str, tmp_path: Path) -> None:
    file_name, build = ODD_BUT_VALID[case]
    path = tmp_path / file_name
    path.write_bytes(build())
    result = run_child(path)
    assert result["outcome"] in ("ok", "fnrag"), result
    if case in ("plain_pdf", "cp949_txt"):
        assert result["outcome"] == "ok" and result["chunks"] >= 1


def test_python_yaml_tag_executes_nothing(tmp_path: Path) -> None:
    marker = Path("/tmp/fnrag-pwned")
    marker.unlink(missing_ok=True)
    path = tmp_path / "tag.md"
    path.write_text(
        f'---\n제목: !!python/object/apply:os.system ["touch {marker}"]\n---\n\n# 본문\n\n내용',
        encoding="utf-8",
    )
    result = run_child(path)
    assert result["outcome"] == "fnrag"
    assert not marker.exists()


def test_cli_build_index_on_encrypted_pdf_prints_one_line(tmp_path: Path) -> None:
    source = tmp_path / "암호.pdf"
    source.write_bytes(encrypted_pdf())
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fnrag.cli",
            "build-index",
            str(source),
            "--out",
            str(tmp_path / "idx"),
            "--embedder",
            "hashing",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=CLI_GUARD_SECONDS,
        cwd=HERE.parent,
    )
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("fnrag: error:")]
    assert len(errors) == 1 and "암호.pdf" in errors[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "idx" / "manifest.json").exists()


# --- questions ---------------------------------------------------------------


@contextmanager
def wall_clock_guard(seconds: int = 60) -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from fnrag.answering.assistant import Assistant
    from fnrag.index.build import build_index
    from fnrag.index.search import load_index
    from fnrag.paths import sample_corpus_dir

    out = tmp_path_factory.mktemp("hostile-index")
    build_index([sample_corpus_dir()], out, embedder="hashing")
    return Assistant(load_index(out), "extractive", log=False)


@pytest.mark.parametrize(
    "question",
    [
        "",
        "   ",
        "\n\t\u3000 ",
        "가" * 100_000,
        "금융실명제 " * 20_000,
        "\x00" * 100_000,
    ],
    ids=["empty", "spaces", "unicode-whitespace", "100k-hangul", "100k-words", "100k-nul"],
)
def test_unusable_question_is_input_error(assistant, question: str) -> None:  # type: ignore[no-untyped-def]
    with wall_clock_guard(), pytest.raises(InputError) as caught:
        assistant.ask(question)
    assert str(caught.value)  # says what to do
    with wall_clock_guard(), pytest.raises(InputError):
        assistant.index.search(question)


@pytest.mark.parametrize("question", [None, 42, b"\xed\x95\x9c", ["실명확인"]])
def test_non_text_question_is_input_error(assistant, question: object) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError):
        assistant.ask(question)


def _garbage(seed: int) -> str:
    import random

    rng = random.Random(seed)
    pool = [chr(c) for c in (*range(0, 32), 0x7F, 0x200B, 0x202E, 0xFEFF, 0xFFFE, 0xFFFF, 0x10FFFF)]
    pool += list("금융실명제<|eot_id|>###[]「」\\\"'{}%")
    return "".join(rng.choice(pool) for _ in range(rng.randint(1, 1_500)))


@pytest.mark.parametrize("seed", range(8))
def test_binary_garbage_question_answers_or_refuses_cleanly(assistant, seed: int) -> None:  # type: ignore[no-untyped-def]
    question = _garbage(seed)
    with wall_clock_guard():
        try:
            answer = assistant.ask(question)
        except FnragError:
            return
    assert isinstance(answer.text, str) and answer.text


@pytest.mark.parametrize("question", ["실명확인\ud800", "\udfff금융실명제 예외는?"])
def test_lone_surrogate_question_is_input_error(assistant, question: str) -> None:  # type: ignore[no-untyped-def]
    with wall_clock_guard(), pytest.raises(InputError):
        assistant.ask(question)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda index: index.search("실명확인", k=0), InputError),
        (lambda index: index.search("실명확인", mode="magic"), InputError),
        (lambda index: index.chunk("없는-청크"), InputError),
    ],
    ids=["k=0", "bad-mode", "unknown-chunk"],
)
def test_bad_search_arguments(assistant, call: Callable, error: type) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error):
        call(assistant.index)


FUZZ_REGRESSIONS = sorted((Path(__file__).parent / "data" / "fuzz").glob("*.pdf"))


@pytest.mark.parametrize("path", FUZZ_REGRESSIONS, ids=[p.stem for p in FUZZ_REGRESSIONS])
def test_fuzzer_found_pdfs_give_a_clean_ingest_error(path: Path) -> None:
    # Self-referencing page trees and oversized declared streams once escaped as
    # pypdf's LimitReachedError; NotImplementedError for foreign encryption too.
    from fnrag.errors import IngestError
    from fnrag.ingest.sources import load_document

    with pytest.raises(IngestError, match="PDF"):
        load_document(path, path.name)
