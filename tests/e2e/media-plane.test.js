// The media plane at scale: media workers (one per core by default,
// KMS_MEDIA_WORKERS), pipelines placed on the least-loaded one, and what a
// worker does with datagrams no endpoint claims (negative route cache, scan
// budget per source). Against the real binary, with Chromium calls.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const crypto = require('node:crypto');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { launchBrowser } = require('./lib/browser');
const { servePages } = require('./lib/pages');
const { sleep, pollUntil } = require('./lib/poll');
const { metrics, sum } = require('./lib/metrics');

/** `count` hello-world loopback calls in one browser, each decoding. */
async function calls(defer, server, count) {
  const pages = await servePages();
  defer(() => pages.close());
  const browser = await launchBrowser();
  defer(() => browser.close());
  const out = [];
  for (let i = 0; i < count; i++) {
    const page = await browser.newPage();
    await page.goto(`${pages.origin}/page/hello-world.html?${new URLSearchParams({ ws_uri: server.url })}`);
    out.push(page);
  }
  for (const page of out) {
    const s = await pollUntil(() => page.evaluate(() => window.inboundStats()), (v) => v.video && v.video.framesDecoded > 0);
    assert.ok(s.video && s.video.framesDecoded > 0, `the call decodes: ${JSON.stringify(s)}\n${server.logs()}`);
  }
  return out;
}

/** framesDecoded of each page's remote video. */
function decoded(pages) {
  return Promise.all(pages.map(async (p) => (await p.evaluate(() => window.inboundStats())).video.framesDecoded));
}

test('two media workers: two calls are placed one on each, each through its own worker\'s socket, both decoding', async (t) => {
  const defer = deferrer(t);
  const server = await startServer({ env: { KMS_MEDIA_WORKERS: '2' } });
  defer(() => server.stop());
  assert.match(server.logs(), /media workers started workers=2/);
  const pages = await calls(defer, server, 2);
  const m = await metrics(server);
  assert.equal(m['kms_media_worker_pipelines{worker="0"}'], 1, JSON.stringify(m));
  assert.equal(m['kms_media_worker_pipelines{worker="1"}'], 1, JSON.stringify(m));
  // Each worker binds its own media socket: the calls reach different ports.
  const remotes = await Promise.all(pages.map((p) => p.evaluate(() => window.selectedRemoteCandidate())));
  assert.notEqual(remotes[0].port, remotes[1].port, JSON.stringify(remotes));
  const before = await decoded(pages);
  const busyBefore = [0, 1].map((w) => m[`kms_media_worker_busy_seconds_total{worker="${w}"}`]);
  await sleep(2000);
  const after = await decoded(pages);
  assert.ok(after.every((n, i) => n - before[i] >= 15), `both calls keep decoding: ${before} -> ${after}`);
  const later = await metrics(server);
  for (const w of [0, 1]) {
    assert.ok(later[`kms_media_worker_busy_seconds_total{worker="${w}"}`] > busyBefore[w], `worker ${w} carries media`);
  }
});

test('datagrams no endpoint claims: a repeated 5-tuple hits the negative cache, a flood of fresh ones from one source is rate-limited; the call goes on', async (t) => {
  const defer = deferrer(t);
  const server = await startServer({ env: { KMS_MEDIA_WORKERS: '1' } });
  defer(() => server.stop());
  const [page] = await calls(defer, server, 1);
  const media = await page.evaluate(() => window.selectedRemoteCandidate());
  const start = await metrics(server);
  const t0 = Date.now();

  // One stranger repeats RTP-looking garbage on one 5-tuple.
  const repeat = dgram.createSocket('udp4');
  defer(() => repeat.close());
  await new Promise((r) => repeat.bind(0, '127.0.0.66', r));
  for (let i = 0; i < 500; i++) {
    const junk = crypto.randomBytes(100);
    junk[0] = 0x80;
    repeat.send(junk, media.port, media.address);
    // Paced, so the burst fits the socket's default receive buffer on a busy
    // machine (what the kernel drops never reaches the server to be counted).
    if (i % 50 === 49) await sleep(10);
  }
  // Another stranger sends from 400 fresh ports (a 5-tuple each).
  const sockets = [];
  for (let i = 0; i < 400; i++) {
    const s = dgram.createSocket('udp4');
    sockets.push(s);
    await new Promise((r) => s.bind(0, '127.0.0.67', r));
    s.send(crypto.randomBytes(60), media.port, media.address);
  }
  defer(() => sockets.forEach((s) => s.close()));
  const before = await decoded([page]);
  await sleep(1500);
  const m = await metrics(server);
  const seconds = (Date.now() - t0) / 1000;
  const delta = (outcome) => sum(m, 'kms_media_unmatched_datagrams_total', `outcome="${outcome}"`) - sum(start, 'kms_media_unmatched_datagrams_total', `outcome="${outcome}"`);
  const [scanned, cached, limited] = ['scanned', 'cached', 'limited'].map(delta);
  assert.ok(cached >= 400, `the repeated 5-tuple is dropped by the negative cache: ${JSON.stringify({ scanned, cached, limited })}`);
  assert.ok(limited >= 250, `the fresh 5-tuples past the source's budget are dropped unscanned: ${JSON.stringify({ scanned, cached, limited })}`);
  // Each source: a burst of 50 scans, then 20 per second.
  assert.ok(scanned <= 2 * (50 + 20 * seconds) + 20, `scans stay bounded: ${JSON.stringify({ scanned, cached, limited, seconds })}`);
  const after = await decoded([page]);
  assert.ok(after[0] - before[0] >= 15, `the call keeps decoding: ${before} -> ${after}`);
});
