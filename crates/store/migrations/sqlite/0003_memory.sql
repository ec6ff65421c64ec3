-- Semantic memory (issue 5). Each entry is memory's own JSON document (`doc`), written and read
-- whole; the store never looks inside. Index snapshots are opaque blobs that memory verifies
-- against these entries at start (and rebuilds from them when they disagree).
CREATE TABLE memory_entries (
    namespace  TEXT NOT NULL,
    key        TEXT NOT NULL,
    doc        TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
);

CREATE TABLE memory_snapshots (
    namespace TEXT PRIMARY KEY,
    data      BLOB NOT NULL,
    taken_at  INTEGER NOT NULL
);
