//! One connection's outgoing queue: replies and events on their way to the
//! WebSocket, bounded in bytes (`mediaServer.net.websocket.outgoingQueueBytes`,
//! `KMS_WS_OUTGOING_QUEUE_BYTES`). A client that stops reading while events
//! keep coming would otherwise grow the server's memory without end: past the
//! budget the connection is closed (its sessions stay, as after any
//! disconnection, so a client that reconnects finds them).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, Notify};

/// Default budget: far above what a reading client ever has queued (replies
/// and events are a few hundred bytes to a few KiB each).
pub const DEFAULT_LIMIT: usize = 16 << 20;

#[derive(Debug)]
struct Shared {
    queued: AtomicUsize,
    limit: usize,
    overflowed: AtomicBool,
    overflow: Notify,
}

/// The sending side, one per connection (cloned for the control plane).
#[derive(Debug, Clone)]
pub struct Outgoing {
    tx: mpsc::UnboundedSender<String>,
    shared: Arc<Shared>,
}

/// The writer's side.
pub struct OutgoingReceiver {
    rx: mpsc::UnboundedReceiver<String>,
    shared: Arc<Shared>,
}

/// Resolves once the queue went over its budget.
#[derive(Clone)]
pub struct Overflow(Arc<Shared>);

/// A queue of at most `limit` bytes.
pub fn channel(limit: usize) -> (Outgoing, OutgoingReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared { queued: AtomicUsize::new(0), limit, overflowed: AtomicBool::new(false), overflow: Notify::new() });
    (Outgoing { tx, shared: shared.clone() }, OutgoingReceiver { rx, shared })
}

impl Outgoing {
    /// True when both senders feed the same connection.
    pub fn same_channel(&self, other: &Outgoing) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Queues one text frame; false when the connection is gone or the frame
    /// would take the queue past its budget (which closes the connection).
    pub fn send(&self, text: String) -> bool {
        let s = &self.shared;
        if s.overflowed.load(Ordering::Relaxed) {
            return false;
        }
        let len = text.len();
        if s.queued.fetch_add(len, Ordering::AcqRel) + len > s.limit {
            s.queued.fetch_sub(len, Ordering::AcqRel);
            s.overflowed.store(true, Ordering::Relaxed);
            s.overflow.notify_one();
            return false;
        }
        if self.tx.send(text).is_err() {
            s.queued.fetch_sub(len, Ordering::AcqRel);
            return false;
        }
        true
    }
}

impl OutgoingReceiver {
    /// The next frame to write; it no longer counts against the budget.
    pub async fn recv(&mut self) -> Option<String> {
        let text = self.rx.recv().await?;
        self.shared.queued.fetch_sub(text.len(), Ordering::AcqRel);
        Some(text)
    }

    /// The next frame if one is queued (tests).
    #[cfg(test)]
    pub fn try_recv(&mut self) -> Option<String> {
        let text = self.rx.try_recv().ok()?;
        self.shared.queued.fetch_sub(text.len(), Ordering::AcqRel);
        Some(text)
    }

    pub fn overflow(&self) -> Overflow {
        Overflow(self.shared.clone())
    }

    pub fn overflowed(&self) -> bool {
        self.shared.overflowed.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.shared.limit
    }
}

impl Overflow {
    pub async fn wait(&self) {
        while !self.0.overflowed.load(Ordering::Relaxed) {
            self.0.overflow.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reader_keeps_the_queue_open_a_stalled_one_overflows_it() {
        let (tx, mut rx) = channel(1000);
        // A reader that keeps up: any amount passes.
        for _ in 0..100 {
            assert!(tx.send("x".repeat(600)));
            assert_eq!(rx.recv().await.map(|t| t.len()), Some(600));
        }
        // Nobody reads: the second frame would pass the budget.
        assert!(tx.send("y".repeat(600)));
        assert!(!tx.send("z".repeat(600)));
        tokio::time::timeout(std::time::Duration::from_secs(1), rx.overflow().wait()).await.expect("overflow is signalled");
        assert!(!tx.send("a".into()), "nothing more is queued once over budget");
    }
}
