//! What a WebRtcEndpoint does with the events of its peer connection.

use super::{codec_of, WebRtcEndpoint};
use kms_media::{ElementEvent, ElementOutput, MediaFrame, MediaType};
use str0m::bwe::BweKind;
use str0m::Event;

impl WebRtcEndpoint {
    pub(super) fn handle_rtc_event(&mut self, event: Event) {
        match event {
            Event::IceConnectionStateChange(state) => self.ice_changed(state),
            Event::Connected => self.dtls_connected(),
            Event::MediaAdded(added) => self.record_media(added.mid, added.kind, added.direction),
            Event::MediaData(data) => {
                let spec = data.params.spec();
                let Some(codec) = codec_of(spec.codec) else { return };
                let mut frame = MediaFrame {
                    contiguous: data.contiguous,
                    ..MediaFrame::new(codec, spec.clock_rate.get(), data.time.numer(), data.network_time, data.data)
                };
                frame.layer = self.incoming_layer(data.network_time, data.rid, &frame);
                frame.spatial = self.incoming_spatial(data.network_time, &frame, &data.codec_extra);
                if !data.contiguous && codec.media_type() == MediaType::Video {
                    self.request_own_keyframe(data.network_time, data.rid);
                }
                let (first, last) = (**data.seq_range.start(), **data.seq_range.end());
                self.counters.inbound.entry((data.mid, data.rid)).or_default().frame(first, last, frame.data.len());
                if codec.media_type() == MediaType::Video {
                    self.video_received(data.network_time);
                }
                if let Some(event) = self.flow.frame_in(data.network_time, codec.media_type()) {
                    self.event(event);
                }
                self.queue.push_back(ElementOutput::Media(frame));
            }
            Event::KeyframeRequest(_) => self.queue.push_back(ElementOutput::KeyframeRequest),
            // The peer's REMB (while its first ones rise below rembOnConnect,
            // that value, as KMS), or with transport-wide CC str0m's own
            // estimate from the peer's TWCC feedback (simulcast on): bounded
            // by the send bandwidth, it chooses this viewer's layer and goes
            // upstream.
            Event::EgressBitrateEstimate(kind) => {
                let upstream = match kind {
                    BweKind::Remb { estimate, .. } => self.remb.peer_remb(estimate.as_u64()),
                    BweKind::Twcc { estimate, .. } => self.remb.peer_estimate(estimate.as_u64()),
                    _ => return,
                };
                self.viewer_estimate(upstream);
                self.queue.push_back(ElementOutput::BitrateEstimate(upstream));
            }
            Event::PeerStats(s) => {
                if let Some(pair) = s.selected_candidate_pair {
                    self.pair_selected(pair.local.addr, pair.remote.addr);
                }
            }
            Event::MediaIngressStats(s) => {
                self.counters.ingress.insert(s.mid, s);
            }
            Event::MediaEgressStats(s) => {
                self.counters.egress.insert(s.mid, s);
            }
            Event::ChannelOpen(id, label) if self.config.data_channels => {
                let Some(stream_id) = self.rtc.direct_api().sctp_stream_id_by_channel_id(id) else { return };
                let protocol = self.rtc.channel(id).and_then(|c| c.config().map(|c| c.protocol.clone())).unwrap_or_default();
                self.data.opened(id, stream_id, label, protocol);
                self.event(ElementEvent::DataChannelOpened { channel_id: stream_id });
            }
            Event::ChannelData(d) if self.config.data_channels => {
                if let Some(message) = self.data.received(d.id, d.binary, d.data) {
                    self.queue.push_back(ElementOutput::Data(message));
                }
            }
            Event::ChannelClose(id) => {
                if let Some(stream_id) = self.data.closed(id) {
                    self.event(ElementEvent::DataChannelClosed { channel_id: stream_id });
                }
            }
            _ => {}
        }
    }
}
