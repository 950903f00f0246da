// The loopback tutorials of the vision modules and the example module in
// Chromium (page/vision.html), with a clip as the fake camera.
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startServer } = require('./server');
const { deferrer } = require('./defer');
const { openPage } = require('./browser');
const { pollUntil } = require('./poll');

const decoding = (s) => s && s.video && s.video.framesDecoded > 30;

/**
 * A server and vision.html running `module`'s tutorial with `params(dir)`,
 * the camera being `camera(dir)` (a .y4m path written into a temporary
 * directory); resolves with the page once the browser decodes the returned
 * video (asserted). Everything is released when the test ends.
 */
async function visionTutorial(t, module, camera, params = () => ({})) {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kms-${module}-`));
  defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  const page = await openPage(defer, server, 'vision.html', {}, [`--use-file-for-fake-video-capture=${camera(dir)}`]);
  await page.evaluate(([m, p]) => window.start(m, p), [module, params(dir)]);
  const stats = await pollUntil(() => page.evaluate(() => window.stats()), decoding, { tries: 60 });
  assert.ok(decoding(stats), `the browser decodes the returned video: ${JSON.stringify(stats)}`);
  defer(() => page.evaluate(() => window.stop()));
  return page;
}

module.exports = { visionTutorial };
