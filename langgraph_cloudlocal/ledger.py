"""Token and dollar accounting per role, prices, budgets, and the cloud-only estimate.

Usage travels in graph state as a small dict merged by :func:`merge_usage` (a LangGraph reducer), so
calls made inside parallel ``Send`` workers add up exactly once, and a run resumed from a checkpoint
never counts a finished call twice: a call's usage is written together with the result of the node
that made it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from typing_extensions import TypedDict  # pydantic (Studio's schemas) rejects typing.TypedDict on 3.11

from langgraph_cloudlocal.errors import CloudLocalError

__all__ = [
    "CLOUD_ONLY_PROMPT_OVERHEAD_TOKENS",
    "DEFAULT_CLOUD_PRICE",
    "DEFAULT_PRICES",
    "FREE",
    "ROLES",
    "Budget",
    "BudgetError",
    "Price",
    "PriceTable",
    "RawUsage",
    "Role",
    "RoleUsage",
    "TokenCounter",
    "approx_tokens",
    "cloud_token_counter",
    "empty_role_usage",
    "estimate_cloud_only",
    "finalize_usage",
    "merge_usage",
    "usage_delta",
]


Role = Literal["local", "cloud"]
ROLES: tuple[Role, Role] = ("local", "cloud")
ROLE_COUNTERS = ("input_tokens", "output_tokens", "cached_tokens", "calls", "failed_calls", "seconds")


class RoleUsage(TypedDict):
    """The counters of one role (local or cloud) in a run.

    Example:
        >>> empty_role_usage()["calls"]
        0
    """

    input_tokens: int
    output_tokens: int
    cached_tokens: int
    calls: int
    failed_calls: int
    seconds: float


class RawUsage(TypedDict, total=False):
    """What the graph state carries: counters per role, and the text of every cloud request sent.

    Example:
        >>> usage_delta("cloud", input_tokens=100, output_tokens=20, cloud_request="Q?")["cloud_requests"]
        ['Q?']
    """

    local: RoleUsage
    cloud: RoleUsage
    # The text of each cloud request (all messages, every attempt), in the order sent; the privacy report
    # is measured from these when the run ends (langgraph_cloudlocal.privacy).
    cloud_requests: list[str]


def empty_role_usage() -> RoleUsage:
    """Zero counters for one role.

    Returns:
        A :class:`RoleUsage` with every counter at zero.

    Example:
        >>> empty_role_usage()["input_tokens"]
        0
    """
    return RoleUsage(input_tokens=0, output_tokens=0, cached_tokens=0, calls=0, failed_calls=0, seconds=0.0)


def merge_usage(left: Mapping[str, Any] | None, right: Mapping[str, Any] | None) -> RawUsage:
    """Add two usage dicts (either may be empty or partial): the reducer of a state's usage field.

    Args:
        left: Usage so far.
        right: Usage to add.

    Returns:
        A new dict: role counters added, lists (cloud requests) concatenated, other numbers added.

    Example:
        >>> total = merge_usage(usage_delta("cloud", input_tokens=100), usage_delta("cloud", input_tokens=50))
        >>> total["cloud"]["input_tokens"], total["cloud"]["calls"]
        (150, 2)
    """
    out: dict[str, Any] = {}
    for source in (left or {}, right or {}):
        for key, value in source.items():
            if key in ROLES:
                role = out.setdefault(key, empty_role_usage())
                for counter in ROLE_COUNTERS:
                    role[counter] = role[counter] + value.get(counter, 0)
            elif isinstance(value, list):
                out[key] = [*out.get(key, []), *value]
            elif isinstance(value, int | float):
                out[key] = out.get(key, 0) + value
    return out  # type: ignore[return-value]


def usage_delta(
    role: Role,
    *,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cached_tokens: int = 0,
    seconds: float = 0.0,
    failed: bool = False,
    cloud_request: str | None = None,
) -> RawUsage:
    """The usage of one model call, ready to be returned from a node under its usage key.

    Args:
        role: ``"local"`` or ``"cloud"``.
        input_tokens: Prompt tokens.
        output_tokens: Completion tokens.
        cached_tokens: Prompt tokens served from the provider's cache.
        seconds: Wall time of the call.
        failed: Whether the call failed (it still counts as a call).
        cloud_request: The text a cloud call sent, recorded for the privacy report.

    Returns:
        Usage with one call of ``role``.

    Example:
        >>> usage_delta("local", input_tokens=12, output_tokens=3)["local"]["output_tokens"]
        3
    """
    counters = RoleUsage(
        input_tokens=int(input_tokens),
        output_tokens=int(output_tokens),
        cached_tokens=int(cached_tokens),
        calls=1,
        failed_calls=1 if failed else 0,
        seconds=float(seconds),
    )
    delta: RawUsage = {"local": counters} if role == "local" else {"cloud": counters}
    if role == "cloud" and cloud_request is not None:
        delta["cloud_requests"] = [cloud_request]
    return delta


# --------------------------------------------------------------------------------------------------
# Prices


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens.

    Attributes:
        input: Dollars per million prompt tokens.
        output: Dollars per million completion tokens.
        cached_input: Dollars per million cached prompt tokens; ``None``: the same as ``input``.

    Example:
        >>> Price(2.50, 10.00).cost(input_tokens=1000, output_tokens=200)
        0.0045
    """

    input: float
    output: float
    cached_input: float | None = None  # None: cached input tokens cost the same as input

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        """The dollar cost of a call.

        Args:
            input_tokens: Prompt tokens, cached ones included.
            output_tokens: Completion tokens.
            cached_tokens: How many of the prompt tokens were cached (at most ``input_tokens``).

        Returns:
            Dollars.
        """
        cached = min(cached_tokens, input_tokens)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        return (
            (input_tokens - cached) * self.input + cached * cached_rate + output_tokens * self.output
        ) / 1e6


FREE = Price(0.0, 0.0, 0.0)

# List prices (USD per 1M tokens) as published by the providers; override with your own contract prices.
# gpt-4o at 2.50/10.00 is the figure the Minions paper used.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "o3-mini": Price(1.10, 4.40, 0.55),
    "claude-3-5-sonnet": Price(3.00, 15.00, 0.30),
    "claude-3-5-haiku": Price(0.80, 4.00, 0.08),
}
# A model with no known price in the cloud role is priced like the paper's cloud model, so that
# cost figures with the embedded stand-in are comparable to the paper's; say so in reports.
DEFAULT_CLOUD_PRICE = DEFAULT_PRICES["gpt-4o"]


@dataclass(frozen=True)
class PriceTable:
    """Prices by model name; the local role is free unless priced (energy, your own GPU).

    Attributes:
        prices: Price by lower-case model name; a dated name (``gpt-4o-2024-08-06``) takes the price
            of its longest known prefix.
        unknown_cloud: The price of a cloud model not in ``prices`` (default: gpt-4o's, as in the
            Minions paper).
        local: The price of local calls; ``None``: free.

    Example:
        >>> table = PriceTable().with_overrides({"my-model": (1.0, 2.0)})
        >>> table.for_model("cloud", "gpt-4o-2024-08-06").input, table.for_model("cloud", "My-Model").output
        (2.5, 2.0)
    """

    prices: Mapping[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    unknown_cloud: Price = DEFAULT_CLOUD_PRICE
    local: Price | None = None  # None: local calls cost $0

    def for_model(self, role: Role, model_name: str) -> Price:
        """The price of a model in a role.

        Args:
            role: ``"local"`` or ``"cloud"``.
            model_name: The model's name, as the provider reports it.

        Returns:
            The local price (free unless set) for the local role; for the cloud, the exact name's
            price, else the longest known prefix's, else ``unknown_cloud``.
        """
        if role == "local":
            return self.local if self.local is not None else FREE
        name = model_name.lower()
        if name in self.prices:
            return self.prices[name]
        # "gpt-4o-2024-08-06" -> "gpt-4o": longest known prefix wins
        matches = [key for key in self.prices if name.startswith(key)]
        if matches:
            return self.prices[max(matches, key=len)]
        return self.unknown_cloud

    def with_overrides(self, overrides: Mapping[str, Price | tuple[float, float]]) -> PriceTable:
        """A copy with some prices added or replaced (your contract prices, say).

        Args:
            overrides: Price by model name, as a :class:`Price` or ``(input, output)`` dollars per
                million tokens.

        Returns:
            A new table; this one is unchanged.
        """
        merged = dict(self.prices)
        for name, price in overrides.items():
            merged[name.lower()] = price if isinstance(price, Price) else Price(*price)
        return PriceTable(merged, self.unknown_cloud, self.local)


def approx_tokens(text: str) -> int:
    """The documented approximation used where no tokenizer is at hand: 4 characters per token.

    Args:
        text: The text to count.

    Returns:
        ``ceil(len(text) / 4)``.

    Example:
        >>> approx_tokens("hello world")
        3
    """
    return math.ceil(len(text) / 4)


TokenCounter = Callable[[str], int]
"""A function from text to its number of tokens."""

# Extra input tokens of the cloud-only estimate on top of the question and the documents: the chat
# template and a one-line instruction.
CLOUD_ONLY_PROMPT_OVERHEAD_TOKENS = 50
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
_TIKTOKEN_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


def _llama_cpp_counter(base_url: str, timeout: float) -> TokenCounter | None:
    """The ``/tokenize`` endpoint of a llama.cpp server on loopback, or None.

    Only loopback: counting sends the documents, which must not go to a remote server just to be
    counted. And only after ``/props`` (which carries no private text) says the server is llama.cpp.
    """
    from urllib.parse import urlsplit

    import httpx

    parts = urlsplit(base_url)
    if parts.hostname not in _LOOPBACK_HOSTS:
        return None
    root = base_url.rstrip("/")
    root = root[: -len("/v1")] if root.endswith("/v1") else root
    try:
        props = httpx.get(f"{root}/props", timeout=timeout)
        if props.status_code != 200 or "default_generation_settings" not in props.json():
            return None
    except Exception:  # noqa: BLE001 - no server, not JSON, sockets disabled: fall back
        return None

    def count(text: str) -> int:
        reply = httpx.post(f"{root}/tokenize", json={"content": text}, timeout=timeout)
        reply.raise_for_status()
        return len(reply.json()["tokens"])

    return count


def _tiktoken_counter(model_name: str) -> tuple[TokenCounter, str] | None:
    """tiktoken's encoding of an OpenAI model, only when it is installed and its encoding file is already
    cached (tiktoken downloads it on first use; offline, that would fail or hang)."""
    import hashlib
    import os
    import tempfile

    try:
        import tiktoken
    except ImportError:
        return None
    try:
        encoding_name = tiktoken.encoding_name_for_model(model_name)
    except KeyError:
        return None
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    cache_dir = cache_dir or os.path.join(tempfile.gettempdir(), "data-gym-cache")
    key = hashlib.sha1(_TIKTOKEN_URL.format(encoding_name).encode()).hexdigest()
    if not os.path.exists(os.path.join(cache_dir, key)):
        return None
    try:
        encoding = tiktoken.get_encoding(encoding_name)
    except Exception:  # noqa: BLE001 - a corrupt cache file: fall back
        return None
    return (lambda text: len(encoding.encode(text, disallowed_special=()))), f"tiktoken {encoding_name}"


def cloud_token_counter(
    model_name: str, base_url: str | None, *, timeout: float = 5.0
) -> tuple[TokenCounter, str]:
    """The best token counter for the cloud model at hand, and its name for the usage report.

    Never downloads and never sends text off the machine: a llama.cpp server is asked only on loopback,
    and tiktoken only when its encoding file is already cached.

    Args:
        model_name: The cloud model's name.
        base_url: The cloud server's URL, if known.
        timeout: Seconds to wait for a llama.cpp server.

    Returns:
        ``(counter, name)``: ``"llama.cpp /tokenize"`` (a llama.cpp server on loopback, e.g. the
        embedded stand-in), ``"tiktoken <encoding>"`` (OpenAI model names, when the encoding is
        cached), else :func:`approx_tokens` and ``"chars/4"``.

    Example:
        >>> counter, name = cloud_token_counter("my-private-model", None)
        >>> name, counter("hello world")
        ('chars/4', 3)
    """
    if base_url:
        counter = _llama_cpp_counter(base_url, timeout)
        if counter is not None:
            return counter, "llama.cpp /tokenize"
    found = _tiktoken_counter(model_name)
    if found is not None:
        return found
    return approx_tokens, "chars/4"


def estimate_cloud_only(
    question: str, documents: list[str] | tuple[str, ...], answer: str, counter: TokenCounter
) -> tuple[int, int]:
    """The tokens of one cloud call that reads the question and the whole documents and writes ``answer``.

    Args:
        question: The question.
        documents: The documents' texts.
        answer: The answer the run gave.
        counter: How to count tokens (see :func:`cloud_token_counter`).

    Returns:
        ``(input_tokens, output_tokens)``; input includes
        :data:`CLOUD_ONLY_PROMPT_OVERHEAD_TOKENS` for the template and instruction.

    Example:
        >>> estimate_cloud_only("Q?", ["doc text"], "A", approx_tokens)
        (53, 1)
    """
    text = "\n\n".join([question, *documents])
    return counter(text) + CLOUD_ONLY_PROMPT_OVERHEAD_TOKENS, max(1, counter(answer) if answer else 1)


def finalize_usage(
    raw: Mapping[str, Any] | None,
    *,
    local_model: str,
    cloud_model: str,
    prices: PriceTable | None = None,
    cloud_only_input_tokens: int = 0,
    cloud_only_output_tokens: int = 0,
    cloud_only_method: str = "chars/4",
    documents: list[str] | tuple[str, ...] = (),
    cloud_only_run: bool = False,
) -> dict[str, Any]:
    """The ``usage`` object of a protocol's output: counters, dollars, the cloud-only estimate, and the
    privacy report measured from the cloud requests in ``raw`` against ``documents``.

    ``cloud_only_*`` describe one cloud call that reads the whole documents and the question and writes
    the answer — what the same question would cost without the local model; ``cloud_only_method`` says
    how its tokens were counted. A run of the cloud-only yardstick itself (``cloud_only_run``) that made
    cloud calls is its own estimate: its ``cost_reduction`` is exactly 1.

    Args:
        raw: The run's raw usage (:class:`RawUsage`).
        local_model: The local model's name.
        cloud_model: The cloud model's name (for its price).
        prices: Prices; default :class:`PriceTable`.
        cloud_only_input_tokens: Input tokens of the cloud-only estimate.
        cloud_only_output_tokens: Output tokens of the cloud-only estimate.
        cloud_only_method: How those were counted.
        documents: The documents' texts, for the privacy report.
        cloud_only_run: Whether this run is the cloud-only yardstick.

    Returns:
        The usage report: per-role counters with ``model`` and ``cost_usd``, ``cloud_cost_usd``,
        ``cloud_only_cost_usd``, ``cost_reduction`` (cloud-only cost / cloud cost, ``None`` when
        the cloud cost nothing), the estimate's description, and the privacy fields.

    Example:
        >>> usage = finalize_usage(usage_delta("cloud", input_tokens=1000, output_tokens=100),
        ...                        local_model="smollm2", cloud_model="gpt-4o",
        ...                        cloud_only_input_tokens=20000, cloud_only_output_tokens=100)
        >>> usage["cloud_cost_usd"], usage["cloud_only_cost_usd"], round(usage["cost_reduction"], 1)
        (0.0035, 0.051, 14.6)
    """
    from langgraph_cloudlocal.privacy import measure_privacy

    prices = prices or PriceTable()
    merged = merge_usage(raw, {})
    out: dict[str, Any] = {}
    models: tuple[tuple[Role, str], ...] = (("local", local_model), ("cloud", cloud_model))
    for role, name in models:
        counters: dict[str, Any] = dict(merged.get(role) or empty_role_usage())
        price = prices.for_model(role, name)
        counters["model"] = name
        counters["cost_usd"] = price.cost(
            counters["input_tokens"], counters["output_tokens"], counters["cached_tokens"]
        )
        counters["seconds"] = round(counters["seconds"], 3)
        out[role] = counters
    cloud_price = prices.for_model("cloud", cloud_model)
    cloud_cost = out["cloud"]["cost_usd"]
    if cloud_only_run and out["cloud"]["calls"] > 0:
        cloud_only_input_tokens = out["cloud"]["input_tokens"]
        cloud_only_output_tokens = out["cloud"]["output_tokens"]
        cloud_only = cloud_cost
        cloud_only_method = "measured (this run is cloud-only)"
    else:
        cloud_only = cloud_price.cost(cloud_only_input_tokens, cloud_only_output_tokens)
    privacy = measure_privacy(list(merged.get("cloud_requests") or []), list(documents))
    out.update(
        cloud_cost_usd=cloud_cost,
        local_cost_usd=out["local"]["cost_usd"],
        cloud_calls=out["cloud"]["calls"],
        cloud_tokens=out["cloud"]["input_tokens"] + out["cloud"]["output_tokens"],
        cloud_only_cost_usd=cloud_only,
        cloud_only_input_tokens=cloud_only_input_tokens,
        cloud_only_output_tokens=cloud_only_output_tokens,
        cloud_only_estimate="one cloud call with the question and the whole documents, writing the answer",
        cloud_only_estimate_method=cloud_only_method,
        cost_reduction=(cloud_only / cloud_cost) if cloud_cost > 0 else None,
        **privacy.as_usage(),
    )
    return out


# --------------------------------------------------------------------------------------------------
# Budgets


class BudgetError(CloudLocalError, ValueError):
    """A budget that cannot be used (negative, wrong type)."""


@dataclass(frozen=True)
class Budget:
    """Per-run caps on the cloud. ``None`` means no cap.

    Attributes:
        max_cloud_tokens: Cap on cloud input plus output tokens.
        max_cloud_usd: Cap on cloud dollars.
        max_cloud_calls: Cap on cloud calls.

    Raises:
        BudgetError: A cap is negative, NaN or not a number.

    Example:
        >>> budget = Budget(max_cloud_calls=1)
        >>> budget.refusal(usage_delta("cloud", input_tokens=10), next_input_tokens=5, cloud_price=Price(2.5, 10))
        'cloud call cap reached (1 of 1 calls made)'
    """

    max_cloud_tokens: int | None = None
    max_cloud_usd: float | None = None
    max_cloud_calls: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_cloud_tokens", "max_cloud_usd", "max_cloud_calls"):
            value = getattr(self, name)
            # NaN compares false with everything: it would silently mean "no cap"
            if value is not None and (not isinstance(value, int | float) or value < 0 or math.isnan(value)):
                raise BudgetError(f"{name} must be a non-negative number or None, got {value!r}")

    @property
    def unlimited(self) -> bool:
        """True when no cap is set."""
        return self.max_cloud_tokens is None and self.max_cloud_usd is None and self.max_cloud_calls is None

    def refusal(
        self,
        spent: Mapping[str, Any] | None,
        *,
        next_input_tokens: int,
        cloud_price: Price,
    ) -> str | None:
        """Why the next cloud call (with about ``next_input_tokens`` of prompt) would break the budget.

        Checked before every cloud call: the call is refused when what has been spent plus the next
        prompt already reaches a cap, so a run overshoots a cap by at most one call's output.

        Args:
            spent: The run's usage so far.
            next_input_tokens: About how many tokens the next prompt has.
            cloud_price: The cloud model's price, for the dollar cap.

        Returns:
            The reason, in words, or ``None`` when the call fits.
        """
        cloud = merge_usage(spent, {}).get("cloud") or empty_role_usage()
        if self.max_cloud_calls is not None and cloud["calls"] + 1 > self.max_cloud_calls:
            return f"cloud call cap reached ({cloud['calls']} of {self.max_cloud_calls} calls made)"
        tokens = cloud["input_tokens"] + cloud["output_tokens"]
        if self.max_cloud_tokens is not None and tokens + next_input_tokens > self.max_cloud_tokens:
            return (
                f"cloud token cap: {tokens} spent + ~{next_input_tokens} for the next prompt "
                f"> {self.max_cloud_tokens}"
            )
        if self.max_cloud_usd is not None:
            dollars = cloud_price.cost(cloud["input_tokens"], cloud["output_tokens"], cloud["cached_tokens"])
            next_dollars = cloud_price.cost(next_input_tokens, 0)
            if dollars + next_dollars > self.max_cloud_usd:
                return (
                    f"cloud dollar cap: ${dollars:.6f} spent + ~${next_dollars:.6f} for the next prompt "
                    f"> ${self.max_cloud_usd:.6f}"
                )
        return None

    def merged_with(self, other: Budget | None) -> Budget:
        """The stricter of two budgets, cap by cap (build-time budget and per-run context).

        Args:
            other: The other budget, or ``None``.

        Returns:
            A budget with the smaller of each pair of caps (a cap set on one side only is kept).
        """
        if other is None:
            return self

        def stricter(a: Any, b: Any) -> Any:
            if a is None:
                return b
            if b is None:
                return a
            return min(a, b)

        return Budget(
            stricter(self.max_cloud_tokens, other.max_cloud_tokens),
            stricter(self.max_cloud_usd, other.max_cloud_usd),
            stricter(self.max_cloud_calls, other.max_cloud_calls),
        )
