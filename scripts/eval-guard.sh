#!/usr/bin/env bash
# Evaluate the security gate (`mcpflow scan --eval`) on ../shared/datasets: attack recall and
# false-positive rate, and PII recall/precision/F2 per entity type, on a development half (even
# rows) and an unseen half (odd rows).
#
#   scripts/eval-guard.sh [--details]     # MCPFLOW=/path/to/mcpflow to skip the build
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
datasets="${DATASETS:-$root/../shared/datasets}"
[ -d "$datasets" ] || datasets=/work/shared/datasets
if [ -z "${MCPFLOW:-}" ]; then
  cargo build -q -p mcpflow --manifest-path "$root/Cargo.toml"
  target="${CARGO_TARGET_DIR:-$root/target}"
  MCPFLOW="$target/debug/mcpflow"
fi
exec python3 "$root/scripts/eval_guard.py" "$MCPFLOW" "$datasets" "$@"
