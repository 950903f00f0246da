// RtpEndpoint: plain RTP and SDES-SRTP peers (gst-launch-1.0 senders and
// receivers), COMEDIA, and two servers chained by RtpEndpoints, checked in
// Chromium's own stats and in what the GStreamer peers decode.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { openPage } = require('./lib/browser');
const { kurento, call } = require('./lib/client');
const { withPipeline } = require('./lib/pipeline');
const { pollUntil } = require('./lib/poll');
const { launch, mediaLines, sdesKey, senderOffer, startSender } = require('./lib/rtp_peer');

const decoding = (s) => s && s.video && s.video.framesDecoded > 30 && s.audio && s.audio.packetsReceived > 50;

for (const secure of [false, true]) {
  test(`rtp-receiver tutorial${secure ? ' with SDES-SRTP' : ''}: a gst-launch VP8 + Opus sender -> RtpEndpoint -> WebRtcEndpoint -> Chromium decodes`, async (t) => {
    const defer = deferrer(t);
    const server = await startServer();
    defer(() => server.stop());
    const page = await openPage(defer, server, 'rtp.html');
    const ours = sdesKey('K');
    const theirs = sdesKey('s');
    await page.evaluate((crypto) => window.setup('viewer', crypto), secure ? { crypto: 'AES_128_CM_HMAC_SHA1_80', key: ours.text } : null);
    const answer = await page.evaluate((offer) => window.rtpCall('processOffer', offer), senderOffer({ audio: 45000, video: 45002 }, { key: secure ? theirs : null }));
    const lines = mediaLines(answer);
    assert.deepEqual(lines.map((l) => [l.kind, l.proto]), [['audio', secure ? 'RTP/SAVP' : 'RTP/AVP'], ['video', secure ? 'RTP/SAVP' : 'RTP/AVP']], answer);
    assert.ok(lines.every((l) => l.port >= 40000 && l.port <= 40999 && l.port % 2 === 0 && l.rtcpPort === l.port + 1), answer);
    if (secure) assert.equal(lines[1].key, ours.base64, 'our key is announced');
    assert.match(answer, /a=recvonly/);

    const sender = startSender(answer, { key: secure ? theirs : null });
    defer(() => sender.stop());
    const stats = await pollUntil(() => page.evaluate(() => window.viewerStats()), decoding, { tries: 60 });
    assert.ok(decoding(stats), `Chromium decodes: ${JSON.stringify(stats)} ${sender.output()}`);
    assert.equal(stats.video.codec, 'video/VP8');

    const events = await pollUntil(() => page.evaluate(() => window.rtpEvents), (e) => e.some((ev) => ev.type === 'MediaStateChanged'), { tries: 20 });
    const states = (type) => events.filter((e) => e.type === type).map((e) => e.newState);
    assert.deepEqual(states('ConnectionStateChanged'), ['CONNECTED'], 'connected when negotiated (KMS)');
    assert.deepEqual(states('MediaStateChanged'), ['CONNECTED'], 'the sender RTCP made the media state CONNECTED');
    assert.deepEqual(events.filter((e) => 'errorCode' in e), [], 'no Error event');
    assert.equal(await page.evaluate(() => window.rtpCall('getMediaState')), 'CONNECTED');
    assert.equal(await page.evaluate(() => window.rtpCall('getConnectionState')), 'CONNECTED');
    assert.equal(await page.evaluate(() => window.rtpCall('isMediaFlowingIn', 'VIDEO')), true);
    const rtpStats = await page.evaluate(() => window.rtpCall('getStats', 'VIDEO'));
    const inbound = Object.values(rtpStats).find((s) => s.type === 'inboundrtp');
    assert.ok(inbound && inbound.packetsReceived > 30, JSON.stringify(rtpStats));
    assert.equal(await page.evaluate(() => window.rtpCall('getRemoteSessionDescriptor')), senderOffer({ audio: 45000, video: 45002 }, { key: secure ? theirs : null }));
    assert.match(await page.evaluate(() => window.rtpCall('getGstreamerDot')), secure ? /GstSrtpDec/ : /GstRtpBin/, 'the session\'s GStreamer graph');
    await page.evaluate(() => window.stop());
  });
}

test('an H.264 sender with rtcp-mux: one port per line, its RTCP read off the RTP port, its video transcoded to the browser\'s VP8', async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  const page = await openPage(defer, server, 'rtp.html');
  await page.evaluate(() => window.setup('viewer', null, 'VP8'));
  const offer = senderOffer({ audio: 45040, video: 45042 }, { video: 'H264', mux: true });
  const answer = await page.evaluate((o) => window.rtpCall('processOffer', o), offer);
  assert.match(answer, /a=rtcp-mux/);
  assert.doesNotMatch(answer, /a=rtcp:/, 'no RTCP port of its own');
  assert.match(answer, /a=rtpmap:96 H264\/90000/);
  const sender = startSender(answer, { video: 'H264', mux: true });
  defer(() => sender.stop());
  const stats = await pollUntil(() => page.evaluate(() => window.viewerStats()), decoding, { tries: 60 });
  assert.ok(decoding(stats), `Chromium decodes: ${JSON.stringify(stats)} ${sender.output()} ${JSON.stringify(await page.evaluate(() => window.rtpEvents))}`);
  assert.equal(stats.video.codec, 'video/VP8', 'transcoded from H.264');
  const events = await pollUntil(() => page.evaluate(() => window.rtpEvents), (e) => e.some((ev) => ev.type === 'MediaStateChanged'), { tries: 20 });
  assert.ok(events.some((e) => e.type === 'MediaStateChanged' && e.newState === 'CONNECTED'), `the muxed RTCP reached the session: ${JSON.stringify(events)}`);
  assert.equal(await page.evaluate(() => window.rtpCall('isMediaTranscoding', 'VIDEO')), true);
  await page.evaluate(() => window.stop());
});

test('SRTP with the wrong key raises Error once per line, and nothing reaches the viewer', async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  const page = await openPage(defer, server, 'rtp.html');
  await page.evaluate(() => window.setup('viewer', { crypto: 'AES_128_CM_HMAC_SHA1_80', key: 'K'.repeat(30) }));
  const announced = sdesKey('s');
  const answer = await page.evaluate((offer) => window.rtpCall('processOffer', offer), senderOffer({ audio: 45010, video: 45012 }, { key: announced }));
  const sender = startSender(answer, { key: sdesKey('x') });
  defer(() => sender.stop());
  // Error events carry their error type in `type`.
  const isError = (e) => 'errorCode' in e;
  const events = await pollUntil(() => page.evaluate(() => window.rtpEvents), (e) => e.filter(isError).length >= 2, { tries: 30 });
  await new Promise((r) => setTimeout(r, 2000));
  const errors = (await page.evaluate(() => window.rtpEvents)).filter(isError);
  assert.deepEqual(errors.map((e) => e.type), ['SRTP_AUTHENTICATION_FAILED', 'SRTP_AUTHENTICATION_FAILED'], `once per media line: ${JSON.stringify(events)}`);
  const stats = await page.evaluate(() => window.viewerStats());
  assert.ok(!stats.video || stats.video.framesDecoded === 0, 'nothing unauthenticated reaches the viewer');
});

test('bad input: SDP without media or usable lines, a short SDES key, RTP from an unexpected address', async (t) => {
  const { pipeline } = await withPipeline(t);
  const rtp = await pipeline.create('RtpEndpoint');
  const code = async (p) => { try { await p; return 'ok'; } catch (e) { return e.code; } };
  assert.equal(await code(call(rtp, 'processOffer', '')), 40201);
  assert.equal(await code(call(rtp, 'processOffer', 'garbage\u0000\u0001')), 40201);
  assert.equal(await code(call(rtp, 'processOffer', 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n')), 40205, 'no media');
  assert.equal(await code(call(rtp, 'processOffer', 'v=0\r\nc=IN IP4 127.0.0.1\r\nm=video 5000 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n')), 40205);
  assert.equal(await code(call(rtp, 'processAnswer', 'v=0\r\n')), 40209, 'no offer generated');
  assert.equal(await code(call(rtp, 'getLocalSessionDescriptor')), 40202);
  const SDES = kurento.getComplexType('SDES');
  assert.equal(await code(pipeline.create('RtpEndpoint', { crypto: SDES({ crypto: 'AES_128_CM_HMAC_SHA1_80', key: 'short' }) })), 40107);
  assert.equal(await code(pipeline.create('RtpEndpoint', { crypto: SDES({ crypto: 'AES_256_CM_HMAC_SHA1_80', key: 'K'.repeat(30) }) })), 40107);

  // A sender whose packets come from 127.0.0.2 while the offer names 127.0.0.1.
  const answer = await call(rtp, 'processOffer', senderOffer({ audio: 45020, video: 45022 }));
  assert.equal(await code(call(rtp, 'processOffer', senderOffer({ audio: 45020, video: 45022 }))), 40208, 'already negotiated');
  const errors = [];
  rtp.on('Error', (e) => errors.push(e));
  const video = mediaLines(answer).find((l) => l.kind === 'video');
  const stranger = launch(`videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=15/1 ! vp8enc deadline=1 ! rtpvp8pay pt=96 ! udpsink host=127.0.0.1 port=${video.port} bind-address=127.0.0.2`);
  t.after(() => stranger.stop());
  await pollUntil(() => errors, (e) => e.length > 0, { tries: 20 });
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.equal(errors[0].type, 'UNEXPECTED_RTP_SOURCE');
  assert.equal(await call(rtp, 'isMediaFlowingIn', 'VIDEO'), false, 'the stranger\'s media is dropped');
});

test('generateOffer answered by a gst-launch receiver (rtpbin, srtpdec) that decodes a PlayerEndpoint\'s frames', async (t) => {
  const { media, pipeline } = await withPipeline(t);
  const key = sdesKey('Q');
  const sdes = kurento.getComplexType('SDES')({ crypto: 'AES_128_CM_HMAC_SHA1_80', keyBase64: key.base64 });
  const rtp = await pipeline.create('RtpEndpoint', { crypto: sdes });
  // Receive limits set before the offer: b=AS on its lines (KMS's SdpEndpoint).
  await call(rtp, 'setMaxAudioRecvBandwidth', 64);
  await call(rtp, 'setMaxVideoRecvBandwidth', 500);
  assert.equal(await call(rtp, 'getMaxVideoRecvBandwidth'), 500);
  const offer = await call(rtp, 'generateOffer');
  assert.match(offer, /\r\nm=audio [^\r]*\r\n(?:[ic]=[^\r]*\r\n)*b=AS:64\r\n/, offer);
  assert.match(offer, /\r\nm=video [^\r]*\r\n(?:[ic]=[^\r]*\r\n)*b=AS:500\r\n/, offer);
  const video = mediaLines(offer).find((l) => l.kind === 'video');
  assert.equal(video.proto, 'RTP/SAVPF');
  assert.equal(video.key, key.base64);
  assert.ok(video.payloads.VP8 && video.ssrc, offer);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kms-rtp-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const recvPort = 45030;
  const theirs = sdesKey('r');
  const answer = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=receiver\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 0 RTP/SAVPF 96\r\n'
    + `m=video ${recvPort} RTP/SAVPF ${video.payloads.VP8}\r\na=rtpmap:${video.payloads.VP8} VP8/90000\r\n`
    + `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${theirs.base64}\r\na=recvonly\r\n`;
  const caps = `application/x-srtp,media=(string)video,clock-rate=(int)90000,encoding-name=(string)VP8,payload=(int)${video.payloads.VP8},`
    + `ssrc=(uint)${video.ssrc},srtp-key=(buffer)${key.hex},srtp-cipher=(string)aes-128-icm,srtp-auth=(string)hmac-sha1-80,srtcp-cipher=(string)aes-128-icm,srtcp-auth=(string)hmac-sha1-80`;
  const receiver = launch(`rtpbin name=r udpsrc port=${recvPort} caps=${caps} ! srtpdec ! r.recv_rtp_sink_0 `
    + `r. ! rtpvp8depay ! vp8dec ! videoconvert ! jpegenc ! multifilesink location=${dir}/f%05d.jpg`);
  t.after(() => receiver.stop());
  assert.equal(await call(rtp, 'processAnswer', answer), offer, 'processAnswer returns our offer');
  const player = await pipeline.create('PlayerEndpoint', { uri: `file://${media.file('in.webm')}` });
  await call(player, 'connect', rtp);
  await call(player, 'play');
  const frames = await pollUntil(() => fs.readdirSync(dir).length, (n) => n > 30, { tries: 30 });
  assert.ok(frames > 30, `the receiver decoded ${frames} frames: ${receiver.output()}`);
  assert.equal(await call(rtp, 'isMediaFlowingOut', 'VIDEO'), true);
  assert.equal(await call(rtp, 'getConnectionState'), 'CONNECTED');
});

test('COMEDIA: a sender behind an unannounced port gets our media back at the address it sends from', async (t) => {
  const { media, pipeline } = await withPipeline(t);
  const rtp = await pipeline.create('RtpEndpoint');
  // The offer announces port 9 (discard); the packets come from another port.
  const answer = await call(rtp, 'processOffer', senderOffer({ audio: 9, video: 9 }, { comedia: true }).replace(/a=sendonly/g, 'a=sendrecv'));
  assert.match(answer, /a=direction:passive/);
  const video = mediaLines(answer).find((l) => l.kind === 'video');
  // A NAT in front of a gst-launch sender: packets go out from `nat`'s port.
  const nat = dgram.createSocket('udp4');
  const inside = dgram.createSocket('udp4');
  await Promise.all([new Promise((r) => nat.bind(0, '127.0.0.1', r)), new Promise((r) => inside.bind(0, '127.0.0.1', r))]);
  t.after(() => { nat.close(); inside.close(); });
  inside.on('message', (msg) => nat.send(msg, video.port, '127.0.0.1'));
  const back = [];
  nat.on('message', (msg, from) => { if (from.port === video.port && (msg[1] & 0x7f) === 96) back.push(msg.length); });
  const sender = launch(`videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=15/1 ! vp8enc deadline=1 ! rtpvp8pay pt=96 ! udpsink host=127.0.0.1 port=${inside.address().port}`);
  t.after(() => sender.stop());
  await pollUntil(() => call(rtp, 'isMediaFlowingIn', 'VIDEO'), (v) => v === true, { tries: 20 });
  const player = await pipeline.create('PlayerEndpoint', { uri: `file://${media.file('in.webm')}` });
  await call(player, 'connect', rtp);
  await call(player, 'play');
  await pollUntil(() => back.length, (n) => n > 20, { tries: 20 });
  assert.ok(back.length > 20, `our VP8 reached the learnt address: ${back.length} packets`);
});

test('two servers chained by RtpEndpoints: Chromium publishes to the first, a Chromium viewer of the second decodes; the second\'s maxVideoRecvBandwidth holds the publisher through the hop', async (t) => {
  const defer = deferrer(t);
  const [first, second] = [await startServer(), await startServer({ env: { KMS_MIN_PORT: '41000', KMS_MAX_PORT: '41999' } })];
  defer(() => first.stop());
  defer(() => second.stop());
  const publisher = await openPage(defer, first, 'rtp.html');
  const viewer = await openPage(defer, second, 'rtp.html');
  await publisher.evaluate(() => window.setup('publisher', null));
  await viewer.evaluate(() => window.setup('viewer', null));
  const offer = await viewer.evaluate(() => window.rtpCall('generateOffer'));
  const answer = await publisher.evaluate((o) => window.rtpCall('processOffer', o), offer);
  await viewer.evaluate((a) => window.rtpCall('processAnswer', a), answer);
  const stats = await pollUntil(() => viewer.evaluate(() => window.viewerStats()), decoding, { tries: 60 });
  assert.ok(decoding(stats), JSON.stringify(stats));
  // The viewer's estimate crosses the RTP hop as REMB: the first server's RtpEndpoint receives it.
  const outbound = async () => Object.values(await publisher.evaluate(() => window.rtpCall('getStats', 'VIDEO'))).find((s) => s.type === 'outboundrtp');
  const sent = await pollUntil(outbound, (s) => s && s.remb > 0 && s.packetsSent > 100, { tries: 20 });
  assert.ok(sent && sent.remb > 0 && sent.packetsSent > 100, JSON.stringify(sent));
  // maxVideoRecvBandwidth set on the second server's RtpEndpoint after
  // negotiating bounds its REMB at once (no new b=AS: no new SDP), and the
  // first server relays it to Chromium, whose video through the hop falls
  // under it. Measured: 395 kbps before, 141-174 after; REMB 486k -> 150k.
  await viewer.evaluate(() => window.rtpCall('setMaxVideoRecvBandwidth', 150));
  const bounded = await pollUntil(outbound, (s) => s && s.remb <= 150000, { tries: 20 });
  assert.ok(bounded.remb > 0 && bounded.remb <= 150000, `the REMB the first server receives: ${JSON.stringify(bounded)}`);
  const rate = async () => {
    const a = await outbound();
    await new Promise((r) => setTimeout(r, 2000));
    const b = await outbound();
    return (b.bytesSent - a.bytesSent) * 8 / 2;
  };
  const held = await pollUntil(rate, (bps) => bps <= 200000, { tries: 8, ms: 0 });
  assert.ok(held <= 200000, `Chromium's video across the hop under the bound: ${held} bit/s`);
  // A new sink on the second server asks its RtpEndpoint for a keyframe: a PLI crosses the hop.
  const before = sent.pliCount;
  await viewer.evaluate(() => window.addRtpSink());
  const asked = await pollUntil(outbound, (s) => s && s.pliCount > before, { tries: 20 });
  assert.ok(asked.pliCount > before, `PLI received by the first server: ${JSON.stringify(asked)}`);
});
