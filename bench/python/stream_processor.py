#!/usr/bin/env python3
"""The stream processor's logic in plain Python 3: the peer of the Rust benchmark
(bench/src/bin/stream_processor.rs), run on the same input files.

Records come in the batches the Rust side formed (each line names its batch). Per batch: parse and
validate each click event, dead-letter invalid ones with a reason, drop events already applied
(a record at or before the customer's last applied position on the same shard, or an event id
among the customer's last --seen-window ids, as the Rust processor does), enrich with the catalog, group by customer, update each
customer's recent activity, re-score and store the customer's top 10 recommendations with the
same model and the same scoring rules as domain/src/services/recommender.rs.

Prints one JSON object: counts, the time spent processing, and the stored lists.
"""

import argparse
import json
import sys
import time
import uuid
from collections import deque
from datetime import datetime, timedelta, timezone

MAX_EVENT_BYTES = 16 * 1024
MAX_FUTURE_SKEW = timedelta(hours=1)
SCHEMA_VERSION = 1
MAX_RECENT = 50
MAX_SEEN = 32  # overridden by --seen-window: the Rust side passes its own
EVENT_TYPES = {"page_view", "product_view", "click", "add_to_cart", "remove_from_cart"}
EVENT_WEIGHT = {"page_view": 0.0, "product_view": 1.0, "click": 1.5, "add_to_cart": 4.0, "remove_from_cart": -2.0}
TOP_N = 10
HALF_LIFE_HOURS = 72.0
MAX_PER_TYPE = 5
TREND_BOOST = 0.5
CONTENT_WEIGHT = 0.3
TRENDING_SLOTS = 2
REVISIT_WEIGHT = 0.5
MAX_SEEDS = 20
NEIGHBOURS_PER_SEED = 20
SIMILAR_PER_GROUP = 40
ALL = "all"


class Invalid(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def positive_int(v, bits, what):
    if isinstance(v, bool):
        raise Invalid("malformed", f"{what} must be a positive integer")
    if isinstance(v, str):
        s = v.strip()
        if not s.isdigit():
            raise Invalid("malformed", f"{what} must be a positive integer")
        v = int(s)
    if not isinstance(v, int) or v <= 0 or v >= 2 ** bits:
        raise Invalid("malformed", f"{what} must be a positive integer")
    return v


def parse_event(data, arrived_at):
    if len(data) > MAX_EVENT_BYTES:
        raise Invalid("too_large", f"{len(data)} bytes")
    try:
        o = json.loads(data)
    except ValueError as e:
        raise Invalid("malformed", str(e))
    if not isinstance(o, dict):
        raise Invalid("malformed", "not an object")
    try:
        event_id = uuid.UUID(o["event_id"])
        event_type = o["event_type"]
        if event_type not in EVENT_TYPES:
            raise Invalid("malformed", f"unknown event_type {event_type!r}")
        user_id = positive_int(o["user_id"], 64, "user_id")
        session = o["session_id"]
        if not isinstance(session, str) or not session.strip() or len(session.strip()) > 128:
            raise Invalid("malformed", "bad session_id")
        product = o.get("product_id")
        if product is not None:
            product = positive_int(product, 32, "product_id")
        occurred_at = datetime.fromisoformat(o["occurred_at"])
        if occurred_at.tzinfo is None:
            raise Invalid("malformed", "occurred_at without offset")
        device = o["device"]
        if not isinstance(device, str):
            raise Invalid("malformed", "bad device")
        version = o["schema_version"]
        if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version < 65536:
            raise Invalid("malformed", "bad schema_version")
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise Invalid("malformed", f"{type(e).__name__}: {e}")
    if version != SCHEMA_VERSION:
        raise Invalid("unsupported_schema", f"schema_version {version}")
    if event_type != "page_view" and product is None:
        raise Invalid("missing_product", f"{event_type} without product_id")
    if occurred_at > arrived_at + MAX_FUTURE_SKEW:
        raise Invalid("future_timestamp", "occurred_at after arrival")
    return {
        "event_id": event_id,
        "event_type": event_type,
        "user_id": user_id,
        "product_id": product,
        "at": occurred_at.astimezone(timezone.utc),
    }


class Model:
    def __init__(self, m):
        self.version = m["version"]
        self.products = {p["id"]: p for p in m["products"]}
        self.neighbours = {int(p): ns for p, ns in m["neighbours"]}
        by_pop = sorted((p for p in m["products"] if p["available"]), key=lambda p: (-p["popularity"], p["id"]))
        self.similar = {}
        for p in by_pop:
            v = self.similar.setdefault((p["gender"], p["article_type"]), [])
            if len(v) < SIMILAR_PER_GROUP:
                v.append(p["id"])
        self.popular = {s: ids for s, ids in m["popular_by_segment"]}
        self.trending = {s: ids for s, ids in m["trending_by_segment"]}

    def segment_of(self, recent):
        votes = {}
        for pid, kind, _ in recent:
            p = self.products.get(pid)
            if p is not None:
                votes[p["gender"]] = votes.get(p["gender"], 0.0) + max(EVENT_WEIGHT[kind], 0.0)
        best = None
        for g, v in votes.items():
            if v <= 0:
                continue
            if best is None or v > best[1] or (v == best[1] and g < best[0]):
                best = (g, v)
        return best[0] if best else None

    def recommend(self, purchased, recent, now):
        cand = {}

        def bump(p, s, reason):
            e = cand.get(p)
            if e is None:
                cand[p] = [s, reason]
            else:
                e[0] += s

        seeds = {}
        for pid, kind, at in recent:
            age_h = max((now - at).total_seconds() // 1, 0) / 3600.0
            seeds[pid] = seeds.get(pid, 0.0) + EVENT_WEIGHT[kind] * 0.5 ** (age_h / HALF_LIFE_HOURS)
        seed_list = sorted(((p, w) for p, w in seeds.items() if w > 0), key=lambda x: (-x[1], x[0]))[:MAX_SEEDS]
        for seed, w in seed_list:
            bump(seed, w * REVISIT_WEIGHT, "seen_before")
            ns = self.neighbours.get(seed)
            if ns:
                for n in ns[:NEIGHBOURS_PER_SEED]:
                    bump(n["product_id"], w * n["score"], "also_viewed")
            else:
                p = self.products.get(seed)
                if p is not None:
                    for rank, q in enumerate(self.similar.get((p["gender"], p["article_type"]), ())):
                        if q == seed:
                            continue
                        colour = self.products[q]["colour"] == p["colour"]
                        bump(q, CONTENT_WEIGHT * w * (1.5 if colour else 1.0) / (1.0 + rank * 0.05), "similar")
        for p, e in cand.items():
            mp = self.products.get(p)
            if mp is not None:
                e[0] *= 1.0 + TREND_BOOST * mp["trend"]
        def keep(p):
            mp = self.products.get(p)
            return p not in purchased and mp is not None and mp["available"]

        ranked = sorted(((p, e[0], e[1]) for p, e in cand.items() if keep(p)), key=lambda r: (-r[1], r[0]))[: TOP_N * 3]
        segment = self.segment_of(recent) or ALL
        floor = ranked[-1][1] if ranked else 1.0
        seen = {r[0] for r in ranked}
        for lists, reason in ((self.trending, "trending"), (self.popular, "popular")):
            items = lists.get(segment) or lists.get(ALL) or []
            for i, p in enumerate(items):
                if len(ranked) >= TOP_N * 3:
                    break
                if keep(p) and p not in seen:
                    seen.add(p)
                    ranked.append((p, floor * 0.5 / (1.0 + i), reason))
        out, overflow, per_type = [], [], {}
        for p, s, r in ranked:
            if len(out) >= TOP_N:
                break
            ty = self.products[p]["article_type"] if p in self.products else ""
            if per_type.get(ty, 0) < MAX_PER_TYPE:
                per_type[ty] = per_type.get(ty, 0) + 1
                out.append((p, s, r))
            else:
                overflow.append((p, s, r))
        out.extend(overflow[: max(TOP_N - len(out), 0)])
        trending = self.trending.get(segment) or self.trending.get(ALL) or []
        picks = [p for p in trending if keep(p) and self.products[p]["trend"] > 0][:TRENDING_SLOTS]
        picks = [p for p in picks if not any(o[0] == p for o in out)]
        if picks:
            out = out[: max(TOP_N - len(picks), 0)]
            score = out[-1][1] if out else 0.0
            out.extend((p, score, "trending") for p in picks)
        return out


MASK64 = (1 << 64) - 1


def event_key(event_id):
    """An event id folded to 64 bits, as the Rust side remembers it (EventKey::of)."""
    u = event_id.int
    return (u >> 64) ^ (u & MASK64)


def load_warm(path):
    """The activity store's state before the measured day (written by the Rust side)."""
    if path is None:
        return {}
    with open(path) as f:
        rows = json.load(f)
    warm = {}
    for a in rows:
        seen = deque(a["seen"])
        warm[a["customer"]] = {
            "recent": [(p, t, datetime.fromisoformat(at)) for p, t, at in a["recent"]],
            "seen": seen,
            "seen_set": set(seen),
            "count": a["count"],
            "purchased": list(a.get("purchased", [])),
            "version": 1,
            "applied": None if a["applied"] is None else (a["applied"][0], int(a["applied"][1])),
        }
    return warm


def copy_activity(a_):
    return {
        "recent": list(a_["recent"]),
        "seen": deque(a_["seen"]),
        "seen_set": set(a_["seen_set"]),
        "count": a_["count"],
        "purchased": a_["purchased"],
        "version": a_["version"],
        "applied": a_["applied"],
    }


def run(batches, warm, catalog, model, now, max_seen):
    """One pass over the batches from the warm state; the time counts the processing only."""
    activity = {c: copy_activity(a_) for c, a_ in warm.items()}
    recs, dead = {}, []
    processed = duplicates = 0
    started = time.perf_counter()
    for batch in batches:
        groups = {}
        for r in batch:
            try:
                ev = parse_event(r["bytes"], r["arrived"])
            except Invalid as e:
                dead.append({"code": e.code, "reason": str(e), "origin": f'{r["shard"]}/{r["seq"]}'})
                continue
            if ev["product_id"] is not None and ev["product_id"] not in catalog:
                dead.append({"code": "unknown_product", "reason": "not in catalog", "origin": f'{r["shard"]}/{r["seq"]}'})
                continue
            groups.setdefault(ev["user_id"], []).append((r["shard"], int(r["seq"]), ev))
        for customer in sorted(groups):
            a_ = activity.get(customer)
            if a_ is None:
                a_ = {"recent": [], "seen": deque(), "seen_set": set(), "count": 0, "purchased": [], "version": 0, "applied": None}
            new = 0
            for shard, seq, ev in groups[customer]:
                applied = a_["applied"]
                if applied is not None and applied[0] == shard and seq <= applied[1]:
                    duplicates += 1
                    continue
                key = event_key(ev["event_id"])
                if key in a_["seen_set"]:
                    duplicates += 1
                    continue
                new += 1
                a_["applied"] = (shard, seq)
                a_["seen"].append(key)
                a_["seen_set"].add(key)
                while len(a_["seen"]) > max_seen:
                    a_["seen_set"].discard(a_["seen"].popleft())
                a_["count"] += 1
                if ev["product_id"] is not None:
                    recent = a_["recent"]
                    pos = len(recent)
                    while pos > 0 and recent[pos - 1][2] > ev["at"]:
                        pos -= 1
                    recent.insert(pos, (ev["product_id"], ev["event_type"], ev["at"]))
                    if len(recent) > MAX_RECENT:
                        del recent[0 : len(recent) - MAX_RECENT]
            if new == 0:
                continue
            items = model.recommend(a_["purchased"], a_["recent"], now)
            if items:
                recs[customer] = {"items": items, "model_version": model.version}
            a_["version"] += 1
            activity[customer] = a_
            processed += new
    seconds = time.perf_counter() - started
    return seconds, processed, duplicates, dead, recs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--now", required=True)
    ap.add_argument("--seen-window", type=int, default=MAX_SEEN)
    ap.add_argument("--warm", help="the activity state to start each run from (JSON)")
    ap.add_argument("--runs", type=int, default=1, help="measured runs, after one warm-up run")
    a = ap.parse_args()
    with open(f"{a.dir}/model.json") as f:
        model = Model(json.load(f))
    with open(f"{a.dir}/catalog.json") as f:
        catalog = {p["id"]: p for p in json.load(f)}
    with open(f"{a.dir}/records.jsonl") as f:
        records = [json.loads(line) for line in f if line.strip()]
    for r in records:
        r["arrived"] = datetime.fromisoformat(r["arrived_at"])
        r["bytes"] = r["data"].encode()
    now = datetime.fromisoformat(a.now).astimezone(timezone.utc)
    warm = load_warm(a.warm)
    # Batches as the Rust side cut them (each line names its batch).
    batches = []
    for r in records:
        if not batches or batches[-1][0]["batch"] != r["batch"]:
            batches.append([])
        batches[-1].append(r)
    times = []
    for i in range(a.runs + 1):
        seconds, processed, duplicates, dead, recs = run(batches, warm, catalog, model, now, a.seen_window)
        if i > 0:
            times.append(seconds)
    json.dump(
        {
            "events": len(records),
            "seconds": times,
            "processed": processed,
            "duplicates": duplicates,
            "dead_lettered": len(dead),
            "recommendations": {str(c): [i[0] for i in r["items"]] for c, r in recs.items()},
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
