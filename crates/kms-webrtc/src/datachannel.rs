//! Data channels of one endpoint (WebRtcEndpoint `useDataChannels`).
//!
//! Channels are SCTP streams over the DTLS transport (RFC 8831), opened by
//! either side with DCEP (RFC 8832); str0m runs both protocols. This module
//! keeps what KMS reports about them: the open channels by SCTP stream id
//! (KMS's `channelId`), their labels for routing, per-channel counters for
//! `RTCDataChannelStats`, and the opened/closed totals of
//! `RTCPeerConnectionStats`.

use kms_media::DataMessage;
use std::sync::Arc;
use str0m::channel::ChannelId;

/// One channel as getStats reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChannelStats {
    /// SCTP stream id (`datachannelid`, KMS's `channelId`).
    pub stream_id: u16,
    pub label: String,
    pub protocol: String,
    /// `open` or `closed` (RTCDataChannelState).
    pub state: &'static str,
    pub messages_sent: u64,
    pub bytes_sent: u64,
    pub messages_received: u64,
    pub bytes_received: u64,
}

#[derive(Debug)]
struct Channel {
    id: ChannelId,
    label: Arc<str>,
    stats: DataChannelStats,
}

/// The channels of one peer connection.
#[derive(Debug, Default)]
pub struct DataChannels {
    channels: Vec<Channel>,
    opened: u64,
    closed: u64,
}

impl DataChannels {
    /// A channel opened (DCEP ACK sent or received).
    pub fn opened(&mut self, id: ChannelId, stream_id: u16, label: String, protocol: String) {
        self.opened += 1;
        let stats = DataChannelStats {
            stream_id,
            label: label.clone(),
            protocol,
            state: "open",
            messages_sent: 0,
            bytes_sent: 0,
            messages_received: 0,
            bytes_received: 0,
        };
        self.channels.push(Channel { id, label: Arc::from(label), stats });
    }

    /// A channel closed; its stream id, when it was known.
    pub fn closed(&mut self, id: ChannelId) -> Option<u16> {
        let channel = self.channels.iter_mut().find(|c| c.id == id && c.stats.state == "open")?;
        channel.stats.state = "closed";
        self.closed += 1;
        Some(channel.stats.stream_id)
    }

    /// The connection is gone: every open channel is closed; their stream ids.
    pub fn close_all(&mut self) -> Vec<u16> {
        let open: Vec<ChannelId> = self.channels.iter().filter(|c| c.stats.state == "open").map(|c| c.id).collect();
        open.into_iter().filter_map(|id| self.closed(id)).collect()
    }

    /// A message arrived on `id`: counted, and returned for routing.
    pub fn received(&mut self, id: ChannelId, binary: bool, data: Vec<u8>) -> Option<DataMessage> {
        let channel = self.channels.iter_mut().find(|c| c.id == id)?;
        channel.stats.messages_received += 1;
        channel.stats.bytes_received += data.len() as u64;
        Some(DataMessage { label: channel.label.clone(), binary, data: Arc::from(data) })
    }

    /// The open channel a routed message goes out on: the one with its label,
    /// else the first open one.
    pub fn route(&self, label: &str) -> Option<ChannelId> {
        let open = || self.channels.iter().filter(|c| c.stats.state == "open");
        open().find(|c| &*c.label == label).or_else(|| open().next()).map(|c| c.id)
    }

    /// Counts a message sent on `id`.
    pub fn sent(&mut self, id: ChannelId, bytes: usize) {
        if let Some(c) = self.channels.iter_mut().find(|c| c.id == id) {
            c.stats.messages_sent += 1;
            c.stats.bytes_sent += bytes as u64;
        }
    }

    /// The open channel with SCTP stream id `stream_id` (closeDataChannel).
    pub fn by_stream_id(&self, stream_id: u16) -> Option<ChannelId> {
        self.channels.iter().find(|c| c.stats.stream_id == stream_id && c.stats.state == "open").map(|c| c.id)
    }

    /// Every channel seen, open or closed.
    pub fn stats(&self) -> Vec<DataChannelStats> {
        self.channels.iter().map(|c| c.stats.clone()).collect()
    }

    /// (dataChannelsOpened, dataChannelsClosed) of RTCPeerConnectionStats.
    pub fn totals(&self) -> (u64, u64) {
        (self.opened, self.closed)
    }
}
