#!/usr/bin/env bash
# Runs the official MCP conformance suite against `mcpflow serve --conformance`:
#   @modelcontextprotocol/conformance 0.1.16          --suite all
#   @modelcontextprotocol/conformance 0.2.0-alpha.12  --requirements 2025-11-25
#   @modelcontextprotocol/conformance 0.2.0-alpha.12  --requirements 2026-07-28
# Fails if any check fails. Results land in $MCPFLOW_CACHE/conformance-results/<timestamp>.
source "$(dirname "$0")/lib.sh"

ensure_node
stable="$(ensure_npm_tree "conformance-$CONFORMANCE_STABLE")"
next="$(ensure_npm_tree "conformance-$CONFORMANCE_NEXT")"
bin="$(build_mcpflow)"
start_server "$bin"

out="$MCPFLOW_CACHE/conformance-results/$(date +%Y%m%dT%H%M%S)"
mkdir -p "$out"
run_suite() {
  local name="$1" pkg="$2"; shift 2
  log "conformance $name"
  node "$pkg/node_modules/@modelcontextprotocol/conformance/dist/index.js" server \
    --url "$SERVER_URL" -o "$out/$name" "$@" </dev/null >"$out/$name.log" 2>&1 || true
  grep -E '^(Total|[✓✗] )' "$out/$name.log" | grep -E '✗|Total' >&2 || true
}
run_suite "v$CONFORMANCE_STABLE-all" "$stable" --suite all
run_suite "v$CONFORMANCE_NEXT-2025-11-25" "$next" --requirements 2025-11-25
run_suite "v$CONFORMANCE_NEXT-2026-07-28" "$next" --requirements 2026-07-28

# The suite's exit code is not a reliable verdict across versions; read every check instead.
python3 "$MCPFLOW_ROOT/scripts/conformance_verdict.py" "$out"
