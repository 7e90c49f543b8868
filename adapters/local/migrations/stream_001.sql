-- The embedded stream log: shards of records with increasing sequence numbers.
CREATE TABLE shards (
    shard         INTEGER PRIMARY KEY,
    next_seq      INTEGER NOT NULL
);
CREATE TABLE records (
    shard         INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    partition_key TEXT NOT NULL,
    data          BLOB NOT NULL,
    arrived_at    INTEGER NOT NULL,
    PRIMARY KEY (shard, seq)
) WITHOUT ROWID;
