#!/usr/bin/env bash
# Drives `mcpflow serve --conformance` with real MCP clients:
#   Python `mcp` 2.3.0  — stdio and Streamable HTTP, eras 2025-11-25 and 2026-07-28
#   TypeScript `@modelcontextprotocol/sdk` 1.32.2 — Streamable HTTP (and stdio), 2025-11-25
# Each run lists tools, calls one, reads a resource, subscribes and receives an update, and
# gets a prompt (tests/clients/*_driver.*). Fails if any run fails.
source "$(dirname "$0")/lib.sh"

py="$(ensure_python_sdk)"
ensure_node
ts="$(ensure_npm_tree "sdk-$TS_SDK_VERSION")"
export MCP_TS_SDK_DIR="$ts/node_modules/@modelcontextprotocol/sdk"
bin="$(build_mcpflow)"
start_server "$bin"
stdio_data="$(mktemp -d)"
stdio="$bin serve --stdio --conformance --data-dir $stdio_data"
drivers="$MCPFLOW_ROOT/tests/clients"
out="$(mktemp -d)"

fail=0
run() {
  local name="$1"; shift
  if timeout 120 "$@" >"$out/$name.json" 2>"$out/$name.stderr" </dev/null; then
    printf '  PASS %s\n' "$name" >&2
  else
    printf '  FAIL %s\n' "$name" >&2
    cat "$out/$name.json" "$out/$name.stderr" >&2
    fail=1
  fi
}
log "real clients against $SERVER_URL and '$stdio'"
run py-stdio-2025-11-25 "$py" "$drivers/py_driver.py" --era 2025-11-25 --stdio-cmd "$stdio"
run py-stdio-2026-07-28 "$py" "$drivers/py_driver.py" --era 2026-07-28 --stdio-cmd "$stdio"
run py-http-2025-11-25  "$py" "$drivers/py_driver.py" --era 2025-11-25 --url "$SERVER_URL"
run py-http-2026-07-28  "$py" "$drivers/py_driver.py" --era 2026-07-28 --url "$SERVER_URL"
run py-http-2026-07-28-pinned "$py" "$drivers/py_driver.py" --era 2026-07-28 --pin --url "$SERVER_URL"
run ts-http-2025-11-25  node "$drivers/ts_driver.mjs" --url "$SERVER_URL"
run ts-stdio-2025-11-25 node "$drivers/ts_driver.mjs" -- $stdio
exit $fail
