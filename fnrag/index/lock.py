"""One build at a time per index directory: an ``flock`` plus an owner record.

``.build.lock`` is locked with ``flock`` and records who holds it (pid, host,
process start time). A build that died (SIGKILL, power loss) leaves the record
behind without the lock; the next build recognises it as stale, takes it over and
says so. A build that still runs makes the second one fail at once.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fnrag.errors import IndexFormatError

LOCK = ".build.lock"


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[str | None]:
    """Hold the build lock of ``index_dir`` (readers never wait).

    Yields None, or a one-line note when it took over the lock of a build that died.

    Raises:
        IndexFormatError: another build holds the lock.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    path = index_dir / LOCK
    fd, locked, previous = _acquire(path, index_dir)
    try:
        note = _take_over(previous, index_dir, locked)
        _write_owner(fd)
    except BaseException:
        _release(fd, locked)
        raise
    try:
        yield note
    finally:
        # Removed while still held, so no second build can lock the old inode and
        # a third the new one (_acquire re-checks the inode after locking).
        with contextlib.suppress(OSError):
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                path.unlink()
        _release(fd, locked)


def _acquire(path: Path, index_dir: Path) -> tuple[int, bool, dict[str, Any]]:
    import fcntl

    for _attempt in range(20):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = True
        except BlockingIOError:
            owner = _read_owner(fd)
            os.close(fd)
            raise IndexFormatError(
                f"another fnrag build{_who(owner)} is writing {index_dir}; wait for it to finish"
            ) from None
        except OSError as error:
            if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                os.close(fd)
                raise
            locked = False  # a file system without flock: the owner record still guards
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd, locked, _read_owner(fd)
        _release(fd, locked)  # the finished owner removed this file: lock the new one
    raise IndexFormatError(
        f"cannot lock {path}: it keeps being replaced; check that only fnrag writes {index_dir}"
    )


def _release(fd: int, locked: bool) -> None:
    import fcntl

    if locked:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def _read_owner(fd: int) -> dict[str, Any]:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        owner = json.loads(os.read(fd, 4096).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}  # empty (fnrag < 0.x wrote none) or unreadable: no owner to name
    return owner if isinstance(owner, dict) else {}


def _write_owner(fd: int) -> None:
    owner = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "process_start": _process_start(os.getpid()),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(owner).encode("utf-8"))
    os.fsync(fd)


def _who(owner: dict[str, Any]) -> str:
    pid, started = owner.get("pid"), owner.get("started")
    if not isinstance(pid, int):
        return ""
    return f" (pid {pid}, started {started})" if isinstance(started, str) else f" (pid {pid})"


def _take_over(owner: dict[str, Any], index_dir: Path, locked: bool) -> str | None:
    """None for a fresh lock; a note for a dead owner's; IndexFormatError for a live one."""
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return None
    host = owner.get("host")
    here = host == socket.gethostname()
    alive = here and _alive(pid, owner.get("process_start"))
    # flock says the owner is gone; the record alone decides only where flock is
    # missing, or when the owner still runs (a file system whose flock is a no-op).
    if alive or (not locked and not here):
        raise IndexFormatError(
            f"another fnrag build{_who(owner)} is writing {index_dir}; wait for it to finish "
            f"(if no build is running, delete {index_dir / LOCK})"
        )
    where = "" if here else f" on {host}"
    return (
        f"took over a stale build lock: the build{_who(owner)}{where} stopped without "
        "finishing; its unfinished files are removed"
    )


def _alive(pid: int, process_start: object) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    # The pid may have been reused by an unrelated process since.
    return process_start is None or _process_start(pid) in (None, process_start)


def _process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None
