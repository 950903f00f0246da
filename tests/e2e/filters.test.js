// GStreamerFilter: a gst-launch element on decoded frames, with KMS's
// checks; a chain of filters decodes once and encodes once.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { openPage } = require('./lib/browser');
const { connect, call, once } = require('./lib/client');
const { pollUntil } = require('./lib/poll');
const { withPipeline } = require('./lib/pipeline');
const { videoFrameRGB, frameDifference, audioPeak } = require('./lib/media');

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
  await assert.rejects(create('videoflip !'), (e) => e.code === 40001 && /cannot be created/.test(e.message));
  await assert.rejects(create(''), (e) => e.code === 40001);
  await assert.rejects(create('filesink location=/tmp/kms-filter-out'), (e) => e.code === 40001 && /pad templates don't match/.test(e.message));

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

/** A player of the generated WebM into `filters` (in a chain) into a WEBM recorder; returns the recorded file. */
async function playThrough(pipeline, media, filters, out) {
  const player = await pipeline.create('PlayerEndpoint', { uri: `file://${media.file('in.webm')}` });
  const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${media.file(out)}`, mediaProfile: 'WEBM' });
  const errors = [];
  let upstream = player;
  for (const [command, filterType] of filters) {
    const filter = await call(pipeline, 'create', 'GStreamerFilter', { command, filterType });
    filter.on('Error', (e) => errors.push(e));
    await call(upstream, 'connect', filter);
    upstream = filter;
  }
  await call(upstream, 'connect', recorder);
  await call(recorder, 'record');
  const eos = once(player, 'EndOfStream', 30000);
  await call(player, 'play');
  await eos;
  await call(recorder, 'stopAndWait');
  assert.deepEqual(errors, []);
  return media.file(out);
}

test('player -> GStreamerFilter(videoflip video-direction=horiz) -> recorder: the recorded picture is the mirror of the input', async (t) => {
  const { media, pipeline } = await withPipeline(t);
  const file = await playThrough(pipeline, media, [['videoflip video-direction=horiz', 'VIDEO']], 'flipped.webm');
  const [input, output] = [videoFrameRGB(media.file('in.webm')), videoFrameRGB(file)];
  const mirrored = frameDifference(output, input, true);
  const same = frameDifference(output, input);
  assert.ok(mirrored < 12, `the output is the input mirrored (difference ${mirrored})`);
  assert.ok(same > 40, `and not the input as it was (difference ${same})`);
  assert.ok(audioPeak(file).peak > 5000, 'the audio passes untouched');
});

test('an audio GStreamerFilter(volume volume=0) silences the audio and leaves the video untouched', async (t) => {
  const { media, pipeline } = await withPipeline(t);
  const file = await playThrough(pipeline, media, [['volume volume=0', 'AUDIO']], 'silent.webm');
  const audio = audioPeak(file);
  assert.ok(audio.samples > 48000 * 4, `about 5 s of audio recorded: ${audio.samples} samples`);
  assert.ok(audio.peak < 50, `silence (peak ${audio.peak})`);
  assert.ok(audioPeak(media.file('in.webm')).peak > 5000, 'the input is not silent');
  const difference = frameDifference(videoFrameRGB(file), videoFrameRGB(media.file('in.webm')));
  assert.ok(difference < 8, `the video is the input's (difference ${difference})`);
});
