-- Learning (issue 5), per node (nodes sharing a database learn separately: their agents
-- differ). One row per trajectory: the task (type, required capabilities as a JSON
-- array, text, embedding as little-endian f32 bytes), the steps (JSON array), the decision
-- features captured at start (little-endian f64 bytes, NULL if none) and, once ended, the
-- outcome. An ended row is final: writes to it are refused.
CREATE TABLE trajectories (
    node         TEXT NOT NULL,
    id           BIGINT NOT NULL,
    agent        TEXT NOT NULL,
    task_type    TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    task_text    TEXT NOT NULL,
    embedding    BYTEA NOT NULL,
    steps        TEXT NOT NULL,
    features     BYTEA,
    best_mean    DOUBLE PRECISION,
    started_ms   BIGINT NOT NULL,
    outcome      TEXT CHECK (outcome IN ('success', 'failure')),
    reward       DOUBLE PRECISION,
    latency_ms   BIGINT,
    ended_ms     BIGINT,
    end_seq      BIGINT,
    PRIMARY KEY (node, id)
);

-- The learned policy as of its latest cycle (one row per node): an opaque blob the router
-- verifies.
CREATE TABLE learning_snapshots (
    node     TEXT PRIMARY KEY,
    data     BYTEA NOT NULL,
    taken_at BIGINT NOT NULL
);
