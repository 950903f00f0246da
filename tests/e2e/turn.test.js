// turnUrl: the WebRtcEndpoint allocates a relay on Debian's coturn and the
// media of a loopback call crosses that relay. Both peers only exchange relay
// candidates and the browser is relay-only, so the only working path is
// browser relay <-> server relay.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('./lib/server');
const { startCoturn } = require('./lib/coturn');
const { deferrer } = require('./lib/defer');
const { openPage } = require('./lib/browser');

const { pollUntil } = require('./lib/poll');

test('turnUrl yields a relay candidate and media flows through the relay', async (t) => {
  const defer = deferrer(t);
  const turn = await startCoturn();
  defer(() => turn.stop());
  const server = await startServer();
  defer(() => server.stop());
  const page = await openPage(defer, server, 'hello-world.html', { turn: turn.url });

  const stats = await pollUntil(() => page.evaluate(() => window.inboundStats()), (s) => s.video && s.video.framesDecoded > 10);
  const candidates = await page.evaluate(() => window.serverCandidates);
  const diagnostics = `${JSON.stringify(candidates)}\n${server.logs()}\n${turn.logs().slice(-3000)}`;
  assert.deepEqual(await page.evaluate(() => window.appErrors), []);
  const relay = candidates.find((c) => c.includes(' typ relay'));
  assert.ok(relay, `the endpoint trickled a relay candidate: ${diagnostics}`);
  assert.ok(relay.includes(` ${turn.relayIp} `), `relay candidate on coturn's relay address: ${relay}`);
  assert.ok(stats.video && stats.video.framesDecoded > 10, `video decodes through the relay: ${JSON.stringify(stats)}\n${diagnostics}`);
  assert.ok(stats.audio && stats.audio.packetsReceived > 10, `audio arrives: ${JSON.stringify(stats)}`);

  // The browser's selected pair ends at the server's relay candidate.
  const remote = await page.evaluate(() => window.selectedRemoteCandidate());
  const [, , , , ip, port] = relay.split(' ');
  assert.deepEqual([remote.address, String(remote.port)], [ip, port], `selected remote candidate ${JSON.stringify(remote)} is the server's relay ${relay}`);
  await page.evaluate(() => window.stop());
});
