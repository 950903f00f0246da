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
 * `munge` (optional) rewrites the offer before the endpoint sees it;
 * `prepare` (optional) gets the endpoint before it does (returns a promise).
 */
function negotiate(pipeline, peerFactory, sending, munge, prepare) {
  return new Promise(function(resolve, reject) {
    // Remote media is attached to an element: Chromium routes remote WebRTC
    // audio to WebAudio (audioPeakOf) only while it plays somewhere.
    var options = { remoteVideo: document.createElement('video') };
    if (sending) options.localVideo = document.createElement('video');
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
          Promise.resolve(prepare && prepare(ep)).then(function() {
            ep.processOffer(munge ? munge(offer) : offer, function(error, answer) {
              if (error) return reject(error);
              ep.gatherCandidates(function() {});
              peer.processAnswer(answer, function(error) { error ? reject(error) : resolve({ peer: peer, ep: ep }); });
            });
          }, reject);
        });
      });
    });
  });
}

/** The browser's own inbound-rtp counters of a receiving peer, with the
 *  codec (mimeType) and, for audio, the energy of what was played. */
async function inbound(peer) {
  var out = { video: null, audio: null };
  var report = await peer.peerConnection.getStats();
  report.forEach(function(s) {
    if (s.type !== 'inbound-rtp') return;
    var codec = s.codecId && report.get(s.codecId);
    out[s.kind] = {
      framesDecoded: s.framesDecoded || 0,
      packetsReceived: s.packetsReceived || 0,
      bytesReceived: s.bytesReceived || 0,
      codec: codec ? codec.mimeType : null,
      totalAudioEnergy: s.totalAudioEnergy || 0,
      frameWidth: s.frameWidth || 0,
    };
  });
  return out;
}

/**
 * An SDP offer that keeps, in each m-line of `kind` ('audio'/'video'), only
 * the payload types of codec `name` (and their RTX), as a browser with only
 * that codec would offer.
 */
function onlyCodec(sdp, kind, name) {
  var sections = sdp.split(/\r\n(?=m=)/);
  return sections.map(function(section) {
    if (section.indexOf('m=' + kind + ' ') !== 0) return section;
    var lines = section.split('\r\n');
    var keep = {};
    lines.forEach(function(l) {
      var m = /^a=rtpmap:(\d+) ([^/]+)\//.exec(l);
      if (m && m[2].toUpperCase() === name.toUpperCase()) keep[m[1]] = true;
    });
    lines.forEach(function(l) {
      var m = /^a=fmtp:(\d+) apt=(\d+)/.exec(l);
      if (m && keep[m[2]]) keep[m[1]] = true;
    });
    return lines.filter(function(l) {
      var m = /^a=(?:rtpmap|fmtp|rtcp-fb):(\d+)/.exec(l);
      return !m || keep[m[1]];
    }).map(function(l) {
      if (l.indexOf('m=' + kind + ' ') !== 0) return l;
      var parts = l.split(' ');
      return parts.slice(0, 3).concat(parts.slice(3).filter(function(pt) { return keep[pt]; })).join(' ');
    }).join('\r\n');
  }).join('\r\n');
}

/** `onlyCodec` for a { video, audio } choice (either may be absent). */
function mungeCodecs(choice) {
  return function(sdp) {
    if (choice.video) sdp = onlyCodec(sdp, 'video', choice.video);
    if (choice.audio) sdp = onlyCodec(sdp, 'audio', choice.audio);
    return sdp;
  };
}

// The loudest 50 ms (RMS, 0..1) a receiving peer's remote audio track carries over
// 1.5 s, read through WebAudio (Chromium's fake microphone beeps every second).
async function audioPeakOf(peer) {
  var receiver = peer.peerConnection.getReceivers().find(function(r) { return r.track && r.track.kind === 'audio'; });
  var ctx = new AudioContext();
  var analyser = ctx.createAnalyser();
  ctx.createMediaStreamSource(new MediaStream([receiver.track])).connect(analyser);
  var data = new Float32Array(analyser.fftSize);
  var peak = 0;
  for (var n = 0; n < 30; n++) {
    await new Promise(function(r) { setTimeout(r, 50); });
    analyser.getFloatTimeDomainData(data);
    var sum = 0;
    for (var k = 0; k < data.length; k++) sum += data[k] * data[k];
    peak = Math.max(peak, Math.sqrt(sum / data.length));
  }
  await ctx.close();
  return peak;
}

// The current picture of a receiving peer's video as ImageData, drawn from
// a frame of its remote track (once the track has a size).
async function currentFrame(peer) {
  var receiver = peer.peerConnection.getReceivers().find(function(r) { return r.track && r.track.kind === 'video'; });
  var video = document.createElement('video');
  video.muted = true;
  video.srcObject = new MediaStream([receiver.track]);
  await video.play();
  while (!video.videoWidth) await new Promise(function(r) { setTimeout(r, 50); });
  await new Promise(function(r) { setTimeout(r, 200); });
  var canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  var ctx = canvas.getContext('2d');
  ctx.drawImage(video, 0, 0);
  video.pause();
  return ctx.getImageData(0, 0, canvas.width, canvas.height);
}

// The loopback tutorials' flow (magic-mirror, the vision modules): the
// camera through a WebRtcPeerSendrecv into a WebRtcEndpoint, through the
// filter `makeFilter(pipeline)` resolves with (or its { first, last }
// chain), and back to the same endpoint. Resolves with { peer, pipeline,
// filter: the last one } once negotiated.
// With `dataChannels`, the peer opens a data channel and the endpoint is
// created with useDataChannels (the data-channel tutorials).
function loopbackThrough(makeFilter, dataChannels) {
  return new Promise(function(resolve, reject) {
    var options = { localVideo: document.getElementById('videoInput'), remoteVideo: document.getElementById('videoOutput') };
    if (dataChannels) options.dataChannels = true;
    var peer = kurentoUtils.WebRtcPeer.WebRtcPeerSendrecv(options, function(error) {
      if (error) return reject(error);
      peer.generateOffer(async function(error, offer) {
        if (error) return reject(error);
        try {
          var pipeline = await openPipeline();
          var webRtc = await p(function(cb) { pipeline.create('WebRtcEndpoint', dataChannels ? { useDataChannels: true } : {}, cb); });
          // A filter, or a chain of them as { first, last }.
          var made = await makeFilter(pipeline);
          var first = made.first || made, filter = made.last || made;
          await p(function(cb) { webRtc.connect(first, cb); });
          await p(function(cb) { filter.connect(webRtc, cb); });
          peer.on('icecandidate', function(c) { webRtc.addIceCandidate(kurentoClient.getComplexType('IceCandidate')(c), function() {}); });
          webRtc.on('IceCandidateFound', function(ev) { peer.addIceCandidate(ev.candidate, function() {}); });
          var answer = await p(function(cb) { webRtc.processOffer(offer, cb); });
          webRtc.gatherCandidates(function() {});
          peer.processAnswer(answer, function(error) { error ? reject(error) : resolve({ peer: peer, pipeline: pipeline, filter: filter }); });
        } catch (e) { reject(e); }
      });
    });
  });
}

// One frame of the <video> with id `id` as RGBA bytes: { width, height, px }.
function framePixels(id) {
  var video = document.getElementById(id);
  var canvas = document.createElement('canvas');
  var w = canvas.width = video.videoWidth, h = canvas.height = video.videoHeight;
  var ctx = canvas.getContext('2d');
  ctx.drawImage(video, 0, 0);
  return { width: w, height: h, px: ctx.getImageData(0, 0, w, h).data };
}

// Ends a loopback tutorial: the browser's peer, then the pipeline.
function stopLoopback(peer, pipeline) {
  peer.dispose();
  return p(function(cb) { pipeline.release(cb); });
}
