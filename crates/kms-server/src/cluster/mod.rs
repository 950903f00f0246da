//! Many media nodes behind one Kurento endpoint, coordinated through Redis
//! (ours; KMS has no cluster). Single-machine use stays the default
//! (`Role::Standalone`) and needs no Redis.
//!
//! - A **node** is the server as usual whose MediaPipeline ids start with its
//!   node id, registered in Redis with a heartbeat and a TTL (`node`,
//!   `records`).
//! - The **entry** speaks the Kurento Protocol to applications and routes
//!   each request to the node its object id names (`entry`, `session`,
//!   `upstream`).
//!
//! How a single pipeline larger than one node would be cascaded across nodes
//! is written down in `docs/cluster.md`.

mod config;
pub mod entry;
pub mod node;
mod records;
mod session;
mod upstream;

pub use config::{ClusterConfig, Role};
