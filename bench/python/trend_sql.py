#!/usr/bin/env python3
"""The DuckDB peer of the named-query benchmark: the project's named SQL queries, unmodified, over
the local Parquet lake (`<lake>/<table>/dt=YYYY-MM-DD/[hour=HH/]part-*.parquet`).

Every table directory of the lake (a directory whose name starts with '.' is not a table) becomes
a view over its Parquet files, read with Hive partitioning; the partition keys stay VARCHAR, as
in our engine and in AWS Glue. Each query is timed two ways, after one discarded warm-up:

- cold: each run on a new in-memory database: connect, create the views, execute, fetch every row;
- hot: one connection with its views, each run an execute and a fetch of every row.

Prints one JSON object on stdout:

    {"duckdb": VERSION, "threads": T,
     "queries": {NAME: {"cold": [secs], "hot": [secs], "columns": [..], "rows": [[..]]}
                       or {"error": MESSAGE}}}

Diagnostics go to stderr. A query DuckDB cannot run gets {"error": ...}; the others still run.

    python trend_sql.py --lake DIR --queries FILE --runs N [--threads T]

FILE is a JSON list of {"name": str, "sql": str, "params": [str, ...]}; the SQL's $1, $2, ...
are bound to params in order.
"""

import argparse
import datetime
import decimal
import json
import math
import os
import sys
import time
import uuid

import duckdb

# How a table's files are read: partition keys from the path as VARCHAR. Every file of a table
# carries the table's whole schema (the lake's writer writes it), so DuckDB reads one file's
# schema, not all of them (`union_by_name` would read every footer when the view is created).
READ_OPTIONS = "hive_partitioning = true, hive_types_autocast = false"


def log(message):
    print(f"trend_sql: {message}", file=sys.stderr, flush=True)


def has_parquet(table_dir):
    """Whether a table directory holds at least one Parquet file (outside hidden directories)."""
    for root, dirs, files in os.walk(table_dir):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(f.endswith(".parquet") for f in files):
            return True
    return False


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text):
    return "'" + text.replace("'", "''") + "'"


def view_statement(lake, table):
    pattern = os.path.join(lake, table, "**", "*.parquet")
    return (
        f"CREATE VIEW {quote_ident(table)} AS "
        f"SELECT * FROM read_parquet({quote_literal(pattern)}, {READ_OPTIONS})"
    )


def find_tables(lake):
    """The lake's tables: its directories not starting with '.' that hold Parquet files."""
    tables = []
    for entry in sorted(os.listdir(lake)):
        path = os.path.join(lake, entry)
        if entry.startswith(".") or not os.path.isdir(path):
            continue
        if not has_parquet(path):
            log(f"{entry}: no Parquet file, no view")
            continue
        tables.append(entry)
    return tables


def connect(threads, view_statements):
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    # Timestamps with a time zone come back in UTC, whatever this machine's zone.
    con.execute("SET TimeZone = 'UTC'")
    for statement in view_statements:
        con.execute(statement)
    return con


def usable_views(lake, tables, threads):
    """The view statements that DuckDB accepts; a table whose view fails is left out (stderr)."""
    statements = []
    con = connect(threads, [])
    try:
        for table in tables:
            statement = view_statement(lake, table)
            try:
                con.execute(statement)
            except duckdb.Error as e:
                log(f"{table}: no view, DuckDB cannot read it: {e}")
                continue
            statements.append(statement)
    finally:
        con.close()
    return statements


def run(con, sql, params):
    """Execute and fetch every row: the part of a run that hot and cold both time."""
    cursor = con.execute(sql, params) if params else con.execute(sql)
    rows = cursor.fetchall()
    columns = [d[0] for d in cursor.description] if cursor.description else []
    return columns, rows


def to_json(value):
    """One result value as JSON: ints, floats (Decimal too), ISO strings for dates and times."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return str(value)


def cold_run(threads, views, sql, params):
    start = time.perf_counter()
    con = connect(threads, views)
    try:
        columns, rows = run(con, sql, params)
        elapsed = time.perf_counter() - start
    finally:
        con.close()
    return elapsed, columns, rows


def bench_query(query, threads, views, runs):
    sql, params = query["sql"], query["params"]
    # Cold: a discarded warm-up, then each run on a new in-memory database.
    cold_run(threads, views, sql, params)
    cold = [cold_run(threads, views, sql, params)[0] for _ in range(runs)]
    # Hot: one connection; its result is the one reported.
    con = connect(threads, views)
    try:
        columns, rows = run(con, sql, params)
        hot = []
        for _ in range(runs):
            start = time.perf_counter()
            run(con, sql, params)
            hot.append(time.perf_counter() - start)
    finally:
        con.close()
    return {
        "cold": cold,
        "hot": hot,
        "columns": columns,
        "rows": [[to_json(v) for v in row] for row in rows],
    }


def load_queries(path):
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a JSON list of queries")
    queries = []
    for i, q in enumerate(raw):
        if not isinstance(q, dict) or not isinstance(q.get("name"), str) or not isinstance(q.get("sql"), str):
            raise ValueError(f"{path}: query {i} needs a string name and a string sql")
        params = q.get("params") or []
        if not isinstance(params, list):
            raise ValueError(f"{path}: query {q['name']}: params must be a list")
        queries.append({"name": q["name"], "sql": q["sql"], "params": params})
    return queries


def main():
    parser = argparse.ArgumentParser(description="The project's named queries in DuckDB over the Parquet lake")
    parser.add_argument("--lake", required=True, help="the lake directory (<lake>/<table>/dt=.../*.parquet)")
    parser.add_argument("--queries", required=True, help='JSON list of {"name", "sql", "params"}')
    parser.add_argument("--runs", required=True, type=int, help="timed runs per query, cold and hot")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="DuckDB threads (default: CPUs)")
    args = parser.parse_args()

    if not os.path.isdir(args.lake):
        log(f"no lake directory at {args.lake}")
        return 2
    if args.runs < 0 or args.threads < 1:
        log("--runs must be 0 or more and --threads 1 or more")
        return 2
    try:
        queries = load_queries(args.queries)
    except (OSError, ValueError) as e:
        log(f"cannot read the queries: {e}")
        return 2

    lake = os.path.abspath(args.lake)
    views = usable_views(lake, find_tables(lake), args.threads)
    log(f"duckdb {duckdb.__version__}, {args.threads} threads, {len(views)} views over {lake}")

    results = {}
    for query in queries:
        name = query["name"]
        if name in results:
            log(f"{name}: named twice, the last one is reported")
        try:
            results[name] = bench_query(query, args.threads, views, args.runs)
        except duckdb.Error as e:
            log(f"{name}: {e}")
            results[name] = {"error": str(e)}
            continue
        timing = results[name]
        log(
            f"{name}: {len(timing['rows'])} rows, cold min {min(timing['cold'], default=0):.4f}s, "
            f"hot min {min(timing['hot'], default=0):.4f}s"
        )

    out = {"duckdb": duckdb.__version__, "threads": args.threads, "queries": results}
    sys.stdout.write(json.dumps(out, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
