-- Key-value stores of the embedded stack (what DynamoDB and S3 hold on AWS).
CREATE TABLE products (
    id            INTEGER PRIMARY KEY,
    body          TEXT NOT NULL
);
CREATE TABLE recommendations (
    customer_id   INTEGER PRIMARY KEY,
    body          TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE TABLE user_activity (
    customer_id   INTEGER PRIMARY KEY,
    version       INTEGER NOT NULL CHECK (version > 0),
    body          TEXT NOT NULL
);
CREATE TABLE dead_letters (
    key           TEXT PRIMARY KEY,
    seq           INTEGER NOT NULL,
    at            TEXT NOT NULL,
    body          TEXT NOT NULL
);
CREATE INDEX dead_letters_by_time ON dead_letters (at, seq);
CREATE TABLE checkpoints (
    consumer      TEXT NOT NULL,
    shard         TEXT NOT NULL,
    position      TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (consumer, shard)
);
