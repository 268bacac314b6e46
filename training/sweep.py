"""Train several LoRA configurations and keep the best by a stated criterion.

    python -m training.sweep --grid GRID.yaml [--output-dir DIR]

The grid YAML names a base SFT config and lists values per key; every combination is
trained (``python -m training.sft`` in a subprocess, so each run starts clean) on the
same held-out split: the base config's ``eval_file``, or a split made once here from
its ``train_file`` (and removed from every data-mix variant's training rows).

Criterion, on the held-out split: highest ``decision_accuracy_after`` (refuses exactly
where it should, otherwise cites well-formed), then ``source_citation_after`` (cites the
passage holding the answer), then ``format_rate_after``, then the lowest held-out response
loss ``eval_loss_after``. ``format_rate`` alone would crown a model that always refuses.
Writes ``sweep.json``,
``sweep.md`` (comparison table) and ``best.json`` into the output directory.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fnrag.errors import FnragError, InputError
from training.config import atomic_write_text, load_config, opt, read_jsonl, write_json, write_jsonl
from training.heldout import split_held_out
from training.sft import SFTConfig

CRITERION = (
    "max decision_accuracy_after, then max source_citation_after, then max format_rate_after, "
    "then min eval_loss_after"
)


@dataclass(frozen=True)
class GridConfig:
    base_config: str = opt("", "SFT config YAML every run starts from.")
    output_dir: str = opt("out/sweep", "Where runs, tables and best.json go.")
    grid: dict = dataclasses.field(
        default_factory=dict,
        metadata={"help": "Mapping of SFTConfig key -> list of values (train_file = data mix)."},
    )


def score(metrics: dict[str, Any]) -> tuple[float, float, float, float]:
    """Sort key of :data:`CRITERION` (higher is better)."""
    return (
        metrics.get("decision_accuracy_after") or 0.0,
        metrics.get("source_citation_after") or 0.0,
        metrics.get("format_rate_after") or 0.0,
        -(metrics.get("eval_loss_after") or float("inf")),
    )


def _held_out(base: SFTConfig, out: Path) -> tuple[Path, set[str]]:
    if base.eval_file:
        rows = list(read_jsonl(base.eval_file))
        return Path(base.eval_file), {str(r.get("id")) for r in rows}
    # The same stratified split training.sft makes, once, shared by every run.
    _, held = split_held_out(base)
    path = out / "heldout.jsonl"
    write_jsonl(path, held)
    return path, {str(r.get("id")) for r in held}


def run_sweep(grid_path: str | Path, output_dir: str | None = None) -> dict[str, Any]:
    grid = load_config(GridConfig, grid_path)
    if not grid.base_config or not grid.grid:
        raise InputError(f"{grid_path}: needs base_config and a non-empty grid")
    base = load_config(SFTConfig, grid.base_config)
    names = {f.name for f in dataclasses.fields(SFTConfig)}
    bad = sorted(set(grid.grid) - names)
    if bad:
        raise InputError(f"{grid_path}: grid key(s) {', '.join(bad)} are not SFTConfig keys")
    out = Path(output_dir or grid.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    heldout, held_ids = _held_out(base, out)
    keys = list(grid.grid)
    combos = list(
        itertools.product(
            *(grid.grid[k] if isinstance(grid.grid[k], list) else [grid.grid[k]] for k in keys)
        )
    )
    runs = []
    for number, values in enumerate(combos):
        changes = dict(zip(keys, values, strict=True))
        run_dir = out / f"run{number:02d}"
        run_dir.mkdir(exist_ok=True)
        config = dataclasses.replace(base, **changes, eval_file=str(heldout))
        train_rows = [r for r in read_jsonl(config.train_file) if str(r.get("id")) not in held_ids]
        write_jsonl(run_dir / "train.jsonl", train_rows)
        config = dataclasses.replace(config, train_file=str(run_dir / "train.jsonl"))
        import yaml

        atomic_write_text(
            run_dir / "config.yaml", yaml.safe_dump(dataclasses.asdict(config), allow_unicode=True)
        )
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "training.sft",
                "--config",
                str(run_dir / "config.yaml"),
                "--output-dir",
                str(run_dir),
            ]
        )
        metrics_file = run_dir / "metrics.json"
        if done.returncode != 0 or not metrics_file.is_file():
            runs.append(
                {"run": run_dir.name, "changes": changes, "error": f"exit {done.returncode}"}
            )
            continue
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        keep = (
            "format_rate_before",
            "format_rate_after",
            "decision_accuracy_after",
            "source_citation_after",
            "source_citation_chance",
            "eval_loss_before",
            "eval_loss_after",
            "train_loss_first",
            "train_loss_last",
            "steps",
            "backend",
        )
        runs.append(
            {
                "run": run_dir.name,
                "changes": changes,
                **{k: metrics.get(k) for k in keep},
                "train_s": metrics["timings"]["train_s"],
                "adapter": str(run_dir / "adapter"),
            }
        )
    scored = [r for r in runs if "error" not in r]
    if not scored:
        raise FnragError(f"every sweep run failed; see {out}/run*/ for logs")
    best = max(scored, key=score)
    result = {
        "criterion": CRITERION,
        "heldout": str(heldout),
        "held_out_examples": len(held_ids),
        "runs": runs,
        "best": best,
    }
    write_json(out / "sweep.json", result)
    write_json(out / "best.json", best)
    atomic_write_text(out / "sweep.md", markdown_table(result))
    return result


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def markdown_table(result: dict[str, Any]) -> str:
    keys = sorted({k for r in result["runs"] for k in r["changes"]})
    head = [
        "run",
        *keys,
        "format before",
        "format after",
        "decision after",
        "source cited after (chance)",
        "held-out loss before",
        "held-out loss after",
        "train loss first→last",
        "train s",
    ]
    lines = [
        f"Criterion: {result['criterion']} (held-out: {result['held_out_examples']} examples)\n",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in result["runs"]:
        if "error" in r:
            lines.append(
                f"| {r['run']} | "
                + " | ".join(str(r["changes"].get(k)) for k in keys)
                + f" | {r['error']} |"
            )
            continue
        mark = " **best**" if r["run"] == result["best"]["run"] else ""
        lines.append(
            f"| {r['run']}{mark} | "
            + " | ".join(str(r["changes"].get(k)) for k in keys)
            + f" | {r['format_rate_before']:.2f} | {r['format_rate_after']:.2f}"
            f" | {_fmt(r.get('decision_accuracy_after'))}"
            f" | {_fmt(r.get('source_citation_after'))} ({_fmt(r.get('source_citation_chance'))})"
            f" | {r['eval_loss_before']:.3f}"
            f" | {r['eval_loss_after']:.3f} | {r['train_loss_first']:.3f}→{r['train_loss_last']:.3f} | {r['train_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.sweep",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--grid", required=True, help="grid YAML (GridConfig keys)")
    parser.add_argument("--output-dir", help="overrides the grid's output_dir")
    args = parser.parse_args(argv)
    try:
        result = run_sweep(args.grid, args.output_dir)
    except FnragError as error:
        print(f"sweep: error: {error}", file=sys.stderr)
        return 2
    print(markdown_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
