-- The lake's table catalog (what Glue holds on AWS).
CREATE TABLE lake_tables (
    name          TEXT PRIMARY KEY,
    definition    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE TABLE lake_partitions (
    table_name    TEXT NOT NULL REFERENCES lake_tables (name),
    partition_key TEXT NOT NULL,
    body          TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (table_name, partition_key)
);
