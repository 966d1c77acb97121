"""Evaluation: datasets, metrics, a resumable runner, and a report with a cost/accuracy plot.

Python::

    from langgraph_cloudlocal.evaluation import run_evaluation

    summary = run_evaluation("local-only,cloud-only,minions", "datasets/records.jsonl", "runs/records")
    print(summary.report_path.read_text())

Shell: ``cloudlocal eval --protocol local-only,cloud-only --dataset datasets/records.jsonl --out runs/r``
(or ``python -m langgraph_cloudlocal.evaluation run ...``). See ``datasets/README.md`` for the dataset
format and how to bring QASPER, FinanceBench or GSM8K.
"""

from langgraph_cloudlocal.evaluation.datasets import (
    DatasetError,
    EvalItem,
    dataset_name,
    item_hash,
    load_dataset,
    parse_item,
    save_dataset,
)
from langgraph_cloudlocal.evaluation.filings import generate_filings
from langgraph_cloudlocal.evaluation.metrics import (
    MatchResult,
    contains_match,
    exact_match,
    normalize_answer,
    numeric_match,
    parse_number,
    score,
)
from langgraph_cloudlocal.evaluation.registry import (
    PROTOCOLS,
    ProtocolError,
    ProtocolSpec,
    parse_protocol,
    parse_protocols,
)
from langgraph_cloudlocal.evaluation.report import ProtocolStats, Report, pareto_front, write_report
from langgraph_cloudlocal.evaluation.runner import (
    EvaluationError,
    EvaluationSummary,
    run_evaluation,
)
from langgraph_cloudlocal.evaluation.synthetic import (
    generate_arithmetic,
    generate_records,
    write_synthetic_datasets,
)

__all__ = [
    "PROTOCOLS",
    "DatasetError",
    "EvalItem",
    "EvaluationError",
    "EvaluationSummary",
    "MatchResult",
    "ProtocolError",
    "ProtocolSpec",
    "ProtocolStats",
    "Report",
    "contains_match",
    "dataset_name",
    "exact_match",
    "generate_arithmetic",
    "generate_filings",
    "generate_records",
    "item_hash",
    "load_dataset",
    "normalize_answer",
    "numeric_match",
    "pareto_front",
    "parse_item",
    "parse_number",
    "parse_protocol",
    "parse_protocols",
    "run_evaluation",
    "save_dataset",
    "score",
    "write_report",
    "write_synthetic_datasets",
]
