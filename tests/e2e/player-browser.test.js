// The player tutorial: a generated WebM (VP8 + Opus) played by a
// PlayerEndpoint into a WebRtcEndpoint; Chromium decodes it; pause, seek and
// resume act on what the browser decodes; EndOfStream reaches the application.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { openPage } = require('./lib/browser');
const { pollUntil, sleep } = require('./lib/poll');
const { generateMedia } = require('./lib/media');

test('player(file) -> WebRtcEndpoint -> Chromium: decodes, pauses, seeks, resumes, ends', async (t) => {
  const defer = deferrer(t);
  const media = generateMedia();
  defer(() => media.remove());
  const server = await startServer();
  defer(() => server.stop());
  const page = await openPage(defer, server, 'player.html', {});
  await page.evaluate((uri) => window.start(uri), `file://${media.file('in.webm')}`);

  const playing = await pollUntil(() => page.evaluate(() => window.viewerStats()), (s) => s.video && s.video.framesDecoded > 10, { tries: 40, ms: 100 });
  assert.ok(playing.video && playing.video.framesDecoded > 10, `the browser decodes the file: ${JSON.stringify(playing)}\n${server.logs().slice(-3000)}`);
  assert.ok(playing.audio && playing.audio.packetsReceived > 0, JSON.stringify(playing));

  // Paused: the browser's decoded-frame count stands still.
  await page.evaluate(() => window.playerCall('pause'));
  assert.equal(await page.evaluate(() => window.playerCall('getState')), 'PAUSE');
  await sleep(300);
  const paused = await page.evaluate(() => window.viewerStats());
  await sleep(1000);
  const stillPaused = await page.evaluate(() => window.viewerStats());
  assert.ok(stillPaused.video.framesDecoded - paused.video.framesDecoded <= 2, `no frames while paused: ${JSON.stringify([paused, stillPaused])}`);

  // Seek ahead to 3 s (a keyframe; we are paused before it) and resume: decoding goes on from there.
  const before = await page.evaluate(() => window.playerCall('getPosition'));
  assert.ok(before < 2500, `paused before the seek target: ${before}`);
  await page.evaluate(() => window.playerCall('setPosition', 3000));
  await page.evaluate(() => window.playerCall('play'));
  const position = await page.evaluate(() => window.playerCall('getPosition'));
  assert.ok(position >= 2900 && position < 4500, `position after the seek: ${position}`);
  const resumed = await pollUntil(() => page.evaluate(() => window.viewerStats()), (s) => s.video.framesDecoded > stillPaused.video.framesDecoded + 20, { tries: 40, ms: 100 });
  assert.ok(resumed.video.framesDecoded > stillPaused.video.framesDecoded + 20, `decoding resumes: ${JSON.stringify([stillPaused, resumed])}`);

  const events = await pollUntil(() => page.evaluate(() => window.appEvents), (ev) => ev.some((e) => e.type === 'EndOfStream'), { tries: 40, ms: 250 });
  assert.ok(events.some((e) => e.type === 'EndOfStream'), JSON.stringify(events));
  // As in KMS, the player stops at the end of the stream (play() would start over).
  assert.equal(await pollUntil(() => page.evaluate(() => window.playerCall('getState')), (st) => st === 'STOP', { tries: 20, ms: 100 }), 'STOP');
  assert.ok(!events.some((e) => e.type === 'Error'), JSON.stringify(events));
  assert.deepEqual(await page.evaluate(() => window.appErrors), []);
  await page.evaluate(() => window.stop());
});
