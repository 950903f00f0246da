//! Feedback a WebRtcEndpoint sends its peer: REMB within the bandwidth
//! bounds, and keyframe requests (PLI), throttled unless asked for.

use super::WebRtcEndpoint;
use kms_media::bandwidth::Bandwidth;
use kms_media::remb::{ReceivedTotals, RembParams};
use kms_media::{ElementOutput, MediaType};
use std::time::{Duration, Instant};
use str0m::bwe::Bitrate;
use str0m::media::{KeyframeRequestKind, Rid};

/// Keyframe requests this endpoint sends to its own remote peer (on loss) are
/// spaced at least this much.
const OWN_KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_secs(1);

impl WebRtcEndpoint {
    /// Sets the video bandwidth properties; they bound the REMB relay from
    /// now on, and at once the peer's last estimate: the one a simulcast
    /// viewer's layer is chosen by, and the one relayed to its source (an
    /// application lowering or lifting `maxVideoSendBandwidth` need not wait
    /// for the next estimate, which str0m reports only when it changes).
    pub fn set_bandwidth(&mut self, bandwidth: Bandwidth) {
        self.config.bandwidth = bandwidth;
        if let Some(estimate) = self.remb.set_bandwidth(bandwidth) {
            self.viewer_estimate(estimate);
            self.queue.push_back(ElementOutput::BitrateEstimate(estimate));
        }
    }

    /// Sets `rembParams` (BaseRtpEndpoint): the local estimate's tuning and
    /// `rembOnConnect`, from the next estimate on, as KMS applies them.
    /// With simulcast forwarding on, `rembOnConnect` is also where this
    /// viewer's transport-wide CC estimate starts, when set before the
    /// transport is up (KMS: bandwidth parameters are set before
    /// negotiating); later, the running estimate is kept.
    pub fn set_remb_params(&mut self, params: RembParams) {
        self.config.remb_params = params;
        self.remb.set_params(params);
        if self.config.simulcast && !self.ice.connected {
            self.rtc.bwe().reset(Bitrate::bps(params.start_bitrate()));
        }
    }

    /// Sends the REMB to our peer when one is due (see [`RembRelay`]), after
    /// updating the local estimate when that is due. Until the peer's first
    /// video packet there is no stream to send it for; the next period
    /// retries.
    pub(super) fn send_remb(&mut self, now: Instant) {
        if self.remb.sample_due(now) {
            let totals = self.received_video(now);
            self.remb.sample(now, totals);
        }
        let Some(bitrate) = self.remb.poll(now) else { return };
        let Some(mid) = self.sdp.recv_video_mid else { return };
        if let Some(rx) = self.rtc.direct_api().stream_rx_by_mid(mid, None) {
            rx.request_remb(Bitrate::bps(bitrate));
        }
    }

    /// The peer's video arrived: starts KMS's local estimate, only as KMS
    /// (simulcast forwarding off: REMB is the peer's only congestion
    /// control). With simulcast forwarding on, the peer has transport-wide
    /// CC for its own send-side estimate (and a simulcast publisher may send
    /// only its lowest layer until its budget allows more), so only its
    /// viewers' estimates bound what it is asked for: holding it to KMS's
    /// slow ramp there cost the first seconds' picture, and the endpoint
    /// never wakes for the estimate.
    pub(super) fn video_received(&mut self, now: Instant) {
        if !self.config.simulcast {
            self.remb.video_received(now);
        }
    }

    /// The video received from the peer so far, over all its streams, for
    /// KMS's local estimate; `None` while it comes in SVC spatial layers.
    fn received_video(&self, now: Instant) -> Option<ReceivedTotals> {
        if self.spatial_meter.is_layered(now) {
            return None;
        }
        let video = self.counters.inbound.iter().filter(|((mid, _), _)| self.sdp.mid_types.get(mid) == Some(&MediaType::Video));
        Some(video.map(|(_, counts)| counts.totals()).sum())
    }

    /// BaseRtpEndpoint.requestKeyframe: a PLI to the peer now, unthrottled
    /// (for a simulcast publisher, on its primary layer).
    pub fn request_keyframe(&mut self) {
        let rid = self.published.primary_rid();
        self.last_own_keyframe_request.remove(&rid);
        self.request_own_keyframe(self.now, rid);
    }

    /// Sends a PLI to our own peer for the video it sends us (for simulcast
    /// layer `rid`), throttled per layer.
    pub(super) fn request_own_keyframe(&mut self, now: Instant, rid: Option<Rid>) {
        if self.last_own_keyframe_request.get(&rid).is_some_and(|t| now.saturating_duration_since(*t) < OWN_KEYFRAME_REQUEST_INTERVAL) {
            return;
        }
        let Some(mid) = self.sdp.recv_video_mid else { return };
        let Some(mut writer) = self.rtc.writer(mid) else { return };
        if writer.is_request_keyframe_possible(KeyframeRequestKind::Pli) {
            if let Err(e) = writer.request_keyframe(rid, KeyframeRequestKind::Pli) {
                tracing::debug!("keyframe request to peer failed: {e}");
            }
            self.last_own_keyframe_request.insert(rid, now);
        }
    }
}
