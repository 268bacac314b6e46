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
    assert ratios["4bit 2048x2"]["tokens_per_s_ratio"] == pytest.approx(1.8)
    assert ratios["4bit 2048x2"]["peak_mem_ratio"] == pytest.approx(0.6)
    assert ratios["4bit 2048x2"]["meets_target"] is True  # the bounds are inclusive
    # A baseline that ran out of memory is reported as such, not as a ratio.
    assert ratios["4bit 8192x4"] == {"peft": "out of GPU memory"}
    assert ratios["bf16 2048x2"] == {"peft": "not run"}


@pytest.mark.parametrize(
    ("unsloth_tokens", "unsloth_mem", "meets"),
    [
        (9400.0, 5.4, True),  # 1.88x faster, 0.54x memory
        (9400.0, 6.2, False),  # fast enough, too much memory
        (8850.0, 5.4, False),  # little enough memory, 1.77x is too slow
    ],
)
def test_target_needs_speed_and_memory_at_one_shape(
    bench: ModuleType, unsloth_tokens: float, unsloth_mem: float, meets: bool
) -> None:
    results = {
        "peft-4bit": {"2048x4": {"tokens_per_s": 5000.0, "peak_mem_gib": 10.0}},
        "unsloth-4bit": {"2048x4": {"tokens_per_s": unsloth_tokens, "peak_mem_gib": unsloth_mem}},
    }
    assert bench.ratio_table(results)["4bit 2048x4"]["meets_target"] is meets
