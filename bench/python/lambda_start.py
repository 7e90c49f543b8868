#!/usr/bin/env python3
"""Cold start of the stream-processor Lambda: ours (the `provided.al2023` bootstrap built with the
lambda_runtime crate, apps/lambda/src/bin/stream_processor.rs) against a Python function doing the
same work (lambda_stream_processor.py, next to this file), for model files of several sizes.

    python lambda_start.py --endpoint URL --ours PATH_TO_BOOTSTRAP --event FILE \\
        --models 2000=m2k.json,20000=m20k.json,200000=m200k.json --runs 5

Both functions run as local processes against a fake Lambda Runtime API served here (loopback,
one invocation: the event FILE) and against S3 and DynamoDB on an AWS emulator (moto server) at
URL. Setup on the emulator: a models bucket with each model under a prefix of its own, laid out as
our S3 model store writes it (`<prefix>/<version>.json`, then `<prefix>/LATEST` naming the
version); our tables (activity, recommendations, catalog, dead letters) with the key schemas of
adapters/aws-core/src/dynamodb.rs; the Python function's own activity, recommendations and dead
letter tables. Both read the same catalog table, filled from the models' products (or --catalog).

A run: a fresh process; the time from just before it is spawned to the arrival of its first
invocation's response at the Runtime API (the cold start: process start, init with the model load
from S3, and the first batch), the part of it before its first request for an event (init), and
its peak resident memory (VmHWM of /proc/<pid>/status, read
as soon as the response has arrived); then the process is killed. Per implementation and model:
one discarded warm-up run, then --runs timed runs. A run whose response is not
{"batchItemFailures": []}, that reports an error to the Runtime API, exits, or takes longer than
--timeout is an error: the harness stops with the details.

DynamoDB state carries over between runs: every run replays the same event, so after the first
run (the warm-up) of an implementation its events are already applied and are skipped as
duplicates (no re-scoring, no writes). --reset-activity deletes the event's customers' activity
before every run instead, so that every run re-scores and writes.

Prints one JSON object on stdout:
    {"python": ..., "boto3": ..., "runs": R,
     "results": {"ours": {"N": {"seconds": [...], "init_seconds": [...], "peak_kb": [...],
                                "response": {...}}, ...},
                 "python": {...}}}
Diagnostics go to stderr.
"""

import argparse
import base64
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "lambda_stream_processor.py")
REGION = "us-east-1"
EXPECTED = {"batchItemFailures": []}
API = "/2018-06-01/runtime"

# Resource names on the emulator.
MODELS_BUCKET = "bench-lambda-start-models"
OURS_TABLES = {
    "activity": "bench-lambda-start-activity",
    "recommendations": "bench-lambda-start-recommendations",
    "catalog": "bench-lambda-start-catalog",
    "dead_letters": "bench-lambda-start-dead-letters",
}
PEER_TABLES = {
    "activity": "bench-lambda-start-py-activity",
    "recommendations": "bench-lambda-start-py-recommendations",
    "dead_letters": "bench-lambda-start-py-dead-letters",
}


def say(msg):
    print(msg, file=sys.stderr, flush=True)


class Failure(Exception):
    pass


# -- the fake Runtime API -----------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A killed function's connections reset: expected, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class RuntimeApi:
    """Serves one invocation of `event` to whoever asks first; later `next` calls block until
    `stop`. Records the response's (or error's) arrival time and body."""

    def __init__(self, event, function_arn):
        self.event = event
        self.function_arn = function_arn
        self.request_id = str(uuid.uuid4())
        self.lock = threading.Lock()
        self.served = 0
        self.done = threading.Event()
        self.release = threading.Event()
        self.next_at = None
        self.response_at = None
        self.response = None
        self.error = None
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def body(self):
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def reply(self, status, payload=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):
                if self.path != f"{API}/invocation/next":
                    self.reply(404, b'{"errorMessage":"not found"}')
                    return
                with api.lock:
                    first = api.served == 0
                    api.served += 1
                    if first:
                        # Init is over: the function asks for its first event.
                        api.next_at = time.monotonic()
                if not first:
                    # The function is idle now: keep it waiting until the harness kills it.
                    api.release.wait()
                    self.close_connection = True
                    return
                deadline = int(time.time() * 1000) + 60_000
                self.reply(
                    200,
                    api.event,
                    [
                        ("Content-Type", "application/json"),
                        ("Lambda-Runtime-Aws-Request-Id", api.request_id),
                        ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                        ("Lambda-Runtime-Invoked-Function-Arn", api.function_arn),
                        ("Lambda-Runtime-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"),
                    ],
                )

            def do_POST(self):
                body = self.body()
                at = time.monotonic()
                if self.path == f"{API}/invocation/{api.request_id}/response":
                    if api.response_at is None:
                        api.response_at, api.response = at, body
                elif (self.path.startswith(f"{API}/invocation/") and self.path.endswith("/error")) or self.path == f"{API}/init/error":
                    kind = self.headers.get("Lambda-Runtime-Function-Error-Type") or ""
                    api.error = api.error or f"{self.path} [{kind}]: {body.decode(errors='replace')}"
                else:
                    self.reply(404, b'{"errorMessage":"not found"}')
                    return
                self.reply(202, b'{"status":"OK"}', [("Content-Type", "application/json")])
                api.done.set()

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


# -- setup on the emulator ----------------------------------------------------------------------


def clients(endpoint):
    common = dict(
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}), **common)
    return s3, boto3.client("dynamodb", **common)


def create_table(ddb, name, key, index=None, ttl=None):
    """key, index key: [(attribute, type)], partition first."""
    attrs = dict(key)
    args = dict(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": a, "KeyType": k} for (a, _), k in zip(key, ("HASH", "RANGE"))],
    )
    if index is not None:
        index_name, index_key = index
        attrs.update(index_key)
        args["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index_name,
                "KeySchema": [{"AttributeName": a, "KeyType": k} for (a, _), k in zip(index_key, ("HASH", "RANGE"))],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    args["AttributeDefinitions"] = [{"AttributeName": a, "AttributeType": t} for a, t in attrs.items()]
    try:
        ddb.create_table(**args)
    except ddb.exceptions.ResourceInUseException:
        say(f"table {name} exists already: reused")
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    if ttl:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl})


def create_tables(ddb):
    # Ours: adapters/aws-core/src/dynamodb.rs (USER_ACTIVITY, RECOMMENDATIONS, PRODUCTS,
    # DEAD_LETTERS), created on-demand as provisioning does.
    create_table(ddb, OURS_TABLES["activity"], [("customer_id", "N")], ttl="expires_at")
    create_table(ddb, OURS_TABLES["recommendations"], [("customer_id", "N")])
    create_table(ddb, OURS_TABLES["catalog"], [("product_id", "N")])
    create_table(
        ddb,
        OURS_TABLES["dead_letters"],
        [("dead_letter_key", "S")],
        index=("by_time", [("feed", "S"), ("set_aside_at", "S")]),
    )
    # The Python function's own.
    create_table(ddb, PEER_TABLES["activity"], [("customer_id", "N")], ttl="expires_at")
    create_table(ddb, PEER_TABLES["recommendations"], [("customer_id", "N")])
    create_table(ddb, PEER_TABLES["dead_letters"], [("dead_letter_key", "S")])


def upload_models(s3, models):
    """Each model as our S3 model store puts it; returns {label: prefix}."""
    try:
        s3.create_bucket(Bucket=MODELS_BUCKET)
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass
    prefixes = {}
    for label, path in models:
        with open(path, "rb") as f:
            body = f.read()
        version = json.loads(body)["version"]
        prefix = f"lambda-start/n{label}"
        s3.put_object(Bucket=MODELS_BUCKET, Key=f"{prefix}/{version}.json", Body=body, ContentType="application/json")
        s3.put_object(Bucket=MODELS_BUCKET, Key=f"{prefix}/LATEST", Body=version.encode(), ContentType="text/plain")
        prefixes[label] = prefix
        say(f"model {label}: s3://{MODELS_BUCKET}/{prefix}/{version}.json ({len(body)} bytes)")
    return prefixes


def catalog_items(models, catalog_csv):
    """The catalog as our DynamoDB catalog stores it (adapters/aws/src/dynamodb/catalog.rs): from a
    styles CSV when given, else from the models' products (sub-category and display name made up,
    since a model does not carry them; the stream processor only needs the product to exist)."""
    items = {}
    if catalog_csv:
        with open(catalog_csv, newline="") as f:
            for row in csv.DictReader(f):
                item = {
                    "product_id": {"N": str(int(row["id"]))},
                    "gender": {"S": row["gender"]},
                    "master_category": {"S": row["masterCategory"]},
                    "sub_category": {"S": row["subCategory"]},
                    "article_type": {"S": row["articleType"]},
                    "product_display_name": {"S": row["productDisplayName"]},
                }
                for attr, col in (("base_colour", "baseColour"), ("season", "season"), ("usage", "usage")):
                    if row.get(col):
                        item[attr] = {"S": row[col]}
                if row.get("year"):
                    item["year"] = {"N": str(int(float(row["year"])))}
                if row.get("price"):
                    item["price_cents"] = {"N": str(round(float(row["price"]) * 100))}
                items[int(row["id"])] = item
        return items
    for _, path in models:
        with open(path) as f:
            model = json.load(f)
        for p in model["products"]:
            items[p["id"]] = {
                "product_id": {"N": str(p["id"])},
                "gender": {"S": p["gender"]},
                "master_category": {"S": p["master_category"]},
                "sub_category": {"S": p["master_category"]},
                "article_type": {"S": p["article_type"]},
                "base_colour": {"S": p["colour"]},
                "product_display_name": {"S": f'{p["gender"]} {p["colour"]} {p["article_type"]}'},
            }
        del model
    return items


def batch_write(ddb, table, requests):
    for start in range(0, len(requests), 25):
        pending = requests[start : start + 25]
        for attempt in range(8):
            out = ddb.batch_write_item(RequestItems={table: pending})
            pending = out.get("UnprocessedItems", {}).get(table, [])
            if not pending:
                break
            time.sleep(0.05 * 2**attempt)
        else:
            raise Failure(f"{len(pending)} writes to {table} still unprocessed")


def event_customers(event):
    """The customers the event's records name (for --reset-activity)."""
    out = set()
    for r in json.loads(event).get("Records", []):
        try:
            out.add(int(json.loads(base64.b64decode(r["kinesis"]["data"]))["user_id"]))
        except (ValueError, KeyError, TypeError):
            pass
    return sorted(out)


# -- the runs -----------------------------------------------------------------------------------


def peak_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise Failure(f"no VmHWM in /proc/{pid}/status")


def tail(path, lines=40):
    with open(path, "rb") as f:
        text = f.read().decode(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def one_run(name, label, cmd, env, event, timeout, log_path):
    api = RuntimeApi(event, f"arn:aws:lambda:{REGION}:123456789012:function:{env['AWS_LAMBDA_FUNCTION_NAME']}")
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{api.port}")
    proc = None
    try:
        with open(log_path, "wb") as log:
            started = time.monotonic()
            proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            while not api.done.wait(0.02):
                if proc.poll() is not None:
                    raise Failure(f"{name} {label}: exited with {proc.returncode} before responding:\n{tail(log_path)}")
                if time.monotonic() - started > timeout:
                    raise Failure(f"{name} {label}: no response within {timeout} s:\n{tail(log_path)}")
            if api.error is not None:
                raise Failure(f"{name} {label}: the function reported an error: {api.error}\n{tail(log_path)}")
            kb = peak_kb(proc.pid)
            seconds = api.response_at - started
            init = api.next_at - started
        try:
            response = json.loads(api.response)
        except ValueError:
            raise Failure(f"{name} {label}: the response is not JSON: {api.response!r}")
        if response != EXPECTED:
            raise Failure(f"{name} {label}: expected {EXPECTED}, got {response}\n{tail(log_path)}")
        return seconds, init, kb, response
    finally:
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        api.stop()


def reset_activity(ddb, tables, customers):
    keys = [{"DeleteRequest": {"Key": {"customer_id": {"N": str(c)}}}} for c in customers]
    for table in (tables["activity"], tables["recommendations"]):
        batch_write(ddb, table, keys)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", required=True, help="the AWS emulator's URL")
    ap.add_argument("--ours", help="our stream-processor bootstrap; without it only the Python function runs")
    ap.add_argument("--event", required=True, help="the Kinesis event (JSON, as Lambda delivers it)")
    ap.add_argument("--models", required=True, help="N1=FILE1,N2=FILE2,...: model files by customer count")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per implementation and model, after one warm-up")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds a run may take to respond")
    ap.add_argument("--memory-mb", type=int, default=1024, help="AWS_LAMBDA_FUNCTION_MEMORY_SIZE (informative only)")
    ap.add_argument("--catalog", help="a styles CSV (id,gender,masterCategory,...) to fill the catalog table from")
    ap.add_argument("--reset-activity", action="store_true", help="delete the event's customers' activity before every run")
    ap.add_argument("--keep-logs", action="store_true", help="keep the functions' logs (their directory is printed)")
    a = ap.parse_args()

    models = []
    for part in a.models.split(","):
        label, sep, path = part.partition("=")
        if not sep or not label.strip() or not path.strip():
            ap.error(f"--models: {part!r} is not N=FILE")
        models.append((label.strip(), path.strip()))
    if a.ours and not os.access(a.ours, os.X_OK):
        ap.error(f"--ours: {a.ours} is not an executable file")
    with open(a.event, "rb") as f:
        event = f.read()
    records = len(json.loads(event).get("Records", []))

    s3, ddb = clients(a.endpoint)
    began = time.monotonic()
    create_tables(ddb)
    prefixes = upload_models(s3, models)
    catalog = catalog_items(models, a.catalog)
    batch_write(ddb, OURS_TABLES["catalog"], [{"PutRequest": {"Item": i}} for i in catalog.values()])
    say(f"setup: {len(catalog)} products in the catalog, {time.monotonic() - began:.1f} s; event: {records} records")
    del catalog
    customers = event_customers(event) if a.reset_activity else []

    scratch = tempfile.mkdtemp(prefix="lambda-start.")
    # The environment of a function: Lambda's own variables, the region and (dummy) credentials,
    # the emulator's endpoint, the PATH; nothing else inherited.
    base = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(a.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench-stream-processor",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": a.endpoint,
        # An empty home: no ~/.aws/config or ~/.aws/credentials to read, as on Lambda.
        "HOME": scratch,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    impls = []
    if a.ours:
        impls.append(("ours", [os.path.abspath(a.ours)], dict(
            base,
            AWS_LAMBDA_FUNCTION_NAME="bench-stream-processor",
            # apps/lambda/src/settings.rs, StreamProcessorSettings::from_lookup.
            FASHION_ACTIVITY_TABLE=OURS_TABLES["activity"],
            FASHION_RECOMMENDATIONS_TABLE=OURS_TABLES["recommendations"],
            FASHION_CATALOG_TABLE=OURS_TABLES["catalog"],
            FASHION_DEAD_LETTERS_TABLE=OURS_TABLES["dead_letters"],
            FASHION_MODELS_BUCKET=MODELS_BUCKET,
        ), OURS_TABLES))
    else:
        say("no --ours: only the Python function runs")
    impls.append(("python", [sys.executable, PEER], dict(
        base,
        AWS_LAMBDA_FUNCTION_NAME="bench-stream-processor-python",
        # Compiled modules cached outside the repository (the warm-up run fills the cache).
        PYTHONPYCACHEPREFIX=os.path.join(scratch, "pycache"),
        PEER_ACTIVITY_TABLE=PEER_TABLES["activity"],
        PEER_RECOMMENDATIONS_TABLE=PEER_TABLES["recommendations"],
        PEER_DEAD_LETTERS_TABLE=PEER_TABLES["dead_letters"],
        PEER_CATALOG_TABLE=OURS_TABLES["catalog"],
        PEER_MODELS_BUCKET=MODELS_BUCKET,
    ), PEER_TABLES))

    results = {"ours": {}, "python": {}}
    try:
        for name, cmd, env, tables in impls:
            for label, _ in models:
                prefix_var = "FASHION_MODELS_PREFIX" if name == "ours" else "PEER_MODELS_PREFIX"
                run_env = dict(env, **{prefix_var: prefixes[label]})
                seconds, inits, kbs, response = [], [], [], None
                for i in range(a.runs + 1):
                    if customers:
                        reset_activity(ddb, tables, customers)
                    log_path = os.path.join(scratch, f"{name}-{label}-{i}.log")
                    s, init, kb, response = one_run(name, label, cmd, run_env, event, a.timeout, log_path)
                    if i == 0:
                        say(f"{name} {label}: warm-up {s:.3f} s, {kb} kB; its log:\n{tail(log_path, 15)}")
                    else:
                        seconds.append(s)
                        inits.append(init)
                        kbs.append(kb)
                say(f"{name} {label}: {' '.join(f'{s:.3f}' for s in seconds)} s; {' '.join(map(str, kbs))} kB")
                results[name][label] = {"seconds": seconds, "init_seconds": inits, "peak_kb": kbs, "response": response}
    except Failure as e:
        say(f"FAILED: {e}")
        sys.exit(1)
    finally:
        if a.keep_logs:
            say(f"logs kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    json.dump(
        {"python": platform.python_version(), "boto3": boto3.__version__, "runs": a.runs, "results": results},
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
