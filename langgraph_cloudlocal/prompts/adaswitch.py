"""Prompts of AdaSwitch: the local model writes one step at a time, checks it (self-reflection), and the
cloud model rewrites a doubtful step.

Measured against SmolLM2-135M (the embedded test model) with ``json_schema`` constrained output:

* the step as JSON ``{"step", "is_final", "final_answer"}`` keeps replies short (~20-40 tokens, under
  a second) and always parseable; plain text with a "Final answer:" marker made it ramble to the token
  limit and almost never say "Final answer", so every run hit the step cap;
* the local conversation is multi-turn (each accepted step is an earlier assistant turn, followed by
  "Write the next step."): the same shape as the exported fine-tuning data, and the server's prompt
  cache reuses the growing prefix; documents open the first user turn;
* a categorical verdict (``"correct"``/``"wrong"`` + a confidence) came back well-formed every time,
  where a free ``wrong_probability`` number came back as 200 or 1.5, and a reason-first object rambled;
* a worked example in the prompt was copied verbatim into the answers, so there is none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field, field_validator

from langgraph_cloudlocal.prompts.baselines import format_documents

# --------------------------------------------------------------------------------------------------
# What the models return


class StepReply(BaseModel):
    """One step of a solution (written by the local model, or by the cloud as a replacement)."""

    # All three are required in the JSON schema (so constrained decoding writes them), but a reply
    # without is_final / final_answer still parses: it is then not the final step.
    model_config = ConfigDict(json_schema_extra={"required": ["step", "is_final", "final_answer"]})

    step: str = Field(description="one short step: what is worked out and its result")
    is_final: bool = Field(default=False, description="true only if this step gives the final answer")
    final_answer: str = Field(default="", description="the final answer when is_final, else empty")

    @field_validator("step", "final_answer", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        # Small models write numbers where strings are expected: {"final_answer": 72}
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return "" if value is None else value


class Verdict(BaseModel):
    """The self-reflection verifier's verdict on one step."""

    verdict: Literal["correct", "wrong"] = Field(description="is the step correct or wrong")
    confidence: float = Field(ge=0.0, le=1.0, description="how sure you are of the verdict, 0 to 1")
    reason: str = Field(default="", description="a few words: why")

    @field_validator("verdict", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    def wrong_probability(self) -> float:
        """The probability that the step is wrong.

        Returns:
            ``confidence`` if the verdict is "wrong", else ``1 - confidence``.

        Example:
            >>> Verdict(verdict="correct", confidence=0.75).wrong_probability()
            0.25
        """
        return self.confidence if self.verdict == "wrong" else 1.0 - self.confidence

    def explanation(self) -> str:
        """The verdict as a decision's reason.

        Returns:
            ``self-reflection: <verdict> (confidence <c>)``, then ``: <reason>`` when there is one.

        Example:
            >>> Verdict(verdict="wrong", confidence=0.8, reason="7 x 6 is 42").explanation()
            'self-reflection: wrong (confidence 0.80): 7 x 6 is 42'
        """
        why = f": {self.reason.strip()}" if self.reason.strip() else ""
        return f"self-reflection: {self.verdict} (confidence {self.confidence:.2f}){why}"


def step_json(text: str, is_final: bool, final_answer: str) -> str:
    """A step as the local model writes it (the assistant turns of the conversation and of the
    fine-tuning data).

    Args:
        text: The step.
        is_final: Whether it gives the final answer.
        final_answer: The final answer (dropped when ``is_final`` is false).

    Returns:
        The JSON text.

    Example:
        >>> step_json("48 / 2 = 24", False, "24")
        '{"step": "48 / 2 = 24", "is_final": false, "final_answer": ""}'
    """
    return json.dumps(
        {"step": text, "is_final": bool(is_final), "final_answer": final_answer if is_final else ""},
        ensure_ascii=False,
    )


def _step_json_of(step: Mapping[str, Any]) -> str:
    return step_json(str(step.get("text", "")), bool(step.get("is_final")), str(step.get("final_answer", "")))


# --------------------------------------------------------------------------------------------------
# Local step (local model)

LOCAL_SYSTEM = (
    "You solve the question one small step at a time. Each reply is JSON for the next step only: "
    "step (one short sentence: what you work out and its result), "
    "is_final (true only when this step gives the final answer), "
    'final_answer (the final answer when is_final is true, otherwise "").'
)
"""The local model's system prompt."""
FIRST_STEP = "Write the first step."
"""The end of the first user turn."""
NEXT_STEP = "Write the next step."
"""The user turn after each accepted step."""
# Fine-tuning data only: the turn between a wrong local step and the cloud's correction.
CORRECTION_REQUEST = "That step may be wrong. Write a corrected version of that step."
"""Fine-tuning data only: the turn between a wrong local step and the cloud's correction."""


def first_user_message(question: str, documents: Sequence[str]) -> str:
    """The opening user turn of the local conversation (documents first, for the prompt cache).

    Args:
        question: The question.
        documents: The documents' texts (may be empty).

    Returns:
        The user turn.

    Example:
        >>> first_user_message("What is 6 x 7?", [])
        'Question: What is 6 x 7?\\nWrite the first step.'
    """
    head = f"Documents:\n{format_documents(list(documents))}\n\n" if documents else ""
    return f"{head}Question: {question}\n{FIRST_STEP}"


def local_step_messages(
    question: str, documents: Sequence[str], steps: Sequence[Mapping[str, Any]]
) -> list[BaseMessage]:
    """The local model writes the next step; each accepted step (local or cloud) is an earlier turn.

    Args:
        question: The question.
        documents: The documents' texts (the local model's context).
        steps: The accepted steps (``{"text", "is_final", "final_answer"}``).

    Returns:
        System, first user turn, then an assistant turn and ``NEXT_STEP`` per accepted step.

    Example:
        >>> [m.type for m in local_step_messages("Q?", [], [{"text": "a", "is_final": False}])]
        ['system', 'human', 'ai', 'human']
    """
    messages: list[BaseMessage] = [
        SystemMessage(LOCAL_SYSTEM),
        HumanMessage(first_user_message(question, documents)),
    ]
    for step in steps:
        messages.append(AIMessage(_step_json_of(step)))
        messages.append(HumanMessage(NEXT_STEP))
    return messages


# --------------------------------------------------------------------------------------------------
# Self-reflection verifier (local model)

VERIFIER_SYSTEM = (
    "You check one step of a step-by-step solution. Reply with JSON: "
    'verdict ("correct" or "wrong"), confidence (a number from 0 to 1: how sure you are of your verdict), '
    "reason (a few words)."
)
"""The self-reflection verifier's system prompt."""


def _numbered(steps: Sequence[str]) -> str:
    return "\n".join(f"{i}. {text}" for i, text in enumerate(steps, start=1)) if steps else "(none)"


def verifier_user_message(
    question: str,
    documents: Sequence[str],
    steps_so_far: Sequence[str],
    step: str,
    final_answer: str | None = None,
) -> str:
    """The verifier's prompt: the question, the accepted steps, and the step to check.

    Args:
        question: The question.
        documents: The documents' texts.
        steps_so_far: The accepted steps' texts.
        step: The step to check.
        final_answer: The final answer the step gives, if any.

    Returns:
        The user turn.
    """
    head = f"Documents:\n{format_documents(list(documents))}\n\n" if documents else ""
    final = f"\nIt gives the final answer: {final_answer}" if final_answer else ""
    return (
        f"{head}Question: {question}\n\nSteps so far:\n{_numbered(steps_so_far)}\n\n"
        f"Step to check: {step}{final}\n\nIs this step correct?"
    )


def verifier_messages(
    question: str,
    documents: Sequence[str],
    steps_so_far: Sequence[str],
    step: str,
    final_answer: str | None = None,
) -> list[BaseMessage]:
    """System and user messages of the self-reflection verifier (schema :class:`Verdict`).

    Args:
        question: The question.
        documents: The documents' texts.
        steps_so_far: The accepted steps' texts.
        step: The step to check.
        final_answer: The final answer the step gives, if any.

    Returns:
        The messages.
    """
    return [
        SystemMessage(VERIFIER_SYSTEM),
        HumanMessage(verifier_user_message(question, documents, steps_so_far, step, final_answer)),
    ]


# --------------------------------------------------------------------------------------------------
# Cloud step (cloud model): never sees the documents

CLOUD_SYSTEM = (
    "You help a small model that solves a question step by step. Its latest step may be wrong. "
    "Write ONE replacement for that step only: do not solve the rest of the question, unless that step "
    "is the last one. Reply with JSON: step (the corrected step, one or two sentences), "
    "is_final (true only if this step gives the final answer), "
    'final_answer (the final answer when is_final is true, otherwise "").'
)
"""The cloud's system prompt: rewrite one doubtful step."""


def cloud_step_messages(
    question: str,
    steps_so_far: Sequence[str],
    draft: str,
    draft_final_answer: str | None = None,
) -> list[BaseMessage]:
    """The cloud rewrites the doubtful step: it gets the question, the accepted steps and the draft
    (never the documents).

    Args:
        question: The question.
        steps_so_far: The accepted steps' texts.
        draft: The doubtful local step.
        draft_final_answer: The final answer the draft claims, if any.

    Returns:
        The system and user messages.

    Example:
        >>> cloud_step_messages("Q?", ["a"], "b")[1].text.splitlines()[-1]
        'Write step 2.'
    """
    number = len(steps_so_far) + 1
    claimed = f"\nThe draft claims the final answer: {draft_final_answer}" if draft_final_answer else ""
    return [
        SystemMessage(CLOUD_SYSTEM),
        HumanMessage(
            f"Question: {question}\n\nAccepted steps so far:\n{_numbered(steps_so_far)}\n\n"
            f"Draft of step {number} (it may be wrong): {draft}{claimed}\n\n"
            f"Write step {number}."
        ),
    ]


__all__ = [
    "CLOUD_SYSTEM",
    "CORRECTION_REQUEST",
    "FIRST_STEP",
    "LOCAL_SYSTEM",
    "NEXT_STEP",
    "VERIFIER_SYSTEM",
    "StepReply",
    "Verdict",
    "cloud_step_messages",
    "first_user_message",
    "local_step_messages",
    "step_json",
    "verifier_messages",
    "verifier_user_message",
]
