//! The pipeline visits only due elements on a timeout, and its next
//! deadline follows every element's own.

use super::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An element with a timer: due at `deadline`, then `period` later each
/// time it is driven; counts how often its timeout is read.
struct Ticker {
    deadline: Option<Instant>,
    period: Duration,
    fired: Arc<AtomicU32>,
    reads: Arc<AtomicU32>,
}

impl Element for Ticker {
    fn handle_media(&mut self, now: Instant, _frame: &MediaFrame) {
        // Media makes it want a timeout soon (a pacer with a packet queued).
        self.deadline = Some(now + Duration::from_millis(1));
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.deadline
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.fired.fetch_add(1, Ordering::Relaxed);
        self.deadline = Some(now + self.period);
    }
    fn poll_output(&mut self) -> Option<ElementOutput> {
        None
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

#[test]
fn a_timeout_visits_only_due_elements_among_two_thousand() {
    let t0 = Instant::now();
    let mut p = Pipeline::new();
    let (idle_fired, idle_reads) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    for _ in 0..2_000 {
        let idle = Ticker { deadline: Some(t0 + Duration::from_secs(3600)), period: Duration::from_secs(3600), fired: idle_fired.clone(), reads: idle_reads.clone() };
        p.add(Box::new(idle));
    }
    let (fired, reads) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let busy = p.add(Box::new(Ticker { deadline: Some(t0 + Duration::from_millis(5)), period: Duration::from_millis(5), fired: fired.clone(), reads }));
    drain(&mut p, t0);
    assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_millis(5)), "the busy element's deadline leads");
    idle_reads.store(0, Ordering::Relaxed);
    let mut now = t0;
    for _ in 0..100 {
        now = p.poll_timeout().unwrap();
        p.handle_timeout(now);
        drain(&mut p, now);
    }
    assert_eq!(fired.load(Ordering::Relaxed), 100, "the busy element fired at each of its deadlines");
    assert_eq!((idle_fired.load(Ordering::Relaxed), idle_reads.load(Ordering::Relaxed)), (0, 0), "no idle element was visited");
    assert_eq!(now, t0 + Duration::from_millis(500));

    // Input that moves an element's deadline earlier is seen once drained.
    let idle = ElementId(1);
    p.connect(now, Connection::new(busy, idle, MediaType::Video)).unwrap();
    p.route_media(now, busy, &frame(Codec::Vp8, now));
    drain(&mut p, now);
    assert_eq!(p.poll_timeout(), Some(now + Duration::from_millis(1)), "the element fed media leads");
    p.handle_timeout(now + Duration::from_millis(1));
    drain(&mut p, now + Duration::from_millis(1));
    assert_eq!(idle_fired.load(Ordering::Relaxed), 1, "the element fed media fired");
    p.route_media(now, busy, &frame(Codec::Vp8, now));
    p.remove(now, idle);
    drain(&mut p, now);
    assert_eq!(p.poll_timeout(), Some(now + Duration::from_millis(5)), "a removed element leaves no deadline behind");
}
