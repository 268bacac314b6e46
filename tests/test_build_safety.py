"""Building must never hurt the machine or the user's files (issue 19).

A single ``str`` source is one path (never its characters: ``"/"`` walked the whole
file system); symbolic links back to a parent folder are skipped, not followed;
``--out`` never deletes files fnrag did not write; a dead build's lock is taken over
and a live one's refused; big sources show progress. Anything that could run away
on a regression (walking ``/``, an exponential walk) runs in a child process with
a wall-clock and a memory limit, so it fails one test instead of the machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fnrag.errors import IndexFormatError, InputError
from fnrag.index import store
from fnrag.index.build import build_index
from fnrag.index.search import load_index

ROOT = Path(__file__).resolve().parent.parent
GUARD_SECONDS = 60
MEMORY_MB = 2048

RULE = """---
제목: 금융실명거래 및 비밀보장에 관한 법률 시행규칙
---

# 금융실명거래 및 비밀보장에 관한 법률 시행규칙

##### 제1조 (목적)

이 규칙은 금융실명거래 및 비밀보장에 관한 법률 및 같은 법 시행령에서 위임된 사항을 정한다.

##### 제2조 (실명확인증표)

실명확인증표는 주민등록증, 운전면허증, 여권 등 사진이 붙은 증표로 한다.

##### 제3조 (거래정보등의 제공 기록)

금융회사등은 거래정보등을 제공한 날부터 5년간 그 기록을 보관하여야 한다.
"""

GUIDE = """# 창구 업무 안내

## 1. 대리인 거래

대리인이 오는 경우 위임장과 본인 및 대리인의 실명확인증표를 함께 확인한다.

## 2. 비밀보장

명의인의 서면상 요구나 동의 없이 거래정보등을 제공하여서는 아니 된다.
"""


def _child(
    code: str, timeout: int = GUARD_SECONDS, memory_mb: int = MEMORY_MB
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a child Python under a memory limit; fail the test on a hang."""
    limit = memory_mb << 20
    guard = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n"
    try:
        return subprocess.run(
            [sys.executable, "-c", guard + code],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the child did not finish within {timeout} s (a runaway walk?)")


def _cli(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fnrag.cli", "build-index", *args, "--embedder", "hashing"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    (folder / "시행규칙.md").write_text(RULE, encoding="utf-8")
    (folder / "sub" / "안내.md").write_text(GUIDE, encoding="utf-8")
    return folder


# --- 1. one str source is one path; the file-system root is refused ----------------


def test_a_single_str_source_is_one_path(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Relative, so the old per-character iteration fails fast ("시": no such file)
    # instead of walking "/".
    monkeypatch.chdir(corpus)
    report = build_index("시행규칙.md", tmp_path / "idx", embedder="hashing")
    assert [f.source for f in report.files] == ["시행규칙.md"]
    report = build_index(corpus / "sub", tmp_path / "idx2", embedder="hashing")
    assert [f.source for f in report.files] == [f"{corpus / 'sub'}/안내.md"]


@pytest.mark.parametrize("root", ["/", "//", "/."])
def test_the_file_system_root_is_refused_at_once(root: str, tmp_path: Path) -> None:
    done = _child(
        "from fnrag.errors import InputError\n"
        "from fnrag.index.build import build_index\n"
        "try:\n"
        f"    build_index({root!r}, {str(tmp_path / 'idx')!r}, embedder='hashing')\n"
        "except InputError as error:\n"
        "    print('InputError:', error)\n",
        timeout=30,
    )
    assert "InputError:" in done.stdout and "file-system root" in done.stdout, done.stderr[-2000:]
    assert not (tmp_path / "idx").exists()


def test_a_link_to_the_root_given_as_a_source_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "everything"
    link.symlink_to("/")
    done = _child(
        "from fnrag.errors import InputError\n"
        "from fnrag.ingest.sources import collect_sources\n"
        "try:\n"
        f"    collect_sources([{str(link)!r}])\n"
        "except InputError as error:\n"
        "    print('InputError:', error)\n",
        timeout=30,
    )
    assert "InputError:" in done.stdout and "file-system root" in done.stdout, done.stderr[-2000:]


@pytest.mark.parametrize(
    "sources",
    [b"/tmp/docs", [b"/tmp/docs"], 42, [42], [None], [""], ["   "], [["nested.md"]]],
    ids=["bytes", "bytes-item", "int", "int-item", "none-item", "empty", "blank", "nested"],
)
def test_sources_that_are_not_paths_are_input_errors(sources: object, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="path"):
        build_index(sources, tmp_path / "idx", embedder="hashing")  # type: ignore[arg-type]
    assert not (tmp_path / "idx").exists()


# --- 2. symbolic links to folders are skipped, and reported ---------------------------


def test_links_back_to_parent_folders_are_skipped_and_reported(corpus: Path) -> None:
    (corpus / "sub" / "up").symlink_to("..")
    (corpus / "sub" / "up2").symlink_to("..")
    (corpus / "sub" / "법률.md").symlink_to(corpus / "시행규칙.md")  # a file link: same file
    done = _child(
        "import json\n"
        "from fnrag.ingest.sources import collect_sources\n"
        f"found = collect_sources([{str(corpus)!r}])\n"
        "print(json.dumps({'files': [s for _, s in found],"
        " 'skipped': [[s.source, s.reason] for s in found.skipped]}, ensure_ascii=False))\n"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    # The file link is followed, and its target is found once.
    assert result["files"] == [f"{corpus}/시행규칙.md", f"{corpus}/sub/안내.md"]
    skipped = dict(result["skipped"])
    for name in ("up", "up2"):
        assert "symbolic link to a folder" in skipped[f"{corpus}/sub/{name}"]


def test_cli_lists_the_skipped_folder_links(corpus: Path, tmp_path: Path) -> None:
    (corpus / "sub" / "up").symlink_to("..")
    (corpus / "sub" / "up2").symlink_to("..")
    done = _cli(str(corpus), "--out", str(tmp_path / "idx"), "--quiet", timeout=GUARD_SECONDS)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"skipped {corpus}/sub/up: symbolic link to a folder" in done.stdout
    assert f"skipped {corpus}/sub/up2: symbolic link to a folder" in done.stdout
    assert len(load_index(tmp_path / "idx").chunks) > 0


# --- 3. --out never deletes what fnrag did not write -----------------------------------

USER_FILES = {
    "chunks-mydata.jsonl": b'{"my": "data"}\n',
    "bm25-old.npz": b"my old arrays",
    "dense-backup.faiss": b"my backup",
}


def test_out_folder_with_unrelated_files_is_refused_untouched(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "mydata"
    out.mkdir()
    for name, data in USER_FILES.items():
        (out / name).write_bytes(data)
    (out / "메모.txt").write_text("내 메모", encoding="utf-8")
    with pytest.raises(InputError, match="pick an empty folder") as caught:
        build_index([corpus], out, embedder="hashing")
    assert "chunks-mydata.jsonl" in str(caught.value)
    assert sorted(p.name for p in out.iterdir()) == sorted([*USER_FILES, "메모.txt"])
    for name, data in USER_FILES.items():
        assert (out / name).read_bytes() == data
    done = _cli(str(corpus), "--out", str(out), "--quiet")
    assert done.returncode == 2 and "fnrag: error:" in done.stderr
    assert "pick an empty folder" in done.stderr and "Traceback" not in done.stderr


def test_rebuild_deletes_only_files_this_index_wrote(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "idx"
    build_index([corpus], out, embedder="hashing")
    first = {entry["name"] for entry in store.read_manifest(out)["files"].values()}
    # Files that only look like fnrag's, dropped into a real index folder.
    planted = {**USER_FILES, "embeddings-20200101T000000-abcdef.npy": b"not ours"}
    for name, data in planted.items():
        (out / name).write_bytes(data)
    (corpus / "sub" / "안내.md").write_text(GUIDE + "\n## 3. 추가\n\n새 내용.\n", encoding="utf-8")
    build_index([corpus], out, embedder="hashing")
    for name, data in planted.items():
        assert (out / name).read_bytes() == data, name
    second = {entry["name"] for entry in store.read_manifest(out)["files"].values()}
    left = {p.name for p in out.iterdir()} - set(planted)
    assert left == second | {store.MANIFEST}
    assert not first & left  # the previous build's files are gone
    assert load_index(out).search("실명확인증표", k=1)


def test_a_killed_build_is_taken_over_and_its_files_swept(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "idx"
    build_index([corpus], out, embedder="hashing")
    expected = [c.chunk_id for c in load_index(out).chunks]
    big = "\n\n".join(f"## {n}. 사례\n\n{GUIDE.split('## 1.')[1]}" for n in range(4000))
    (corpus / "큰안내.md").write_text("# 큰 안내\n\n" + big, encoding="utf-8")
    code = (
        "from fnrag.index.build import build_index\n"
        f"build_index([{str(corpus)!r}], {str(out)!r}, embedder='hashing')\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    try:
        deadline = time.monotonic() + GUARD_SECONDS
        # Killed while it writes its vectors: after its journal, before its commit.
        while not list(out.glob("embeddings-*.npy"))[1:] and time.monotonic() < deadline:
            assert child.poll() is None, "the build finished before it could be killed"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert [c.chunk_id for c in load_index(out).chunks] == expected
    (corpus / "큰안내.md").unlink()
    report = build_index([corpus], out, embedder="hashing")
    assert any(f"pid {child.pid}" in note and "stale" in note for note in report.notes)
    named = {entry["name"] for entry in store.read_manifest(out)["files"].values()}
    assert {p.name for p in out.iterdir()} == named | {store.MANIFEST}


# --- 4. build locks: a dead owner's is taken over, a live owner's refuses ------------


def _hold_lock(index_dir: Path) -> subprocess.Popen[str]:
    code = (
        "import sys\nfrom pathlib import Path\nfrom fnrag.index import store\n"
        f"with store.build_lock(Path({str(index_dir)!r})):\n"
        "    print('locked', flush=True)\n"
        "    sys.stdin.readline()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "locked"
    return child


def test_lock_of_a_killed_build_is_stale_and_taken_over(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "idx"
    holder = _hold_lock(out)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert (out / store.LOCK).exists()  # a dead build leaves its lock file behind
    done = _cli(str(corpus), "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"note: took over a stale build lock: the build (pid {holder.pid}," in done.stdout
    assert not (out / store.LOCK).exists()
    assert len(load_index(out).chunks) > 0


def test_lock_of_a_running_build_refuses_and_names_it(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "idx"
    holder = _hold_lock(out)
    try:
        with pytest.raises(IndexFormatError, match=rf"another fnrag build \(pid {holder.pid},"):
            build_index([corpus], out, embedder="hashing")
    finally:
        holder.communicate("\n", timeout=30)
    build_index([corpus], out, embedder="hashing")  # released: the next build runs


def test_owner_record_of_a_live_process_refuses_even_without_flock(
    corpus: Path, tmp_path: Path
) -> None:
    # What a file system whose flock is a no-op leaves: only the owner record guards.
    out = tmp_path / "idx"
    out.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        start = Path(f"/proc/{sleeper.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        record = {"pid": sleeper.pid, "host": socket.gethostname(), "process_start": int(start)}
        (out / store.LOCK).write_text(json.dumps(record), encoding="utf-8")
        with pytest.raises(IndexFormatError, match="another fnrag build"):
            build_index([corpus], out, embedder="hashing")
    finally:
        sleeper.kill()
        sleeper.wait()
    report = build_index([corpus], out, embedder="hashing")  # now dead: stale
    assert any(f"pid {sleeper.pid}" in note for note in report.notes)


def test_a_failed_build_removes_its_lock(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "idx"
    (corpus / "깨진.pdf").write_bytes(b"%PDF-1.7 not really a pdf")
    with pytest.raises(Exception, match="깨진"):
        build_index([corpus], out, embedder="hashing")
    assert not (out / store.LOCK).exists()


# --- 6. big sources: progress, bounded memory ----------------------------------------


def _big_text(megabytes: float) -> str:
    lines = [line for line in (RULE + GUIDE).splitlines() if line and not line.startswith("-")]
    blocks, size, n = [], 0, 0
    while size < megabytes * 2**20:
        n += 1
        block = f"{n}. 사례 {n}\n" + "\n".join(f"{line} ({n}-{i})" for i, line in enumerate(lines))
        blocks.append(block)
        size += len(block.encode()) + 2
    return "\n\n".join(blocks)


def test_progress_shows_chunking_embedding_and_tokenising(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "안내서.txt"
    source.write_text(_big_text(0.3), encoding="utf-8")
    report = build_index(source, tmp_path / "idx", embedder="hashing", progress=True)
    err = capfd.readouterr().err
    assert f"embedding: {report.chunks:,} chunks done" in err
    assert f"tokenising: {report.chunks:,} chunks done" in err
    assert "reading and chunking: 1 file done" in err
    assert "\r" not in err  # a log file gets whole lines, not tqdm's redraws


@pytest.mark.slow
def test_a_big_text_builds_in_bounded_memory(tmp_path: Path) -> None:
    # Kiwi alone needs about 0.5 GB. One Kiwi call over every chunk of a 4 MB text
    # peaked near 0.9 GB and grew ~80 MB per MB of text; batched, it stays flat.
    source = tmp_path / "큰파일.txt"
    source.write_text(_big_text(4), encoding="utf-8")
    done = _child(
        "import resource\n"
        "from fnrag.korean.tokens import tokenize\n"
        "tokenize('실명확인')\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "from fnrag.index.build import build_index\n"
        f"r = build_index([{str(source)!r}], {str(tmp_path / 'idx')!r}, embedder='hashing')\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(r.chunks, (peak - base) // 1024)\n",
        timeout=600,
        memory_mb=6144,  # room for the old behaviour to show as a number, not a crash
    )
    assert done.returncode == 0, done.stderr[-2000:]
    chunks, growth_mb = map(int, done.stdout.split())
    assert chunks > 3000
    assert growth_mb < 200, f"the build grew {growth_mb} MB above Kiwi's own memory"
