-- Client sessions (seed 003, "sessions"): one row per MCP session, kept after death for audit.
CREATE TABLE sessions (
    id               TEXT PRIMARY KEY,
    node             TEXT NOT NULL,
    transport        TEXT NOT NULL,
    protocol_version TEXT,
    client           TEXT,
    state            TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX sessions_by_state ON sessions (state, updated_at);
CREATE INDEX sessions_by_node ON sessions (node, state);
