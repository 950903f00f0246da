// Simulcast in headless Chromium: a presenter sends three layers
// (sendEncodings with rids), two viewers each get the layer their endpoint's
// estimate and maxVideoSendBandwidth allow (the browsers' own stats); VP9
// and AV1 SVC viewers get the spatial layers theirs allow; with the config
// key off the server refuses the layers, as KMS.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { openPage } = require('./lib/browser');
const { pollUntil } = require('./lib/poll');
const { execFileSync } = require('node:child_process');

const decoding = (s) => s && s.framesDecoded > 10 && s.frameWidth > 0;

/** The viewers' stats, polled until `done` holds (bounded), with the frames
 *  decoded at that moment (and `settledAt`, when it held); then checks every
 *  viewer keeps decoding. */
async function settle(page, done, what) {
  const stats = await pollUntil(() => page.evaluate(() => window.viewerStats()), (all) => all.every(decoding) && done(all), { tries: 60 });
  stats.settledAt = Date.now();
  assert.ok(stats.every(decoding) && done(stats), `${what}: ${JSON.stringify(stats)} (presenter sends ${JSON.stringify(await page.evaluate(() => window.presenterLayers()))})`);
  const later = await pollUntil(() => page.evaluate(() => window.viewerStats()), (all) => all.every((s, i) => s.framesDecoded > stats[i].framesDecoded + 10), { tries: 10 });
  assert.ok(later.every((s, i) => s.framesDecoded > stats[i].framesDecoded + 10), `both keep decoding: ${JSON.stringify(later)}`);
  return stats;
}

// On is the default: the tests say so explicitly all the same.
const SIMULCAST = { env: { KMS_SIMULCAST: 'true' } };

test('simulcast: a viewer limited to 200 kbps gets a smaller layer than an unlimited one; raising its limit brings the large layer back', async (t) => {
  const defer = deferrer(t);
  const server = await startServer(SIMULCAST);
  defer(() => server.stop());
  const page = await openPage(defer, server, 'simulcast.html');
  const answer = await page.evaluate(() => window.startPresenter());
  assert.match(answer, /a=simulcast:recv q;h;f/, 'the answer receives the three layers');
  assert.match(answer, /transport-cc/, 'transport-wide CC negotiated');
  assert.doesNotMatch(answer, /video-orientation/, 'frames rotated by the sender: no viewer would get the rotation');
  await page.evaluate(() => window.addViewer(200));
  await page.evaluate(() => window.addViewer(5000));
  const [small, large] = await settle(page, ([a, b]) => a.frameWidth < b.frameWidth && b.frameWidth >= 480, 'the limited viewer gets a smaller layer');
  assert.ok(small.frameWidth <= 480, `the limited viewer's layer: ${small.frameWidth} wide`);
  // The endpoints' layers are read live while the browsers' decoded widths
  // trail them by the frames in flight: poll (bounded) for the two to agree.
  const [limited, other] = await pollUntil(endpointPair(page), ([l, o]) => l && o && o.simulcastLayer > l.simulcastLayer, { tries: 20 });
  assert.ok(limited && typeof limited.simulcastLayer === 'number', `getStats shows the forwarded layer: ${JSON.stringify(limited)}`);
  assert.ok(limited.availableOutgoingBitrate > 0 && limited.availableOutgoingBitrate <= 200000, `and the estimate within the limit: ${JSON.stringify(limited)}`);
  assert.ok(other.simulcastLayer > limited.simulcastLayer, `a higher layer for the other viewer: ${JSON.stringify(other)}`);

  await page.evaluate(() => window.setMaxVideoSendBandwidth(0, 5000));
  const raised = Date.now();
  const back = await settle(page, ([a, b]) => a.frameWidth === b.frameWidth && a.frameWidth > small.frameWidth, 'the large layer back once the limit is raised');
  t.diagnostic(`the large layer back ${((back.settledAt - raised) / 1000).toFixed(1)} s after the limit was raised`);
  assert.deepEqual(await page.evaluate(() => window.appErrors), []);
  await page.evaluate(() => window.stop());
  assert.ok(large.frameWidth >= 480);
});

/** A reader of the two viewers' endpoints' outbound video stats (getStats). */
function endpointPair(page) {
  return async () => [await page.evaluate(() => window.endpointStats(0)), await page.evaluate(() => window.endpointStats(1))];
}

/** An SVC publisher of `codec` (L3T3_KEY) and two viewers, one limited to
 *  200 kbps: it decodes fewer spatial layers (a narrower picture) until its
 *  limit is raised. */
async function svcTest(t, codec) {
  const defer = deferrer(t);
  const server = await startServer(SIMULCAST);
  defer(() => server.stop());
  const page = await openPage(defer, server, 'simulcast.html');
  await page.evaluate((c) => window.startPresenter([{ scalabilityMode: 'L3T3_KEY' }], `video/${c}`), codec);
  await page.evaluate((c) => window.addViewer(200, c), codec);
  await page.evaluate((c) => window.addViewer(5000, c), codec);
  const ofCodec = (s) => s.codec === `video/${codec}`;
  const [small, large] = await settle(page, ([a, b]) => a.frameWidth < b.frameWidth && ofCodec(a) && ofCodec(b), 'the limited viewer decodes fewer spatial layers');
  t.diagnostic(`decoded widths: ${small.frameWidth} (200 kbps) and ${large.frameWidth}; the presenter sends ${JSON.stringify(await page.evaluate(() => window.presenterLayers()))}`);
  const [limited, other] = await pollUntil(endpointPair(page), ([l, o]) => l && o && l.simulcastLayer < o.simulcastLayer, { tries: 20 });
  assert.ok(limited.simulcastLayer < other.simulcastLayer, `getStats shows the spatial layers sent: ${JSON.stringify([limited, other])}`);
  await page.evaluate(() => window.setMaxVideoSendBandwidth(0, 5000));
  const raised = Date.now();
  const back = await settle(page, ([a, b]) => a.frameWidth === b.frameWidth && a.frameWidth > small.frameWidth, 'the upper layers back once the limit is raised');
  t.diagnostic(`the upper spatial layers back ${((back.settledAt - raised) / 1000).toFixed(1)} s after the limit was raised`);
  assert.deepEqual(await page.evaluate(() => window.appErrors), []);
  await page.evaluate(() => window.stop());
}

test('VP9 SVC (L3T3_KEY): a viewer limited to 200 kbps gets fewer spatial layers, a narrower picture, than an unlimited one; raising its limit brings them back', (t) => svcTest(t, 'VP9'));

test('AV1 SVC (L3T3_KEY): a viewer limited to 200 kbps gets fewer spatial layers than an unlimited one; raising its limit brings them back', (t) => svcTest(t, 'AV1'));

for (const codec of ['VP9', 'AV1']) test(`${codec} SVC (L3T3_KEY) to a VP8 viewer: the transcoder decodes the top spatial layer`, async (t) => {
  const defer = deferrer(t);
  const server = await startServer(SIMULCAST);
  defer(() => server.stop());
  const page = await openPage(defer, server, 'simulcast.html');
  await page.evaluate((c) => window.startPresenter([{ scalabilityMode: 'L3T3_KEY' }], `video/${c}`), codec);
  await page.evaluate(() => window.addViewer(5000, 'VP8'));
  await settle(page, ([v]) => v.codec === 'video/VP8', 'the VP8 viewer decodes');
  // The presenter's top layer grows with its estimate: compare both as they are.
  const read = async () => [(await page.evaluate(() => window.viewerStats()))[0], (await page.evaluate(() => window.presenterLayers())).L3T3_KEY];
  const [viewer, top] = await pollUntil(read, ([v, top]) => top > 240 && v.frameWidth === top, { tries: 60 });
  t.diagnostic(`the VP8 viewer decodes ${viewer.frameWidth} wide; the presenter's top spatial layer is ${top} wide`);
  assert.ok(top > 240 && viewer.frameWidth === top, `the transcoder decodes the top spatial layer, not the base one: ${viewer.frameWidth} wide, top ${top}`);
  await page.evaluate(() => window.stop());
});

test('simulcast off (KMS_SIMULCAST=false, as KMS): the answer refuses the layers and transport-cc; every viewer decodes the one stream', async (t) => {
  const defer = deferrer(t);
  const server = await startServer({ env: { KMS_SIMULCAST: 'false' } });
  defer(() => server.stop());
  const page = await openPage(defer, server, 'simulcast.html');
  const answer = await page.evaluate(() => window.startPresenter());
  assert.doesNotMatch(answer, /transport-cc/, 'REMB only, as KMS');
  assert.doesNotMatch(answer, /a=simulcast|a=rid/, 'the layers refused, as KMS (it does not know them)');
  assert.doesNotMatch(answer, /video-orientation/, 'frames rotated by the sender, as with KMS: no viewer would get the rotation');
  await page.evaluate(() => window.addViewer(200));
  await page.evaluate(() => window.addViewer(5000));
  await settle(page, ([a, b]) => a.frameWidth === b.frameWidth, 'one layer for everyone');
  const stats = await page.evaluate(() => window.endpointStats(0));
  assert.equal(stats.simulcastLayer, undefined, `no layer choice: ${JSON.stringify(stats)}`);
  await page.evaluate(() => window.stop());
});

/** Runs `tc` with `args` (iproute2; root in the test's own network namespace). */
const tc = (...args) => execFileSync('tc', args, { stdio: 'pipe' });

/** True inside a network namespace of the test run (scripts/test.sh runs the
 *  suite under `unshare -n`): only `lo`, so shaping it touches nothing else. */
function ownNetworkNamespace() {
  try {
    return execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' }).trim().split('\n').every((l) => / lo:/.test(l));
  } catch {
    return false;
  }
}

test('simulcast: a bottleneck shaped with tc on the viewer\'s port moves it down a layer, and back up when lifted', { skip: !ownNetworkNamespace() && 'needs the test run\'s own network namespace (scripts/test.sh)' }, async (t) => {
  const defer = deferrer(t);
  const server = await startServer(SIMULCAST);
  defer(() => server.stop());
  const page = await openPage(defer, server, 'simulcast.html');
  await page.evaluate(() => window.startPresenter());
  await page.evaluate(() => window.addViewer(5000));
  const [top] = await settle(page, ([v]) => v.frameWidth >= 960, 'the viewer starts on the top layer');
  const port = await page.evaluate(() => window.viewerPort(0));
  assert.ok(port > 0, 'the viewer\'s port');
  // HTB (the kernel here has no netem): 300 kbit/s for datagrams to the viewer's port only.
  tc('qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', 'htb', 'default', '1');
  defer(() => tc('qdisc', 'del', 'dev', 'lo', 'root'));
  tc('class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '10gbit');
  tc('class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:2', 'htb', 'rate', '300kbit', 'ceil', '300kbit');
  tc('qdisc', 'add', 'dev', 'lo', 'parent', '1:2', 'pfifo', 'limit', '30');
  tc('filter', 'add', 'dev', 'lo', 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'dport', String(port), '0xffff', 'flowid', '1:2');
  await settle(page, ([v]) => v.frameWidth < top.frameWidth, 'the shaped viewer moves down');
  // The estimate the endpoint chooses by, read until it is below the
  // bottleneck's margin (bounded: 10 s). One read right after the move
  // once caught it at 3.4 Mbit/s on the middle layer in a loaded CI run;
  // the samples show its course if it ever fails again.
  const estimates = [];
  const shaped = await pollUntil(() => page.evaluate(() => window.endpointStats(0)), (s) => {
    estimates.push([s.availableOutgoingBitrate, s.simulcastLayer]);
    return s.availableOutgoingBitrate < 400000;
  }, { tries: 20 });
  assert.ok(shaped.availableOutgoingBitrate < 400000, `its estimate follows the bottleneck: ${JSON.stringify(shaped)}; (estimate, layer) every 500 ms: ${JSON.stringify(estimates)}`);
  t.diagnostic(`(estimate, layer) every 500 ms once moved down: ${JSON.stringify(estimates)}`);
  tc('qdisc', 'del', 'dev', 'lo', 'root');
  tc('qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', 'htb', 'default', '1');
  const lifted = Date.now();
  const up = await settle(page, ([v]) => v.frameWidth >= top.frameWidth, 'the viewer moves back up once the bottleneck is gone');
  // Read within a 500 ms poll and the browser's 1 s stats: an upper bound.
  t.diagnostic(`back on the top layer ${((up.settledAt - lifted) / 1000).toFixed(1)} s after the bottleneck was lifted`);
  await page.evaluate(() => window.stop());
});
