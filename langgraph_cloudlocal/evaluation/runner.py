"""Run protocols over datasets, resumably, and write the report.

:func:`run_evaluation` runs every protocol on every item (``max_concurrency`` items at once, on
LangGraph's batch; see :func:`langgraph_cloudlocal.running.run_batch`),
appends one line per (dataset, item, protocol) to ``OUT/results.jsonl`` as soon as it is done, shows
a progress bar per protocol (items done, accuracy so far, cloud tokens so far), and ends with
:func:`~langgraph_cloudlocal.evaluation.report.write_report`. Run the same command again after a crash
or Ctrl-C and only what is missing (or failed) runs.

Models: ``local`` / ``cloud`` are specs (``"ollama:llama3.2:3b"``, ``"openai:gpt-4o"``,
``"openai-compatible:NAME@URL"``...) or chat model instances. A role left out follows the one fallback
rule of :func:`langgraph_cloudlocal.running.run_models` (the CLI's too): its environment variable
(``CLOUDLOCAL_LOCAL_MODEL`` / ``CLOUDLOCAL_CLOUD_MODEL``), then the embedded models (Qwen2.5-Coder-0.5B
local, Qwen2.5-Coder-1.5B as the cloud stand-in; reused if ``cloudlocal serve`` runs them, else started on
loopback for the run) at temperature 0, so an evaluation runs on a fresh machine with no key.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableLambda

from langgraph_cloudlocal.errors import CloudLocalError
from langgraph_cloudlocal.evaluation.datasets import EvalItem, dataset_name, load_dataset
from langgraph_cloudlocal.evaluation.registry import ProtocolSpec, parse_protocols
from langgraph_cloudlocal.evaluation.report import (
    ProtocolStats,
    Report,
    read_run_info,
    write_report,
)
from langgraph_cloudlocal.evaluation.results import RESULTS_FILE, RUN_FILE, latest_rows, result_key
from langgraph_cloudlocal.protocols import get_protocol
from langgraph_cloudlocal.running import (
    DEFAULT_EMBEDDED_CLOUD,
    DEFAULT_EMBEDDED_LOCAL,
    JsonlWriter,
    ModelArg,
    run_batch,
    run_models,
)
from langgraph_cloudlocal.timing import measuring_busy_times

# Items at once (LangGraph's max_concurrency, which each run inherits for its own parallel jobs): the
# embedded local server's slots (embedded.default_server_settings).
DEFAULT_MAX_CONCURRENCY = 4


class EvaluationError(CloudLocalError, RuntimeError):
    """An evaluation that cannot start (e.g. an output folder holding results of other models)."""


@dataclass
class EvaluationSummary:
    """What :func:`run_evaluation` did and where it wrote it."""

    out_dir: Path
    results_path: Path
    report: Report | None
    protocols: list[str]
    datasets: dict[str, int]  # dataset name -> items in this run (after --limit)
    ran: int = 0  # results written in this call
    skipped: int = 0  # already in results.jsonl
    errors: int = 0  # results written with status "error" in this call
    interrupted: bool = False
    wall_seconds: float = 0.0
    models: dict[str, str] = field(default_factory=dict)

    @property
    def stats(self) -> list[ProtocolStats]:
        return self.report.stats if self.report else []

    @property
    def report_path(self) -> Path | None:
        return self.report.report_path if self.report else None

    @property
    def plot_path(self) -> Path | None:
        return self.report.plot_path if self.report else None


@dataclass(frozen=True)
class _Task:
    dataset: str
    item: EvalItem
    spec: ProtocolSpec

    @property
    def key(self) -> str:
        return result_key(self.dataset, self.item.id, self.spec.label)


@contextlib.contextmanager
def _closing_store(store: Any) -> Iterator[Any]:
    try:
        yield store
    finally:
        if store is not None:
            store.close()


# --------------------------------------------------------------------------------------------------
# One item


def run_item(graph: Any, task: _Task) -> dict[str, Any]:
    """Run one protocol on one item and return its result line (errors are recorded, not raised).

    Args:
        graph: The protocol's compiled graph.
        task: The dataset, item and protocol label.

    Returns:
        The result row: prediction, correctness, usage, decision counts, status and timings.
    """
    item, spec = task.item, task.spec
    started = time.perf_counter()
    row: dict[str, Any] = {
        "key": task.key,
        "dataset": task.dataset,
        "item_id": item.id,
        "protocol": spec.label,
        "protocol_name": spec.name,
        "context": dict(spec.context),
        "question": item.question,
        "gold": item.answer,
        "metric": item.metric,
    }
    busy_times = contextlib.ExitStack()
    recorder = busy_times.enter_context(measuring_busy_times())
    try:
        output = graph.invoke(
            item.inputs(),
            config={
                "run_name": f"cloudlocal-eval:{spec.label}",
                "tags": ["cloudlocal:eval", f"cloudlocal:{spec.name}"],
                "metadata": {"cloudlocal_dataset": task.dataset, "cloudlocal_item": item.id},
            },
            context=dict(spec.context) or None,
        )
        prediction = str(output.get("answer") or "")
        match = item.score(prediction)
        decisions = list(output.get("decisions") or [])
        counts: dict[str, int] = {}
        for decision in decisions:
            kind = str(decision.get("decision")) if isinstance(decision, Mapping) else "?"
            counts[kind] = counts.get(kind, 0) + 1
        row.update(
            prediction=prediction,
            correct=match.correct,
            match=match.as_dict(),
            usage=output.get("usage") or {},
            decisions=len(decisions),
            decision_counts=counts,
            status="ok",
            error=None,
        )
    except Exception as exc:  # one failing item must not stop the evaluation
        row.update(
            prediction="",
            correct=False,
            match=None,
            usage={},
            decisions=0,
            decision_counts={},
            status="error",
            error=f"{type(exc).__name__}: {exc}"[:2000],
        )
    except BaseException:  # Ctrl-C reaching this thread: end the recording here, in its own context
        busy_times.close()
        raise
    busy_times.close()
    row["wall_seconds"] = round(time.perf_counter() - started, 3)
    row["time_seconds"] = recorder.breakdown()  # wall, local, cloud, embedding, other
    row["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    row["meta"] = {k: v for k, v in item.meta.items() if k != "solution"}
    return row


def run_items(
    graph: Any,
    items: Sequence[EvalItem],
    *,
    context: Mapping[str, Any] | None = None,
    max_concurrency: int | None = 1,
    thread_prefix: str = "eval",
) -> Iterator[tuple[EvalItem, Any, float]]:
    """Run one graph on labelled items, as they finish, on LangGraph's batch (one failure never stops the rest).

    Args:
        graph: A compiled graph.
        items: The items; each runs with its own ``thread_id`` (``"{thread_prefix}-{item.id}"``), for
            graphs with a checkpointer.
        context: The run settings of every item.
        max_concurrency: Items at once (LangGraph's knob; each run inherits it).
        thread_prefix: The ``thread_id`` prefix.

    Yields:
        ``(item, output or the exception its run raised, seconds it took)``.

    Example:
        >>> for item, output, seconds in run_items(graph, items, max_concurrency=2):  # doctest: +SKIP
        ...     print(item.id, item.score(output["answer"]).correct)
    """

    def timed(item: EvalItem) -> tuple[Any, float]:
        begun = time.perf_counter()
        try:
            output = graph.invoke(
                item.inputs(),
                {"configurable": {"thread_id": f"{thread_prefix}-{item.id}"}},
                context=dict(context or {}),
            )
        except Exception as exc:  # noqa: BLE001 - reported with the item, never raised
            output = exc
        return output, time.perf_counter() - begun

    runner = RunnableLambda(timed, name=f"cloudlocal-{thread_prefix}")
    # One at a time, items finish in order, but two can finish between the batch's checks and come back
    # swapped: give them back in order then (files written from them stay in the items' order).
    ordered = max_concurrency == 1
    waiting: dict[int, Any] = {}
    next_index = 0
    for index, result in run_batch(runner, list(items), max_concurrency=max_concurrency):
        waiting[index] = result
        ready = [next_index] if ordered else [index]
        while ready:
            position = ready.pop()
            if position not in waiting:
                break
            result = waiting.pop(position)
            output, seconds = result if isinstance(result, tuple) else (result, 0.0)
            yield items[position], output, seconds
            if ordered:
                next_index += 1
                ready.append(next_index)


# --------------------------------------------------------------------------------------------------
# Progress


class _Tally:
    """Running figures per (dataset, protocol) for the progress display."""

    def __init__(self) -> None:
        self.done = 0
        self.correct = 0
        self.errors = 0
        self.cloud_tokens = 0

    def add(self, row: Mapping[str, Any]) -> None:
        self.done += 1
        self.correct += 1 if row.get("correct") else 0
        self.errors += 1 if row.get("status") != "ok" else 0
        usage = row.get("usage") or {}
        self.cloud_tokens += int(usage.get("cloud_tokens") or 0)

    def fields(self) -> dict[str, str]:
        accuracy = f"{100 * self.correct / self.done:.0f}%" if self.done else "–"
        errors = f" [red]{self.errors} err[/red]" if self.errors else ""
        return {"accuracy": accuracy, "cloud_tokens": f"{self.cloud_tokens:,}", "errors": errors}


def _progress(console: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}", justify="left"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("acc {task.fields[accuracy]:>4}"),
        TextColumn("cloud tok {task.fields[cloud_tokens]:>8}{task.fields[errors]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


# --------------------------------------------------------------------------------------------------
# The run


def _machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024**2:.0f} GiB RAM"
    cpu_name = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_name = " (" + line.split(":", 1)[1].strip() + ")"
                break
    return f"{platform.system()} {platform.machine()}, {cpus} CPU cores{cpu_name}{memory}, no GPU used"


def _load_datasets(dataset: Any, limit: int | None) -> dict[str, tuple[Path, list[EvalItem]]]:
    paths = [dataset] if isinstance(dataset, str | Path) else list(dataset)
    if not paths:
        raise EvaluationError("no dataset given")
    loaded: dict[str, tuple[Path, list[EvalItem]]] = {}
    for path in paths:
        name = dataset_name(path)
        if name in loaded:
            raise EvaluationError(
                f"two datasets are both named {name!r} ({loaded[name][0]} and {path}); rename one"
            )
        loaded[name] = (Path(path), load_dataset(path, limit=limit))
    return loaded


def _display_path(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it (reports travel better)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _check_same_models(out: Path, names: dict[str, str]) -> None:
    previous = read_run_info(out).get("models")
    if not previous or not (out / RESULTS_FILE).exists():
        return
    for role in ("local", "cloud"):
        before, now = previous.get(role), names.get(role)
        if before and now and before != now and "(none" not in before and "(none" not in now:
            raise EvaluationError(
                f"{out} holds results made with {role} model {before!r}, not {now!r}. Use another --out folder "
                "(or delete that one) so results of different models are not mixed."
            )


def _write_run_info(out: Path, info: dict[str, Any]) -> None:
    tmp = out / (RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(info, indent=1, default=str))
    tmp.replace(out / RUN_FILE)


def run_evaluation(
    protocols: str | Sequence[str],
    dataset: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    local: ModelArg = None,
    cloud: ModelArg = None,
    *,
    limit: int | None = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    progress: bool = True,
    embedded_local: str = DEFAULT_EMBEDDED_LOCAL,
    embedded_cloud: str = DEFAULT_EMBEDDED_CLOUD,
    plot: bool = True,
    console: Any = None,
    command: str | None = None,
    store: str | None = None,
) -> EvaluationSummary:
    """Run ``protocols`` (names such as ``"local-only,cloud-only,adaswitch@0.3"`` or a list) on every

    item of ``dataset`` (one JSONL file or several), writing ``out_dir/results.jsonl`` and, at the end,
    ``report.md``, ``summary.json`` and ``cost_accuracy.png``.

    Resumable: results already in ``results.jsonl`` are skipped (failed ones are run again). Ctrl-C
    stops after the items that are running finish; the report then covers what is done.
    ``limit`` takes the first N items of each dataset; ``max_concurrency`` items run at once (LangGraph's
    knob: each run inherits it, so it also bounds a MinionS run's parallel jobs).
    ``embedded_local`` / ``embedded_cloud`` name the embedded models used for roles given neither here
    nor in the environment. ``command`` is recorded in the report (the CLI passes its command line).
    ``store``: where Minion and MinionS keep chunks (see :func:`~langgraph_cloudlocal.store.open_chunk_store`:
    a folder, ``http://HOST:PORT``, ``memory`` or ``none``; default ``$CLOUDLOCAL_CHUNK_STORE``, else a
    persistent store in the user cache, so a document asked about again is not embedded again).

    Args:
        protocols: Protocol labels (see :func:`~langgraph_cloudlocal.evaluation.registry.parse_protocols`).
        dataset: One JSONL dataset or several.
        out_dir: The output folder (created).
        local: The local model (spec or chat model); None: the fallback rule.
        cloud: The cloud model; None: the fallback rule.
        limit: The first N items of each dataset.
        max_concurrency: Items at once.
        progress: Show progress bars and the summary table.
        embedded_local: The embedded model the local role falls back to.
        embedded_cloud: The embedded model the cloud role falls back to.
        plot: Draw ``cost_accuracy.png``.
        console: A rich console for progress (default: stderr).
        command: The command line recorded in the report.
        store: Where Minion and MinionS keep chunks.

    Returns:
        An :class:`EvaluationSummary` (counts, models, report paths).

    Raises:
        EvaluationError: Bad arguments, or ``out_dir`` holds results of other models.
        ProtocolError: A protocol label or setting cannot be used.
        DatasetError: A dataset cannot be read.

    Example:
        >>> summary = run_evaluation("local-only,cloud-only", "datasets/records.jsonl", "runs/r")  # doctest: +SKIP
    """
    if max_concurrency < 1:
        raise EvaluationError("max_concurrency must be >= 1")
    if limit is not None and limit < 1:
        raise EvaluationError("limit must be >= 1")
    started = time.perf_counter()
    specs = parse_protocols(protocols)
    datasets = _load_datasets(dataset, limit)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / RESULTS_FILE
    if console is None:
        from rich.console import Console

        console = Console(stderr=True)

    def log(message: str) -> None:
        if progress:
            console.print(message)

    done = {key for key, row in latest_rows(results_path).items() if row.get("status") == "ok"}
    # Item by item, datasets in turn, every protocol on an item before the next: a run stopped early
    # still compares all protocols on the same items of every dataset.
    longest = max(len(items) for _, items in datasets.values())
    tasks = [
        _Task(name, items[index], spec)
        for index in range(longest)
        for name, (_, items) in datasets.items()
        if index < len(items)
        for spec in specs
    ]
    pending = [t for t in tasks if t.key not in done]
    summary = EvaluationSummary(
        out_dir=out,
        results_path=results_path,
        report=None,
        protocols=[s.label for s in specs],
        datasets={name: len(items) for name, (_, items) in datasets.items()},
        skipped=len(tasks) - len(pending),
    )
    if summary.skipped:
        log(f"resuming: {summary.skipped} of {len(tasks)} results already in {results_path}")

    previous = read_run_info(out)
    info: dict[str, Any] = {
        "protocols": list(dict.fromkeys([*previous.get("protocols", []), *summary.protocols])),
        "datasets": list(dict.fromkeys([*previous.get("datasets", []), *datasets])),
        "dataset_files": {
            **previous.get("dataset_files", {}),
            **{n: _display_path(p) for n, (p, _) in datasets.items()},
        },
        "limit": limit,
        "max_concurrency": max_concurrency,
        "machine": _machine(),
        "python": sys.version.split()[0],
        "command": command or previous.get("command"),
        "models": previous.get("models", {}),
        "elapsed_seconds": float(previous.get("elapsed_seconds") or 0.0),
        "sessions": int(previous.get("sessions") or 0),
        "started_at": previous.get("started_at") or datetime.now(UTC).isoformat(timespec="seconds"),
    }

    if pending:
        roles = {role for t in pending for role in get_protocol(t.spec.name).roles}
        need_local, need_cloud = "local" in roles, "cloud" in roles
        try:
            with contextlib.ExitStack() as stack:
                local_model, cloud_model, names = stack.enter_context(
                    run_models(
                        local,
                        cloud,
                        need_local=need_local,
                        need_cloud=need_cloud,
                        embedded_local=embedded_local,
                        embedded_cloud=embedded_cloud,
                        log=log,
                    )
                )
                _check_same_models(out, names)
                summary.models = names
                info["models"] = {
                    role: names[role] if "(none" not in names[role] else info["models"].get(role, names[role])
                    for role in ("local", "cloud")
                }
                info["sessions"] += 1
                _write_run_info(out, info)
                from langgraph_cloudlocal.store import open_chunk_store

                chunk_store = (
                    stack.enter_context(_closing_store(open_chunk_store(store)))
                    if any(_takes_chunk_store(t.spec) for t in pending)
                    else None
                )
                if chunk_store is not None:
                    log(f"chunk store: {chunk_store.location or 'in memory'}")
                graphs = {
                    spec.label: spec.build(
                        local_model, cloud_model if need_cloud else None, chunk_store=chunk_store
                    )
                    for spec in specs
                    if any(t.spec.label == spec.label for t in pending)
                }
                _execute(pending, tasks, graphs, results_path, summary, max_concurrency, progress, console)
        finally:
            summary.wall_seconds = time.perf_counter() - started
            info["elapsed_seconds"] += summary.wall_seconds
            info["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
            if info["sessions"]:
                _write_run_info(out, info)
    else:
        log(f"nothing to run: all {len(tasks)} results are in {results_path}")
        if not (out / RUN_FILE).exists():
            _write_run_info(out, info)

    summary.report = write_report(out, plot=plot)
    summary.wall_seconds = time.perf_counter() - started
    if progress:
        _print_summary(console, summary)
    return summary


def _takes_chunk_store(spec: ProtocolSpec) -> bool:
    import inspect

    return "chunk_store" in inspect.signature(spec.info.load_factory()).parameters


def _execute(
    pending: list[_Task],
    tasks: list[_Task],
    graphs: dict[str, Any],
    results_path: Path,
    summary: EvaluationSummary,
    max_concurrency: int,
    progress: bool,
    console: Any,
) -> None:
    tallies: dict[tuple[str, str], _Tally] = {}
    totals: dict[tuple[str, str], int] = {}
    for task in tasks:
        group = (task.dataset, task.spec.label)
        tallies.setdefault(group, _Tally())
        totals[group] = totals.get(group, 0) + 1
    pending_keys = {t.key for t in pending}
    for key, row in latest_rows(results_path).items():
        known = (str(row.get("dataset")), str(row.get("protocol")))
        if known in tallies and key not in pending_keys:
            tallies[known].add(row)
    several = len({t.dataset for t in tasks}) > 1
    bar = _progress(console) if progress else None
    bar_ids: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def update(group: tuple[str, str]) -> None:
        if bar is not None:
            bar.update(bar_ids[group], completed=tallies[group].done, **tallies[group].fields())

    with JsonlWriter(results_path) as writer, bar or contextlib.nullcontext():
        if bar is not None:
            for group in tallies:
                label = f"{group[0]} · {group[1]}" if several else group[1]
                bar_ids[group] = bar.add_task(
                    label, total=totals[group], completed=tallies[group].done, **tallies[group].fields()
                )

        stopping = threading.Event()

        def work(task: _Task) -> dict[str, Any]:
            # Each item's row is written by the thread that ran it, so items running at Ctrl-C are saved.
            try:
                row = run_item(graphs[task.spec.label], task)
            except BaseException:  # KeyboardInterrupt / SystemExit reaching a worker: stop
                stopping.set()
                raise
            if stopping.is_set() and row["status"] != "ok":
                # Ctrl-C also reaches model servers in the same process group (the embedded ones stop):
                # an item that fails now is an artefact of stopping, and runs again on resume.
                return row
            writer.write(row)
            with lock:
                summary.ran += 1
                summary.errors += 1 if row["status"] != "ok" else 0
            return row

        # Several protocols' graphs in one batch (items in the run's order), on LangGraph's batch.
        results = run_batch(
            RunnableLambda(work, name="cloudlocal-eval-item"), pending, max_concurrency=max_concurrency
        )
        previous_handler = _stop_on_sigint(stopping)
        try:
            for _, row in results:
                if isinstance(row, BaseException):
                    raise row  # run_item records model errors; this is a bug in the runner itself
                group = (row["dataset"], row["protocol"])
                tallies[group].add(row)
                update(group)
        except KeyboardInterrupt:
            # Leaving the batch cancelled the items not started and waited for the running ones.
            summary.interrupted = True
            stopping.set()
            if bar is not None:
                bar.stop()
            console.print(
                "[yellow]Interrupted.[/yellow] Items that were running were saved; "
                "run the same command to resume."
            )
        finally:
            with contextlib.suppress(KeyboardInterrupt):
                results.close()
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)


def _stop_on_sigint(stopping: threading.Event) -> Any:
    """Set ``stopping`` the moment Ctrl-C arrives, before the batch waits for its running items (whose
    failures, as the embedded servers stop too, are then not recorded). Returns the previous handler, or
    None off the main thread (where signal handlers cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        stopping.set()
        signal.default_int_handler(signum, frame)

    return signal.signal(signal.SIGINT, handler)


def _print_summary(console: Any, summary: EvaluationSummary) -> None:
    from rich.table import Table

    for dataset in summary.datasets:
        stats = [s for s in summary.stats if s.dataset == dataset]
        if not stats:
            continue
        table = Table(title=f"{dataset}", title_justify="left")
        for column in ("protocol", "items", "accuracy", "cloud tok", "cloud $", "reduction", "recovered"):
            table.add_column(column, justify="left" if column == "protocol" else "right")
        for s in stats:
            table.add_row(
                s.protocol,
                str(s.items),
                f"{100 * s.accuracy:.1f}%",
                f"{s.cloud_input_tokens + s.cloud_output_tokens:,}",
                f"${s.cloud_usd:.5f}",
                "—" if s.reduction is None else f"{s.reduction:.1f}x",
                "—" if s.recovered is None else f"{100 * s.recovered:.0f}%",
            )
        console.print(table)
    state = "interrupted" if summary.interrupted else "done"
    console.print(
        f"{state}: {summary.ran} run ({summary.errors} errors), {summary.skipped} already there, "
        f"{summary.wall_seconds:.0f}s. Report: {summary.report_path}"
        + (f", plot: {summary.plot_path}" if summary.plot_path else "")
    )


__all__ = [
    "DEFAULT_EMBEDDED_CLOUD",
    "DEFAULT_EMBEDDED_LOCAL",
    "DEFAULT_MAX_CONCURRENCY",
    "EvaluationError",
    "EvaluationSummary",
    "run_evaluation",
    "run_item",
    "run_items",
]
