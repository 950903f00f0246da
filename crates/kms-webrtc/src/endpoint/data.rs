//! Data channels of a WebRtcEndpoint (`useDataChannels`): created and
//! closed by the application, and their stats.

use super::{IceState, WebRtcEndpoint, WebRtcError};
use crate::datachannel::DataChannelStats;
use str0m::channel::{ChannelConfig, Reliability};

impl WebRtcEndpoint {
    /// WebRtcEndpoint.createDataChannel: opens a channel to the peer with DCEP
    /// once the SCTP association is up (the peer's offer must have had an
    /// application m-line). `max_packet_life_time` (ms) and `max_retransmits`
    /// are -1 when unset; setting both is an error, as in the W3C API.
    pub fn create_data_channel(&mut self, label: &str, ordered: bool, max_packet_life_time: i32, max_retransmits: i32, protocol: &str) -> Result<(), WebRtcError> {
        if !self.config.data_channels {
            return Err(WebRtcError::DataChannel("the endpoint was created without useDataChannels".into()));
        }
        if self.sdp.local_sdp.is_none() || self.ice.ice_state == IceState::Failed {
            return Err(WebRtcError::DataChannel("channels can be created once the session is negotiated and while it lives".into()));
        }
        let bound = |v: i32, name: &str| u16::try_from(v).map_err(|_| WebRtcError::DataChannel(format!("{name} {v} is out of range")));
        let reliability = match (max_packet_life_time, max_retransmits) {
            (-1, -1) => Reliability::Reliable,
            (lifetime, -1) => Reliability::MaxPacketLifetime { lifetime: bound(lifetime, "maxPacketLifeTime")? },
            (-1, retransmits) => Reliability::MaxRetransmits { retransmits: bound(retransmits, "maxRetransmits")? },
            _ => return Err(WebRtcError::DataChannel("maxPacketLifeTime and maxRetransmits cannot both be set".into())),
        };
        let config = ChannelConfig { label: label.into(), ordered, reliability, negotiated: None, protocol: protocol.into() };
        self.rtc.direct_api().create_data_channel(config);
        Ok(())
    }

    /// WebRtcEndpoint.closeDataChannel by SCTP stream id (KMS's channelId).
    pub fn close_data_channel(&mut self, stream_id: u16) -> Result<(), WebRtcError> {
        let id = self.data.by_stream_id(stream_id).ok_or_else(|| WebRtcError::DataChannel(format!("no open data channel {stream_id}")))?;
        self.rtc.direct_api().close_data_channel(id);
        Ok(())
    }

    /// getStats: every data channel seen, and the (opened, closed) totals.
    pub fn data_channel_stats(&self) -> (Vec<DataChannelStats>, (u64, u64)) {
        (self.data.stats(), self.data.totals())
    }
}
