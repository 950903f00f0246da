//! Media-node records in Redis: `kms:node:<id>` holds a node's
//! [`NodeRecord`] as JSON with a TTL; a node refreshes it every third of the
//! TTL, so a node that stops (or is killed) disappears within the TTL.

use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The prefix of every node key.
pub const NODE_KEY_PREFIX: &str = "kms:node:";

/// What a node publishes about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeRecord {
    /// The node id (the head of its pipeline ids).
    pub id: String,
    /// The `ws://` URI of its Kurento Protocol endpoint.
    pub uri: String,
    /// The public addresses its media is announced at (`externalIPv4`,
    /// `externalIPv6`); empty when it announces its interfaces' own.
    #[serde(default)]
    pub public_addresses: Vec<String>,
    /// MediaPipelines it holds now.
    pub pipelines: usize,
    /// Media objects it holds now (pipelines and everything in them).
    pub objects: usize,
    /// Its process CPU use over the last heartbeat, % of one core.
    pub cpu: f64,
    /// Draining: it takes no new pipelines and leaves when it holds none.
    pub draining: bool,
}

impl NodeRecord {
    /// Placement weight: fewer pipelines first, then fewer objects.
    pub fn load(&self) -> (usize, usize) {
        (self.pipelines, self.objects)
    }
}

/// A Redis connection that reconnects by itself after Redis restarts
/// (redis-rs's ConnectionManager). Fails when Redis cannot be reached now.
pub async fn connect(url: &str) -> redis::RedisResult<ConnectionManager> {
    let client = redis::Client::open(url)?;
    ConnectionManager::new(client).await
}

/// A Redis connection opened on first use and retried on each call while
/// Redis cannot be reached (logged once until it can); once open it
/// reconnects by itself.
pub struct Redis {
    url: String,
    con: Option<ConnectionManager>,
    reported: bool,
}

impl Redis {
    pub fn new(url: &str) -> Redis {
        Redis { url: url.to_owned(), con: None, reported: false }
    }

    /// The connection, or `None` while Redis cannot be reached.
    pub async fn get(&mut self) -> Option<&mut ConnectionManager> {
        if self.con.is_none() {
            match connect(&self.url).await {
                Ok(c) => {
                    self.con = Some(c);
                    self.reported = false;
                }
                Err(e) => {
                    if !self.reported {
                        tracing::warn!(redis = %self.url, "cluster: cannot reach Redis (retrying): {e}");
                    }
                    self.reported = true;
                }
            }
        }
        self.con.as_mut()
    }
}

/// Publishes `record` for `ttl`.
pub async fn publish(con: &mut ConnectionManager, record: &NodeRecord, ttl: Duration) -> redis::RedisResult<()> {
    let json = serde_json::to_string(record).unwrap_or_default();
    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    redis::cmd("SET").arg(format!("{NODE_KEY_PREFIX}{}", record.id)).arg(json).arg("PX").arg(ms).query_async(con).await
}

/// Removes node `id`'s record (a clean leave).
pub async fn remove(con: &mut ConnectionManager, id: &str) -> redis::RedisResult<()> {
    redis::cmd("DEL").arg(format!("{NODE_KEY_PREFIX}{id}")).query_async(con).await
}

/// Every live node's record (records that do not parse are skipped).
pub async fn live(con: &mut ConnectionManager) -> redis::RedisResult<Vec<NodeRecord>> {
    let mut keys: Vec<String> = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(format!("{NODE_KEY_PREFIX}*")).arg("COUNT").arg(200).query_async(con).await?;
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query_async(con).await?;
    Ok(values.into_iter().flatten().filter_map(|v| serde_json::from_str(&v).ok()).collect())
}
