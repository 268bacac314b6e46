"""Prometheus text-format metrics of one worker: requests, latency by stage, refusals,
errors, the index version, reloads.

Each worker counts its own requests (a scrape reaches one worker, labelled by ``pid``);
summing over ``pid`` gives the service. No client library: the text format is simple
and fnrag adds no dependency for it.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict

# Latency buckets in seconds (Prometheus' ``le``).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
Labels = tuple[tuple[str, str], ...]


class Metrics:
    """Counters and histograms, thread-safe; :meth:`render` writes the text format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self._histograms: dict[str, dict[Labels, list[float]]] = defaultdict(dict)
        self._help: dict[str, tuple[str, str]] = {}
        self.index_version = ""

    def _describe(self, name: str, kind: str, text: str) -> None:
        self._help.setdefault(name, (kind, text))

    def inc(self, name: str, text: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._describe(name, "counter", text)
            self._counters[name][key] += amount

    def observe(self, name: str, text: str, seconds: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._describe(name, "histogram", text)
            # Per bucket counts, then sum and count at the end.
            series = self._histograms[name].setdefault(key, [0.0] * (len(BUCKETS) + 2))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    series[i] += 1
            series[-2] += seconds
            series[-1] += 1

    def render(self) -> str:
        pid = str(os.getpid())
        lines: list[str] = []
        with self._lock:
            for name, series in sorted(self._counters.items()):
                kind, text = self._help[name]
                lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
                for key, value in sorted(series.items()):
                    lines.append(f"{name}{_labels(key, pid)} {value:g}")
            for name, hist in sorted(self._histograms.items()):
                kind, text = self._help[name]
                lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
                for key, values in sorted(hist.items()):
                    for bound, count in zip(BUCKETS, values, strict=False):
                        le = (("le", f"{bound:g}"),)
                        lines.append(f"{name}_bucket{_labels(key + le, pid)} {count:g}")
                    inf = (("le", "+Inf"),)
                    lines.append(f"{name}_bucket{_labels(key + inf, pid)} {values[-1]:g}")
                    lines.append(f"{name}_sum{_labels(key, pid)} {values[-2]:.6f}")
                    lines.append(f"{name}_count{_labels(key, pid)} {values[-1]:g}")
        lines += [
            "# HELP fnrag_index_info The index build this worker serves.",
            "# TYPE fnrag_index_info gauge",
            f'fnrag_index_info{{pid="{pid}",version="{_escape(self.index_version)}"}} 1',
        ]
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(key: Labels, pid: str) -> str:
    pairs = [*key, ("pid", pid)]
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"
