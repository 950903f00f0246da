//! The cluster settings (ours; KMS has no cluster): `mediaServer.cluster` in
//! `kurento.conf.json` and their `KMS_CLUSTER_*` variables, which win.

use serde_json::Value;
use std::time::Duration;

/// What this process is in a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// A single server (the default): no Redis.
    #[default]
    Standalone,
    /// A media node: serves pipelines and registers itself in Redis.
    Node,
    /// The entry: speaks the Kurento Protocol to applications and routes
    /// their requests to the nodes; no media of its own.
    Entry,
}

impl Role {
    fn parse(text: &str) -> Option<Role> {
        Some(match text.trim() {
            "standalone" | "" => Role::Standalone,
            "node" => Role::Node,
            "entry" => Role::Entry,
            _ => return None,
        })
    }
}

/// `mediaServer.cluster`.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `role` (`KMS_CLUSTER_ROLE`): `standalone`, `node` or `entry`.
    pub role: Role,
    /// `redisUrl` (`KMS_CLUSTER_REDIS_URL`), `redis://127.0.0.1:6379/` by default.
    pub redis_url: String,
    /// `nodeId` (`KMS_CLUSTER_NODE_ID`): letters, digits and `-` only (it is
    /// the head of this node's pipeline ids); a random one when unset.
    pub node_id: String,
    /// `advertisedUri` (`KMS_CLUSTER_ADVERTISED_URI`): the `ws://` URI the
    /// entry reaches this node at; by default built from the WebSocket
    /// address, port and path (127.0.0.1 when listening on all addresses).
    pub advertised_uri: Option<String>,
    /// `ttl` (`KMS_CLUSTER_TTL`, seconds, 3): a node's record lives this long
    /// without a heartbeat (sent every third of it); a node silent for longer
    /// is gone.
    pub ttl: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            role: Role::Standalone,
            redis_url: "redis://127.0.0.1:6379/".into(),
            node_id: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            advertised_uri: None,
            ttl: Duration::from_secs(3),
        }
    }
}

/// Why a cluster setting is refused.
pub fn check_node_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!("cluster nodeId '{id}' must be 1-64 letters, digits or '-'"));
    }
    Ok(())
}

impl ClusterConfig {
    /// Reads `mediaServer.cluster` of the main config file.
    pub fn apply_main(&mut self, cluster: &Value) -> Result<(), String> {
        if let Some(r) = cluster["role"].as_str() {
            self.role = Role::parse(r).ok_or_else(|| format!("cluster role '{r}' is not standalone, node or entry"))?;
        }
        if let Some(u) = cluster["redisUrl"].as_str() {
            self.redis_url = u.to_owned();
        }
        if let Some(id) = cluster["nodeId"].as_str() {
            check_node_id(id)?;
            self.node_id = id.to_owned();
        }
        if let Some(u) = cluster["advertisedUri"].as_str().filter(|u| !u.is_empty()) {
            self.advertised_uri = Some(u.to_owned());
        }
        if let Some(s) = cluster["ttl"].as_u64().filter(|s| *s > 0) {
            self.ttl = Duration::from_secs(s);
        }
        Ok(())
    }

    /// Applies the `KMS_CLUSTER_*` variables.
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(r) = env("KMS_CLUSTER_ROLE") {
            self.role = Role::parse(&r).ok_or_else(|| format!("KMS_CLUSTER_ROLE '{r}' is not standalone, node or entry"))?;
        }
        if let Some(u) = env("KMS_CLUSTER_REDIS_URL").filter(|u| !u.is_empty()) {
            self.redis_url = u;
        }
        if let Some(id) = env("KMS_CLUSTER_NODE_ID").filter(|i| !i.is_empty()) {
            check_node_id(&id)?;
            self.node_id = id;
        }
        if let Some(u) = env("KMS_CLUSTER_ADVERTISED_URI").filter(|u| !u.is_empty()) {
            self.advertised_uri = Some(u);
        }
        if let Some(s) = env("KMS_CLUSTER_TTL").and_then(|s| s.parse::<u64>().ok()).filter(|s| *s > 0) {
            self.ttl = Duration::from_secs(s);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn file_keys_then_variables() {
        let mut c = ClusterConfig::default();
        assert_eq!(c.role, Role::Standalone, "single-machine use is the default");
        c.apply_main(&json!({ "role": "node", "nodeId": "node-7", "redisUrl": "redis://10.0.0.1:6379/", "ttl": 5 })).unwrap();
        assert_eq!((c.role, c.node_id.as_str(), c.ttl), (Role::Node, "node-7", Duration::from_secs(5)));
        let env = |k: &str| (k == "KMS_CLUSTER_ROLE").then(|| "entry".to_owned());
        c.apply_env(&env).unwrap();
        assert_eq!(c.role, Role::Entry);
        assert!(c.apply_main(&json!({ "role": "leader" })).is_err());
        assert!(c.apply_main(&json!({ "nodeId": "a/b" })).is_err(), "an id that cannot head an object id");
        assert!(c.apply_main(&json!({ "nodeId": "x~y" })).is_err());
    }
}
