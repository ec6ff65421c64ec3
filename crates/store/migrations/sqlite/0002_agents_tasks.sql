-- Agents and tasks (issue 3). The record itself is a JSON document (`doc`), written and read
-- whole by the store; the columns beside it are what queries filter and order on.
CREATE TABLE agents (
    id         TEXT PRIMARY KEY,
    node       TEXT NOT NULL,
    status     TEXT NOT NULL,
    doc        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX agents_by_node ON agents (node, status, id);

CREATE TABLE tasks (
    id         TEXT PRIMARY KEY,
    node       TEXT NOT NULL,
    state      TEXT NOT NULL,
    agent      TEXT,
    doc        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX tasks_by_node_state ON tasks (node, state, id);
CREATE INDEX tasks_by_state ON tasks (state, id);
