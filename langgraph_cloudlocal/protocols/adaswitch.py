"""AdaSwitch (Sun et al., EMNLP 2024): the local model solves a task step by step; after each step a
verifier estimates the probability that the step is wrong; above a threshold the step is escalated to
the cloud model, which writes a replacement for that one step, and the local model carries on from the
corrected state.

Graph: ``START -> start -> local_step -> verify -> (local_step | cloud_step | END)``,
``cloud_step -> (local_step | END)``. The run ends on a final answer or after ``max_steps`` steps.

**Steps.** The local model writes each step as JSON ``{"step", "is_final", "final_answer"}``
(``call_structured``: schema-constrained, repaired, retried). A reply that still cannot be parsed does
not stop the run: its raw text becomes the step (not final) and goes to the verifier like any other,
with a ``step_malformed`` decision. A final step with an empty ``final_answer`` has its step text as
the answer.

**Verifiers** (``verifier`` in the run settings):

* ``"self_reflection"``: a second, structured call to the local model returns
  ``{"verdict": "correct" | "wrong", "confidence": 0..1, "reason"}``; the score (the probability that
  the step is wrong) is ``confidence`` for "wrong" and ``1 - confidence`` for "correct".
* ``"logprobs"``: the token log-probabilities of the local step call (llama.cpp's server, OpenAI and
  ``ChatOllama`` return them). Only the tokens of the ``step`` and ``final_answer`` values count (the
  JSON syntax around them is forced by the grammar and says nothing); the score is
  ``1 - exp(mean logprob)`` (one minus the geometric-mean token probability) with
  ``logprob_rule="mean"``, or ``1 - exp(min logprob)`` (the least likely token) with ``"min"``.
* ``"arithmetic"`` (default): no model call: the step's equations are recomputed by a small parser (never
  ``eval``) and its numbers traced to the question, the documents and the accepted steps
  (:mod:`.step_checks`); the score is one of a few levels, 1.0 for false arithmetic down to 0.0 for a
  step whose every equation holds and every number is accounted for. The default because it was the
  only one that told right steps from wrong ones on real local-model steps (AUROC on labelled dev
  steps, ``benchmarks/bench_adaswitch.py verifiers``; ``benchmarks/results/adaswitch_verifiers_*.txt``):
  on 39 Qwen2.5-Coder-0.5B steps (7 wrong) its AUROC was 1.00, the log-probabilities' 0.57 (mean)
  and 0.55 (min), self-reflection's 0.05 (it called the wrong steps correct); SmolLM2's 40 steps
  were all wrong.
* ``"callable"``: ``verifier_fn(question, steps_so_far, step) -> float`` given to ``create_adaswitch``
  (``steps_so_far``: the texts of the accepted steps; ``step``: the text of the new one).

A verifier that gives no usable score (a verdict that still fails to parse after the retries, a
server that returns no log-probabilities, a callable that raises or returns something outside [0, 1])
scores the step ``malformed_score`` (default 1.0: doubtful, so it is escalated while the threshold is
below 1) and records a ``verifier_malformed`` decision.

**Routing.** A step whose score is *above* ``threshold`` is escalated: ``threshold=1.0`` never escalates,
``threshold=0.0`` escalates every step with any doubt. Before each escalation the cloud budget is
checked (``budget_refusal``); once refused, the doubtful step is kept, a ``budget_stop`` decision is
recorded, and no further step is escalated in this run (later doubtful steps are accepted with
decisions that say why).

**Privacy.** The documents go to the local model only. The cloud sees the question, the accepted steps
so far and the doubtful draft; document text or values that the local model copied into its steps are
measured from the cloud requests (``private_chars_to_cloud``, ``sensitive_values_to_cloud``). The
question itself goes to the cloud.

**Step cap.** After ``max_steps`` accepted steps without a final answer the run stops (``step_cap``
decision); the answer is the last step's final answer if it has one, else its text.

Output: ``answer``, ``steps`` (``{index, author: "local" | "cloud", text, is_final, final_answer, score,
flagged, verifier, replaced_local_text?, replaced_local_final_answer?, malformed?}``), ``usage``,
``decisions``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer
from typing_extensions import TypedDict  # pydantic (Studio's schemas) rejects typing.TypedDict on 3.11

from langgraph_cloudlocal.calls import call_structured
from langgraph_cloudlocal.decisions import SwitchDecision, emit_progress
from langgraph_cloudlocal.ledger import PriceTable, RawUsage
from langgraph_cloudlocal.prompts import adaswitch as prompts
from langgraph_cloudlocal.protocols.answer_stream import AnswerStream
from langgraph_cloudlocal.protocols.common import (
    MODEL_RETRY,
    DecisionsField,
    InputError,
    ModelRoles,
    ModelSpec,
    ProtocolInput,
    ProtocolNodes,
    ProtocolOutput,
    RunSettings,
    UsageField,
    settings_class_with_defaults,
)
from langgraph_cloudlocal.protocols.step_checks import check_step

PROTOCOL = "adaswitch"
"""The protocol's name in decisions and progress events."""
VERIFIERS: tuple[str, ...] = ("self_reflection", "logprobs", "arithmetic", "callable")
"""The values of ``AdaSwitchSettings.verifier``."""
LOGPROB_RULES: tuple[str, ...] = ("mean", "min")
"""The values of ``AdaSwitchSettings.logprob_rule``."""
MAX_RAW_STEP_CHARS = 1000
"""Characters kept of an unparseable reply used as a step (a step is one or two sentences)."""

VerifierFn = Callable[[str, list[str], str], float]
"""A user-supplied verifier: ``(question, steps_so_far, step) -> probability that step is wrong``."""


@dataclass
class AdaSwitchSettings(RunSettings):
    """Run settings of AdaSwitch (the graph's ``context_schema``).

    Attributes:
        threshold: The accuracy/cost knob: a step whose verifier score (the probability that it is
            wrong) is above it goes to the cloud. Lower means more cloud calls and (usually) higher
            accuracy.
        max_steps: Accepted steps before the run stops without a final answer.
        verifier: ``"arithmetic"``, ``"self_reflection"``, ``"logprobs"`` or ``"callable"`` (see the
            module docstring).
        logprob_rule: ``"mean"`` or ``"min"``: how the ``logprobs`` verifier scores a step.
        malformed_score: The score of a step whose verifier gave no usable answer (1.0: doubtful).
        verifier_max_tokens: Output token limit of the self-reflection verdict.

    Example:
        >>> AdaSwitchSettings(threshold=0.3).verifier
        'arithmetic'
    """

    threshold: float = 0.5
    max_steps: int = 8
    verifier: Literal["self_reflection", "logprobs", "arithmetic", "callable"] = "arithmetic"
    logprob_rule: Literal["mean", "min"] = "mean"
    malformed_score: float = 1.0
    local_max_tokens: int = 128
    cloud_max_tokens: int = 256
    verifier_max_tokens: int = 64

    def validate(self) -> None:
        """Check every value.

        Raises:
            InputError: A threshold or score outside [0, 1], a step cap below 1, an unknown verifier or
                rule, or a shared value out of range.
        """
        super().validate()
        for name in ("threshold", "malformed_score"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or not 0.0 <= value <= 1.0
            ):
                raise InputError(f"{name} must be a number between 0 and 1, got {value!r}")
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) or self.max_steps < 1:
            raise InputError(f"max_steps must be an integer >= 1, got {self.max_steps!r}")
        if self.verifier not in VERIFIERS:
            raise InputError(f"verifier must be one of {', '.join(VERIFIERS)}; got {self.verifier!r}")
        if self.logprob_rule not in LOGPROB_RULES:
            raise InputError(f"logprob_rule must be 'mean' or 'min', got {self.logprob_rule!r}")
        if self.verifier_max_tokens < 1:
            raise InputError("verifier_max_tokens must be >= 1")


class AdaSwitchInput(ProtocolInput, total=False):
    """``question`` (required) and optional ``documents`` (context for the local model only).

    Example:
        >>> AdaSwitchInput(question="What is 17 x 3?")
        {'question': 'What is 17 x 3?'}
    """


class AdaSwitchOutput(ProtocolOutput, total=False):
    """``answer``, ``usage``, ``decisions`` and ``steps`` (the accepted steps, in order).

    Example:
        >>> AdaSwitchOutput(answer="51", steps=[{"text": "17 x 3 = 51"}])["answer"]
        '51'
    """

    steps: list[dict[str, Any]]


class AdaSwitchState(TypedDict, total=False):
    """AdaSwitch's state: the input, the accepted steps, the pending draft, and the accounting.

    Example:
        >>> AdaSwitchState(question="What is 17 x 3?", steps=[], draft=None, done=False)["done"]
        False
    """

    question: str
    documents: list[str]
    settings: dict[str, Any]  # the run's validated settings (start)
    steps: list[dict[str, Any]]  # accepted steps; each node writes the whole list
    draft: dict[str, Any] | None  # the local model's pending step
    route: str  # "continue" | "escalate" | "done"
    escalation_stopped: bool  # the cloud budget refused an escalation: no more in this run
    done: bool
    answer: str
    ledger: UsageField
    usage: dict[str, Any]
    decisions: DecisionsField


# --------------------------------------------------------------------------------------------------
# Log-probability scoring

_VALUE = r'"{key}"\s*:\s*"((?:[^"\\]|\\.)*)'


def logprob_entries(message: AIMessage | None) -> list[dict[str, Any]] | None:
    """The per-token log-probabilities of a reply.

    Args:
        message: A reply from ``ChatOpenAI`` (``{"content": [...]}``) or ``ChatOllama`` (a plain list).

    Returns:
        ``[{"token", "logprob", ...}]``, or None when the client returned none.

    Example:
        >>> reply = AIMessage("hi", response_metadata={"logprobs": {"content": [{"token": "hi", "logprob": -0.1}]}})
        >>> logprob_entries(reply)
        [{'token': 'hi', 'logprob': -0.1}]
    """
    if message is None:
        return None
    raw = message.response_metadata.get("logprobs")
    if isinstance(raw, Mapping):
        raw = raw.get("content")
    if not isinstance(raw, list) or not raw:
        return None
    entries = [e for e in raw if isinstance(e, Mapping) and isinstance(e.get("logprob"), int | float)]
    return [dict(e) for e in entries] or None


def step_logprobs(
    entries: Sequence[Mapping[str, Any]], keys: Sequence[str] = ("step", "final_answer")
) -> list[float]:
    """The log-probabilities of the tokens that spell the values of ``keys`` in a JSON reply.

    The token texts are joined and the ``"key": "value"`` spans located in that text (not in the
    message content: servers may strip a code fence the tokens still carry).

    Args:
        entries: The reply's ``[{token, logprob}]`` (:func:`logprob_entries`).
        keys: The JSON keys whose values count.

    Returns:
        The picked log-probabilities; every token's when no value can be located (a reply that is not
        JSON).

    Example:
        >>> tokens = ['{"step": "', "2+2", "=4", '"}']
        >>> step_logprobs([{"token": t, "logprob": -float(i)} for i, t in enumerate(tokens)])
        [-1.0, -2.0]
    """
    tokens = [str(e.get("token", "")) for e in entries]
    joined = "".join(tokens)
    spans: list[tuple[int, int]] = []
    for key in keys:
        found = re.search(_VALUE.format(key=re.escape(key)), joined)
        if found and found.end(1) > found.start(1):
            spans.append((found.start(1), found.end(1)))
    if not spans:
        return [float(e["logprob"]) for e in entries]
    picked: list[float] = []
    position = 0
    for token, entry in zip(tokens, entries, strict=True):
        start, end = position, position + len(token)
        position = end
        if any(start < span_end and end > span_start for span_start, span_end in spans):
            picked.append(float(entry["logprob"]))
    return picked or [float(e["logprob"]) for e in entries]


def logprob_score(logprobs: Sequence[float], rule: str = "mean") -> float:
    """The probability that a step is wrong, from its tokens' log-probabilities.

    Args:
        logprobs: The step's token log-probabilities.
        rule: ``"mean"``: ``1 - exp(mean)`` (one minus the geometric-mean token probability);
            ``"min"``: ``1 - exp(min)`` (one minus the probability of the least likely token).

    Returns:
        A score in [0, 1].

    Raises:
        ValueError: No log-probabilities.

    Example:
        >>> round(logprob_score([0.0, math.log(0.5)], "min"), 2)
        0.5
    """
    if not logprobs:
        raise ValueError("no log-probabilities")
    value = min(logprobs) if rule == "min" else sum(logprobs) / len(logprobs)
    return min(1.0, max(0.0, 1.0 - math.exp(min(0.0, value))))


# --------------------------------------------------------------------------------------------------
# The nodes


class AdaSwitchNodes(ProtocolNodes[AdaSwitchSettings]):
    """AdaSwitch's nodes: ``start``, ``local_step``, ``verify``, ``cloud_step``, and the two routes.

    Args:
        roles: The models and prices.
        settings_class: :class:`AdaSwitchSettings` with the build-time defaults.
        verifier_fn: The ``"callable"`` verifier, or None.

    Example:
        >>> from langgraph_cloudlocal.protocols.common import settings_state
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> roles = ModelRoles(ScriptedChatModel(replies=["x"]), ScriptedChatModel(replies=["y"]))
        >>> nodes = AdaSwitchNodes(roles, AdaSwitchSettings)
        >>> state = {"question": "What is 6 x 7?", "steps": [], **settings_state(AdaSwitchSettings()),
        ...          "draft": {"text": "6 x 7 = 41", "is_final": True, "final_answer": "41"}}
        >>> nodes.verify(state)["route"]
        'escalate'
    """

    protocol = PROTOCOL

    def __init__(
        self,
        roles: ModelRoles,
        settings_class: type[AdaSwitchSettings],
        verifier_fn: VerifierFn | None = None,
    ) -> None:
        super().__init__(roles, settings_class)
        self.verifier_fn = verifier_fn

    # ----------------------------------------------------------------------------------------------
    # Nodes, in the order a run meets them

    def start(self, state: AdaSwitchState, runtime: Runtime[Any]) -> dict[str, Any]:
        """Validate the settings and input once; reset the per-run keys (a thread starts a new solution).

        Args:
            state: The input (on a thread: with the last run's state).
            runtime: The run's runtime (its context: the settings).

        Returns:
            The state update that starts the run.

        Raises:
            InputError: Bad settings or input, or ``verifier="callable"`` without a ``verifier_fn``.
        """
        run, update = self.begin(
            state,
            runtime,
            documents_required=False,
            reset={
                "steps": [],
                "draft": None,
                "route": "continue",
                "escalation_stopped": False,
                "done": False,
            },
        )
        if run.verifier == "callable" and self.verifier_fn is None:
            raise InputError("verifier='callable' needs verifier_fn=... given to create_adaswitch")
        emit_progress(PROTOCOL, step=1, phase="local_step")
        return update

    def local_step(self, state: AdaSwitchState) -> dict[str, Any]:
        """The local model writes the next step (a reply that cannot be read becomes a raw-text draft).

        Args:
            state: The run so far.

        Returns:
            The ``draft``, ``ledger`` and ``decisions``.

        Raises:
            ModelCallError: The local model cannot be reached (retried by the node's retry policy).
        """
        run = self.settings(state)
        local_model, _ = self.roles.for_run(run)
        steps = list(state.get("steps") or [])
        number = len(steps) + 1
        want_logprobs = run.verifier == "logprobs"
        result = call_structured(
            local_model,
            prompts.local_step_messages(state["question"], list(state.get("documents") or []), steps),
            prompts.StepReply,
            retries=run.structured_retries,
            max_tokens=run.local_max_tokens,
            logprobs=want_logprobs,
        )
        decisions: list[SwitchDecision] = []
        draft: dict[str, Any]
        if result.value is not None and _step_text(result.value):
            draft = _reply_step(result.value)
        else:
            raw = (result.raw or "").strip()[:MAX_RAW_STEP_CHARS]
            problem = result.error or "the step was empty"
            draft = {"text": raw or "(empty reply)", "is_final": False, "final_answer": "", "malformed": True}
            decisions.append(
                self.decide(
                    "local_step",
                    "step_malformed",
                    f"the local step could not be read ({problem}); its raw text goes to the verifier",
                    step=number,
                    tokens=result.tokens,
                )
            )
        if want_logprobs:
            entries = logprob_entries(result.message)
            if entries is None:
                draft["logprob_error"] = "the local model returned no token log-probabilities"
            else:
                picked = step_logprobs(entries)
                draft["logprob_score"] = logprob_score(picked, run.logprob_rule)
                draft["logprob_tokens"] = len(picked)
        draft["tokens"] = result.tokens
        emit_progress(PROTOCOL, step=number, phase="verify")
        return {"draft": draft, "ledger": result.usage, "decisions": decisions}

    def verify(self, state: AdaSwitchState) -> dict[str, Any]:
        """Score the draft; above the threshold escalate it, else accept it.

        Once the cloud budget refused an escalation, doubtful steps are accepted with a reason that says
        so. A verifier without a usable score gives the draft ``malformed_score``.

        Args:
            state: The run so far, with the local ``draft``.

        Returns:
            ``route="escalate"`` and the scored draft, or the accepted step (and the answer when it is
            the last); ``ledger``, ``decisions``.

        Raises:
            ModelCallError: The self-reflection verifier's model cannot be reached.
        """
        run = self.settings(state)
        steps = list(state.get("steps") or [])
        draft = dict(state.get("draft") or {})
        number = len(steps) + 1
        score, explanation, ledger, tokens = self._score(state, run, draft)
        decisions: list[SwitchDecision] = []
        if score is None:
            decisions.append(
                self.decide(
                    "verify",
                    "verifier_malformed",
                    f"{run.verifier} verifier gave no usable score ({explanation}); "
                    f"the step scores {_fmt(run.malformed_score)}",
                    step=number,
                    score=run.malformed_score,
                    threshold=run.threshold,
                    tokens=tokens,
                )
            )
            score, explanation = run.malformed_score, f"fallback score ({explanation})"
        flagged = score > run.threshold
        draft.update(score=score, flagged=flagged)
        sign = ">" if flagged else "<="
        comparison = f"score {_fmt(score)} {sign} threshold {_fmt(run.threshold)}"
        if flagged and not state.get("escalation_stopped"):
            decisions.append(
                self.decide(
                    "verify",
                    "escalate",
                    f"{comparison} ({explanation}): the cloud rewrites step {number}",
                    step=number,
                    score=score,
                    threshold=run.threshold,
                    tokens=tokens,
                )
            )
            emit_progress(PROTOCOL, step=number, phase="cloud_step")
            return {"draft": draft, "route": "escalate", "ledger": ledger, "decisions": decisions}
        reason = f"{comparison} ({explanation})"
        if flagged:
            reason += "; the cloud budget is spent, so the step is kept"
        decisions.append(
            self.decide(
                "verify", "accept", reason, step=number, score=score, threshold=run.threshold, tokens=tokens
            )
        )
        steps.append(_local_step(number, draft, run.verifier))
        return self._advance(state, run, "verify", steps, ledger, decisions)

    def cloud_step(self, state: AdaSwitchState) -> dict[str, Any]:
        """The cloud rewrites the doubtful step (it sees the question and the steps, not the documents).

        A refused call keeps the local draft and stops escalation for the rest of the run; an empty
        reply keeps the local draft; a reply that is not a step has its raw text as the step.

        Args:
            state: The run so far, with the scored ``draft``.

        Returns:
            The accepted step (and the answer when it is the last); ``ledger``, ``decisions``.

        Raises:
            ModelCallError: The cloud model cannot be reached (retried by the node's retry policy).
        """
        run = self.settings(state)
        _, cloud_model = self.roles.for_run(run)
        steps = list(state.get("steps") or [])
        draft = dict(state.get("draft") or {})
        number = len(steps) + 1
        messages = prompts.cloud_step_messages(
            state["question"], [s["text"] for s in steps], draft["text"], draft["final_answer"] or None
        )
        refusal = self.budget_refusal(state, run, messages)
        if refusal:
            stop = self.decide("cloud_step", "budget_stop", refusal, step=number)
            steps.append(_local_step(number, draft, run.verifier))
            return self._advance(state, run, "cloud_step", steps, {}, [stop], {"escalation_stopped": True})
        # A cloud step is accepted as written: when it is the last, its answer streams as it comes.
        answer_stream = AnswerStream("final_answer", ready=lambda reply: reply.get("is_final") is True)
        result = call_structured(
            cloud_model,
            messages,
            prompts.StepReply,
            retries=run.structured_retries,
            max_tokens=run.cloud_max_tokens,
            retry_refusal=self.retry_guard(state, run),
            on_text=answer_stream.on_text,
        )
        decisions: list[SwitchDecision] = []
        raw = (result.raw or "").strip()[:MAX_RAW_STEP_CHARS]
        if result.value is not None and _step_text(result.value):
            written, note = _reply_step(result.value), ""
        elif raw:
            written = {"text": raw, "is_final": False, "final_answer": ""}
            note = f" (its reply could not be read as a step: {result.error}; the raw text is the step)"
        else:
            # Nothing usable came back: keep the local draft, flagged.
            decisions.append(
                self.decide(
                    "cloud_step",
                    "cloud_step_failed",
                    f"the cloud's replacement for step {number} was empty ({result.error}); "
                    "the local step is kept",
                    step=number,
                    tokens=result.tokens,
                )
            )
            steps.append(_local_step(number, draft, run.verifier))
            return self._advance(state, run, "cloud_step", steps, result.usage, decisions)
        decisions.append(
            self.decide(
                "cloud_step",
                "cloud_step",
                f"the cloud rewrote step {number}{note}",
                step=number,
                score=draft.get("score"),
                threshold=run.threshold,
                tokens=result.tokens,
            )
        )
        steps.append(_cloud_step(number, written, draft, run.verifier))
        return self._advance(
            state, run, "cloud_step", steps, result.usage, decisions, answer_stream=answer_stream
        )

    @staticmethod
    def after_verify(state: AdaSwitchState) -> str:
        """Route: the cloud for an escalated draft, END when the run is done, else the next local step.

        Args:
            state: The run so far.

        Returns:
            The next node.
        """
        route = state.get("route")
        if route == "escalate":
            return "cloud_step"
        return END if route == "done" else "local_step"

    @staticmethod
    def after_cloud(state: AdaSwitchState) -> str:
        """Route: END when the run is done, else the next local step.

        Args:
            state: The run so far.

        Returns:
            The next node.
        """
        return END if state.get("route") == "done" else "local_step"

    # ----------------------------------------------------------------------------------------------
    # What the nodes share

    def _score(
        self, state: AdaSwitchState, run: AdaSwitchSettings, draft: Mapping[str, Any]
    ) -> tuple[float | None, str, RawUsage, int]:
        """(score or None when the verifier failed, explanation, usage, tokens)."""
        question, documents = state["question"], list(state.get("documents") or [])
        steps_so_far = [s["text"] for s in state.get("steps") or []]
        if run.verifier == "logprobs":
            if "logprob_score" in draft:
                rule = "1 - exp(mean logprob)" if run.logprob_rule == "mean" else "1 - exp(min logprob)"
                tokens = draft.get("logprob_tokens", 0)
                return float(draft["logprob_score"]), f"logprobs: {rule} over {tokens} tokens", {}, 0
            return None, draft.get("logprob_error", "no log-probabilities"), {}, 0
        if run.verifier == "arithmetic":
            check = check_step([question, *documents, *steps_so_far], draft["text"], draft["final_answer"])
            return check.score, check.reason, {}, 0
        if run.verifier == "callable":
            if self.verifier_fn is None:  # start refuses this; a node called alone may not have run it
                raise InputError("verifier='callable' needs verifier_fn=... given to create_adaswitch")
            try:
                value = self.verifier_fn(question, steps_so_far, draft["text"])
            except Exception as exc:  # a user callable must not crash the run
                return None, f"verifier_fn raised {type(exc).__name__}: {exc}", {}, 0
            if not _is_probability(value):
                return None, f"verifier_fn returned {value!r}, not a number between 0 and 1", {}, 0
            return float(value), "verifier_fn", {}, 0
        local_model, _ = self.roles.for_run(run)
        result = call_structured(
            local_model,
            prompts.verifier_messages(
                question, documents, steps_so_far, draft["text"], draft["final_answer"] or None
            ),
            prompts.Verdict,
            retries=run.structured_retries,
            max_tokens=run.verifier_max_tokens,
        )
        if result.value is None:
            return None, f"the verdict could not be read ({result.error})", result.usage, result.tokens
        verdict = result.value
        return verdict.wrong_probability(), verdict.explanation(), result.usage, result.tokens

    def _advance(
        self,
        state: AdaSwitchState,
        run: AdaSwitchSettings,
        node: str,
        steps: list[dict[str, Any]],
        ledger: RawUsage,
        decisions: list[SwitchDecision],
        extra: dict[str, Any] | None = None,
        answer_stream: AnswerStream | None = None,
    ) -> dict[str, Any]:
        """After a step is accepted: finish on a final answer or at the cap, else go on. The answer goes
        out on ``stream_mode="messages"`` (a local step's only once verified, so as one piece)."""
        out: dict[str, Any] = {"steps": steps, "draft": None, "ledger": ledger, "decisions": decisions}
        out.update(extra or {})
        last = steps[-1]
        number = len(steps)
        if last["is_final"]:
            reason = f"step {number} by the {last['author']} model gives the final answer"
            decisions.append(self.decide(node, "answer", reason, step=number))
        elif number >= run.max_steps:
            reason = (
                f"step cap reached ({run.max_steps} steps) without a final answer; "
                "the last step is the answer"
            )
            decisions.append(self.decide(node, "step_cap", reason, step=number))
        else:
            emit_progress(PROTOCOL, step=number + 1, phase="local_step")
            return out | {"route": "continue", "done": False}
        answer = last["final_answer"] or last["text"]
        (answer_stream or AnswerStream()).finish(answer)
        usage = self.usage(state, run, ledger, answer)
        emit_progress(PROTOCOL, step=number, phase="done")
        return out | {"answer": answer, "usage": usage, "route": "done", "done": True}


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def _is_probability(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and 0.0 <= value <= 1.0
    )


def _step_text(value: prompts.StepReply) -> str:
    """The step's text; a final step that only filled in ``final_answer`` has the answer as its text."""
    text = value.step.strip()
    if not text and value.is_final:
        text = value.final_answer.strip()
    return text


def _reply_step(value: prompts.StepReply) -> dict[str, Any]:
    """A parsed step reply as ``{text, is_final, final_answer}`` (a final step's answer defaults to its text)."""
    text = _step_text(value)
    final_answer = (value.final_answer.strip() or text) if value.is_final else ""
    return {"text": text, "is_final": bool(value.is_final), "final_answer": final_answer}


def _local_step(number: int, draft: Mapping[str, Any], verifier: str) -> dict[str, Any]:
    """The accepted local draft as a step of the output."""
    step: dict[str, Any] = {
        "index": number,
        "author": "local",
        "text": draft["text"],
        "is_final": bool(draft.get("is_final")),
        "final_answer": draft.get("final_answer", ""),
        "score": draft.get("score"),
        "flagged": bool(draft.get("flagged")),
        "verifier": verifier,
    }
    if draft.get("malformed"):
        step["malformed"] = True
    return step


def _cloud_step(
    number: int, written: Mapping[str, Any], draft: Mapping[str, Any], verifier: str
) -> dict[str, Any]:
    """The cloud's replacement as a step of the output, with what it replaced."""
    step: dict[str, Any] = {
        "index": number,
        "author": "cloud",
        "text": written["text"],
        "is_final": written["is_final"],
        "final_answer": written["final_answer"],
        "score": draft.get("score"),
        "flagged": True,
        "verifier": verifier,
        "replaced_local_text": draft["text"],
    }
    if draft.get("is_final"):
        step["replaced_local_final_answer"] = draft.get("final_answer", "")
    if draft.get("malformed"):
        step["replaced_local_malformed"] = True
    return step


# --------------------------------------------------------------------------------------------------
# The graph


def build_adaswitch(
    local: ModelSpec = None,
    cloud: ModelSpec = None,
    *,
    verifier_fn: VerifierFn | None = None,
    prices: PriceTable | None = None,
    **settings: Any,
) -> StateGraph[Any, Any, Any, Any]:
    """The uncompiled AdaSwitch graph.

    Args:
        local: The local model (writes the steps; the self-reflection verifier).
        cloud: The cloud model (rewrites escalated steps).
        verifier_fn: ``(question, steps_so_far, step) -> float``: enables the ``"callable"`` verifier (and
            makes it the default when ``verifier`` is not given).
        prices: Prices per model.
        **settings: :class:`AdaSwitchSettings` defaults.

    Returns:
        The ``StateGraph``, to change or compile.

    Raises:
        InputError: An unknown or bad setting, a ``verifier_fn`` that is not callable, or
            ``verifier="callable"`` without one.

    Example:
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> sorted(build_adaswitch(ScriptedChatModel(replies=["x"]), ScriptedChatModel(replies=["y"])).nodes)
        ['cloud_step', 'local_step', 'start', 'verify']
    """
    if verifier_fn is not None and not callable(verifier_fn):
        raise InputError("verifier_fn must be a callable (question, steps_so_far, step) -> float")
    if verifier_fn is not None:
        settings.setdefault("verifier", "callable")
    roles = ModelRoles(local, cloud, prices)
    settings_class = settings_class_with_defaults(AdaSwitchSettings, settings)
    if settings_class().verifier == "callable" and verifier_fn is None:
        raise InputError("verifier='callable' needs verifier_fn=... at build time")
    nodes = AdaSwitchNodes(roles, settings_class, verifier_fn)
    builder = StateGraph(
        AdaSwitchState,
        context_schema=settings_class,
        input_schema=AdaSwitchInput,
        output_schema=AdaSwitchOutput,
    )
    builder.add_node("start", nodes.start)
    builder.add_node("local_step", nodes.local_step, retry_policy=MODEL_RETRY)
    builder.add_node("verify", nodes.verify, retry_policy=MODEL_RETRY)
    builder.add_node("cloud_step", nodes.cloud_step, retry_policy=MODEL_RETRY)
    builder.add_edge(START, "start")
    builder.add_edge("start", "local_step")
    builder.add_edge("local_step", "verify")
    builder.add_conditional_edges("verify", nodes.after_verify, ["local_step", "cloud_step", END])
    builder.add_conditional_edges("cloud_step", nodes.after_cloud, ["local_step", END])
    return builder


def create_adaswitch(
    local: ModelSpec = None,
    cloud: ModelSpec = None,
    *,
    verifier_fn: VerifierFn | None = None,
    prices: PriceTable | None = None,
    checkpointer: Checkpointer = None,
    name: str = "adaswitch",
    **settings: Any,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """AdaSwitch as a compiled graph, usable as a node of a parent graph.

    Args:
        local: The local model (writes the steps; the self-reflection verifier).
        cloud: The cloud model (rewrites escalated steps).
        verifier_fn: ``(question, steps_so_far, step) -> float``: enables (and defaults to) the
            ``"callable"`` verifier.
        prices: Prices per model.
        checkpointer: Compiled with this checkpointer (a thread keeps its state between runs).
        name: The compiled graph's name (its node name in a parent graph).
        **settings: :class:`AdaSwitchSettings` defaults, e.g. ``threshold=0.3, verifier="logprobs"``;
            per run: ``graph.invoke(inputs, context={"threshold": 0.7})``.

    Returns:
        The compiled graph. Input: ``question``, optional ``documents`` (seen by the local model only).
        Output: ``answer``, ``steps``, ``usage``, ``decisions``.

    Raises:
        InputError: An unknown or bad setting, or a bad ``verifier_fn``.

    Example:
        >>> import json
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> step = json.dumps({"step": "6 x 7 = 42", "is_final": True, "final_answer": "42"})
        >>> graph = create_adaswitch(ScriptedChatModel(replies=[step]), ScriptedChatModel(replies=["?"]))
        >>> graph.invoke({"question": "What is 6 x 7?"})["answer"]
        '42'
    """
    builder = build_adaswitch(local, cloud, verifier_fn=verifier_fn, prices=prices, **settings)
    return builder.compile(checkpointer=checkpointer, name=name)


__all__ = [
    "LOGPROB_RULES",
    "VERIFIERS",
    "AdaSwitchInput",
    "AdaSwitchNodes",
    "AdaSwitchOutput",
    "AdaSwitchSettings",
    "AdaSwitchState",
    "VerifierFn",
    "build_adaswitch",
    "create_adaswitch",
    "logprob_entries",
    "logprob_score",
    "step_logprobs",
]
