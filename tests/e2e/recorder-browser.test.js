// The recorder tutorial: a browser's camera (Chromium's fake device) through a
// WebRtcEndpoint into a RecorderEndpoint (WEBM); stopAndWait; the file plays.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { openPage } = require('./lib/browser');
const { connect, call, once } = require('./lib/client');
const { pollUntil, sleep } = require('./lib/poll');
const { probe, decodeAll } = require('./lib/media');

const byId = (client, id) => new Promise((resolve, reject) => client.getMediaobjectById(id, (e, o) => (e ? reject(e) : resolve(o))));

test('browser -> WebRtcEndpoint -> RecorderEndpoint WEBM: stopAndWait leaves a playable file', async (t) => {
  const defer = deferrer(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kms-rec-'));
  defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  const server = await startServer();
  defer(() => server.stop());
  const page = await openPage(defer, server, 'hello-world.html', {});
  await pollUntil(() => page.evaluate(() => window.inboundStats()), (s) => s.video && s.video.framesDecoded > 0);

  const client = await connect(server.url);
  defer(() => client.close());
  const ids = await page.evaluate(() => window.objectIds());
  const pipeline = await byId(client, ids.pipeline);
  const webRtc = await byId(client, ids.webRtc);
  const file = path.join(dir, 'browser.webm');
  const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}`, mediaProfile: 'WEBM' });
  const errors = [];
  recorder.on('Error', (e) => errors.push(e));
  const recording = once(recorder, 'Recording');
  await call(webRtc, 'connect', recorder);
  await call(recorder, 'record');
  await recording;
  await sleep(4000);
  const stopped = once(recorder, 'Stopped');
  await call(recorder, 'stopAndWait');
  await stopped;
  assert.deepEqual(errors, []);

  const p = probe(file);
  assert.deepEqual(p.videoCodecs, ['VP8'], p.text);
  assert.deepEqual(p.audio, ['Opus'], p.text);
  assert.ok(p.duration >= 3 && p.duration <= 5, `about 4 s recorded: ${p.duration}\n${server.logs().slice(-2000)}`);
  assert.ok(p.seekable);
  decodeAll(file);
  await page.evaluate(() => window.stop());
});
