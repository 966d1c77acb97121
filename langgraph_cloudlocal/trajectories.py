"""AdaSwitch's training loop on your own data: collaborative examination, reflective-learning data, and
threshold calibration.

1. :func:`collaborative_examination` runs AdaSwitch over a labelled set (question + gold answer) and
   appends one JSON line per trajectory: every step with its author, verifier score and flag, the
   cloud's corrections (with the local draft each one replaced), the final answer and whether it
   matched the gold answer. Lines are written whole (one ``write`` of a complete line, then
   ``fsync``), so a killed run never leaves a partial line; a second run skips the items already in
   the file (and drops a partial last line left by something else), so it resumes.
2. :func:`export_finetuning` turns the trajectory file into fine-tuning data (see
   ``docs/fine-tuning.md``):

   * ``sft.jsonl``: chat-messages conversations in the OpenAI fine-tuning format. The local model's
     steps are assistant turns; a step the verifier flagged is kept for context with ``"weight": 0``
     (excluded from the loss), followed by the cloud's correction with ``"weight": 1``.
   * ``sft_prompt_completion.jsonl``: the same data for TRL's ``SFTTrainer``, which has no per-message
     weight: one conversational prompt/completion row per weight-1 assistant turn (the prompt is the
     conversation before it, wrong steps included), trained with completion-only loss.
   * ``verifier.jsonl``: chat-messages examples that teach the local model self-reflection: the
     verifier prompt and the verdict ``{"verdict": "correct" | "wrong", "confidence": 1.0}``.
   * ``verifier_pairs.jsonl``: the same labels as plain pairs (question, steps so far, step, wrong).

   Every file is deduplicated by content hash and written to a temporary file that replaces the
   target only when complete.
3. :func:`calibrate` sweeps the threshold on a labelled dev set, measures accuracy and cloud tokens at
   each value against the cloud-only yardstick (with worked steps by default), and picks the threshold
   that meets a target such as ``"cloud_tokens<=0.3"`` (at most 30% of cloud-only cloud tokens) or
   ``"accuracy>=0.9"`` (at least 90% of cloud-only accuracy). By default it finds the values to sweep
   itself, between the verifier scores it sees on the dev set (:func:`thresholds_between`).

Gold answers are scored with :mod:`langgraph_cloudlocal.evaluation.metrics` (numeric match with
tolerance, normalised exact match, contains-match), through the same item format as ``cloudlocal eval``
datasets: ``{"id"?, "question", "answer", "document"? | "documents"?, "metric"?}``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from langgraph_cloudlocal.decisions import summarize_decisions
from langgraph_cloudlocal.evaluation.datasets import EvalItem, load_dataset, parse_item
from langgraph_cloudlocal.evaluation.runner import run_items
from langgraph_cloudlocal.prompts import adaswitch as prompts
from langgraph_cloudlocal.running import JsonlWriter, ModelArg, append_line, read_jsonl

TRAJECTORY_SCHEMA = "cloudlocal.adaswitch.trajectory/1"
DEFAULT_THRESHOLDS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

ItemsLike = str | Path | Iterable[Mapping[str, Any] | EvalItem]
Progress = Callable[[str], None]


# --------------------------------------------------------------------------------------------------
# Items


def load_items(items: ItemsLike) -> list[EvalItem]:
    """Labelled items from a JSONL dataset path, or from dicts / :class:`EvalItem` objects.

    A dict needs ``question`` and ``answer`` (the gold answer); ``id``, ``document``/``documents``,
    ``metric`` and ``tolerance`` are optional (the ``cloudlocal eval`` dataset format).

    Args:
        items: A JSONL path, or an iterable of dicts / :class:`EvalItem`.

    Returns:
        The items.

    Raises:
        DatasetError: An item lacks a question or an answer.
    """
    if isinstance(items, str | Path):
        return load_dataset(items)
    out: list[EvalItem] = []
    for index, item in enumerate(items):
        out.append(item if isinstance(item, EvalItem) else parse_item(item, f"item {index}"))
    return out


# --------------------------------------------------------------------------------------------------
# Trajectory files (durable JSONL: langgraph_cloudlocal.running.JsonlWriter)


def read_trajectories(path: str | Path) -> list[dict[str, Any]]:
    """Every complete trajectory in ``path`` (damaged or partial lines are skipped).

    Args:
        path: A file written by :func:`collaborative_examination`.

    Returns:
        The trajectory records.

    Raises:
        FileNotFoundError: The file does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"trajectory file {path} does not exist")
    return [r for r in read_jsonl(path) if r.get("schema") == TRAJECTORY_SCHEMA]


# --------------------------------------------------------------------------------------------------
# Collaborative examination


@dataclass
class ExaminationSummary:
    """What one :func:`collaborative_examination` call did."""

    path: Path
    written: int = 0  # trajectories appended by this call
    skipped: int = 0  # items already in the file (resumed)
    correct: int = 0  # of the written ones, how many matched the gold answer
    escalations: int = 0  # cloud steps in the written trajectories
    failed: list[tuple[str, str]] = field(
        default_factory=list
    )  # (item id, error): not written, retried next time
    seconds: float = 0.0


def _resolve_graph(graph_or_factory: Any) -> Any:
    if hasattr(graph_or_factory, "invoke"):
        return graph_or_factory
    if callable(graph_or_factory):
        graph = graph_or_factory()
        if not hasattr(graph, "invoke"):
            raise TypeError("the graph factory must return a compiled graph (something with .invoke)")
        return graph
    raise TypeError("expected a compiled AdaSwitch graph or a zero-argument function that builds one")


def trajectory_record(item: EvalItem, output: Mapping[str, Any], *, seconds: float = 0.0) -> dict[str, Any]:
    """The trajectory line of one AdaSwitch run on a labelled item.

    Args:
        item: The labelled item.
        output: AdaSwitch's output on it.
        seconds: How long the run took.

    Returns:
        The JSON-ready trajectory record.
    """
    answer = str(output.get("answer") or "")
    match = item.score(answer)
    steps = [dict(s) for s in output.get("steps") or []]
    usage = output.get("usage") or {}
    decisions = list(output.get("decisions") or [])
    threshold = next(
        (d.get("threshold") for d in decisions if d.get("decision") in ("accept", "escalate")), None
    )
    return {
        "schema": TRAJECTORY_SCHEMA,
        "id": item.id,
        "question": item.question,
        "documents": list(item.documents),
        "gold": item.answer,
        "answer": answer,
        "correct": bool(match.correct),
        "match": match.as_dict(),
        "steps": steps,
        "flagged_steps": [s.get("index") for s in steps if s.get("flagged")],
        "escalations": sum(1 for s in steps if s.get("author") == "cloud"),
        "threshold": threshold,
        "verifier": steps[0].get("verifier") if steps else None,
        "decisions": summarize_decisions(decisions),
        "usage": {
            "local_model": (usage.get("local") or {}).get("model"),
            "cloud_model": (usage.get("cloud") or {}).get("model"),
            "local_tokens": _tokens(usage.get("local")),
            "cloud_tokens": int(usage.get("cloud_tokens") or 0),
            "cloud_calls": int(usage.get("cloud_calls") or 0),
            "cloud_cost_usd": float(usage.get("cloud_cost_usd") or 0.0),
            "cloud_only_cost_usd": float(usage.get("cloud_only_cost_usd") or 0.0),
        },
        "seconds": round(seconds, 3),
        "created_at": time.time(),
    }


def _tokens(role_usage: Mapping[str, Any] | None) -> int:
    if not role_usage:
        return 0
    return int(role_usage.get("input_tokens", 0)) + int(role_usage.get("output_tokens", 0))


def collaborative_examination(
    graph_or_factory: Any,
    items: ItemsLike,
    out_path: str | Path,
    *,
    context: Mapping[str, Any] | None = None,
    max_concurrency: int = 1,
    progress: Progress | None = None,
) -> ExaminationSummary:
    """Run AdaSwitch over labelled ``items`` and append one trajectory line per item to ``out_path``.

    ``graph_or_factory``: a compiled AdaSwitch graph (``create_adaswitch(...)``), or a zero-argument
    function that builds one. ``items``: a JSONL dataset path or an iterable of ``{question, answer,
    ...}`` dicts / :class:`EvalItem`. ``context``: run settings for every item (e.g. ``{"threshold":
    0.3}``; a low threshold gets more corrections from the cloud). Items whose id is already in the file
    are skipped, so an interrupted examination resumes where it stopped. An item whose run raises is
    reported in ``failed`` and not written (it is tried again next time).

    Args:
        graph_or_factory: A compiled AdaSwitch graph, or a function that builds one.
        items: The labelled items.
        out_path: The trajectory file (appended; resumable).
        context: Run settings for every item.
        max_concurrency: Items at once.
        progress: Called with one line per item.

    Returns:
        An :class:`ExaminationSummary`.

    Raises:
        ValueError: ``max_concurrency`` is below 1.

    Example:
        >>> summary = collaborative_examination(create_adaswitch(local, cloud), "dev.jsonl", "t.jsonl")  # doctest: +SKIP
    """
    if max_concurrency < 1:
        raise ValueError("max_concurrency must be >= 1")
    path = Path(out_path)
    started = time.perf_counter()
    loaded = load_items(items)
    summary = ExaminationSummary(path)
    with JsonlWriter(path) as writer:  # cuts a partial last line left by a killed run first
        done = {r["id"] for r in read_jsonl(path) if isinstance(r.get("id"), str)}
        todo: list[EvalItem] = []
        for item in loaded:
            if item.id in done:
                summary.skipped += 1
            else:
                done.add(item.id)  # duplicates within the input run once
                todo.append(item)
        graph = _resolve_graph(graph_or_factory)
        for item, output, seconds in run_items(
            graph,
            todo,
            context=context,
            max_concurrency=max_concurrency,
            thread_prefix="examination",
        ):
            if isinstance(output, BaseException):  # one bad item must not stop the examination
                summary.failed.append((item.id, f"{type(output).__name__}: {output}"))
                if progress:
                    progress(f"{item.id}: failed ({type(output).__name__}: {output})")
                continue
            record = trajectory_record(item, output, seconds=seconds)
            writer.write(record)
            summary.written += 1
            summary.correct += int(record["correct"])
            summary.escalations += int(record["escalations"])
            if progress:
                verdict = "correct" if record["correct"] else "wrong"
                progress(
                    f"[{summary.written}/{len(todo)}] {item.id}: {len(record['steps'])} steps, "
                    f"{record['escalations']} escalated, {verdict}"
                )
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


# --------------------------------------------------------------------------------------------------
# Fine-tuning data


def _message(role: str, content: str, weight: int | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": role, "content": content}
    if weight is not None:
        message["weight"] = weight
    return message


def sft_messages(trajectory: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One trajectory as a chat conversation for supervised fine-tuning of the local model.

    The conversation has the shape AdaSwitch's local step prompt uses at inference (system prompt,
    documents and question, then one assistant turn per step, separated by "Write the next step.").
    A flagged local step is an assistant turn with ``weight: 0``; when the cloud replaced it, a user
    turn ("That step may be wrong...") and the cloud's step (``weight: 1``) follow it. Other steps
    have ``weight: 1``.

    Args:
        trajectory: A trajectory record.

    Returns:
        The chat messages, each with its ``weight``.
    """
    question = str(trajectory["question"])
    documents = list(trajectory.get("documents") or [])
    messages = [
        _message("system", prompts.LOCAL_SYSTEM),
        _message("user", prompts.first_user_message(question, documents)),
    ]
    steps = list(trajectory.get("steps") or [])
    for position, step in enumerate(steps):
        if step.get("author") == "cloud":
            draft = step.get("replaced_local_text")
            if draft is not None:
                draft_final = step.get("replaced_local_final_answer")
                messages.append(
                    _message(
                        "assistant",
                        prompts.step_json(str(draft), draft_final is not None, draft_final or ""),
                        0,
                    )
                )
                messages.append(_message("user", prompts.CORRECTION_REQUEST))
            messages.append(_message("assistant", _step_json(step), 1))
        else:
            messages.append(_message("assistant", _step_json(step), 0 if step.get("flagged") else 1))
        if position < len(steps) - 1:
            messages.append(_message("user", prompts.NEXT_STEP))
    return messages


def _step_json(step: Mapping[str, Any]) -> str:
    return prompts.step_json(
        str(step.get("text", "")), bool(step.get("is_final")), str(step.get("final_answer", ""))
    )


def prompt_completion_rows(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """TRL's conversational prompt/completion rows: one per ``weight: 1`` assistant message.

    Trained with ``SFTConfig(completion_only_loss=True)`` (the default for this format), exactly the
    weighted messages are in the loss; the prompt keeps the whole conversation before them.

    Args:
        messages: A conversation from :func:`sft_messages`.

    Returns:
        ``{"prompt": [...], "completion": [...]}`` rows.
    """
    rows = []
    for index, message in enumerate(messages):
        if message.get("role") == "assistant" and message.get("weight", 1) == 1:
            prompt = [{"role": m["role"], "content": m["content"]} for m in messages[:index]]
            rows.append(
                {"prompt": prompt, "completion": [{"role": "assistant", "content": message["content"]}]}
            )
    return rows


def _normal(text: str) -> str:
    """Lower case, punctuation dropped (decimal points kept), single spaces."""
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text.lower())
    return " ".join(re.sub(r"[^\w\s.]", " ", text).split())


def verifier_pairs(trajectory: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Labelled steps for learning self-reflection (weak labels from the collaborative examination).

    * a local draft the cloud replaced is **wrong** (``source: "replaced_by_cloud"``), unless the
      cloud wrote the same step again (``"cloud_agreed"``, correct);
    * an accepted, unflagged local step is **correct** (``"accepted_local"``);
    * a cloud step is **correct** (``"cloud_step"``);
    * a flagged local step that was kept (the budget stopped escalations) has no label and is skipped.

    ``steps_so_far`` are the accepted steps before each one, as the verifier sees them at inference.

    Args:
        trajectory: A trajectory record.

    Returns:
        The labelled steps.
    """
    question = str(trajectory["question"])
    documents = list(trajectory.get("documents") or [])
    accepted: list[str] = []
    pairs: list[dict[str, Any]] = []

    def pair(text: str, final_answer: str, wrong: bool, source: str, author: str) -> None:
        pairs.append(
            {
                "question": question,
                "documents": documents,
                "steps_so_far": list(accepted),
                "step": text,
                "final_answer": final_answer,
                "wrong": wrong,
                "source": source,
                "author": author,
                "trajectory_id": trajectory.get("id"),
            }
        )

    for step in trajectory.get("steps") or []:
        text = str(step.get("text", ""))
        final_answer = str(step.get("final_answer", "")) if step.get("is_final") else ""
        if step.get("author") == "cloud":
            draft = step.get("replaced_local_text")
            if draft is not None:
                draft_final = str(step.get("replaced_local_final_answer") or "")
                same = _normal(str(draft)) == _normal(text) and _normal(draft_final) == _normal(final_answer)
                pair(
                    str(draft),
                    draft_final,
                    not same,
                    "cloud_agreed" if same else "replaced_by_cloud",
                    "local",
                )
            pair(text, final_answer, False, "cloud_step", "cloud")
        elif not step.get("flagged"):
            pair(text, final_answer, False, "accepted_local", "local")
        accepted.append(text)
    return pairs


def verifier_messages(pair: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A verifier pair as the chat conversation the self-reflection verifier has at inference.

    Args:
        pair: One of :func:`verifier_pairs`.

    Returns:
        The chat messages, the verdict last.
    """
    verdict = {"verdict": "wrong" if pair["wrong"] else "correct", "confidence": 1.0}
    return [
        _message("system", prompts.VERIFIER_SYSTEM),
        _message(
            "user",
            prompts.verifier_user_message(
                pair["question"],
                pair.get("documents") or [],
                pair["steps_so_far"],
                pair["step"],
                pair["final_answer"] or None,
            ),
        ),
        _message("assistant", json.dumps(verdict), 1),
    ]


@dataclass
class ExportSummary:
    """What :func:`export_finetuning` wrote."""

    out_dir: Path
    sft_path: Path
    sft_prompt_completion_path: Path
    verifier_path: Path
    verifier_pairs_path: Path
    trajectories: int = 0  # complete trajectory lines read
    used: int = 0  # trajectories that passed the filter (only_correct)
    sft_examples: int = 0
    sft_prompt_completion_rows: int = 0
    verifier_examples: int = 0
    wrong_steps: int = 0  # verifier examples labelled wrong
    duplicates_dropped: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


class _DedupWriter:
    """Writes unique JSON lines to ``<path>.tmp`` and moves the file into place on :meth:`commit`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.handle = self.tmp.open("w", encoding="utf-8")
        self.seen: set[str] = set()
        self.count = 0
        self.duplicates = 0

    def write(self, record: Mapping[str, Any]) -> bool:
        line = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(line.encode("utf-8")).hexdigest()
        if digest in self.seen:
            self.duplicates += 1
            return False
        self.seen.add(digest)
        self.handle.write(line + "\n")
        self.count += 1
        return True

    def commit(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.handle.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink()


def export_finetuning(
    trajectories_path: str | Path,
    out_dir: str | Path,
    *,
    only_correct: bool = True,
) -> ExportSummary:
    """Write fine-tuning data from a trajectory file into ``out_dir`` (created if needed).

    Files: ``sft.jsonl`` (OpenAI chat format, per-message ``weight``), ``sft_prompt_completion.jsonl``
    (TRL prompt/completion), ``verifier.jsonl`` (chat format) and ``verifier_pairs.jsonl`` (plain
    pairs). ``only_correct``: use only trajectories whose final answer matched the gold answer (the
    default: a conversation that ends wrong would teach wrong reasoning, and its accepted steps cannot
    be labelled). Conversations without any weight-1 turn are left out. Every file is deduplicated by
    content hash and appears only when complete (written to a temporary file, then renamed).

    Args:
        trajectories_path: A file written by :func:`collaborative_examination`.
        out_dir: The output folder (created).
        only_correct: Use only trajectories whose final answer was right.

    Returns:
        An :class:`ExportSummary`.

    Raises:
        FileNotFoundError: The trajectory file does not exist.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(
        out,
        out / "sft.jsonl",
        out / "sft_prompt_completion.jsonl",
        out / "verifier.jsonl",
        out / "verifier_pairs.jsonl",
    )
    trajectories = read_trajectories(trajectories_path)
    summary.trajectories = len(trajectories)
    writers = [
        _DedupWriter(p)
        for p in (
            summary.sft_path,
            summary.sft_prompt_completion_path,
            summary.verifier_path,
            summary.verifier_pairs_path,
        )
    ]
    sft, prompt_completion, verifier, pairs_out = writers
    try:
        for trajectory in trajectories:
            if only_correct and not trajectory.get("correct"):
                continue
            summary.used += 1
            messages = sft_messages(trajectory)
            if any(m.get("weight") == 1 for m in messages):
                sft.write({"messages": messages})
                for row in prompt_completion_rows(messages):
                    prompt_completion.write(row)
            for item in verifier_pairs(trajectory):
                if verifier.write({"messages": verifier_messages(item)}):
                    summary.wrong_steps += int(item["wrong"])
                pairs_out.write({k: v for k, v in item.items() if k != "trajectory_id"})
        for writer in writers:
            writer.commit()
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    summary.sft_examples = sft.count
    summary.sft_prompt_completion_rows = prompt_completion.count
    summary.verifier_examples = verifier.count
    summary.duplicates_dropped = sum(w.duplicates for w in writers)
    return summary


# --------------------------------------------------------------------------------------------------
# Calibration

_TARGET = re.compile(r"^\s*(accuracy|cloud_tokens|cloud_usd)\s*(>=|<=)\s*([0-9]*\.?[0-9]+)\s*(%?)\s*$")


@dataclass(frozen=True)
class CalibrationTarget:
    """A goal relative to the cloud-only yardstick, e.g. ``accuracy >= 0.9`` (90% of its accuracy)."""

    metric: str  # "accuracy" | "cloud_tokens" | "cloud_usd"
    op: str  # ">=" | "<="
    value: float  # a fraction of the cloud-only figure

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"


def parse_target(text: str | CalibrationTarget) -> CalibrationTarget:
    """``"accuracy>=0.9"``, ``"accuracy>=90%"``, ``"cloud_tokens<=0.3"`` or ``"cloud_usd<=30%"``: each a

    fraction of the cloud-only run's figure on the same items.

    Args:
        text: The target text, or a target already parsed.

    Returns:
        The :class:`CalibrationTarget`.

    Raises:
        ValueError: The text is not a target.

    Example:
        >>> parse_target("cloud_usd<=30%")
        CalibrationTarget(metric='cloud_usd', op='<=', value=0.3)
    """
    if isinstance(text, CalibrationTarget):
        return text
    found = _TARGET.match(text or "")
    if not found:
        raise ValueError(
            f"cannot read target {text!r}: expected e.g. 'accuracy>=0.9' (share of cloud-only accuracy) or "
            "'cloud_tokens<=0.3' (share of cloud-only cloud tokens); 'cloud_usd<=30%' also works"
        )
    metric, op, number, percent = found.groups()
    value = float(number) / (100.0 if percent else 1.0)
    if metric == "accuracy" and op != ">=":
        raise ValueError("an accuracy target is a floor: use 'accuracy>=...'")
    if metric != "accuracy" and op != "<=":
        raise ValueError(f"a {metric} target is a ceiling: use '{metric}<=...'")
    return CalibrationTarget(metric, op, value)


@dataclass
class CalibrationRow:
    """The dev-set figures at one threshold (cloud figures are means per item)."""

    threshold: float
    items: int
    correct: int
    accuracy: float
    cloud_tokens: float
    cloud_usd: float
    escalations: float
    failed: int = 0
    accuracy_vs_cloud_only: float | None = None
    cloud_tokens_vs_cloud_only: float | None = None
    cloud_usd_vs_cloud_only: float | None = None
    meets_target: bool = False


@dataclass
class CalibrationResult:
    """The threshold sweep, the cloud-only yardstick, and the chosen threshold (None if none meets the
    target; ``note`` then names the closest)."""

    rows: list[CalibrationRow]
    baseline: dict[str, float]
    target: CalibrationTarget
    chosen: float | None
    note: str
    closest: float | None = None  # the chosen threshold, or the one nearest the target when none meets it

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "rows": [asdict(r) for r in self.rows],
            "baseline": dict(self.baseline),
            "target": str(self.target),
            "chosen": self.chosen,
            "closest": self.closest,
            "note": self.note,
        }

    def render(self) -> str:
        """A plain-text table and the verdict, for the terminal."""

        def share(value: float | None) -> str:
            return "-" if value is None else f"{100 * value:.0f}%"

        header = (
            f"{'threshold':>9}  {'accuracy':>8}  {'vs cloud':>8}  {'cloud tok/item':>14}  "
            f"{'vs cloud':>8}  {'escalations':>11}  {'meets':>5}"
        )
        lines = [
            f"Cloud-only yardstick: accuracy {self.baseline['accuracy']:.1%}, "
            f"{self.baseline['cloud_tokens']:.0f} cloud tokens/item, ${self.baseline['cloud_usd']:.6f}/item "
            f"({int(self.baseline['items'])} items)",
            f"Target: {self.target.metric} {self.target.op} {self.target.value:.0%} of cloud-only",
            "",
            header,
            "-" * len(header),
        ]
        for row in self.rows:
            mark = "*" if self.chosen is not None and row.threshold == self.chosen else ""
            lines.append(
                f"{row.threshold:>9.2f}  {row.accuracy:>8.1%}  {share(row.accuracy_vs_cloud_only):>8}  "
                f"{row.cloud_tokens:>14.0f}  {share(row.cloud_tokens_vs_cloud_only):>8}  "
                f"{row.escalations:>11.2f}  {('yes' if row.meets_target else 'no') + mark:>5}"
            )
        lines += ["", self.note]
        return "\n".join(lines)


def _ratio(value: float, reference: float) -> float | None:
    if reference > 0:
        return value / reference
    return None if value > 0 else 1.0  # 0 of 0: the same


@dataclass
class _ItemRun:
    correct: bool = False
    cloud_tokens: int = 0
    cloud_usd: float = 0.0
    escalations: int = 0
    failed: bool = False
    scores: list[float] = field(default_factory=list)  # the verifier score of every step


def _run_items(
    graph: Any, items: Sequence[EvalItem], context: Mapping[str, Any], max_concurrency: int, label: str
) -> list[_ItemRun]:
    """One run per item (on the evaluation runner): correctness, cloud usage, escalations, step scores."""
    runs: dict[str, _ItemRun] = {}
    for item, out, _ in run_items(
        graph, items, context=context, max_concurrency=max_concurrency, thread_prefix=f"calibrate-{label}"
    ):
        if isinstance(out, BaseException):  # counted as a wrong answer, reported as failed
            runs[item.id] = _ItemRun(failed=True)
            continue
        usage = out.get("usage") or {}
        steps = list(out.get("steps") or [])
        runs[item.id] = _ItemRun(
            correct=bool(item.score(str(out.get("answer") or "")).correct),
            cloud_tokens=int(usage.get("cloud_tokens") or 0),
            cloud_usd=float(usage.get("cloud_cost_usd") or 0.0),
            escalations=sum(1 for s in steps if s.get("author") == "cloud"),
            scores=[float(s["score"]) for s in steps if isinstance(s.get("score"), int | float)],
        )
    return [runs[item.id] for item in items]


def thresholds_between(scores: Iterable[float], *, max_count: int = 5) -> list[float]:
    """Thresholds that each change what is escalated, from the verifier scores seen on the dev set.

    A step is escalated when its score is above the threshold, so only values between two observed
    scores make a difference: for the distinct scores ``s1 < s2 < ... < sk`` these are the midpoints
    ``(s_i + s_{i+1}) / 2`` (escalate everything from ``s_{i+1}`` up) and ``s1 / 2`` when ``s1 > 0``
    (escalate every step), plus ``1.0`` (escalate nothing). With more than ``max_count`` candidates
    (continuous scores such as log-probabilities), ``max_count`` of them evenly spread by rank.

    Args:
        scores: Verifier scores seen on the dev set.
        max_count: The most candidates (1.0 not counted).

    Returns:
        The candidate thresholds, ascending, ending with 1.0.

    Example:
        >>> thresholds_between([0.0, 0.4, 1.0])
        [0.2, 0.7, 1.0]
    """
    levels = sorted({round(float(s), 6) for s in scores if math.isfinite(s) and 0.0 <= s <= 1.0})
    cuts: list[float] = []
    if levels and levels[0] > 0:
        cuts.append(levels[0] / 2)
    cuts += [(low + high) / 2 for low, high in zip(levels, levels[1:], strict=False)]
    if len(cuts) > max_count:
        step = (len(cuts) - 1) / (max_count - 1) if max_count > 1 else 0
        cuts = [cuts[round(i * step)] for i in range(max_count)]
    return sorted({round(c, 4) for c in cuts} | {1.0})


def calibrate(
    items: ItemsLike,
    *,
    local: ModelArg = None,
    cloud: ModelArg = None,
    thresholds: Sequence[float] | str = "auto",
    target: str | CalibrationTarget = "accuracy>=0.9",
    context: Mapping[str, Any] | None = None,
    graph: Any = None,
    baseline: Any = None,
    baseline_reasoning: str = "steps",
    max_auto_thresholds: int = 5,
    max_concurrency: int = 1,
    progress: Progress | None = None,
) -> CalibrationResult:
    """Sweep AdaSwitch's threshold on a labelled dev set and pick the one that meets ``target``.

    Runs AdaSwitch (``graph``, default ``create_adaswitch(local, cloud)``) over ``items`` once per
    threshold with ``context`` (other run settings), and the cloud-only yardstick (``baseline``: a
    compiled graph, default ``create_cloud_only(local, cloud, reasoning=baseline_reasoning)`` — worked
    steps, the fair yardstick for multi-step problems —, or precomputed figures
    ``{"accuracy", "cloud_tokens", "cloud_usd"}`` per item) once. Accuracy and mean cloud tokens per
    item are compared with cloud-only's.

    ``thresholds="auto"`` (the default) finds the candidates itself: a first pass at threshold 1.0
    (nothing escalated) records the verifier's score of every local step, and the candidates are the
    values between those scores (:func:`thresholds_between`, at most ``max_auto_thresholds`` of them);
    the first pass is the row for 1.0. A list sweeps those values instead.

    Choice: for an accuracy floor, the threshold with the fewest cloud tokens among those that meet it
    (ties: higher accuracy, then the higher threshold); for a cloud_tokens / cloud_usd ceiling, the
    most accurate among those that meet it (ties: fewer cloud tokens, then the higher threshold).
    Cost: one pass over the items per threshold, plus one for cloud-only.

    Args:
        items: The labelled dev set.
        local: The local model (for the default graphs).
        cloud: The cloud model (for the default graphs).
        thresholds: ``"auto"`` or the values to sweep.
        target: E.g. ``"accuracy>=0.9"``.
        context: Other run settings.
        graph: An AdaSwitch graph to sweep (default: built from ``local`` and ``cloud``).
        baseline: A cloud-only graph, or its figures per item.
        baseline_reasoning: ``"steps"`` or ``"brief"`` for the default yardstick.
        max_auto_thresholds: The most candidates ``"auto"`` sweeps.
        max_concurrency: Items at once.
        progress: Called with a line per pass.

    Returns:
        A :class:`CalibrationResult`.

    Raises:
        ValueError: A bad target, threshold or option, or no items.
    """
    goal = parse_target(target)
    auto = isinstance(thresholds, str)
    if auto and thresholds != "auto":
        raise ValueError(f"thresholds must be 'auto' or a list of numbers, got {thresholds!r}")
    values = [] if auto else sorted({float(t) for t in thresholds})
    if not auto and (not values or any(not math.isfinite(t) or not 0.0 <= t <= 1.0 for t in values)):
        raise ValueError("thresholds must be numbers between 0 and 1")
    if baseline_reasoning not in ("brief", "steps"):
        raise ValueError(f"baseline_reasoning must be 'brief' or 'steps', got {baseline_reasoning!r}")
    if max_auto_thresholds < 1:
        raise ValueError("max_auto_thresholds must be >= 1")
    if max_concurrency < 1:
        raise ValueError("max_concurrency must be >= 1")
    dev = load_items(items)
    if not dev:
        raise ValueError("calibration needs at least one labelled item")
    context = dict(context or {})
    context.pop("threshold", None)
    if graph is None:
        from langgraph_cloudlocal.protocols.adaswitch import create_adaswitch

        graph = create_adaswitch(local, cloud)

    if isinstance(baseline, Mapping):
        reference = {
            "accuracy": float(baseline["accuracy"]),
            "cloud_tokens": float(baseline["cloud_tokens"]),
            "cloud_usd": float(baseline.get("cloud_usd", 0.0)),
            "items": float(baseline.get("items", len(dev))),
        }
    else:
        if baseline is None:
            from langgraph_cloudlocal.protocols.baselines import create_cloud_only

            baseline = create_cloud_only(local, cloud, reasoning=baseline_reasoning)
        if progress:
            progress(f"cloud-only yardstick on {len(dev)} items")
        base_runs = _run_items(baseline, dev, {}, max_concurrency, "cloud-only")
        reference = {
            "accuracy": sum(r.correct for r in base_runs) / len(dev),
            "cloud_tokens": sum(r.cloud_tokens for r in base_runs) / len(dev),
            "cloud_usd": sum(r.cloud_usd for r in base_runs) / len(dev),
            "items": float(len(dev)),
        }

    done: dict[float, list[_ItemRun]] = {}
    if auto:
        if progress:
            progress(f"threshold 1.00 (nothing escalated) on {len(dev)} items, to read the verifier's scores")
        done[1.0] = _run_items(graph, dev, context | {"threshold": 1.0}, max_concurrency, "1")
        observed = [score for run in done[1.0] for score in run.scores]
        values = thresholds_between(observed, max_count=max_auto_thresholds)
        if progress:
            progress("candidate thresholds: " + ", ".join(f"{v:g}" for v in values))

    rows: list[CalibrationRow] = []
    for threshold in values:
        if threshold in done:
            runs = done[threshold]
        else:
            if progress:
                progress(f"threshold {threshold:.2f} on {len(dev)} items")
            runs = _run_items(
                graph, dev, context | {"threshold": threshold}, max_concurrency, f"{threshold:g}"
            )
        correct = sum(r.correct for r in runs)
        row = CalibrationRow(
            threshold=threshold,
            items=len(dev),
            correct=correct,
            accuracy=correct / len(dev),
            cloud_tokens=sum(r.cloud_tokens for r in runs) / len(dev),
            cloud_usd=sum(r.cloud_usd for r in runs) / len(dev),
            escalations=sum(r.escalations for r in runs) / len(dev),
            failed=sum(r.failed for r in runs),
        )
        row.accuracy_vs_cloud_only = _ratio(row.accuracy, reference["accuracy"])
        row.cloud_tokens_vs_cloud_only = _ratio(row.cloud_tokens, reference["cloud_tokens"])
        row.cloud_usd_vs_cloud_only = _ratio(row.cloud_usd, reference["cloud_usd"])
        measured = {
            "accuracy": row.accuracy_vs_cloud_only,
            "cloud_tokens": row.cloud_tokens_vs_cloud_only,
            "cloud_usd": row.cloud_usd_vs_cloud_only,
        }[goal.metric]
        eps = 1e-9
        row.meets_target = measured is not None and (
            measured >= goal.value - eps if goal.op == ">=" else measured <= goal.value + eps
        )
        rows.append(row)

    meeting = [r for r in rows if r.meets_target]
    if meeting:
        if goal.metric == "accuracy":
            best = min(meeting, key=lambda r: (r.cloud_tokens, -r.accuracy, -r.threshold))
        else:
            best = max(meeting, key=lambda r: (r.accuracy, -r.cloud_tokens, r.threshold))
        note = (
            f"Chosen threshold: {best.threshold:.2f} (accuracy {best.accuracy:.1%}, "
            f"{best.cloud_tokens:.0f} cloud tokens/item) meets {goal.metric} {goal.op} {goal.value:.0%} of cloud-only."
        )
        return CalibrationResult(rows, reference, goal, best.threshold, note, closest=best.threshold)

    def shortfall(row: CalibrationRow) -> float:
        measured: float | None = getattr(row, f"{goal.metric}_vs_cloud_only")
        if measured is None:
            return math.inf
        return goal.value - measured if goal.op == ">=" else measured - goal.value

    # Equally short of the target (e.g. every threshold at 0% accuracy): the cheapest of them.
    closest = min(rows, key=lambda r: (shortfall(r), r.cloud_tokens))
    note = (
        f"No threshold meets {goal.metric} {goal.op} {goal.value:.0%} of cloud-only; the closest is "
        f"{closest.threshold:.2f} (accuracy {closest.accuracy:.1%}, {closest.cloud_tokens:.0f} cloud tokens/item)."
    )
    return CalibrationResult(rows, reference, goal, None, note, closest=closest.threshold)


__all__ = [
    "DEFAULT_THRESHOLDS",
    "TRAJECTORY_SCHEMA",
    "CalibrationResult",
    "CalibrationRow",
    "CalibrationTarget",
    "ExaminationSummary",
    "ExportSummary",
    "append_line",
    "calibrate",
    "collaborative_examination",
    "export_finetuning",
    "load_items",
    "parse_target",
    "prompt_completion_rows",
    "read_trajectories",
    "thresholds_between",
    "sft_messages",
    "trajectory_record",
    "verifier_messages",
    "verifier_pairs",
]
