// The Kurento hello-world tutorial in headless Chromium against the real
// binary: the browser's own stats must show the looped-back media decoding.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { servePages } = require('./lib/pages');
const { launchBrowser } = require('./lib/browser');
const { connect } = require('./lib/client');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

for (const offerer of ['browser', 'server']) {
test(`hello-world loopback decodes in Chromium (${offerer} offers) and the pipeline is freed`, async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  const pages = await servePages();
  defer(() => pages.close());
  const browser = await launchBrowser();
  defer(() => browser.close());
  const page = await browser.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(m.text()));
  defer(() => {
    if (process.exitCode) console.log(consoleLines.join('\n'), server.logs());
  });

  await page.goto(`${pages.origin}/page/hello-world.html?offerer=${offerer}&ws_uri=${encodeURIComponent(server.url)}`);

  // Wait for the returned video to start decoding (bounded).
  let first = null;
  for (let i = 0; i < 40 && !(first && first.video && first.video.framesDecoded > 0); i++) {
    await sleep(500);
    first = await page.evaluate(() => window.inboundStats());
  }
  const errors = await page.evaluate(() => window.appErrors);
  assert.deepEqual(errors, [], 'no application errors');
  assert.ok(first.video && first.video.framesDecoded > 0, `remote video decodes: ${JSON.stringify(first)}\n${server.logs()}`);

  // framesDecoded keeps rising for several seconds; audio packets arrive.
  let last = first;
  for (let i = 0; i < 4; i++) {
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

  // Release from the page as the tutorial's stop() does; the server frees it.
  await page.evaluate(() => window.stop());
  const client = await connect(server.url);
  defer(() => client.close());
  const manager = await client.getServerManager();
  assert.deepEqual(await manager.getPipelines(), []);
});
}
