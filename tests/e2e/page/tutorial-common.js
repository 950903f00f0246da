// Helpers shared by the test pages, written the way the Kurento tutorials wire
// kurento-utils peers to WebRtcEndpoints (trickle ICE both ways).
var ws_uri = new URLSearchParams(location.search).get('ws_uri');
window.appErrors = [];
window.appEvents = [];

function fail(error) { console.error(error); window.appErrors.push(String(error && error.message || error)); }

/** Promise from a node-style callback API call. */
function p(fn) { return new Promise(function(res, rej) { fn(function(err, v) { err ? rej(err) : res(v); }); }); }

/** Connects the official client and creates a pipeline. */
async function openPipeline() {
  var client = await p(function(cb) { kurentoClient(ws_uri, cb); });
  return p(function(cb) { client.create('MediaPipeline', cb); });
}

/**
 * Negotiates one browser peer (kurentoUtils.WebRtcPeer.WebRtcPeerSendonly or
 * ...Recvonly) with a new WebRtcEndpoint of `pipeline`; resolves { peer, ep }.
 */
function negotiate(pipeline, peerFactory, sending) {
  return new Promise(function(resolve, reject) {
    var options = sending ? { localVideo: document.createElement('video') } : { remoteVideo: document.createElement('video') };
    var peer = peerFactory(options, function(error) {
      if (error) return reject(error);
      peer.generateOffer(function(error, offer) {
        if (error) return reject(error);
        pipeline.create('WebRtcEndpoint', function(error, ep) {
          if (error) return reject(error);
          ep.on('MediaFlowOutStateChanged', function(ev) { window.appEvents.push(ev); });
          ep.on('MediaFlowInStateChanged', function(ev) { window.appEvents.push(ev); });
          peer.on('icecandidate', function(c) { ep.addIceCandidate(kurentoClient.getComplexType('IceCandidate')(c), function() {}); });
          ep.on('IceCandidateFound', function(ev) { peer.addIceCandidate(ev.candidate, function() {}); });
          ep.processOffer(offer, function(error, answer) {
            if (error) return reject(error);
            ep.gatherCandidates(function() {});
            peer.processAnswer(answer, function(error) { error ? reject(error) : resolve({ peer: peer, ep: ep }); });
          });
        });
      });
    });
  });
}

/** The browser's own inbound-rtp counters of a receiving peer. */
async function inbound(peer) {
  var out = { video: null, audio: null };
  (await peer.peerConnection.getStats()).forEach(function(s) {
    if (s.type === 'inbound-rtp') out[s.kind] = { framesDecoded: s.framesDecoded || 0, packetsReceived: s.packetsReceived || 0 };
  });
  return out;
}
