// iceTcp: the WebRtcEndpoint offers a passive TCP host candidate and a call
// whose peers exchange only TCP candidates runs over ICE-TCP (RFC 6544).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { openPage } = require('./lib/browser');

const { pollUntil } = require('./lib/poll');

test('iceTcp: a loopback call with only TCP candidates decodes over TCP', async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  const page = await openPage(defer, server, 'hello-world.html', { transport: 'tcp' });

  const stats = await pollUntil(() => page.evaluate(() => window.inboundStats()), (s) => s.video && s.video.framesDecoded > 10);
  const candidates = await page.evaluate(() => window.serverCandidates);
  assert.deepEqual(await page.evaluate(() => window.appErrors), []);
  const tcp = candidates.find((c) => / tcp .* typ host tcptype passive/.test(c));
  assert.ok(tcp, `a passive TCP host candidate: ${JSON.stringify(candidates)}`);
  assert.ok(stats.video && stats.video.framesDecoded > 10, `video decodes over TCP: ${JSON.stringify(stats)}\n${server.logs()}`);
  const remote = await page.evaluate(() => window.selectedRemoteCandidate());
  assert.equal(remote.protocol, 'tcp', JSON.stringify(remote));
  assert.equal(String(remote.port), tcp.split(' ')[5]);
  await page.evaluate(() => window.stop());
});
