//! The section of `docs/BENCHMARKS.md` the benchmark writes: machine, command, both peers' reads
//! and ingest, and the targets marked met or not met.

use std::fmt::Write as _;

use fashion_bench::load::LoadResult;
use fashion_bench::machine;

use super::measure::{IngestRun, ReadRun, Settle, Spread, met, valid};
use super::{
    Args, CUSTOMERS, INGEST_TARGET_RATE, INGEST_TARGET_SECS, READ_TARGET_P99_MS, READ_TARGET_RATE,
    RSS_SLACK, RSS_TAIL_SECS, TRACKER_MAX_BATCH, VALID_SHARE,
};

pub(super) struct Report<'a> {
    pub(super) args: &'a Args,
    pub(super) api_version: Option<&'a str>,
    pub(super) redis_version: &'a str,
    pub(super) bodies: &'a [Vec<u8>],
    pub(super) products: usize,
    pub(super) shards: usize,
    pub(super) reads: &'a [ReadRun],
    pub(super) ingests: &'a [(&'static str, IngestRun)],
    pub(super) load_before: f64,
    pub(super) load_after: f64,
    pub(super) settle: &'a Settle,
}

pub(super) fn report(r: &Report<'_>) -> String {
    let a = r.args;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let command: Vec<String> = std::env::args().skip(1).collect();
    let mut out = String::new();
    let _ = write!(
        out,
        "## HTTP API under open-loop load, next to Redis\n\n\
         `cargo run --release -p fashion-bench --bin api_load --{}{}` — {}. ",
        if command.is_empty() { "" } else { " " },
        command.join(" "),
        machine()
    );
    match r.api_version {
        Some(v) => {
            let _ = write!(
                out,
                "Peers: `fashion serve` ({v}, release build) on a `fashion demo` data directory (7 days, \
                 {CUSTOMERS} customers, {} products), and `redis-server` ({}, Debian; `--save '' \
                 --appendonly no`, so in memory only) loaded with the API's own answers, so both send \
                 identical bytes. ",
                r.products, r.redis_version
            );
        }
        None => {
            let _ = write!(
                out,
                "**Redis only** (`--redis-only`): `redis-server` ({}, Debian; `--save '' --appendonly \
                 no`) with synthetic lists of the API's shape. ",
                r.redis_version
            );
        }
    }
    let _ = write!(
        out,
        "Generator: open loop, {conns} persistent connections per peer on loopback, each on its own \
         fixed schedule (rate / {conns} requests per second, evenly spaced, the connections offset so \
         that all sends are evenly spaced) with one request in flight; a request's latency runs from \
         its *intended* send time to the end of its answer, so a stalled server is charged for every \
         request it delayed (the coordinated-omission correction of wrk2), recorded in an HDR \
         histogram in microseconds. The HTTP client is a minimal HTTP/1.1 keep-alive client \
         (Content-Length bodies), the Redis one speaks RESP; a non-success answer is an error. \
         The generator is one thread (a current-thread tokio runtime) that sleeps on tokio's \
         millisecond timer to within 1.5 ms of a send and spins for the rest, so sends leave on \
         time and answers are read as they arrive; it keeps one core busy (\"generator CPU\", in \
         cores), and the server under test has the other core of this {cores}-core machine \
         (\"server CPU\"; \"machine CPU\" is the busy time of the whole machine from \
         `/proc/stat`: both processes, the kernel's loopback work and anything else; \"steal\" is \
         time the hypervisor gave this VM's CPUs to others, during which nothing here ran). \
         \"Lateness\" is \
         how late the generator released a send (its own delay, part of every latency figure; a \
         connection still waiting for its previous answer is the server's delay, not counted \
         there). A run is invalid when it completed fewer than {:.0}% of the offered requests per \
         second.\n\n\
         Before each run the benchmark waited until the machine was idle (under {:.2} cores busy \
         over one second, at most {} s; {:.0} s in all{}). One-minute load average when the runs \
         started and ended: {:.2} and {:.2} ({cores} cores; the second figure includes the \
         benchmark itself).\n",
        VALID_SHARE * 100.0,
        Settle::IDLE_CORES,
        Settle::MAX_WAIT.as_secs(),
        r.settle.waited.as_secs_f64(),
        if r.settle.busy_starts.is_empty() {
            String::new()
        } else {
            format!(
                "; **started on a busy machine anyway**: {}",
                r.settle
                    .busy_starts
                    .iter()
                    .map(|(l, b)| format!("{l} ({b:.2} cores)"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        r.load_before,
        r.load_after,
        conns = a.connections,
    );
    out.push_str(&report_reads(r));
    out.push_str(&report_ingest(r));
    out
}

pub(super) fn report_reads(r: &Report<'_>) -> String {
    let a = r.args;
    let mut sizes: Vec<usize> = r.bodies.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    let personal = r
        .bodies
        .iter()
        .filter(|b| {
            serde_json::from_slice::<serde_json::Value>(b).is_ok_and(|v| v["source"] == "personal")
        })
        .count();
    let mut out = format!(
        "\n### Reads: `GET /users/{{id}}/recommendations` vs Redis `GET recs:{{id}}`\n\n\
         {} requests/s offered to each peer for {} s per run; {} runs per peer after one warm-up run \
         of each, alternating peers. Customer ids uniform over 1..={CUSTOMERS} (seeded; the same \
         sequence for both peers within a run). {personal} customers have a personal list, {} get \
         the fallback list; bodies {}–{} bytes (median {}). Cells: median over the runs (min–max), \
         latencies in ms.\n\n\
         | peer | p50 | p99 | p99.9 | max | achieved req/s | errors | unsent | lateness p99 | server CPU | generator CPU | machine CPU | steal | valid runs |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        a.rate,
        a.duration_secs,
        a.runs,
        r.bodies.len() - personal,
        sizes.first().copied().unwrap_or(0),
        sizes.last().copied().unwrap_or(0),
        sizes.get(sizes.len() / 2).copied().unwrap_or(0),
    );
    let rate = f64::from(a.rate);
    let mut api_p99 = None;
    let mut api_all_valid = false;
    for name in ["API", "Redis"] {
        let server_cores = Spread::of(
            &r.reads
                .iter()
                .filter(|x| x.peer == name)
                .map(|x| x.server_cores)
                .collect::<Vec<_>>(),
        );
        let runs: Vec<&LoadResult> = r
            .reads
            .iter()
            .filter(|x| x.peer == name)
            .map(|x| &x.result)
            .collect();
        if runs.is_empty() {
            continue;
        }
        let spread = |f: &dyn Fn(&LoadResult) -> f64| {
            Spread::of(&runs.iter().map(|x| f(x)).collect::<Vec<_>>())
        };
        let p99 = spread(&|x| x.ms(0.99));
        let valid_runs = runs.iter().filter(|x| valid(x, rate)).count();
        if name == "API" {
            api_p99 = Some(p99);
            api_all_valid = valid_runs == runs.len();
        }
        let label = if name == "API" {
            "API `GET /users/{id}/recommendations`"
        } else {
            "Redis `GET recs:{id}`"
        };
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {valid_runs}/{} |",
            spread(&|x| x.ms(0.5)).show(3),
            p99.show(3),
            spread(&|x| x.ms(0.999)).show(3),
            spread(&LoadResult::max_ms).show(3),
            spread(&LoadResult::achieved_rate).show(0),
            runs.iter().map(|x| x.errors).sum::<u64>(),
            runs.iter().map(|x| x.unsent).sum::<u64>(),
            spread(&|x| x.lateness.value_at_quantile(0.99) as f64 / 1000.0).show(3),
            server_cores.show(2),
            spread(&|x| x.generator_cores).show(2),
            spread(&|x| x.machine_cores).show(2),
            spread(&|x| x.steal_cores).show(2),
            runs.len(),
        );
    }
    out.push_str(
        "\n<details><summary>Every run</summary>\n\n\
         | run | peer | p50 | p99 | p99.9 | max | achieved req/s | errors | lateness p99 | server CPU | generator CPU | machine CPU | steal |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for rr in r.reads {
        let x = &rr.result;
        let _ = writeln!(
            out,
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0}{} | {} | {:.3} | {:.2} | {:.2} | {:.2} | {:.2} |",
            rr.run,
            rr.peer,
            x.ms(0.5),
            x.ms(0.99),
            x.ms(0.999),
            x.max_ms(),
            x.achieved_rate(),
            if valid(x, rate) { "" } else { " (invalid)" },
            x.errors,
            x.lateness.value_at_quantile(0.99) as f64 / 1000.0,
            rr.server_cores,
            x.generator_cores,
            x.machine_cores,
            x.steal_cores,
        );
    }
    out.push_str("\n</details>\n\n");
    let errors: Vec<&String> = r
        .reads
        .iter()
        .flat_map(|x| &x.result.error_samples)
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(out, "Errors seen (samples): {errors:?}.\n");
    }
    match api_p99 {
        None => {
            out.push_str("- API reads p99 ≤ 1 ms at 20 000 req/s: not measured (Redis only).\n");
        }
        Some(_) if a.rate != READ_TARGET_RATE => {
            let _ = writeln!(
                out,
                "- API reads p99 ≤ 1 ms at 20 000 req/s: not measured (this run offered {} req/s).",
                a.rate
            );
        }
        Some(p99) => {
            let ok = p99.max <= READ_TARGET_P99_MS && api_all_valid;
            let _ = writeln!(
                out,
                "- API reads p99 ≤ {READ_TARGET_P99_MS} ms at {READ_TARGET_RATE} req/s (every run's p99 \
                 within it, every run valid): {} (p99 {:.3}–{:.3} ms over the runs{}).",
                met(ok),
                p99.min,
                p99.max,
                if api_all_valid {
                    ""
                } else {
                    "; some runs did not reach 95% of the offered rate"
                }
            );
        }
    }
    out
}

pub(super) fn report_ingest(r: &Report<'_>) -> String {
    let a = r.args;
    let batch = a.ingest_batch.max(1);
    let mut out = format!(
        "\n### Ingest: `POST /events` vs Redis `RPUSH clicks:{{shard}}`\n\n\
         {} events/s offered to each peer for {} s, one run per peer (a minute each is long; the \
         API first, then Redis), in requests of {batch} events ({:.0} requests/s; the browser \
         tracker batches up to {TRACKER_MAX_BATCH}). A request is one browser session of one \
         customer (uniform over 1..={CUSTOMERS}): a unique `event_id` (UUID v4) per event, a \
         session id unique to the run, device desktop or mobile, event types product_view 45% / \
         click 20% / page_view 20% (no product) / add_to_cart 10% / remove_from_cart 5%, product \
         ids uniform over the catalog's {}. The API gets the JSON array as `application/json`; \
         Redis gets one `RPUSH` of the same events per request onto one of {} lists keyed by \
         customer like the stream's shards. A 503 is re-sent after its `Retry-After` (at most 5 \
         times, at most 5 s each; its wait counts in the latency). Afterwards the run's events \
         are counted on the API's stream (`stream.db`, by session id prefix) and in Redis's lists \
         (`LLEN`); the server's RSS (`VmRSS`) was sampled every second.\n\n\
         | peer | requests ok | events accepted | rejected | achieved events/s | lowest 1-s events/s | p50 | p99 | p99.9 | max | 503s | errors | unsent |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        a.ingest_rate,
        a.ingest_secs,
        f64::from(a.ingest_rate) / batch as f64,
        r.products,
        r.shards,
    );
    for (name, run) in r.ingests {
        let x = &run.result;
        let full = usize::try_from(a.ingest_secs).unwrap_or(0);
        let lowest = x
            .accepted_per_second
            .iter()
            .take(full)
            .min()
            .copied()
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {:.0} | {lowest} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {} |",
            x.ok,
            x.accepted,
            x.rejected,
            x.accepted_rate(),
            x.ms(0.5),
            x.ms(0.99),
            x.ms(0.999),
            x.max_ms(),
            x.unavailable,
            x.errors,
            x.unsent,
        );
    }
    out.push_str(
        "\n| peer | events accepted | found afterwards | RSS start / peak / end MiB | peak first half / last 10 s MiB | server CPU | generator CPU | machine CPU | steal | lateness p99 |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (name, run) in r.ingests {
        let rss = run.rss.map_or_else(
            || ("not sampled".to_owned(), String::new()),
            |s| {
                (
                    format!("{:.1} / {:.1} / {:.1}", s.start_mib, s.peak_mib, s.end_mib),
                    format!("{:.1} / {:.1}", s.first_half_peak_mib, s.tail_peak_mib),
                )
            },
        );
        let _ = writeln!(
            out,
            "| {name} | {} | {} {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.3} |",
            run.result.accepted,
            run.found,
            run.found_where,
            rss.0,
            rss.1,
            run.server_cores,
            run.result.generator_cores,
            run.result.machine_cores,
            run.result.steal_cores,
            run.result.lateness.value_at_quantile(0.99) as f64 / 1000.0,
        );
    }
    let errors: Vec<&String> = r
        .ingests
        .iter()
        .flat_map(|(_, run)| &run.result.error_samples)
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(out, "\nErrors seen (samples): {errors:?}.");
    }
    out.push('\n');
    if let Some((_, run)) = r.ingests.iter().find(|(n, _)| *n == "API") {
        let x = &run.result;
        if a.ingest_rate == INGEST_TARGET_RATE && a.ingest_secs >= INGEST_TARGET_SECS {
            let _ = writeln!(
                out,
                "- At least {INGEST_TARGET_RATE} events/s sustained for {INGEST_TARGET_SECS} s (accepted \
                 events per second over the run at least 95% of the offered rate): {} ({:.0} events/s; \
                 lowest one-second window {}).",
                met(x.accepted_rate() >= VALID_SHARE * f64::from(INGEST_TARGET_RATE)),
                x.accepted_rate(),
                x.accepted_per_second
                    .iter()
                    .take(usize::try_from(a.ingest_secs).unwrap_or(0))
                    .min()
                    .copied()
                    .unwrap_or(0),
            );
        } else {
            let _ = writeln!(
                out,
                "- At least {INGEST_TARGET_RATE} events/s sustained for {INGEST_TARGET_SECS} s: not \
                 measured (this run offered {} events/s for {} s).",
                a.ingest_rate, a.ingest_secs
            );
        }
        let _ = writeln!(
            out,
            "- Every accepted event on the stream: {} ({} accepted, {} on the stream{}).",
            met(run.found == x.accepted),
            x.accepted,
            run.found,
            if run.found > x.accepted {
                "; more than accepted means requests that timed out on the client were stored"
            } else {
                ""
            }
        );
        match run.rss {
            Some(s) => {
                let _ = writeln!(
                    out,
                    "- Bounded memory (RSS of the last {RSS_TAIL_SECS:.0} s at most {:.0}% above the peak of \
                     the first half): {} (peak {:.1} MiB; first half {:.1} MiB, last {RSS_TAIL_SECS:.0} s \
                     {:.1} MiB).",
                    (RSS_SLACK - 1.0) * 100.0,
                    met(s.bounded()),
                    s.peak_mib,
                    s.first_half_peak_mib,
                    s.tail_peak_mib
                );
            }
            None => out.push_str("- Bounded memory: not measured (no RSS samples).\n"),
        }
    } else {
        out.push_str("- Ingest targets: not measured (Redis only).\n");
    }
    if r.ingests.iter().any(|(n, _)| *n == "Redis") {
        out.push_str(
            "\nRedis keeps every event in memory (no persistence here), so its RSS grows with the \
             events it holds; the memory rule applies to the API, whose stream is on disk.\n",
        );
    }
    out
}
