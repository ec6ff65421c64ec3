#!/usr/bin/env bash
# The whole test suite — what the README's quick start and CI run:
#   0. install the MiniLM embedding model into $MCPFLOW_CACHE (once; verified by sha256) so the
#      embed crate's reference test against sentence-transformers runs;
#   1. cargo test for every crate (the store suite runs against the local PostgreSQL too:
#      127.0.0.1:5432, database `test`, or $MCPFLOW_TEST_POSTGRES_URL);
#   2. the official MCP conformance suite, three ways (scripts/conformance.sh);
#   3. real Python and TypeScript MCP clients over stdio and HTTP (scripts/clients.sh).
# Node 22, the npm packages and the Python venv install themselves on first use.
source "$(dirname "$0")/lib.sh"
cd "$MCPFLOW_ROOT"

log "embedding model"
ensure_model
log "cargo test --workspace"
cargo test --workspace --quiet
log "conformance suites"
bash scripts/conformance.sh
log "real clients"
bash scripts/clients.sh
log "all tests passed"
