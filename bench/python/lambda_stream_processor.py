#!/usr/bin/env python3
"""The stream-processor Lambda function in Python 3 + boto3: the peer of ours
(apps/lambda/src/bin/stream_processor.rs) in the cold-start benchmark (bench/python/lambda_start.py).

Run as a process, the way a custom runtime runs a bootstrap. Its init (before the first `next`):
boto3 clients (region, credentials and endpoint from the standard environment; boto3 honours
AWS_ENDPOINT_URL), the newest model read from S3 (`<prefix>/LATEST`, then `<prefix>/<version>.json`,
the layout of our S3 model store) and the recommender built from it. Then a minimal runtime
interface loop over AWS_LAMBDA_RUNTIME_API: GET next, handler(event, context), POST the response
(or the error).

Per Kinesis batch it does what ours does: base64-decode each record, parse and validate the click
event, look its product up in the catalog table (BatchGetItem, cached for the process), group by
customer, read the customers' activity (BatchGetItem, consistent), skip events already applied,
append, re-score with the model, write the recommendations and the activity (BatchWriteItem) and
the dead letters, and answer {"batchItemFailures": []}. Any store failure fails the whole
invocation (the runtime's /error), where ours would name the records to retry.

The validation, the dedupe rules and the recommender are bench/python/stream_processor.py's
(imported, not copied): its `run` does the per-customer dedupe, append and scoring over records this
module has parsed already (see `_processing_in_place`). Added here, because that module has no
clock of its own to check it against: ours refuses events more than 30 days older than their
arrival (stale_timestamp).

The activity state is JSON in a string attribute `state` (ours writes a compact binary codec).

Environment (besides the Lambda and AWS variables):
  PEER_MODELS_BUCKET, PEER_MODELS_PREFIX (default "models")
  PEER_ACTIVITY_TABLE, PEER_RECOMMENDATIONS_TABLE  (hash key customer_id, N)
  PEER_CATALOG_TABLE   (hash key product_id, N: our catalog table, read only)
  PEER_DEAD_LETTERS_TABLE  (hash key dead_letter_key, S)
  PEER_ACTIVITY_TTL_DAYS (default 30)
"""

import base64
import contextlib
import json
import math
import os
import sys
import time
import traceback
import urllib.request
from collections import deque
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

import stream_processor as sp  # noqa: E402

# Ours: MAX_SEEN_EVENTS (domain/src/activity.rs), MAX_PAST_AGE (domain/src/event.rs).
SEEN_WINDOW = 32
MAX_PAST_AGE = timedelta(days=30)
SOURCE = "stream-processor-python"
MAX_KEYS_PER_BATCH_GET = 100
MAX_ITEMS_PER_BATCH_WRITE = 25
MAX_ATTEMPTS = 5

_parse_event = sp.parse_event  # the original, before `_processing_in_place` swaps it


def log(msg, **fields):
    extra = " ".join(f"{k}={v}" for k, v in fields.items())
    print(f"{datetime.now(timezone.utc).isoformat()} {msg} {extra}".rstrip(), file=sys.stderr, flush=True)


def env(name, default=None):
    v = os.environ.get(name, "").strip()
    if v:
        return v
    if default is None:
        raise RuntimeError(f"{name} is not set")
    return default


class Function:
    """What the init creates once and every invocation reuses."""

    def __init__(self):
        self.activity_table = env("PEER_ACTIVITY_TABLE")
        self.recommendations_table = env("PEER_RECOMMENDATIONS_TABLE")
        self.catalog_table = env("PEER_CATALOG_TABLE")
        self.dead_letters_table = env("PEER_DEAD_LETTERS_TABLE")
        self.ttl = timedelta(days=int(env("PEER_ACTIVITY_TTL_DAYS", "30")))
        bucket = env("PEER_MODELS_BUCKET")
        prefix = env("PEER_MODELS_PREFIX", "models").strip("/")
        # Path-style S3 addressing, as ours uses whenever an endpoint is configured.
        self.s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}))
        self.dynamodb = boto3.client("dynamodb")
        key = (lambda rel: f"{prefix}/{rel}") if prefix else (lambda rel: rel)
        latest = self.s3.get_object(Bucket=bucket, Key=key("LATEST"))["Body"].read().decode().strip()
        body = self.s3.get_object(Bucket=bucket, Key=key(f"{latest}.json"))["Body"].read()
        self.model = sp.Model(json.loads(body))
        del body
        self.catalog = {}  # product id -> catalog item, for the process's life
        log("Loaded model.", version=self.model.version, products=len(self.model.products))

    # -- DynamoDB -------------------------------------------------------------------------------

    def batch_get(self, table, keys):
        items = []
        for start in range(0, len(keys), MAX_KEYS_PER_BATCH_GET):
            pending = keys[start : start + MAX_KEYS_PER_BATCH_GET]
            for attempt in range(1, MAX_ATTEMPTS + 1):
                out = self.dynamodb.batch_get_item(RequestItems={table: {"Keys": pending, "ConsistentRead": True}})
                items.extend(out.get("Responses", {}).get(table, []))
                pending = out.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
                if not pending:
                    break
                if attempt == MAX_ATTEMPTS:
                    raise RuntimeError(f"{len(pending)} keys of {table} still unprocessed")
                time.sleep(0.05 * 2**attempt)
        return items

    def batch_write(self, table, items):
        for start in range(0, len(items), MAX_ITEMS_PER_BATCH_WRITE):
            pending = [{"PutRequest": {"Item": i}} for i in items[start : start + MAX_ITEMS_PER_BATCH_WRITE]]
            for attempt in range(1, MAX_ATTEMPTS + 1):
                out = self.dynamodb.batch_write_item(RequestItems={table: pending})
                pending = out.get("UnprocessedItems", {}).get(table, [])
                if not pending:
                    break
                if attempt == MAX_ATTEMPTS:
                    raise RuntimeError(f"{len(pending)} items for {table} still unprocessed")
                time.sleep(0.05 * 2**attempt)

    def known_products(self, ids):
        missing = [p for p in ids if p not in self.catalog]
        if missing:
            for item in self.batch_get(self.catalog_table, [{"product_id": {"N": str(p)}} for p in missing]):
                self.catalog[int(item["product_id"]["N"])] = item
        return {p for p in ids if p in self.catalog}

    def read_activity(self, customers):
        keys = [{"customer_id": {"N": str(c)}} for c in customers]
        stored = {}
        for item in self.batch_get(self.activity_table, keys):
            state = json.loads(item["state"]["S"])
            seen = deque(state["seen"])
            applied = state["applied"]
            stored[int(item["customer_id"]["N"])] = {
                "recent": [(p, t, datetime.fromisoformat(at)) for p, t, at in state["recent"]],
                "seen": seen,
                "seen_set": set(seen),
                "count": state["count"],
                "purchased": state.get("purchased", []),
                "version": int(item["version"]["N"]),
                "applied": None if applied is None else (applied[0], int(applied[1])),
            }
        return stored

    # -- the batch ------------------------------------------------------------------------------

    def handle(self, event, now):
        records = event.get("Records") or []
        letters = {}
        parsed = []  # (record index, shard, sequence number, arrival, raw data, event)
        for i, rec in enumerate(records):
            k = rec["kinesis"]
            event_id = rec.get("eventID") or ""
            shard = event_id.split(":", 1)[0] if ":" in event_id else ""
            seq = k["sequenceNumber"]
            origin = f"{shard}/{seq}"
            data = base64.b64decode(k["data"])
            arrived = datetime.fromtimestamp(float(k["approximateArrivalTimestamp"]), timezone.utc)
            try:
                ev = _parse_event(data, arrived)
                if ev["at"] < arrived - MAX_PAST_AGE:
                    raise sp.Invalid("stale_timestamp", "occurred_at more than 30 days before arrival")
            except sp.Invalid as e:
                letters[origin] = dead_letter(e.code, str(e), origin, data, now)
                continue
            parsed.append((i, shard, seq, arrived, data, ev))

        known = self.known_products(sorted({p[5]["product_id"] for p in parsed if p[5]["product_id"] is not None}))
        rows, events = [], {}
        for i, shard, seq, arrived, data, ev in parsed:
            if ev["product_id"] is not None and ev["product_id"] not in known:
                origin = f"{shard}/{seq}"
                letters[origin] = dead_letter("unknown_product", f"product {ev['product_id']} is not in the catalog", origin, data, now)
                continue
            events[i] = ev
            rows.append({"bytes": i, "arrived": arrived, "shard": shard, "seq": seq})

        customers = sorted({ev["user_id"] for ev in events.values()})
        processed = duplicates = 0
        changed, recs = [], {}
        if customers:
            stored = self.read_activity(customers)
            activity = {c: stored.get(c) or fresh_activity() for c in customers}
            before = {c: a["version"] for c, a in activity.items()}
            with _processing_in_place(events):
                _, processed, duplicates, _, recs = sp.run([rows], activity, known, self.model, now, SEEN_WINDOW)
            changed = [c for c in customers if activity[c]["version"] != before[c]]
            stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            self.batch_write(
                self.recommendations_table,
                [recommendations_item(c, recs[c], stamp) for c in changed if c in recs],
            )
            expires = str(int((now + self.ttl).timestamp()))
            self.batch_write(
                self.activity_table,
                [activity_item(c, activity[c], expires, stamp) for c in changed],
            )
        if letters:
            self.batch_write(self.dead_letters_table, list(letters.values()))
        log(
            "Processed Kinesis batch.",
            received=len(records),
            processed=processed,
            duplicates=duplicates,
            dead_lettered=len(letters),
            customers_updated=len(changed),
            recommendations_written=len([c for c in changed if c in recs]),
        )
        return {"batchItemFailures": []}


@contextlib.contextmanager
def _processing_in_place(events):
    """Lets stream_processor.run work on this batch: it re-parses each record (here: returns the
    event already parsed, `bytes` being the record's index) and works on copies of the activity it
    is given (here: on the very objects, so the updated states can be written back)."""
    saved = sp.parse_event, sp.copy_activity
    sp.parse_event = lambda token, _arrived: events[token]
    sp.copy_activity = lambda a: a
    try:
        yield
    finally:
        sp.parse_event, sp.copy_activity = saved


def fresh_activity():
    return {"recent": [], "seen": deque(), "seen_set": set(), "count": 0, "purchased": [], "version": 0, "applied": None}


def number(v):
    if not math.isfinite(v):
        raise ValueError(f"score {v} is not a finite number")
    return {"N": repr(float(v))}


def recommendations_item(customer, rec, stamp):
    return {
        "customer_id": {"N": str(customer)},
        "items": {
            "L": [
                {"M": {"product_id": {"N": str(p)}, "score": number(s), "reason": {"S": reason}}}
                for p, s, reason in rec["items"]
            ]
        },
        "model_version": {"S": rec["model_version"]},
        "updated_at": {"S": stamp},
    }


def activity_item(customer, a, expires, stamp):
    state = {
        "recent": [[p, t, at.isoformat()] for p, t, at in a["recent"]],
        "seen": list(a["seen"]),
        "count": a["count"],
        "purchased": a["purchased"],
        "applied": None if a["applied"] is None else [a["applied"][0], str(a["applied"][1])],
    }
    return {
        "customer_id": {"N": str(customer)},
        "version": {"N": str(a["version"])},
        "state": {"S": json.dumps(state, separators=(",", ":"))},
        "expires_at": {"N": expires},
        "updated_at": {"S": stamp},
    }


def dead_letter(code, reason, origin, payload, now):
    at = now.isoformat(timespec="microseconds").replace("+00:00", "Z")
    body = {"source": SOURCE, "code": code, "reason": reason, "origin": origin,
            "payload": base64.b64encode(payload).decode(), "at": at}
    return {
        "dead_letter_key": {"S": f"{SOURCE}:{origin}"},
        "set_aside_at": {"S": at},
        "body": {"S": json.dumps(body)},
    }


# -- the runtime interface ----------------------------------------------------------------------

class Context:
    def __init__(self, headers):
        self.aws_request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        self.deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms") or 0)
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self.trace_id = headers.get("Lambda-Runtime-Trace-Id")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")

    def get_remaining_time_in_millis(self):
        return max(self.deadline_ms - int(time.time() * 1000), 0)


FUNCTION = None


def handler(event, context):
    return FUNCTION.handle(event, datetime.now(timezone.utc))


# The runtime API is on loopback: never through a proxy from the environment.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _post(url, payload, headers=None):
    req = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with _http.open(req) as r:
        r.read()


def _error_body(e):
    return {
        "errorMessage": str(e),
        "errorType": type(e).__name__,
        "stackTrace": traceback.format_exception(type(e), e, e.__traceback__),
    }


def main():
    global FUNCTION
    base = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"
    try:
        FUNCTION = Function()
    except Exception as e:
        traceback.print_exc()
        _post(f"{base}/init/error", _error_body(e), {"Lambda-Runtime-Function-Error-Type": "Runtime.InitError"})
        sys.exit(1)
    while True:
        with _http.open(f"{base}/invocation/next") as r:
            headers = r.headers
            body = r.read()
        context = Context(headers)
        try:
            result = handler(json.loads(body), context)
        except Exception as e:
            traceback.print_exc()
            _post(
                f"{base}/invocation/{context.aws_request_id}/error",
                _error_body(e),
                {"Lambda-Runtime-Function-Error-Type": f"Runtime.{type(e).__name__}"},
            )
            continue
        _post(f"{base}/invocation/{context.aws_request_id}/response", result)


if __name__ == "__main__":
    main()
