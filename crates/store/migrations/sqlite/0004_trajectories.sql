-- Learning (issue 5), per node (nodes sharing a database learn separately: their agents
-- differ). One row per trajectory: the task (type, required capabilities as a JSON
-- array, text, embedding as little-endian f32 bytes), the steps (JSON array), the decision
-- features captured at start (little-endian f64 bytes, NULL if none) and, once ended, the
-- outcome. An ended row is final: writes to it are refused.
CREATE TABLE trajectories (
    node         TEXT NOT NULL,
    id           INTEGER NOT NULL,
    agent        TEXT NOT NULL,
    task_type    TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    task_text    TEXT NOT NULL,
    embedding    BLOB NOT NULL,
    steps        TEXT NOT NULL,
    features     BLOB,
    best_mean    DOUBLE PRECISION,
    started_ms   INTEGER NOT NULL,
    outcome      TEXT CHECK (outcome IN ('success', 'failure')),
    reward       DOUBLE PRECISION,
    latency_ms   INTEGER,
    ended_ms     INTEGER,
    end_seq      INTEGER,
    PRIMARY KEY (node, id)
);

-- The learned policy as of its latest cycle (one row per node): an opaque blob the router
-- verifies.
CREATE TABLE learning_snapshots (
    node     TEXT PRIMARY KEY,
    data     BLOB NOT NULL,
    taken_at INTEGER NOT NULL
);
