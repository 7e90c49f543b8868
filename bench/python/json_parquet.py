#!/usr/bin/env python3
"""The peers of the JSON -> Parquet benchmark (bench/src/bin/json_parquet.rs): the same
newline-delimited click events written as one zstd Parquet file by pyarrow and by DuckDB, each on
one thread, timed over --runs runs after a warm-up. Then every output (the Rust one included) is
read back and compared row for row on the events' own columns.

Prints one JSON object: each peer's seconds and output bytes, and whether the rows agree.
"""

import argparse
import json
import os
import sys
import time

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq

COLUMNS = ["event_id", "event_type", "user_id", "session_id", "product_id", "occurred_at", "device", "schema_version"]
SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("user_id", pa.int64()),
        ("session_id", pa.string()),
        ("product_id", pa.int64()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("device", pa.string()),
        ("schema_version", pa.int32()),
    ]
)


def with_pyarrow(src, out):
    table = pj.read_json(
        src,
        read_options=pj.ReadOptions(use_threads=False),
        parse_options=pj.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="error"),
    )
    pq.write_table(table, out, compression="zstd")


def with_duckdb(src, out):
    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"""COPY (SELECT * FROM read_json('{src}', format = 'newline_delimited', columns = {{
                event_id: 'VARCHAR', event_type: 'VARCHAR', user_id: 'BIGINT', session_id: 'VARCHAR',
                product_id: 'BIGINT', occurred_at: 'TIMESTAMPTZ', device: 'VARCHAR',
                schema_version: 'INTEGER'}}))
            TO '{out}' (FORMAT parquet, COMPRESSION zstd)"""
    )
    con.close()


def timed(f, src, out, runs):
    f(src, out)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        f(src, out)
        times.append(time.perf_counter() - started)
    return times


def rows(path):
    """The events' columns, occurred_at as UTC microseconds, sorted by event id."""
    t = pq.read_table(path, columns=COLUMNS)
    at = t.column("occurred_at")
    if pa.types.is_timestamp(at.type) and at.type.tz is None:
        at = pc.assume_timezone(at, "UTC")
    at = pc.cast(pc.cast(at, pa.timestamp("us", tz="UTC")), pa.int64())
    t = t.set_column(COLUMNS.index("occurred_at"), "occurred_at", at)
    for name in ["user_id", "product_id", "schema_version"]:
        t = t.set_column(COLUMNS.index(name), name, pc.cast(t.column(name), pa.int64()))
    return t.sort_by("event_id").to_pylist()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--ours", required=True, help="the Rust side's output, to compare")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    result = {"versions": {"pyarrow": pa.__version__, "duckdb": duckdb.__version__}}
    expected = rows(a.ours)
    for name, f in [("pyarrow", with_pyarrow), ("duckdb", with_duckdb)]:
        out = os.path.join(a.out_dir, f"{name}.parquet")
        seconds = timed(f, a.input, out, a.runs)
        theirs = rows(out)
        result[name] = {
            "seconds": seconds,
            "bytes": os.path.getsize(out),
            "rows": len(theirs),
            "same_rows": theirs == expected,
        }
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
