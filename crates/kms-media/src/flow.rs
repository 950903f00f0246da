//! MediaFlowIn / MediaFlowOut detection with KMS's timing.
//!
//! FLOWING is raised on the first frame; NOT_FLOWING when a whole check
//! window (`MEDIA_FLOW_INTERNAL_TIME_MSEC` = 2000 ms in `kmselement.c`) passed
//! without one. Only AUDIO and VIDEO are tracked, as in KMS.

use crate::{ElementEvent, FlowState, MediaType};
use std::time::{Duration, Instant};

/// KMS's media-flow check window.
pub const FLOW_CHECK_INTERVAL: Duration = Duration::from_millis(2000);

/// Flow state of one direction (in or out) for audio and video.
#[derive(Debug, Default)]
pub struct FlowTracker {
    /// `[audio, video]`: time of the last frame, and whether FLOWING was raised.
    last: [Option<Instant>; 2],
    flowing: [bool; 2],
}

fn slot(media_type: MediaType) -> Option<usize> {
    match media_type {
        MediaType::Audio => Some(0),
        MediaType::Video => Some(1),
        MediaType::Data => None,
    }
}

const TYPES: [MediaType; 2] = [MediaType::Audio, MediaType::Video];

impl FlowTracker {
    /// Records a frame; returns `Some(Flowing)` when the state changes.
    pub fn frame(&mut self, now: Instant, media_type: MediaType) -> Option<FlowState> {
        let i = slot(media_type)?;
        self.last[i] = Some(now);
        (!std::mem::replace(&mut self.flowing[i], true)).then_some(FlowState::Flowing)
    }

    /// Returns the types that stopped flowing by `now`.
    pub fn check(&mut self, now: Instant) -> Vec<MediaType> {
        let mut stopped = Vec::new();
        for (i, t) in TYPES.into_iter().enumerate() {
            let stale = self.last[i].is_some_and(|l| now.saturating_duration_since(l) >= FLOW_CHECK_INTERVAL);
            if self.flowing[i] && stale {
                self.flowing[i] = false;
                stopped.push(t);
            }
        }
        stopped
    }

    /// The media ended (end of stream, stop): returns the types that were
    /// flowing, now NOT_FLOWING.
    pub fn stop(&mut self) -> Vec<MediaType> {
        let stopped = TYPES.into_iter().filter(|&t| self.is_flowing(t)).collect();
        *self = FlowTracker::default();
        stopped
    }

    /// When the next NOT_FLOWING check is due, if anything is flowing.
    pub fn next_check(&self) -> Option<Instant> {
        (0..2).filter(|&i| self.flowing[i]).filter_map(|i| self.last[i]).map(|l| l + FLOW_CHECK_INTERVAL).min()
    }

    pub fn is_flowing(&self, media_type: MediaType) -> bool {
        slot(media_type).is_some_and(|i| self.flowing[i])
    }
}

/// Both directions of an element that takes and gives media, as the events
/// it raises: MediaFlowInStateChanged / MediaFlowOutStateChanged.
#[derive(Debug, Default)]
pub struct MediaFlow {
    incoming: FlowTracker,
    outgoing: FlowTracker,
}

impl MediaFlow {
    /// A frame came in: MediaFlowIn FLOWING when it starts flowing.
    pub fn frame_in(&mut self, now: Instant, media_type: MediaType) -> Option<ElementEvent> {
        self.incoming.frame(now, media_type).map(|state| ElementEvent::MediaFlowIn { media_type, state })
    }

    /// A frame went out: MediaFlowOut FLOWING when it starts flowing.
    pub fn frame_out(&mut self, now: Instant, media_type: MediaType) -> Option<ElementEvent> {
        self.outgoing.frame(now, media_type).map(|state| ElementEvent::MediaFlowOut { media_type, state })
    }

    /// NOT_FLOWING events of what stopped by `now`, in then out.
    pub fn check(&mut self, now: Instant) -> Vec<ElementEvent> {
        let stopped_in = self.incoming.check(now).into_iter().map(|media_type| ElementEvent::MediaFlowIn { media_type, state: FlowState::NotFlowing });
        let stopped_out = self.outgoing.check(now).into_iter().map(|media_type| ElementEvent::MediaFlowOut { media_type, state: FlowState::NotFlowing });
        stopped_in.chain(stopped_out).collect()
    }

    /// When the next NOT_FLOWING check is due, if anything flows.
    pub fn next_check(&self) -> Option<Instant> {
        [self.incoming.next_check(), self.outgoing.next_check()].into_iter().flatten().min()
    }

    pub fn is_flowing_in(&self, media_type: MediaType) -> bool {
        self.incoming.is_flowing(media_type)
    }

    pub fn is_flowing_out(&self, media_type: MediaType) -> bool {
        self.outgoing.is_flowing(media_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flowing_then_not_flowing_after_the_window() {
        let t0 = Instant::now();
        let mut f = FlowTracker::default();
        assert_eq!(f.frame(t0, MediaType::Video), Some(FlowState::Flowing));
        assert_eq!(f.frame(t0 + Duration::from_millis(30), MediaType::Video), None);
        assert_eq!(f.frame(t0, MediaType::Data), None);
        assert!(f.check(t0 + Duration::from_millis(1000)).is_empty());
        assert_eq!(f.next_check(), Some(t0 + Duration::from_millis(30) + FLOW_CHECK_INTERVAL));
        assert_eq!(f.check(t0 + Duration::from_millis(2030)), [MediaType::Video]);
        assert!(!f.is_flowing(MediaType::Video));
        assert_eq!(f.next_check(), None);
    }

    #[test]
    fn both_directions_as_events() {
        let t0 = Instant::now();
        let mut f = MediaFlow::default();
        assert_eq!(f.frame_in(t0, MediaType::Audio), Some(ElementEvent::MediaFlowIn { media_type: MediaType::Audio, state: FlowState::Flowing }));
        assert_eq!(f.frame_out(t0, MediaType::Video), Some(ElementEvent::MediaFlowOut { media_type: MediaType::Video, state: FlowState::Flowing }));
        assert_eq!(f.frame_out(t0, MediaType::Video), None);
        assert!(f.is_flowing_in(MediaType::Audio) && f.is_flowing_out(MediaType::Video) && !f.is_flowing_out(MediaType::Audio));
        assert_eq!(f.next_check(), Some(t0 + FLOW_CHECK_INTERVAL));
        assert_eq!(f.check(t0 + FLOW_CHECK_INTERVAL).len(), 2);
        assert_eq!(f.next_check(), None);
    }

    #[test]
    fn stop_ends_what_was_flowing_once() {
        let t0 = Instant::now();
        let mut f = FlowTracker::default();
        f.frame(t0, MediaType::Audio);
        assert_eq!(f.stop(), [MediaType::Audio]);
        assert!(f.stop().is_empty());
        assert_eq!(f.frame(t0, MediaType::Audio), Some(FlowState::Flowing), "flows again after a stop");
    }
}
