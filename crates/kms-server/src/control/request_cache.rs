//! KMS's duplicate-request cache (`RequestCache.cpp`): a request id repeated
//! within 20 s in the same session gets the first response again, unexecuted,
//! so a client retrying after a timeout never creates an object twice.
//!
//! Unlike KMS, a hit also requires the same method and parameters (ignoring
//! `sessionId`): clients restart their id counter on a new connection, and a
//! `connect` with id 1 after a reconnect must not get the reply of an earlier,
//! different request 1 of the same session.

use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long a response stays cached (KMS: 20 s).
pub const REQUEST_CACHE_TTL: Duration = Duration::from_secs(20);

/// Most responses kept at once; past it the oldest go first. KMS has no bound,
/// so a request flood would grow its cache with the request rate.
pub const REQUEST_CACHE_CAPACITY: usize = 4096;

type Key = (String, String);

#[derive(Debug)]
pub struct RequestCache {
    enabled: bool,
    entries: HashMap<Key, Entry>,
    /// Keys in insertion (= expiry) order, with the sequence number they were
    /// inserted with; a key re-inserted later has a newer number.
    order: VecDeque<(Key, u64)>,
    next_seq: u64,
}

#[derive(Debug)]
struct Entry {
    at: Instant,
    seq: u64,
    fingerprint: u64,
    /// The response as sent (compact text: a cache entry costs little memory).
    response: String,
}

impl RequestCache {
    /// `enabled` is `!mediaServer.resources.disableRequestCache`.
    pub fn new(enabled: bool) -> RequestCache {
        RequestCache { enabled, entries: HashMap::new(), order: VecDeque::new(), next_seq: 0 }
    }

    fn key(session: &str, id: &Value) -> (String, String) {
        // Ids compare as their JSON text: 5 and "5" are different requests.
        (session.to_owned(), id.to_string())
    }

    /// The cached response JSON for (`session`, `id`) if it is fresh and was
    /// for the same request (`fingerprint`, see [`fingerprint`]).
    pub fn get(&mut self, now: Instant, session: &str, id: &Value, fingerprint: u64) -> Option<String> {
        if !self.enabled {
            return None;
        }
        self.evict(now);
        self.entries.get(&Self::key(session, id)).filter(|e| e.fingerprint == fingerprint).map(|e| e.response.clone())
    }

    pub fn put(&mut self, now: Instant, session: &str, id: &Value, fingerprint: u64, response: String) {
        if self.enabled {
            self.evict(now);
            let (key, seq) = (Self::key(session, id), self.next_seq);
            self.next_seq += 1;
            self.order.push_back((key.clone(), seq));
            self.entries.insert(key, Entry { at: now, seq, fingerprint, response });
            while self.entries.len() > REQUEST_CACHE_CAPACITY {
                self.pop_oldest();
            }
        }
    }

    /// Drops expired entries (the oldest are at the front of `order`).
    fn evict(&mut self, now: Instant) {
        while let Some((key, seq)) = self.order.front() {
            let expired = self.entries.get(key).is_none_or(|e| e.seq != *seq || now.saturating_duration_since(e.at) >= REQUEST_CACHE_TTL);
            if !expired {
                break;
            }
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((key, seq)) = self.order.pop_front() {
            if self.entries.get(&key).is_some_and(|e| e.seq == seq) {
                self.entries.remove(&key);
            }
        }
    }
}

/// Identifies a request by a hash of its method and parameters, `sessionId` excluded.
pub fn fingerprint(method: &str, params: Option<&serde_json::Map<String, Value>>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    method.hash(&mut hasher);
    for (k, v) in params.into_iter().flatten().filter(|(k, _)| *k != "sessionId") {
        k.hash(&mut hasher);
        v.to_string().hash(&mut hasher);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn duplicates_hit_within_ttl_only() {
        let t0 = Instant::now();
        let mut c = RequestCache::new(true);
        let create = fingerprint("create", json!({"type": "MediaPipeline"}).as_object());
        let with_session = fingerprint("create", json!({"type": "MediaPipeline", "sessionId": "s"}).as_object());
        assert_eq!(create, with_session);
        let reply = String::from(r#"{"result":1}"#);
        c.put(t0, "s", &json!(1), create, reply.clone());
        assert_eq!(c.get(t0 + Duration::from_secs(19), "s", &json!(1), create), Some(reply.clone()));
        assert_eq!(c.get(t0, "s", &json!(1), fingerprint("connect", None)), None, "same id, other request");
        assert_eq!(c.get(t0, "other", &json!(1), create), None);
        assert_eq!(c.get(t0, "s", &json!("1"), create), None);
        assert_eq!(c.get(t0 + REQUEST_CACHE_TTL, "s", &json!(1), create), None);
        // Bounded: the oldest entries go first.
        let mut full = RequestCache::new(true);
        for i in 0..REQUEST_CACHE_CAPACITY + 10 {
            full.put(t0, "s", &json!(i), create, String::new());
        }
        assert_eq!(full.entries.len(), REQUEST_CACHE_CAPACITY);
        assert_eq!(full.get(t0, "s", &json!(0), create), None);
        assert!(full.get(t0, "s", &json!(REQUEST_CACHE_CAPACITY + 9), create).is_some());
        let mut off = RequestCache::new(false);
        off.put(t0, "s", &json!(1), create, reply);
        assert_eq!(off.get(t0, "s", &json!(1), create), None);
    }
}
