#![allow(dead_code)] // each example uses part of it
//! What the examples share: the str0m peer standing in for a browser, and
//! the trickle-ICE wiring between it and a WebRtcEndpoint.

pub mod peer;

use kurento_client::{Error, WebRtcEndpoint};

/// The server's URL: the first argument, else KMS's default.
pub fn ws_uri() -> String {
    std::env::args().nth(1).unwrap_or_else(|| "ws://127.0.0.1:8888/kurento".to_owned())
}

/// How long the media runs: the second argument in seconds, else `default`.
pub fn seconds(default: u64) -> std::time::Duration {
    std::time::Duration::from_secs(std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(default))
}

/// The tutorials' negotiation of one browser with `endpoint`: subscribe to
/// IceCandidateFound, processOffer, gatherCandidates, and every candidate
/// the server finds goes to the peer (a task, until the endpoint is released).
pub async fn negotiate(endpoint: &WebRtcEndpoint, publish: bool) -> Result<peer::Peer, Error> {
    let mut found = endpoint.on_ice_candidate_found().await?;
    let (offering, offer) = peer::offer(publish).map_err(|e| Error::Connect(e.to_string()))?;
    let answer = endpoint.process_offer(&offer).await?;
    let peer = offering.start(&answer).map_err(Error::Decode)?;
    let candidates = peer.candidate_sender();
    tokio::spawn(async move {
        while let Some(Ok(event)) = found.next().await {
            if candidates.send(event.candidate.candidate).is_err() {
                break;
            }
        }
    });
    endpoint.gather_candidates().await?;
    Ok(peer)
}
