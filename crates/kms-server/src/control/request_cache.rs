//! KMS's duplicate-request cache (`RequestCache.cpp`): a request id repeated
//! within 20 s in the same session gets the first response again, unexecuted,
//! so a client retrying after a timeout never creates an object twice.

use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a response stays cached (KMS: 20 s).
pub const REQUEST_CACHE_TTL: Duration = Duration::from_secs(20);

#[derive(Debug)]
pub struct RequestCache {
    enabled: bool,
    entries: HashMap<(String, String), (Instant, Value)>,
}

impl RequestCache {
    /// `enabled` is `!mediaServer.resources.disableRequestCache`.
    pub fn new(enabled: bool) -> RequestCache {
        RequestCache { enabled, entries: HashMap::new() }
    }

    fn key(session: &str, id: &Value) -> (String, String) {
        // Ids compare as their JSON text: 5 and "5" are different requests.
        (session.to_owned(), id.to_string())
    }

    /// The cached response JSON for (`session`, `id`), if fresh.
    pub fn get(&mut self, now: Instant, session: &str, id: &Value) -> Option<Value> {
        if !self.enabled {
            return None;
        }
        self.entries.retain(|_, (t, _)| now.saturating_duration_since(*t) < REQUEST_CACHE_TTL);
        self.entries.get(&Self::key(session, id)).map(|(_, v)| v.clone())
    }

    pub fn put(&mut self, now: Instant, session: &str, id: &Value, response: Value) {
        if self.enabled {
            self.entries.insert(Self::key(session, id), (now, response));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn duplicates_hit_within_ttl_only() {
        let t0 = Instant::now();
        let mut c = RequestCache::new(true);
        c.put(t0, "s", &json!(1), json!({"result": 1}));
        assert_eq!(c.get(t0 + Duration::from_secs(19), "s", &json!(1)), Some(json!({"result": 1})));
        assert_eq!(c.get(t0, "other", &json!(1)), None);
        assert_eq!(c.get(t0, "s", &json!("1")), None);
        assert_eq!(c.get(t0 + REQUEST_CACHE_TTL, "s", &json!(1)), None);
        let mut off = RequestCache::new(false);
        off.put(t0, "s", &json!(1), json!(1));
        assert_eq!(off.get(t0, "s", &json!(1)), None);
    }
}
