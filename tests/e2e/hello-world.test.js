// The Kurento hello-world tutorial in headless Chromium against the real
// binary: the browser's own stats must show the looped-back media decoding.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const crypto = require('node:crypto');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { openPage } = require('./lib/browser');
const { connect } = require('./lib/client');

const { sleep, pollUntil } = require('./lib/poll');

for (const offerer of ['browser', 'server']) {
test(`hello-world loopback decodes in Chromium (${offerer} offers) and the pipeline is freed`, async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  const page = await openPage(defer, server, 'hello-world.html', { offerer });


  // Wait for the returned video to start decoding (bounded).
  const first = await pollUntil(() => page.evaluate(() => window.inboundStats()), (s) => s.video && s.video.framesDecoded > 0);
  const errors = await page.evaluate(() => window.appErrors);
  assert.deepEqual(errors, [], 'no application errors');
  assert.ok(first.video && first.video.framesDecoded > 0, `remote video decodes: ${JSON.stringify(first)}\n${server.logs()}`);
  // Latency measuring (off by default, as in KMS) runs while the call goes on.
  assert.equal(await page.evaluate(() => window.pipelineCall('getLatencyStats')), false);
  await page.evaluate(() => window.pipelineCall('setLatencyStats', true));
  assert.equal(await page.evaluate(() => window.pipelineCall('getLatencyStats')), true);

  // framesDecoded keeps rising for several seconds; audio packets arrive.
  // Meanwhile garbage (random bytes, truncated STUN/RTP/DTLS-looking packets)
  // hits the shared media port: it must be dropped without harming the call.
  // The server's media port: the remote end of the browser's selected pair.
  const media = await page.evaluate(() => window.selectedRemoteCandidate());
  assert.equal(media.protocol, 'udp', JSON.stringify(media));
  const garbage = dgram.createSocket('udp4');
  defer(() => garbage.close());
  let last = first;
  for (let i = 0; i < 4; i++) {
    for (const lead of [0x00, 0x01, 0x16, 0x17, 0x80, 0x90, 0xff]) {
      const junk = crypto.randomBytes(1 + (lead % 200));
      junk[0] = lead;
      garbage.send(junk, media.port, media.address);
    }
    await sleep(1000);
    const now = await page.evaluate(() => window.inboundStats());
    assert.ok(now.video.framesDecoded > last.video.framesDecoded, `framesDecoded rises: ${JSON.stringify(last)} -> ${JSON.stringify(now)}`);
    last = now;
  }
  assert.ok(last.video.framesDecoded - first.video.framesDecoded >= 40, `about 4 s of video: ${JSON.stringify([first, last])}`);
  assert.ok(last.audio && last.audio.packetsReceived > 50, `remote audio packets arrive: ${JSON.stringify(last.audio)}`);

  // The application saw media flow in both directions.
  const events = await page.evaluate(() => window.appEvents);
  const flowing = (type, mediaType) => events.some((e) => e.type === type && e.mediaType === mediaType && e.state === 'FLOWING');
  assert.ok(flowing('MediaFlowInStateChanged', 'VIDEO'), JSON.stringify(events));
  assert.ok(flowing('MediaFlowOutStateChanged', 'VIDEO'), JSON.stringify(events));
  for (const type of ['MediaStateChanged', 'ConnectionStateChanged']) {
    assert.ok(events.some((e) => e.type === type && e.oldState === 'DISCONNECTED' && e.newState === 'CONNECTED'), `${type}: ${JSON.stringify(events)}`);
  }
  assert.equal(await page.evaluate(() => window.connectionState()), 'CONNECTED');

  // ICE and DTLS as KMS reports them: events, properties, the selected pair.
  assert.ok(events.some((e) => e.type === 'DtlsConnectionStateChange' && e.state === 'CONNECTED'), JSON.stringify(events));
  const selected = events.find((e) => e.type === 'NewCandidatePairSelected');
  assert.ok(selected && / typ host/.test(selected.candidatePair.localCandidate), JSON.stringify(selected));
  const pairs = await page.evaluate(() => window.endpointCall('getICECandidatePairs'));
  assert.deepEqual(pairs.map((p) => p.localCandidate), [selected.candidatePair.localCandidate]);
  const [ice] = await page.evaluate(() => window.endpointCall('getIceConnectionState'));
  assert.ok(['CONNECTED', 'READY'].includes(ice.state), JSON.stringify(ice));
  const [dtls] = await page.evaluate(() => window.endpointCall('getDtlsConnectionState'));
  assert.equal(dtls.state, 'CONNECTED');

  // requestKeyframe() reaches the browser as a PLI (its own outbound stats).
  const plisBefore = await page.evaluate(() => window.outboundPliCount());
  await page.evaluate(() => window.endpointCall('requestKeyframe'));
  const plis = await pollUntil(() => page.evaluate(() => window.outboundPliCount()), (n) => n > plisBefore, { tries: 20, ms: 100 });
  assert.ok(plis > plisBefore, `PLI received by the browser: ${plisBefore} -> ${plis}`);

  // The server's own counters agree that media flows both ways (KMS shapes).
  const stats = Object.values(await page.evaluate(() => window.serverStats('VIDEO')));
  const inbound = stats.find((s) => s.type === 'inboundrtp');
  const outbound = stats.find((s) => s.type === 'outboundrtp');
  assert.ok(inbound && inbound.packetsReceived > 0 && inbound.bytesReceived > 0, JSON.stringify(stats));
  assert.ok(outbound && outbound.packetsSent > 0 && outbound.bytesSent > 0, JSON.stringify(stats));
  assert.match(inbound.ssrc, /^\d+$/);
  const endpoint = stats.find((s) => s.type === 'endpoint');
  const e2e = endpoint && endpoint.E2ELatency.find((l) => l.type === 'VIDEO');
  assert.ok(e2e && e2e.avg > 0 && e2e.avg < 1e9 && e2e.name === 'sink_video_default', `E2ELatency in ns: ${JSON.stringify(endpoint)}`);
  assert.ok(!endpoint.E2ELatency.some((l) => l.type === 'AUDIO'), 'filtered to VIDEO');
  assert.ok(!stats.some((s) => s.type.endsWith('rtp') && s.id.includes('audio')), 'filtered to VIDEO');

  // Release from the page as the tutorial's stop() does; the server frees it.
  await page.evaluate(() => window.stop());
  const client = await connect(server.url);
  defer(() => client.close());
  const manager = await client.getServerManager();
  assert.deepEqual(await manager.getPipelines(), []);
});
}
