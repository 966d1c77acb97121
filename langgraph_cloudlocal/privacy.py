"""How much of the private documents reached the cloud, measured from the cloud requests actually sent.

Every cloud call records the text of its request (all messages, every attempt, repair retries included;
see :mod:`langgraph_cloudlocal.calls`), and :func:`measure_privacy` compares those texts with the
documents when the run ends. No protocol declares what it sends; a protocol that leaks shows it here.

Two measures, both documented in the usage report:

* **Document text.** A document character counts as sent when it lies in a run of at least
  :data:`VERBATIM_RUN_CHARS` (40) characters that appears verbatim in some cloud request. Shorter runs are
  not counted: 40 characters is about a clause, long enough that a match is a quote and not a common
  phrase. A document shorter than that counts whole when it appears whole in a request.
  ``private_chars_to_cloud`` is the number of distinct document characters sent (a cloud-only run sends
  all of them); ``quoted_chars_to_cloud`` the number of request characters that repeat the documents,
  summed over requests (a retry that repeats a quote counts it again: it is traffic, not coverage).
* **Sensitive values.** Extracted from the documents by :func:`sensitive_values` (the rule is in its
  docstring); a value counts as sent when it appears in some cloud request with no letter or digit
  directly before or after it. This catches short facts, a sum or an e-mail address, that a local model
  can relay in its own words without quoting 40 characters.

Counts only: the report never contains the values or the text themselves, so it can be logged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "PRIVACY_MEASURE",
    "VERBATIM_RUN_CHARS",
    "PrivacyReport",
    "measure_privacy",
    "sensitive_values",
]


VERBATIM_RUN_CHARS = 40

PRIVACY_MEASURE = (
    f"from the text of every cloud request sent: document characters in verbatim runs of "
    f"{VERBATIM_RUN_CHARS}+ characters; sensitive values (e-mail addresses, numbers with 3+ digits, "
    "ids mixing letters and digits, names of 2+ capitalised words) found verbatim"
)

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# A token of letters, digits and inner - _ / that has at least one letter and one digit.
_ID = re.compile(r"(?<![\w@.-])(?=[\w/-]*[A-Za-z])(?=[\w/-]*\d)[A-Za-z0-9][\w/-]*[A-Za-z0-9](?![\w@-])")
# Digits with inner separators: 7,300 / 2025-03-14 / 555-0134 / 4.25
_NUMBER = re.compile(r"(?<![\w.,-])\d[\d.,:/-]*\d(?![\w-])")
# Capitalised words (and middle initials) separated by single spaces.
_NAME = re.compile(r"\b[A-Z][a-z]+(?: (?:[A-Z][a-z]+|[A-Z]\.))* [A-Z][a-z]+\b")
# Capitalised words that start sentences far more often than names do; dropped from the front of a name.
_NOT_NAME_STARTS = frozenset(
    "A An And As At But By For From He Her His However If In It Its Now Of On Our She So That The Their "
    "Then There These They This Those To We When Where While With You Your".split()
)
_MIN_NUMBER_DIGITS = 3


def sensitive_values(documents: Iterable[str]) -> set[str]:
    """The documents' sensitive values, by a deliberately simple rule:

    * e-mail addresses;
    * numbers with at least 3 digits, separators included as written (``7,300``, ``2025-03-14``,
      ``555-0134``); shorter numbers are too common in any text to tell a leak from chance;
    * ids: tokens of 4+ characters that mix letters and digits (``INV-2024-0042``, ``AB12345``);
    * names: 2 or more consecutive capitalised words (``Ottoline Varga``, ``Quillfeather Project``), after
      dropping a leading word that usually starts a sentence (``The``, ``In``, ...).

    It over-counts (a capitalised heading) rather than under-counts; what matters is that the same rule
    is applied to every protocol, with cloud-only as the reference where every value is sent.

    Args:
        documents: The documents' texts.

    Returns:
        The distinct values found.

    Example:
        >>> sorted(sensitive_values(["Invoice INV-2024-0042 for 7,300 crowns went to Ottoline Varga "
        ...                          "at ovarga@example.org."]))
        ['7,300', 'INV-2024-0042', 'Ottoline Varga', 'ovarga@example.org']
    """
    values: set[str] = set()
    for text in documents:
        values.update(_EMAIL.findall(text))
        values.update(v for v in _ID.findall(text) if len(v) >= 4 and "@" not in v)
        for number in _NUMBER.findall(text):
            if sum(c.isdigit() for c in number) >= _MIN_NUMBER_DIGITS:
                values.add(number)
        for match in _NAME.findall(text):
            words = match.split(" ")
            while words and words[0] in _NOT_NAME_STARTS:
                words.pop(0)
            if len(words) >= 2:
                values.add(" ".join(words))
    return values


def _appears(value: str, text: str) -> bool:
    """``value`` in ``text`` with no letter or digit right before or after it."""
    start = text.find(value)
    while start != -1:
        before = text[start - 1] if start > 0 else " "
        end = start + len(value)
        after = text[end] if end < len(text) else " "
        if not before.isalnum() and not after.isalnum():
            return True
        start = text.find(value, start + 1)
    return False


@dataclass(frozen=True)
class PrivacyReport:
    """What of the documents the cloud requests carried (counts only); see the module docs.

    Attributes:
        private_chars_to_cloud: Distinct document characters that reached the cloud verbatim.
        quoted_chars_to_cloud: Request characters repeating the documents, summed over requests.
        sensitive_values_to_cloud: Sensitive values (:func:`sensitive_values`) found in some request.
        sensitive_values_total: Sensitive values in the documents.
        cloud_requests: Cloud requests measured.

    Example:
        >>> report = measure_privacy(["Who is Ottoline Varga?"], ["Ottoline Varga paid 7,300 crowns."])
        >>> report.sensitive_values_to_cloud, report.sensitive_values_total
        (1, 2)
    """

    private_chars_to_cloud: int
    quoted_chars_to_cloud: int
    sensitive_values_to_cloud: int
    sensitive_values_total: int
    cloud_requests: int

    def as_usage(self) -> dict[str, int | str]:
        """The report as the privacy fields of a protocol's ``usage`` output.

        Returns:
            The counts under their ``usage`` names, plus ``privacy_measure`` (how they were measured).
        """
        return {
            "private_chars_to_cloud": self.private_chars_to_cloud,
            "quoted_chars_to_cloud": self.quoted_chars_to_cloud,
            "sensitive_values_to_cloud": self.sensitive_values_to_cloud,
            "sensitive_values_total": self.sensitive_values_total,
            "cloud_requests_measured": self.cloud_requests,
            "privacy_measure": PRIVACY_MEASURE,
        }


def _covered(length: int, starts: Iterable[int], run: int) -> int:
    """Characters covered by windows of ``run`` characters at ``starts`` (ascending) in a text."""
    total = 0
    covered_until = 0
    for start in starts:
        end = min(start + run, length)
        total += end - max(start, covered_until)
        covered_until = end
    return total


def measure_privacy(
    requests: Sequence[str], documents: Sequence[str], *, run: int = VERBATIM_RUN_CHARS
) -> PrivacyReport:
    """Compare the cloud requests of a run with its documents (see the module docs for the measures).

    Args:
        requests: The text of every cloud request sent (all messages, every attempt).
        documents: The documents' texts.
        run: The shortest verbatim run of document characters that counts as sent.

    Returns:
        The counts; never the values or the text themselves.

    Example:
        >>> document = "Invoice INV-2024-0042 for 7,300 crowns was sent to Ottoline Varga."
        >>> measure_privacy(["Summarise the invoice."], [document]).private_chars_to_cloud
        0
        >>> measure_privacy([f"Summarise: {document}"], [document]).private_chars_to_cloud == len(document)
        True
    """
    values = sensitive_values(documents)
    joined = "\n\x00\n".join(requests)  # NUL never occurs in a document: no value spans two requests
    values_sent = sum(1 for value in values if _appears(value, joined))

    long_docs = [d for d in documents if len(d) >= run]
    short_docs = [d for d in documents if 0 < len(d.strip()) and len(d) < run]
    # Hashes of every run-length window of the requests (hashes, not strings: a cloud-only request holds
    # the whole documents; 64-bit hashes of 40-char windows do not collide in practice).
    request_windows = {hash(r[i : i + run]) for r in requests for i in range(len(r) - run + 1)}
    private = 0
    shared: set[int] = set()
    if request_windows:
        for doc in long_docs:
            starts = []
            for i in range(len(doc) - run + 1):
                key = hash(doc[i : i + run])
                if key in request_windows:
                    starts.append(i)
                    shared.add(key)
            private += _covered(len(doc), starts, run)
    quoted = 0
    for request in requests:
        if shared:
            starts = [i for i in range(len(request) - run + 1) if hash(request[i : i + run]) in shared]
            quoted += _covered(len(request), starts, run)
    for doc in short_docs:
        sent_in = sum(request.count(doc) for request in requests)
        if sent_in:
            private += len(doc)
            quoted += sent_in * len(doc)
    return PrivacyReport(
        private_chars_to_cloud=private,
        quoted_chars_to_cloud=quoted,
        sensitive_values_to_cloud=values_sent,
        sensitive_values_total=len(values),
        cloud_requests=len(requests),
    )
