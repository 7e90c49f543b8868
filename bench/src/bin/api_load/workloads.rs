//! What the generator sends: the bodies both peers serve, the read workload and the ingest
//! workload, and how each judges an answer.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use chrono::{SecondsFormat, Utc};
use fashion_bench::load::{
    Conn, Protocol, Reply, Request, RespReply, Verdict, Workload, resp_command,
};
use fashion_domain::stream::shard_for_key;
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;
use serde::Deserialize;
use serde_json::json;

use super::{CLICKS_KEY, CUSTOMERS, EVENT_TYPES, RECS_KEY};

/// The recommendation bodies the API serves, by customer id (index 0 is customer 1).
pub(super) async fn fetch_bodies(api: SocketAddr) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut conn = Conn::connect(api, Protocol::Http)
        .await
        .context("failed to connect to the API")?;
    let mut bodies = Vec::with_capacity(CUSTOMERS as usize);
    for id in 1..=CUSTOMERS {
        let reply = conn
            .round_trip(&http_get(api, id))
            .await
            .with_context(|| format!("failed to read the recommendations of customer {id}"))?;
        match reply {
            Reply::Http(r) if r.status == 200 => bodies.push(r.body),
            other => bail!("GET /users/{id}/recommendations answered {other:?}"),
        }
    }
    Ok(bodies)
}

/// Bodies shaped like the API's (ten items with their products), for `--redis-only`.
pub(super) fn synthetic_bodies() -> Vec<Vec<u8>> {
    (1..=CUSTOMERS)
        .map(|id| {
            let items: Vec<_> = (0..10)
                .map(|i| {
                    json!({"product_id": 10_000 + id * 7 + i, "score": 0.5, "reason": "also_viewed",
                        "product": {"product_id": 10_000 + id * 7 + i, "name": "Synthetic Men Blue Casual Shirt",
                            "gender": "Men", "master_category": "Apparel", "sub_category": "Topwear",
                            "article_type": "Shirts", "colour": "Blue", "season": "Summer", "price": "29.99"}})
                })
                .collect();
            json!({"customer_id": id, "source": "personal", "model_version": "synthetic", "items": items})
                .to_string()
                .into_bytes()
        })
        .collect()
}

/// Loads every body into Redis as `recs:{id}`, byte for byte.
pub(super) async fn load_redis(redis: SocketAddr, bodies: &[Vec<u8>]) -> anyhow::Result<()> {
    let mut conn = Conn::connect(redis, Protocol::Resp)
        .await
        .context("failed to connect to Redis")?;
    for (i, body) in bodies.iter().enumerate() {
        let key = format!("{RECS_KEY}{}", i + 1);
        let reply = conn
            .round_trip(&resp_command(&[b"SET", key.as_bytes(), body]))
            .await
            .with_context(|| format!("failed to SET {key}"))?;
        ensure!(
            reply == Reply::Resp(RespReply::Simple("OK".to_owned())),
            "SET {key} answered {reply:?}"
        );
    }
    Ok(())
}

/// The catalog's product ids: the first column of `generated/styles.csv`.
pub(super) fn read_products(data_dir: &Path) -> anyhow::Result<Vec<u32>> {
    let path = data_dir.join("generated").join("styles.csv");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    // The header's first field is not a number, so it is skipped with any malformed line.
    let ids: Vec<u32> = text
        .lines()
        .filter_map(|l| l.split(',').next()?.trim().parse().ok())
        .collect();
    ensure!(!ids.is_empty(), "{} holds no product", path.display());
    Ok(ids)
}

pub(super) fn http_get(addr: SocketAddr, id: u32) -> Vec<u8> {
    format!("GET /users/{id}/recommendations HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes()
}

/// Reads of one customer's list, the customer drawn uniformly by each connection's generator.
pub(super) struct Reads {
    /// Encoded requests by customer index.
    pub(super) requests: Vec<Vec<u8>>,
}

impl Reads {
    pub(super) fn new(protocol: Protocol, addr: SocketAddr) -> Self {
        let requests = (1..=CUSTOMERS)
            .map(|id| match protocol {
                Protocol::Http => http_get(addr, id),
                Protocol::Resp => resp_command(&[b"GET", format!("{RECS_KEY}{id}").as_bytes()]),
            })
            .collect();
        Self { requests }
    }
}

impl Workload for Reads {
    fn request(&self, _: usize, _: u64, rng: &mut Xoshiro256PlusPlus) -> Request<'_> {
        let i = rng.random_range(0..self.requests.len());
        Request {
            bytes: Cow::Borrowed(&self.requests[i]),
        }
    }

    fn judge(&self, reply: &Reply) -> Verdict {
        match reply {
            Reply::Http(r) if r.status == 200 => Verdict::Ok {
                accepted: 1,
                rejected: 0,
            },
            Reply::Resp(RespReply::Bulk(Some(_))) => Verdict::Ok {
                accepted: 1,
                rejected: 0,
            },
            other => Verdict::Error(describe(other)),
        }
    }
}

pub(super) fn describe(reply: &Reply) -> String {
    match reply {
        Reply::Http(r) => format!(
            "HTTP {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body[..r.body.len().min(200)])
        ),
        Reply::Resp(RespReply::Bulk(None)) => "Redis: no such key".to_owned(),
        Reply::Resp(RespReply::Bulk(Some(b))) => format!("Redis: {} bytes", b.len()),
        Reply::Resp(other) => format!("Redis: {other:?}"),
    }
}

/// Batches of click events, one browser session of one customer per request, as the tracker
/// sends them.
pub(super) struct Ingest {
    pub(super) protocol: Protocol,
    pub(super) addr: SocketAddr,
    pub(super) batch: usize,
    pub(super) products: Vec<u32>,
    /// Unique to the run: every session id starts with it, so the run's events can be counted.
    pub(super) prefix: String,
    pub(super) shards: usize,
}

/// The counts of a 202.
#[derive(Deserialize)]
pub(super) struct Accepted {
    pub(super) accepted: u64,
    pub(super) rejected: u64,
}

impl Ingest {
    pub(super) fn events(
        &self,
        user: u32,
        session: &str,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Vec<String> {
        let device = if rng.random_range(0..2) == 0 {
            "desktop"
        } else {
            "mobile"
        };
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, false);
        let total: u32 = EVENT_TYPES.iter().map(|(_, w)| w).sum();
        (0..self.batch)
            .map(|_| {
                let mut pick = rng.random_range(0..total);
                let mut kind = EVENT_TYPES[0].0;
                for (k, w) in EVENT_TYPES {
                    if pick < w {
                        kind = k;
                        break;
                    }
                    pick -= w;
                }
                let mut ev = json!({
                    "event_id": uuid::Uuid::new_v4().to_string(),
                    "event_type": kind,
                    "user_id": user,
                    "session_id": session,
                    "occurred_at": now,
                    "device": device,
                    "schema_version": 1,
                });
                if kind != "page_view" {
                    ev["product_id"] =
                        json!(self.products[rng.random_range(0..self.products.len())]);
                }
                ev.to_string()
            })
            .collect()
    }
}

impl Workload for Ingest {
    fn request(&self, conn: usize, k: u64, rng: &mut Xoshiro256PlusPlus) -> Request<'_> {
        let user = rng.random_range(1..=CUSTOMERS);
        let session = format!("{}-{conn}-{k}", self.prefix);
        let events = self.events(user, &session, rng);
        let bytes = match self.protocol {
            Protocol::Http => {
                let body = format!("[{}]", events.join(","));
                format!(
                    "POST /events HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    self.addr,
                    body.len()
                )
                .into_bytes()
            }
            Protocol::Resp => {
                // The API's partition key is the customer id; Redis gets the same sharding.
                let key = format!(
                    "{CLICKS_KEY}{}",
                    shard_for_key(&user.to_string(), self.shards)
                );
                let mut args: Vec<&[u8]> = vec![b"RPUSH", key.as_bytes()];
                args.extend(events.iter().map(String::as_bytes));
                resp_command(&args)
            }
        };
        Request {
            bytes: Cow::Owned(bytes),
        }
    }

    fn judge(&self, reply: &Reply) -> Verdict {
        match reply {
            Reply::Http(r) if r.status == 202 => {
                match serde_json::from_slice::<Accepted>(&r.body) {
                    Ok(a) => Verdict::Ok {
                        accepted: a.accepted,
                        rejected: a.rejected,
                    },
                    Err(e) => Verdict::Error(format!("202 with an unreadable body: {e}")),
                }
            }
            Reply::Http(r) if r.status == 503 => {
                Verdict::RetryAfter(Duration::from_secs(r.retry_after.unwrap_or(1)))
            }
            Reply::Resp(RespReply::Integer(_)) => Verdict::Ok {
                accepted: self.batch as u64,
                rejected: 0,
            },
            other => Verdict::Error(describe(other)),
        }
    }
}
