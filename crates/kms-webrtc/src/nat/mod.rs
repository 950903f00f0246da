//! NAT traversal beyond host candidates: server-reflexive candidates from a
//! STUN Binding (`stunServerAddress`/`stunServerPort`) and relay candidates
//! from a TURN allocation (`turnUrl`), both sans-IO.

mod binding;
pub mod stun;
mod turn;

pub use binding::ReflexiveProbe;
pub use turn::{TurnClient, TurnEvent, TurnServer};

use std::hash::{BuildHasher, Hasher};

/// A fresh, unpredictable transaction id (SipHash keyed per process and call).
pub fn new_transaction() -> stun::TransactionId {
    let mut id = [0u8; 12];
    for chunk in id.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(chunk.len() as u64);
        chunk.copy_from_slice(&h.finish().to_be_bytes()[..chunk.len()]);
    }
    id
}
