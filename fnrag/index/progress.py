"""Build progress on stderr: tqdm bars on a terminal, plain dated lines elsewhere.

A 50 MB source takes minutes to tokenise; whoever runs ``fnrag build-index`` (or
``build_index(progress=True)``) must see that it is moving, in a terminal as in a
log file, where tqdm's carriage returns would pile up into one unreadable line.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

# A plain-line bar speaks at each further tenth, and at least this often.
LINE_SECONDS = 15.0
BIG_FILE_BYTES = 5 << 20  # files above this get their own "reading" line


class Progress:
    """The progress display of one build; all methods are no-ops when disabled."""

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(enabled and isatty is not None and isatty())

    def stage(self, text: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            from tqdm import tqdm

            tqdm.write(f"fnrag: {text}", file=self.stream)
        else:
            self._line(text)

    def bar(self, label: str, total: int, unit: str) -> Any:
        """An object with ``update(n)`` and ``close()``."""
        if not self.enabled or total <= 0:
            return _Silent()
        if self.tty:
            from tqdm import tqdm

            return tqdm(total=total, desc=label, unit=f" {unit}", file=self.stream)
        return _LineBar(self, label, total, unit)

    def files(self, files: Sequence[tuple[Path, str]]) -> Iterator[tuple[Path, str]]:
        """Iterate (path, source) pairs, saying which large file is being read."""
        bar = self.bar("reading and chunking", len(files), "files")
        for path, source in files:
            try:
                size = path.stat().st_size
            except OSError:
                size = 0
            if size > BIG_FILE_BYTES:
                self.stage(f"reading and chunking {source} ({size / 2**20:.0f} MiB)")
            yield path, source
            bar.update(1)
        bar.close()

    def _line(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        try:
            print(f"fnrag: {stamp} {text}", file=self.stream, flush=True)
        except UnicodeEncodeError:
            print(f"fnrag: {stamp} {text}".encode("ascii", "replace").decode(), file=self.stream)


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


class _LineBar:
    """``label: done/total unit (pct)`` lines at each further tenth or every 15 s."""

    def __init__(self, progress: Progress, label: str, total: int, unit: str) -> None:
        self.progress, self.label, self.total, self.unit = progress, label, total, unit
        self.done = 0
        self.started = self.last = time.monotonic()
        self.tenth = 0
        self._say()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        tenth = self.done * 10 // self.total
        if tenth > self.tenth or now - self.last >= LINE_SECONDS:
            self.tenth, self.last = tenth, now
            if self.done < self.total:
                self._say()

    def close(self) -> None:
        seconds = time.monotonic() - self.started
        unit = self.unit.removesuffix("s") if self.done == 1 else self.unit
        self.progress._line(f"{self.label}: {self.done:,} {unit} done in {seconds:.1f} s")

    def _say(self) -> None:
        share = 100 * self.done // self.total
        self.progress._line(f"{self.label}: {self.done:,}/{self.total:,} {self.unit} ({share}%)")
