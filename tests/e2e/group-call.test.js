// A three-person group call in headless Chromium: each participant's outgoing
// endpoint fans out to the other two participants' incoming endpoints, and every
// one of the six incoming streams decodes (the browser's own stats).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { openPage } = require('./lib/browser');

const { pollUntil } = require('./lib/poll');
const PARTICIPANTS = 3;

test('group call: three participants, six incoming streams, all decoding', async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  const page = await openPage(defer, server, 'group-call.html');
  await page.evaluate((n) => window.joinRoom(n), PARTICIPANTS);

  const stats = await pollUntil(
    () => page.evaluate(() => window.roomStats()),
    (all) => all.every((s) => s.video && s.video.framesDecoded > 10 && s.audio && s.audio.packetsReceived > 10),
    { tries: 60 },
  );
  assert.deepEqual(await page.evaluate(() => window.appErrors), []);
  assert.equal(stats.length, PARTICIPANTS * (PARTICIPANTS - 1));
  for (const s of stats) {
    assert.ok(s.video && s.video.framesDecoded > 10, `stream ${s.from} -> ${s.to} decodes video: ${JSON.stringify(stats)}`);
    assert.ok(s.audio && s.audio.packetsReceived > 10, `stream ${s.from} -> ${s.to} receives audio`);
  }
  await page.evaluate(() => window.stop());
});
