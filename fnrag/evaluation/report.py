"""Write an evaluation's report directory: report.md, chart.png, results.json."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from fnrag.evaluation.runner import ANSWER_METRICS, EvalReport
from fnrag.files import write_file_atomic

RETRIEVAL_COLUMNS = ("hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "ndcg@10")
ANSWER_HEADERS = {
    "citation_precision": "cit. P",
    "citation_recall": "cit. R",
    "invalid_citation_rate": "invalid cit.",
    "refusal_accuracy_in_scope": "answers in-scope",
    "refusal_accuracy_out_of_scope": "refuses out-of-scope",
    "anchor_coverage": "anchor coverage",
}


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def render_markdown(report: EvalReport, command: str = "") -> str:
    """The report as Markdown: one table per comparison."""
    out = [
        "# fnrag evaluation",
        "",
        f"- QA file: `{report.qa_path}` ({report.n_questions} questions, "
        f"{report.n_in_scope} in scope, {report.n_questions - report.n_in_scope} out of scope)",
        f"- Index: `{report.index_path}`",
        f"- Passages per answer (k): {report.k}",
    ]
    if command:
        out.append(f"- Command: `{command}`")
    out += [
        "",
        "Gold passage: a chunk from the gold document whose text contains the gold anchor",
        "(whitespace ignored). Retrieval metrics average over in-scope questions; nDCG@10",
        "uses binary gains, log2 discount, ideal = min(#gold chunks in the index, 10).",
        "",
        "## Retrieval",
        "",
    ]
    rows = []
    for r in report.retrieval:
        scores = r.scores.to_json()
        rows.append(
            [f"**{r.system}**" if r.system == report.primary else r.system]
            + [_fmt(scores[c]) for c in RETRIEVAL_COLUMNS]
            + [_fmt(r.latency.p50_ms, 1), _fmt(r.latency.p95_ms, 1), str(r.n_chunks)]
        )
    out += _table(["system", *RETRIEVAL_COLUMNS, "p50 ms", "p95 ms", "chunks"], rows)
    unreachable = {r.system: r.unreachable for r in report.retrieval if r.unreachable}
    if unreachable:
        out += ["", "Questions whose gold anchor is in no chunk of the index (count as misses):"]
        out += [f"- {system}: {', '.join(ids)}" for system, ids in unreachable.items()]
    primary = report.system(report.primary)
    misses = [q.id for q in primary.questions if not any(q.relevance[:5])]
    out += ["", f"Misses at 5 ({report.primary}): {', '.join(misses) or 'none'}"]
    if report.baseline_build:
        build = dict(report.baseline_build)
        out += [
            "",
            f"Quick-start baseline build: {build['quickstart_build_s']:.1f} s "
            f"({build['quickstart_embed_s']:.1f} s embedding, "
            f"{int(build['quickstart_chunks'])} chunks).",
        ]
    if report.answers:
        out += ["", "## Answers", ""]
        rows = []
        for a in report.answers:
            total = dict(a.latency).get("wall")
            rows.append(
                [a.generator, a.setting]
                + [_fmt(a.metric(name)) if a.available else "n/a" for name in ANSWER_METRICS]
                + [
                    _fmt(total.p50_ms if total else None, 0),
                    _fmt(total.p95_ms if total else None, 0),
                ]
            )
        headers = ["generator", "setting", *(ANSWER_HEADERS[n] for n in ANSWER_METRICS)]
        out += _table([*headers, "p50 ms", "p95 ms"], rows)
        notes = [f"- {a.generator} {a.setting}: {a.note}" for a in report.answers if a.note]
        out += ["", *notes] if notes else []
        out += [
            "",
            "cit. P: gold citations / all valid citations (in-scope questions); cit. R: in-scope",
            "questions with at least one gold citation; invalid cit.: removed markers / all",
            "markers; anchor coverage: share of gold anchors quoted in the answer (refusal = 0).",
        ]
        out += ["", "### Latency per stage (ms, p50 / p95)", ""]
        rows = [
            [f"{a.generator} {a.setting}", stage, _fmt(s.p50_ms, 1), _fmt(s.p95_ms, 1)]
            for a in report.answers
            for stage, s in a.latency
        ]
        out += _table(["answers", "stage", "p50", "p95"], rows)
    return "\n".join(out) + "\n"


def _korean_font() -> str | None:
    """Register NanumGothic from koreanize-matplotlib when installed; its family name."""
    # Locate the bundled TTF without importing the package: its import rewrites rcParams.
    import importlib.util

    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or spec.origin is None:
        return None
    from matplotlib import font_manager

    path = Path(spec.origin).parent / "fonts" / "NanumGothic.ttf"
    if not path.is_file():
        return None
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()


def render_chart(report: EvalReport, path: Path) -> None:
    """Grouped bars: retrieval metrics per system, and answer metrics per generator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = _korean_font()
    if font:
        plt.rcParams["font.family"] = font
        plt.rcParams["axes.unicode_minus"] = False
    answers = [a for a in report.answers if a.available]
    panels = 2 if answers else 1
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 5), squeeze=False)
    _bars(
        axes[0][0],
        list(RETRIEVAL_COLUMNS),
        [(r.system, [r.scores.to_json()[c] for c in RETRIEVAL_COLUMNS]) for r in report.retrieval],
        "검색 품질 (retrieval)" if font else "Retrieval",
    )
    if answers:
        _bars(
            axes[0][1],
            [ANSWER_HEADERS[n] for n in ANSWER_METRICS],
            [
                (f"{a.generator} {a.setting}", [a.metric(n) or 0.0 for n in ANSWER_METRICS])
                for a in answers
            ],
            "답변 품질 (answers)" if font else "Answers",
        )
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    _write(path, buffer.getvalue())
    plt.close(fig)


def _bars(ax: Any, labels: list[str], series: list[tuple[str, list[float]]], title: str) -> None:
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series):
        positions = [x + (i - (len(series) - 1) / 2) * width for x in range(len(labels))]
        ax.bar(positions, values, width, label=name)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    ax.grid(axis="y", alpha=0.3)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(path, data)


def write_report(report: EvalReport, out_dir: str | Path, command: str = "") -> Path:
    """Write report.md, chart.png and results.json into ``out_dir``; returns it."""
    out = Path(out_dir)
    markdown = render_markdown(report, command)
    data = json.dumps(report.to_json(), ensure_ascii=False, indent=2)
    _write(out / "report.md", markdown.encode("utf-8"))
    _write(out / "results.json", data.encode("utf-8"))
    render_chart(report, out / "chart.png")
    return out
