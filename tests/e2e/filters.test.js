// GStreamerFilter: a gst-launch element on decoded frames, with KMS's
// checks; a chain of filters decodes once and encodes once.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { openPage } = require('./lib/browser');
const { connect, call } = require('./lib/client');
const { pollUntil } = require('./lib/poll');

const decoding = (s) => s && s.video && s.video.framesDecoded > 10;

test('a chain of two GStreamerFilters in a call (videoflip, then videobalance to grey): the viewer sees grey, decoded once and encoded once', async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  const page = await openPage(defer, server, 'transcoding.html');
  await page.evaluate(() => window.startPresenter({ video: 'VP8' }));
  await page.evaluate(() => window.addViewer({ video: 'VP8' }));
  await page.evaluate(() => window.addViewerVia(['videoflip method=horizontal-flip', 'videobalance saturation=0.0'], { video: 'VP8' }));
  const stats = await pollUntil(() => page.evaluate(() => window.viewerStats()), (all) => all.length === 2 && all.every(decoding), { tries: 60 });
  assert.ok(stats.every(decoding), JSON.stringify(stats));
  assert.deepEqual(await page.evaluate(() => window.appErrors), []);
  // Pixels: the direct viewer sees the camera's colours, the filtered one grey.
  const direct = await page.evaluate(() => window.colourfulness(0));
  const filtered = await page.evaluate(() => window.colourfulness(1));
  assert.ok(direct > 20, `the direct viewer's picture has colour: ${direct}`);
  assert.ok(filtered < 4, `the filtered viewer's picture is grey: ${filtered}`);

  // The graph: the presenter's video is decoded once (raw to the first
  // filter), the second filter takes raw frames directly, and one encoder
  // turns its output into VP8 for the viewer.
  const dot = await page.evaluate(() => window.pipelineDot());
  assert.equal((dot.match(/vp8dec/g) || []).length, 1, dot);
  assert.equal((dot.match(/vp8enc/g) || []).length, 1, dot);
  assert.match(dot, /RAW out \(decoded frames\)/);
  assert.match(dot, /RAW in \(no decoder\)/);
  await page.evaluate(() => window.stop());
});

test('GStreamerFilter: KMS errors for bad commands and properties, the command round-trips', async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  const client = await connect(server.url);
  defer(() => client.close());
  const pipeline = await client.create('MediaPipeline');
  const create = (command, filterType) => call(pipeline, 'create', 'GStreamerFilter', filterType ? { command, filterType } : { command });
  await assert.rejects(create('nosuchelement'), (e) => e.code === 40001 && /cannot be created/.test(e.message));
  await assert.rejects(create('videoflip ! videobalance'), (e) => e.code === 40001 && /only one element/.test(e.message));
  await assert.rejects(create('fakesink'), (e) => e.code === 40001 && /pad templates don't match/.test(e.message));
  await assert.rejects(create('videoflip method=nonsense'), (e) => e.code === 40001);

  const flip = await create('videoflip method=horizontal-flip', 'VIDEO');
  assert.equal(await call(flip, 'getCommand'), 'videoflip method=horizontal-flip');
  await call(flip, 'setElementProperty', 'method', 'vertical-flip');
  await assert.rejects(call(flip, 'setElementProperty', 'nope', '1'), (e) => e.code === 40001 && /No property named 'nope'/.test(e.message));
  await assert.rejects(call(flip, 'setElementProperty', 'method', 'sideways'), (e) => e.code === 40001 && /Cannot convert 'sideways' to enum/.test(e.message));
  const balance = await create('videobalance');
  await call(balance, 'setElementProperty', 'saturation', '0.5');
  await assert.rejects(call(balance, 'setElementProperty', 'saturation', 'grey'), (e) => e.code === 40001 && /to double/.test(e.message));
  // Filters connect like any element (they carry media now).
  await call(flip, 'connect', balance);
  assert.equal((await call(balance, 'getSourceConnections')).length, 3);
  await call(pipeline, 'release');
});
