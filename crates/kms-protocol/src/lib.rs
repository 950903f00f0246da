//! The Kurento Protocol: JSON-RPC 2.0 messages as KMS and the official
//! `kurento-client` exchange them, Kurento error codes, and object ids.
//!
//! Sans-IO: this crate turns text into typed messages and back; it owns no
//! socket and reads no clock. Facts come from KMS's `JsonRpcHandler.cpp`,
//! `KurentoException.hpp` and `MediaObjectImpl.cpp` (see INVENTORY.md).

pub mod error;
pub mod ids;
pub mod jsonrpc;
pub mod method;
pub mod params;
pub mod scan;

pub use error::{ErrorCode, KurentoError};
pub use ids::{ObjectId, SERVER_MANAGER_ID};
pub use jsonrpc::{decode_request, Notification, Request, Response};
pub use scan::scan_id;
pub use method::Method;
pub use params::{Level, Params};
