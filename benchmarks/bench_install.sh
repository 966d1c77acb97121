#!/usr/bin/env bash
# Setup time and size from a clean clone: for each git REF, clone this repository into a temporary
# folder, run scripts/setup.sh there (a fresh .venv; model weights come from the user cache when pulled
# before), and print the wall time, the size of .venv and whether PyTorch got installed.
#   benchmarks/bench_install.sh REF [REF...]      e.g.  benchmarks/bench_install.sh 327467d HEAD
# Figures depend on the network and on pip's cache (run one REF at a time on a quiet machine for
# comparable numbers); the script prints the load average next to each.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -ge 1 ] || { echo "usage: $0 REF [REF...]" >&2; exit 2; }
work="$(mktemp -d /tmp/bench-install-XXXXXX)"
trap 'rm -rf "$work"' EXIT
for ref in "$@"; do
  commit="$(git -C "$repo" rev-parse --short "$ref")"
  clone="$work/$commit"
  git clone -q --no-hardlinks "$repo" "$clone"
  git -C "$clone" checkout -q "$commit"
  load="$(cut -d' ' -f1-3 /proc/loadavg)"
  started=$(date +%s.%N)
  if (cd "$clone" && bash scripts/setup.sh >"$work/$commit.log" 2>&1); then status=ok; else status="FAILED (see log)"; fi
  seconds=$(echo "$(date +%s.%N) - $started" | bc)
  venv_mb=$(du -sm "$clone/.venv" | cut -f1)
  packages=$("$clone/.venv/bin/python" -m pip list --format=freeze 2>/dev/null | wc -l)
  if "$clone/.venv/bin/python" -c "import torch" 2>/dev/null; then torch=yes; else torch=no; fi
  install_line=$(grep -o "pip install .*-e '[^']*'" "$clone/scripts/setup.sh" | head -1)
  printf '%s: setup.sh %s in %.0f s; .venv %s MB, %s packages, torch installed: %s; load before %s\n' \
    "$commit" "$status" "$seconds" "$venv_mb" "$packages" "$torch" "$load"
  printf '    %s\n' "$install_line"
  rm -rf "$clone"
done
