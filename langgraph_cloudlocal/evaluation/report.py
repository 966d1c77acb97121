"""``report.md``, ``summary.json`` and ``cost_accuracy.png`` from an evaluation's ``results.jsonl``.

Definitions used in the table:

* **Cloud $** — the cloud tokens each protocol actually used, at the cloud model's price (models
  with no known price, such as the embedded stand-in, are priced like gpt-4o: $2.50 / $10.00 per
  1M input / output tokens, the figure of the Minions paper). Local tokens cost $0.
* **Cloud-only $** — what the same items cost with the cloud model alone: measured from the
  ``cloud-only`` rows of the same items when the run has them, else the ledger's estimate carried in
  each row (``usage.cloud_only_cost_usd``: one cloud call with the whole documents, chars/4 tokens).
* **Reduction** — cloud-only $ / cloud $ (how many times cheaper than cloud-only).
* **Recovered** — accuracy / cloud-only accuracy on the same items (the papers' "share of
  cloud-only accuracy").
* **Private chars → cloud** — characters of the documents the protocol itself put in cloud prompts
  (per item, mean), plus, in the JSON summary, quoted document text relayed by the local model.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from langgraph_cloudlocal.evaluation.results import RESULTS_FILE, RUN_FILE, latest_rows

REPORT_FILE = "report.md"
SUMMARY_FILE = "summary.json"
PLOT_FILE = "cost_accuracy.png"
CLOUD_ONLY = "cloud-only"
LOCAL_ONLY = "local-only"


@dataclass
class ProtocolStats:
    """One row of the report: a protocol (label) on one dataset."""

    dataset: str
    protocol: str
    items: int
    correct: int
    errors: int
    accuracy: float
    cloud_input_tokens: int
    cloud_output_tokens: int
    cloud_cached_tokens: int
    cloud_calls: int
    cloud_usd: float
    cloud_only_usd: float
    cloud_only_source: str  # "measured", "estimated" or "mixed"
    reduction: float | None
    recovered: float | None
    private_chars_to_cloud: int
    quoted_chars_to_cloud: int
    local_input_tokens: int
    local_output_tokens: int
    decisions: int
    wall_seconds: float  # sum over items
    categories: dict[str, list[int]] = field(default_factory=dict)  # category -> [correct, items]
    # Seconds summed over items: wall, and local / cloud / embedding busy and "other" (timing.py)
    time_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def mean_wall_seconds(self) -> float:
        return self.wall_seconds / self.items if self.items else 0.0


@dataclass
class Report:
    """What :func:`write_report` produced."""

    out_dir: Path
    stats: list[ProtocolStats]
    report_path: Path
    summary_path: Path
    plot_path: Path | None
    plot_error: str | None = None


def _usage(row: dict[str, Any]) -> dict[str, Any]:
    usage = row.get("usage")
    return usage if isinstance(usage, dict) else {}


def _role(row: dict[str, Any], role: str, counter: str) -> int:
    counters = _usage(row).get(role)
    if not isinstance(counters, dict):
        return 0
    return int(counters.get(counter, 0) or 0)


def _protocol_order(rows: Sequence[dict[str, Any]], run: dict[str, Any]) -> list[str]:
    order = list(run.get("protocols") or [])
    for row in rows:
        if row["protocol"] not in order:
            order.append(row["protocol"])
    return order


def compute_stats(rows: Sequence[dict[str, Any]], run: dict[str, Any] | None = None) -> list[ProtocolStats]:
    """Aggregate result rows (one per dataset, item and protocol) into one :class:`ProtocolStats` per
    dataset and protocol, in the run's protocol order."""
    run = run or {}
    by_dataset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_dataset[row["dataset"]].append(row)
    dataset_order = [d for d in run.get("datasets", []) if d in by_dataset] + sorted(
        d for d in by_dataset if d not in run.get("datasets", [])
    )
    stats: list[ProtocolStats] = []
    for dataset in dataset_order:
        dataset_rows = by_dataset[dataset]
        cloud_only = {
            r["item_id"]: r for r in dataset_rows if r["protocol"] == CLOUD_ONLY and r.get("status") == "ok"
        }
        by_protocol: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in dataset_rows:
            by_protocol[row["protocol"]].append(row)
        for protocol in _protocol_order(dataset_rows, run):
            prows = by_protocol.get(protocol)
            if not prows:
                continue
            stats.append(_stats_for(dataset, protocol, prows, cloud_only))
    return stats


def _stats_for(
    dataset: str, protocol: str, rows: list[dict[str, Any]], cloud_only: dict[str, dict[str, Any]]
) -> ProtocolStats:
    correct = sum(1 for r in rows if r.get("correct"))
    measured = estimated = 0
    cloud_only_usd = 0.0
    for row in rows:
        reference = cloud_only.get(row["item_id"])
        if reference is not None:
            cloud_only_usd += float(_usage(reference).get("cloud_cost_usd") or 0.0)
            measured += 1
        else:
            cloud_only_usd += float(_usage(row).get("cloud_only_cost_usd") or 0.0)
            estimated += 1
    source = "measured" if not estimated else "estimated" if not measured else "mixed"
    cloud_usd = sum(float(_usage(r).get("cloud_cost_usd") or 0.0) for r in rows)
    reduction = cloud_only_usd / cloud_usd if cloud_usd > 0 else None
    recovered = None
    shared = [r for r in rows if r["item_id"] in cloud_only]
    if shared:
        reference_correct = sum(1 for r in shared if cloud_only[r["item_id"]].get("correct"))
        if reference_correct:
            recovered = sum(1 for r in shared if r.get("correct")) / reference_correct
    categories: dict[str, list[int]] = {}
    for row in rows:
        category = (row.get("meta") or {}).get("category") or (row.get("meta") or {}).get("kind")
        if category:
            tally = categories.setdefault(str(category), [0, 0])
            tally[0] += 1 if row.get("correct") else 0
            tally[1] += 1
    return ProtocolStats(
        dataset=dataset,
        protocol=protocol,
        items=len(rows),
        correct=correct,
        errors=sum(1 for r in rows if r.get("status") != "ok"),
        accuracy=correct / len(rows) if rows else 0.0,
        cloud_input_tokens=sum(_role(r, "cloud", "input_tokens") for r in rows),
        cloud_output_tokens=sum(_role(r, "cloud", "output_tokens") for r in rows),
        cloud_cached_tokens=sum(_role(r, "cloud", "cached_tokens") for r in rows),
        cloud_calls=sum(_role(r, "cloud", "calls") for r in rows),
        cloud_usd=cloud_usd,
        cloud_only_usd=cloud_only_usd,
        cloud_only_source=source,
        reduction=reduction,
        recovered=recovered,
        private_chars_to_cloud=sum(int(_usage(r).get("private_chars_to_cloud") or 0) for r in rows),
        quoted_chars_to_cloud=sum(int(_usage(r).get("quoted_chars_to_cloud") or 0) for r in rows),
        local_input_tokens=sum(_role(r, "local", "input_tokens") for r in rows),
        local_output_tokens=sum(_role(r, "local", "output_tokens") for r in rows),
        decisions=sum(int(r.get("decisions") or 0) for r in rows),
        wall_seconds=sum(float(r.get("wall_seconds") or 0.0) for r in rows),
        categories=categories,
        time_seconds=_time_totals(rows),
    )


TIME_PARTS = ("local", "cloud", "embedding", "other")


def _time_totals(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Where the items' wall time went, summed over the items that recorded it."""
    timed = [r["time_seconds"] for r in rows if isinstance(r.get("time_seconds"), dict)]
    if not timed:
        return {}
    return {key: round(sum(float(t.get(key) or 0.0) for t in timed), 1) for key in ("wall", *TIME_PARTS)}


def time_table(stats: Sequence[ProtocolStats]) -> str:
    """Markdown: per protocol, the wall time and the seconds (and share) local, cloud, embedding, other."""
    timed = [s for s in stats if s.time_seconds.get("wall")]
    if not timed:
        return ""
    lines = [
        "| Protocol | Wall s | Local s | Cloud s | Embedding s | Other s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in timed:
        wall = s.time_seconds["wall"]
        parts = [
            f"{s.time_seconds.get(k, 0.0):.1f} ({s.time_seconds.get(k, 0.0) / wall:.0%})" for k in TIME_PARTS
        ]
        lines.append(f"| {s.protocol} | {wall:.1f} | " + " | ".join(parts) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Pareto front


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats (cheaper or as cheap, and at least as accurate,
    better in one), ordered by cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = -math.inf
    for index in order:
        if points[index][1] > best:
            front.append(index)
            best = points[index][1]
    return front


# --------------------------------------------------------------------------------------------------
# Markdown


def _usd(value: float) -> str:
    if value == 0:
        return "$0"
    if value < 0.01:
        return f"${value:.5f}"
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def _factor(value: float | None) -> str:
    if value is None:
        return "∞ (no cloud)"
    return f"{value:.1f}x"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def markdown_table(stats: Sequence[ProtocolStats]) -> str:
    """The report's table for one dataset's stats."""
    show_errors = any(s.errors for s in stats)
    header = [
        "Protocol",
        "Items",
        "Accuracy",
        "Cloud in tok",
        "Cloud out tok",
        "Cloud $",
        "Cloud-only $",
        "Reduction",
        "Recovered",
        "Private chars → cloud",
        "Wall s/item",
    ] + (["Errors"] if show_errors else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for s in stats:
        cells = [
            f"`{s.protocol}`",
            str(s.items),
            f"{100 * s.accuracy:.1f}% ({s.correct}/{s.items})",
            f"{s.cloud_input_tokens:,}",
            f"{s.cloud_output_tokens:,}",
            _usd(s.cloud_usd),
            _usd(s.cloud_only_usd) + ("" if s.cloud_only_source == "measured" else "*"),
            _factor(s.reduction),
            _percent(s.recovered),
            f"{s.private_chars_to_cloud:,}",
            f"{s.mean_wall_seconds:.1f}",
        ] + ([str(s.errors)] if show_errors else [])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _category_table(stats: Sequence[ProtocolStats]) -> str | None:
    categories: list[str] = []
    for s in stats:
        for category in s.categories:
            if category not in categories:
                categories.append(category)
    if len(categories) < 2:
        return None
    lines = [
        "| Protocol | " + " | ".join(categories) + " |",
        "|---|" + "|".join(["---:"] * len(categories)) + "|",
    ]
    for s in stats:
        cells = []
        for category in categories:
            right, total = s.categories.get(category, [0, 0])
            cells.append(f"{right}/{total}" if total else "—")
        lines.append(f"| `{s.protocol}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _models_line(run: dict[str, Any], rows: Sequence[dict[str, Any]]) -> str:
    models = run.get("models") or {}
    local = models.get("local")
    cloud = models.get("cloud")
    for row in rows:
        usage = _usage(row)
        if not local and isinstance(usage.get("local"), dict):
            local = usage["local"].get("model")
        if not cloud and row.get("protocol") != LOCAL_ONLY and isinstance(usage.get("cloud"), dict):
            cloud = usage["cloud"].get("model")
    return f"local `{local or '?'}`, cloud `{cloud or '?'}`"


def render_markdown(
    stats: Sequence[ProtocolStats], run: dict[str, Any], rows: Sequence[dict[str, Any]], plot: str | None
) -> str:
    """The whole ``report.md`` text."""
    out = ["# Evaluation report", ""]
    out.append(f"- Models: {_models_line(run, rows)}")
    if run.get("machine"):
        out.append(f"- Machine: {run['machine']}")
    datasets = sorted({s.dataset for s in stats}, key=lambda d: [s.dataset for s in stats].index(d))
    for dataset in datasets:
        counts = {s.items for s in stats if s.dataset == dataset}
        source = (run.get("dataset_files") or {}).get(dataset)
        where = f" (`{source}`)" if source else ""
        out.append(f"- Dataset `{dataset}`{where}: {max(counts)} items")
    if run.get("elapsed_seconds") is not None:
        out.append(
            f"- Run wall time: {run['elapsed_seconds'] / 60:.1f} min in {run.get('sessions', 1)} session(s), "
            f"concurrency {run.get('max_concurrency', run.get('concurrency', 1))}"
        )
    if run.get("command"):
        out.append(f"- Command: `{run['command']}`")
    out.append("")
    estimated = False
    for dataset in datasets:
        ds_stats = [s for s in stats if s.dataset == dataset]
        estimated = estimated or any(s.cloud_only_source != "measured" for s in ds_stats)
        out += [f"## {dataset}", "", markdown_table(ds_stats), ""]
        categories = _category_table(ds_stats)
        if categories:
            out += ["Correct answers by question kind:", "", categories, ""]
        times = time_table(ds_stats)
        if times:
            out += ["Where the wall time went (seconds summed over the items):", "", times, ""]
    if plot:
        out += [f"![cloud cost against accuracy]({plot})", ""]
    out += [
        "## How to read this",
        "",
        "- **Accuracy**: share of items answered correctly (normalised exact match, numeric match with tolerance, "
        "or contains-match for names; per-item verdicts in `results.jsonl` under `match`). Errors count as wrong.",
        "- **Cloud $**: cloud tokens used, priced per model; a cloud model with no known price (such as the "
        "embedded Qwen stand-in) is priced like gpt-4o, $2.50 / $10.00 per 1M input / output tokens, as in "
        "the Minions paper. Local tokens are free.",
        "- **Cloud-only $**: the cost of the same items with the cloud model alone, measured from the "
        "`cloud-only` rows"
        + (
            "; figures marked * are (partly) the ledger's estimate instead (one cloud call with the whole "
            "documents, tokens approximated as characters / 4)."
            if estimated
            else "."
        ),
        "- **Reduction**: cloud-only $ / cloud $. **Recovered**: accuracy / cloud-only accuracy on the same items.",
        "- **Private chars → cloud**: characters of the documents placed in cloud prompts by the protocol itself "
        "(total over the items).",
        "- **Wall s/item**: mean seconds per item (items may run concurrently).",
        "- **Where the wall time went**: per item, the seconds during which a local model call, a cloud model "
        "call or an embedding was running (overlapping calls of one kind counted once), and **other**: the "
        "wall time during which none was (the harness: prompts, parsing, the store, checkpoints). Kinds can "
        "overlap each other (local jobs while the cloud plans), so the parts may add up to more than the wall.",
        "",
    ]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------
# Plot


Box = tuple[float, float, float, float]  # left, right, bottom, top (axes fractions)


def _overlaps(box: Box, placed: Sequence[Box]) -> bool:
    """Whether ``box`` overlaps any box already placed."""
    left, right, bottom, top = box
    return any(left < r and l < right and bottom < t and b < top for l, r, b, t in placed)  # noqa: E741


def _label_box(fx: float, fy: float, text: str, placed: Sequence[Box]) -> Box:
    """A free spot for a label next to the point at (fx, fy): just above right of it if free, else the
    nearest free height (up or down) inside the axes."""
    lines = text.splitlines() or [text]
    width = 0.016 * max(len(line) for line in lines) + 0.01
    height = 0.05 * len(lines)
    left = min(fx + 0.015, 0.99 - width)
    preferred = fy + 0.03
    candidates = [preferred] + [preferred + sign * step * 0.025 for step in range(1, 30) for sign in (1, -1)]
    for bottom in candidates:
        if bottom < 0.01 or bottom + height > 0.99:
            continue
        box = (left, left + width, bottom, bottom + height)
        if not _overlaps(box, placed):
            return box
    return (left, left + width, preferred, preferred + height)


def plot_cost_accuracy(stats: Sequence[ProtocolStats], path: Path) -> Path:
    """Cloud $ (x) against accuracy (y), one point per protocol, the Pareto front drawn; one panel
    per dataset. Needs matplotlib (``pip install 'langgraph-cloudlocal[eval]'``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets: list[str] = []
    for s in stats:
        if s.dataset not in datasets:
            datasets.append(s.dataset)
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.4 * len(datasets), 4.8), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        ds = [s for s in stats if s.dataset == dataset]
        points = [(s.cloud_usd, s.accuracy) for s in ds]
        front = pareto_front(points)
        costs = [p[0] for p in points]
        positive = [c for c in costs if c > 0]
        if positive and max(positive) / min(positive) > 30:
            ax.set_xscale("symlog", linthresh=min(positive))
        xs_front = [points[i][0] for i in front]
        ys_front = [points[i][1] for i in front]
        if len(front) > 1:
            ax.step(
                xs_front,
                ys_front,
                where="post",
                color="tab:green",
                alpha=0.7,
                lw=2,
                label="Pareto front",
                zorder=1,
            )
        front_points = {points[i] for i in front}
        ax.set_title(f"{dataset} ({max(s.items for s in ds)} items)")
        ax.set_xlabel("cloud $ (total over the items)")
        ax.set_ylabel("accuracy")
        ax.set_ylim(-0.05, 1.12)
        right = max(costs) if costs else 0.0
        if ax.get_xscale() == "linear":
            ax.set_xlim(-0.05 * (right or 1e-4), (right or 1e-4) * 1.45)
        else:
            ax.set_xlim(0, right * 4)
        # Points at the same place share one stacked label; labels of nearby points are moved apart.
        groups: dict[tuple[float, float], list[ProtocolStats]] = {}
        for s, point in zip(ds, points, strict=True):
            groups.setdefault(point, []).append(s)
        to_axes = ax.transAxes.inverted()
        ordered = sorted(groups.items(), key=lambda g: (-g[0][1], g[0][0]))
        where = {point: to_axes.transform(ax.transData.transform(point)) for point, _ in ordered}
        # Markers are obstacles too, so no label covers another point.
        placed: list[Box] = [(fx - 0.015, fx + 0.015, fy - 0.03, fy + 0.03) for fx, fy in where.values()]
        for (x, y), members in ordered:
            on_front = (x, y) in front_points
            ax.scatter(
                [x], [y], s=70, color="tab:green" if on_front else "tab:gray", edgecolor="black", zorder=3
            )
            fx, fy = where[(x, y)]
            text = "\n".join(m.protocol for m in members)
            box = _label_box(fx, fy, text, placed)
            placed.append(box)
            moved = abs(box[2] - (fy + 0.03)) > 0.01 or abs(box[0] - (fx + 0.015)) > 0.01
            ax.annotate(
                text,
                (x, y),
                xytext=(box[0], box[2]),
                textcoords="axes fraction",
                fontsize=9,
                va="bottom",
                fontweight="bold" if on_front else "normal",
                arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.6} if moved else None,
            )
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.grid(True, alpha=0.3)
        if len(front) > 1:
            ax.legend(loc="best", fontsize=8)
    fig.suptitle("Accuracy against cloud cost (green: Pareto front)", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------------
# Entry point


def read_run_info(out_dir: Path) -> dict[str, Any]:
    """The run's ``run.json`` (models, datasets, protocols, machine, timings), or ``{}``."""
    try:
        data = json.loads((out_dir / RUN_FILE).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_report(out_dir: str | Path, *, plot: bool = True) -> Report:
    """Read ``out_dir/results.jsonl`` and write ``report.md``, ``summary.json`` and (with matplotlib
    installed and ``plot`` true) ``cost_accuracy.png``. Can be re-run at any time, also mid-run."""
    out = Path(out_dir)
    if not out.is_dir():
        raise FileNotFoundError(f"{out} is not a folder with evaluation results (results.jsonl)")
    rows = list(latest_rows(out / RESULTS_FILE).values())
    run = read_run_info(out)
    stats = compute_stats(rows, run)
    plot_path: Path | None = None
    plot_error: str | None = None
    if plot and stats:
        try:
            plot_path = plot_cost_accuracy(stats, out / PLOT_FILE)
        except ImportError:
            plot_error = "matplotlib is not installed: pip install 'langgraph-cloudlocal[eval]'"
    text = render_markdown(stats, run, rows, PLOT_FILE if plot_path else None)
    if plot_error:
        text += f"\n(No plot: {plot_error}.)\n"
    if not stats:
        text += "\nNo results yet.\n"
    report_path = out / REPORT_FILE
    report_path.write_text(text, encoding="utf-8")
    summary_path = out / SUMMARY_FILE
    summary_path.write_text(
        json.dumps(
            {"run": run, "stats": [asdict(s) | {"mean_wall_seconds": s.mean_wall_seconds} for s in stats]},
            indent=1,
            default=str,
        ),
        encoding="utf-8",
    )
    return Report(out, stats, report_path, summary_path, plot_path, plot_error)


__all__ = [
    "PLOT_FILE",
    "REPORT_FILE",
    "SUMMARY_FILE",
    "ProtocolStats",
    "Report",
    "compute_stats",
    "markdown_table",
    "pareto_front",
    "plot_cost_accuracy",
    "read_run_info",
    "render_markdown",
    "write_report",
]
