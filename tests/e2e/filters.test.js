// GStreamerFilter: a gst-launch element on decoded frames, with KMS's
// checks; a chain of filters decodes once and encodes once.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { openPage } = require('./lib/browser');
const { call, once } = require('./lib/client');
const { pollUntil } = require('./lib/poll');
const { withPipeline, playInto } = require('./lib/pipeline');
const os = require('node:os');
const path = require('node:path');
const { videoFrameRGB, frameDifference, audioPeak, gstLaunch, redPixels, FACE, FACE_BOX } = require('./lib/media');
const { freePort } = require('./lib/server');
const { RawClient } = require('./lib/raw');

/** The `w` x `h` region at (x, y) of an RGB frame `width` wide. */
function crop(frame, width, x, y, w, h) {
  const out = Buffer.alloc(w * h * 3);
  for (let row = 0; row < h; row++) frame.copy(out, row * w * 3, ((y + row) * width + x) * 3, ((y + row) * width + x + w) * 3);
  return out;
}

/** A 40x40 solid red PNG at `out`. */
const makeRed = (out) => gstLaunch('videotestsrc pattern=red num-buffers=1 ! video/x-raw,width=40,height=40 ! pngenc ! filesink location=OUT', out);

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
  const { pipeline } = await withPipeline(t);
  const create = (command, filterType) => call(pipeline, 'create', 'GStreamerFilter', filterType ? { command, filterType } : { command });
  await assert.rejects(create('nosuchelement'), (e) => e.code === 40001 && /cannot be created/.test(e.message));
  await assert.rejects(create('videoflip ! videobalance'), (e) => e.code === 40001 && /only one element/.test(e.message));
  await assert.rejects(create('fakesink'), (e) => e.code === 40001 && /pad templates don't match/.test(e.message));
  await assert.rejects(create('videoflip method=nonsense'), (e) => e.code === 40001);
  await assert.rejects(create('videoflip !'), (e) => e.code === 40001 && /cannot be created/.test(e.message));
  await assert.rejects(create(''), (e) => e.code === 40001);
  await assert.rejects(create('filesink location=/tmp/kms-filter-out'), (e) => e.code === 40001 && /pad templates don't match/.test(e.message));
  // OpenCV elements throw C++ exceptions on a bad cascade path, which would abort the server: refused.
  await assert.rejects(create('facedetect profile=""'), (e) => e.code === 40001 && /not allowed/.test(e.message));
  await assert.rejects(create('videoflip ! facedetect profile=/nonexistent'), (e) => e.code === 40001 && /not allowed/.test(e.message));

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

/**
 * Plays `input` (default: the generated WebM) through `filters` (in a chain;
 * GStreamerFilter commands, or filter objects already made) into a WEBM
 * recorder; returns the recorded file.
 */
async function playThrough(pipeline, media, filters, out, input = media.file('in.webm')) {
  const middle = [];
  for (const f of filters) middle.push(Array.isArray(f) ? await call(pipeline, 'create', 'GStreamerFilter', { command: f[0], filterType: f[1] }) : f);
  const errors = await playInto(pipeline, { player: { uri: `file://${input}` }, middle, recorder: { uri: `file://${media.file(out)}`, mediaProfile: 'WEBM' } });
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

test('ZBarFilter: CodeFound carries each QR code drawn by qroverlay, a code in view about once a second', async (t) => {
  const { media, pipeline } = await withPipeline(t);
  const clip = (name, data) => {
    gstLaunch(`videotestsrc num-buffers=90 pattern=white ! video/x-raw,width=320,height=240,framerate=30/1 ! qroverlay data=${data} case-sensitive=true pixel-size=4 `
      + '! videoconvert ! vp8enc deadline=1 keyframe-max-dist=30 ! webmmux ! filesink location=OUT', media.file(name));
    return media.file(name);
  };
  const zbar = await pipeline.create('ZBarFilter');
  const codes = [];
  zbar.on('CodeFound', (e) => codes.push([e.codeType, e.value]));
  // No consumer: a detector still works.
  for (const [name, data] of [['one.webm', 'kms-code-one'], ['two.webm', 'kms-code-two']]) {
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip(name, data)}` });
    await call(player, 'connect', zbar);
    const eos = once(player, 'EndOfStream', 20000);
    await call(player, 'play');
    await eos;
    await new Promise((r) => setTimeout(r, 300));
  }
  const one = codes.filter(([, v]) => v === 'kms-code-one');
  const two = codes.filter(([, v]) => v === 'kms-code-two');
  assert.ok(one.length >= 1 && two.length >= 1, JSON.stringify(codes));
  assert.ok(codes.every(([type]) => type === 'QR-Code'), JSON.stringify(codes));
  // 3 s of one code in view: raised at most about once a second, not per frame.
  assert.ok(one.length <= 4, `deduplicated: ${one.length} events for 90 frames`);
});

test('ImageOverlayFilter: the picture pixels are where its offsets put them; an unreachable picture raises Error and the video flows', async (t) => {
  const { media, server, pipeline } = await withPipeline(t);
  makeRed(media.file('red.png'));
  const overlay = await pipeline.create('ImageOverlayFilter');
  // kurento-client 7.3 sends a method's parameters as just their `id` when
  // one is named `id` (its serializeParams takes them for a MediaObject), so
  // addImage and removeImage go out raw, as another client would send them.
  const raw = await RawClient.open(server.url);
  t.after(() => raw.close());
  const invoke = async (operation, operationParams) => {
    const reply = await raw.request('invoke', { object: overlay.id, operation, operationParams });
    assert.equal(reply.error, undefined, JSON.stringify(reply.error));
  };
  const image = (id, uri, x, y, w, h, keepAspectRatio, center) => ({ id, uri, offsetXPercent: x, offsetYPercent: y, widthPercent: w, heightPercent: h, keepAspectRatio, center });
  // 320x240 frame: box from (160, 60), 80x120.
  await invoke('addImage', image('logo', `file://${media.file('red.png')}`, 0.5, 0.25, 0.25, 0.5, false, false));
  const missing = once(overlay, 'Error');
  await invoke('addImage', image('gone', `http://127.0.0.1:${await freePort()}/none.png`, 0, 0, 0.2, 0.2, true, true));
  await invoke('removeImage', { id: 'never-added' });
  assert.equal((await missing).type, 'RESOURCE_ERROR_OPEN');
  await new Promise((r) => setTimeout(r, 500));
  const file = await playThrough(pipeline, media, [overlay], 'overlay.webm');
  const frame = videoFrameRGB(file);
  const input = videoFrameRGB(media.file('in.webm'));
  const red = redPixels(frame, 320, input);
  assert.ok(red.count > 80 * 120 * 0.8, `the box is red: ${JSON.stringify(red)}`);
  const [x0, y0, x1, y1] = red.box;
  assert.ok(Math.abs(x0 - 160) <= 3 && Math.abs(y0 - 60) <= 3 && Math.abs(x1 - 239) <= 3 && Math.abs(y1 - 179) <= 3, `at (160,60)-(239,179): ${red.box}`);
  // Outside the box, the input's picture.
  let outside = 0;
  for (let y = 0; y < 240; y++) for (let x = 0; x < 150; x++) for (let c = 0; c < 3; c++) outside += Math.abs(frame[(y * 320 + x) * 3 + c] - input[(y * 320 + x) * 3 + c]);
  assert.ok(outside / (150 * 240 * 3) < 8, 'left of the box the picture is unchanged');
});

test('FaceOverlayFilter: the picture lands on the face OpenCV finds', async (t) => {
  const { media, pipeline } = await withPipeline(t);
  makeRed(media.file('red.png'));
  gstLaunch(`filesrc location=${FACE} ! pngdec ! imagefreeze num-buffers=90 ! video/x-raw,framerate=30/1 ! videoconvert `
    + '! vp8enc deadline=1 keyframe-max-dist=30 ! webmmux ! filesink location=OUT', media.file('face.webm'));
  const overlay = await pipeline.create('FaceOverlayFilter');
  // Over the whole face box (KMS's fractions of the face).
  await call(overlay, 'setOverlayedImage', `file://${media.file('red.png')}`, 0, 0, 1, 1);
  await new Promise((r) => setTimeout(r, 500));
  const file = await playThrough(pipeline, media, [overlay], 'face-out.webm', media.file('face.webm'));
  const [output, input] = [videoFrameRGB(file, [512, 512]), videoFrameRGB(media.file('face.webm'), [512, 512])];
  const [fx, fy, fw, fh] = FACE_BOX;
  // The face box (detection runs on a 320-wide copy: a few pixels of slack) is red...
  const inside = redPixels(crop(output, 512, fx + 6, fy + 6, fw - 12, fh - 12), fw - 12, crop(input, 512, fx + 6, fy + 6, fw - 12, fh - 12));
  assert.ok(inside.count > (fw - 12) * (fh - 12) * 0.95, `the face is covered: ${JSON.stringify(inside)}`);
  // ...and nothing else turned red.
  const all = redPixels(output, 512, input);
  const near = redPixels(crop(output, 512, fx - 8, fy - 8, fw + 16, fh + 16), fw + 16, crop(input, 512, fx - 8, fy - 8, fw + 16, fh + 16));
  // (The output is re-encoded at 300 kbit/s: a few hundred scattered pixels of
  // the suit and flag cross the red threshold; a misplaced overlay would put
  // most of the red elsewhere.)
  assert.ok(near.count >= all.count * 0.9, `red only over the face ${FACE_BOX}: ${near.count} of ${all.count}`);
  await call(overlay, 'unsetOverlayedImage');
});

test('the magic-mirror tutorial in Chromium: a camera showing a face gets the overlay over the face back', async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  const dir = require('node:fs').mkdtempSync(path.join(os.tmpdir(), 'kms-mirror-'));
  defer(() => require('node:fs').rmSync(dir, { recursive: true, force: true }));
  // The fake camera plays a clip of the face picture (looped by Chromium).
  const camera = path.join(dir, 'face.y4m');
  gstLaunch(`filesrc location=${FACE} ! pngdec ! imagefreeze num-buffers=30 ! video/x-raw,framerate=15/1 ! videoconvert ! video/x-raw,format=I420 ! y4menc ! filesink location=OUT`, camera);
  makeRed(path.join(dir, 'red.png'));
  const page = await openPage(defer, server, 'magic-mirror.html', { image: `file://${path.join(dir, 'red.png')}` }, [`--use-file-for-fake-video-capture=${camera}`]);
  await page.evaluate(() => window.start());
  const stats = await pollUntil(() => page.evaluate(() => window.stats()), (s) => decoding(s), { tries: 60 });
  assert.ok(decoding(stats), `the browser decodes the returned video: ${JSON.stringify(stats)}`);
  assert.deepEqual(await page.evaluate(() => window.appErrors), []);
  // The face box of the 512x512 picture, in fractions, with a little slack
  // for the detector (it runs on a 320-wide copy).
  const [fx, fy, fw, fh] = FACE_BOX;
  const box = [(fx + 6) / 512, (fy + 6) / 512, (fx + fw - 6) / 512, (fy + fh - 6) / 512];
  const red = await pollUntil(() => page.evaluate((b) => window.redIn(b), box), (r) => r.inside > 0.9, { tries: 20 });
  assert.ok(red.inside > 0.9, `the overlay covers the face: ${JSON.stringify(red)}`);
  // Outside the shrunk box: the overlay's own edge and what was red in the camera picture already.
  const camera0 = await page.evaluate((b) => window.redIn(b, 'videoInput'), box);
  assert.ok(camera0.inside < 0.05, `the camera's face is not red: ${JSON.stringify(camera0)}`);
  assert.ok(red.outside - camera0.outside < fw * fh * 0.6, `little else turned red: ${JSON.stringify([red, camera0])}`);
  await page.evaluate(() => window.stop());
});
