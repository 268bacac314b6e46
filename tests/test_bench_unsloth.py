"""The GPU benchmark's pure parts: shape parsing and the unsloth / peft ratio table."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_unsloth.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_unsloth", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("text", "shapes"),
    [
        ("2048x2", [(2048, 2)]),
        ("8192x4, 2048x2,4096x2", [(2048, 2), (4096, 2), (8192, 4)]),
        ("4096x4,8192x2", [(4096, 4), (8192, 2)]),  # equal tokens keep their order
    ],
)
def test_shapes_run_smallest_first(bench: ModuleType, text: str, shapes: list) -> None:
    assert bench.parse_shapes(text) == shapes


def test_ratio_table_pairs_variants_by_shape(bench: ModuleType) -> None:
    results = {
        "peft-4bit": {
            "2048x2": {"tokens_per_s": 5000.0, "peak_mem_gib": 10.0},
            "8192x4": {"error": "out of GPU memory"},
        },
        "unsloth-4bit": {
            "2048x2": {"tokens_per_s": 9000.0, "peak_mem_gib": 6.0},
            "8192x4": {"tokens_per_s": 8000.0, "peak_mem_gib": 12.0},
        },
        "unsloth-bf16": {"2048x2": {"tokens_per_s": 1.0, "peak_mem_gib": 1.0}},
    }
    ratios = bench.ratio_table(results)
    assert ratios["4bit 2048x2"] == pytest.approx(
        {"tokens_per_s_ratio": 1.8, "peak_mem_ratio": 0.6}
    )
    # A baseline that ran out of memory is reported as such, not as a ratio.
    assert ratios["4bit 8192x4"] == {"peft": "out of GPU memory"}
    assert ratios["bf16 2048x2"] == {"peft": "not run"}
