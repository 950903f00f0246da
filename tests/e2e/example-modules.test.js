// KMS's example module (datachannelexample) with its official client:
// KmsSendData -> KmsShowData through a DATA connection, the metadata pair
// KmsDetectFaces -> KmsShowFaces on a face, and both tutorial flows in
// Chromium (data-channel text drawn on the video; face boxes drawn).
'use strict';
require('./lib/domain-shim');
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { kurento, call } = require('./lib/client');
const { withPipeline, playInto } = require('./lib/pipeline');
const { videoFrameRGB, gstLaunch, FACE, FACE_BOX } = require('./lib/media');
const { pollUntil } = require('./lib/poll');
const { visionTutorial } = require('./lib/tutorial');
const { renderClip } = require('./lib/clips');

kurento.register(require('kurento-module-datachannelexample'));


/** Pixels of an RGB(A) frame `width` wide matching `test`, and their box. */
function pixels(frame, width, channels, test) {
  let count = 0;
  const box = [Infinity, Infinity, -1, -1];
  for (let k = 0, i = 0; k < frame.length; k += channels, i++) {
    if (!test(frame[k], frame[k + 1], frame[k + 2])) continue;
    const [x, y] = [i % width, Math.floor(i / width)];
    count++;
    box[0] = Math.min(box[0], x); box[1] = Math.min(box[1], y); box[2] = Math.max(box[2], x); box[3] = Math.max(box[3], y);
  }
  return { count, box };
}
const white = (r, g, b) => r > 200 && g > 200 && b > 200;
const green = (r, g, b) => g > 180 && r < 90 && b < 90;

test('KmsSendData finds a QR code and its message, over a DATA connection, is drawn by KmsShowData', async (t) => {
  const { media, pipeline } = await withPipeline(t);
  const clip = media.file('qr.webm');
  gstLaunch('videotestsrc num-buffers=90 pattern=black ! video/x-raw,width=320,height=240,framerate=30/1 ! qroverlay data=kms-example pixel-size=3 x=30 y=10 '
    + '! videoconvert ! vp8enc deadline=1 keyframe-max-dist=30 ! webmmux ! filesink location=OUT', clip);
  const send = await pipeline.create('KmsSendData');
  const show = await pipeline.create('KmsShowData');
  const errors = await playInto(pipeline, {
    player: { uri: `file://${clip}` },
    middle: [send, show],
    recorder: { uri: `file://${media.file('shown.webm')}`, mediaProfile: 'WEBM' },
  });
  assert.deepEqual(errors, []);
  // The message (white, outlined) in the bottom third of a black picture whose QR code is at the top.
  const bottom = (frame) => pixels(frame.subarray(160 * 320 * 3), 320, 3, white);
  const text = bottom(videoFrameRGB(media.file('shown.webm'), [320, 240], 60));
  assert.ok(text.count > 100, `text drawn at the bottom: ${JSON.stringify(text)}`);
  const before = bottom(videoFrameRGB(clip, [320, 240], 60));
  assert.equal(before.count, 0, `the input is black there: ${JSON.stringify(before)}`);
});

test('KmsDetectFaces writes the faces into the frames\' metadata and KmsShowFaces draws them: a green box on the face', async (t) => {
  const { media, pipeline } = await withPipeline(t);
  const clip = media.file('face.webm');
  gstLaunch(`filesrc location=${FACE} ! pngdec ! imagefreeze num-buffers=90 ! video/x-raw,framerate=30/1 ! videoconvert `
    + '! vp8enc deadline=1 keyframe-max-dist=30 ! webmmux ! filesink location=OUT', clip);
  const detect = await pipeline.create('KmsDetectFaces');
  const show = await pipeline.create('KmsShowFaces');
  const only = await pipeline.create('KmsShowFaces');
  const errors = await playInto(pipeline, { player: { uri: `file://${clip}` }, middle: [detect, show], recorder: { uri: `file://${media.file('boxed.webm')}`, mediaProfile: 'WEBM' } });
  assert.deepEqual(errors, []);
  const boxed = pixels(videoFrameRGB(media.file('boxed.webm'), [512, 512], 45), 512, 3, green);
  const [fx, fy, fw, fh] = FACE_BOX;
  assert.ok(boxed.count > 4 * fw, `a box is drawn: ${JSON.stringify(boxed)}`);
  const near = (a, b) => Math.abs(a - b) <= 12;
  assert.ok(near(boxed.box[0], fx) && near(boxed.box[1], fy) && near(boxed.box[2], fx + fw) && near(boxed.box[3], fy + fh), `around the face ${FACE_BOX}: ${JSON.stringify(boxed)}`);
  // Without the detector in front there is no metadata, so nothing is drawn.
  const plainErrors = await playInto(pipeline, { player: { uri: `file://${clip}` }, middle: [only], recorder: { uri: `file://${media.file('plain.webm')}`, mediaProfile: 'WEBM' } });
  assert.deepEqual(plainErrors, []);
  assert.ok(pixels(videoFrameRGB(media.file('plain.webm'), [512, 512], 45), 512, 3, green).count < 20, 'no metadata, no box');
});

/** The page's returned frame as { width, height, px } (RGBA). */
const outputFrame = (page) => page.evaluate(() => { const f = framePixels('videoOutput'); return { width: f.width, height: f.height, px: Array.from(f.px) }; });

test('the datachannel-show-text tutorial in Chromium: text sent on the data channel comes back drawn on the video', async (t) => {
  const page = await visionTutorial(t, 'showdata', (dir) => renderClip(path.join(dir, 'camera.y4m'), { width: 320, height: 240, frames: 30 }, (i, rgb) => rgb.fill(40)));
  const before = await outputFrame(page);
  assert.ok(pixels(before.px, before.width, 4, white).count < 10, 'nothing drawn before a message');
  await pollUntil(() => page.evaluate(() => { try { window.send('KURENTO DATA'); return true; } catch (e) { return false; } }), (sent) => sent, { tries: 20 });
  const drawn = await pollUntil(async () => { const f = await outputFrame(page); return { ...pixels(f.px, f.width, 4, white), height: f.height }; }, (p) => p.count > 100, { tries: 30 });
  assert.ok(drawn.count > 100 && drawn.box[1] > drawn.height / 2, `the text, at the bottom: ${JSON.stringify(drawn)}`);
  assert.deepEqual(await page.evaluate(() => window.appErrors), []);
});

test('the metadata (facedetector) tutorial in Chromium: the face in front of the camera comes back boxed in green', async (t) => {
  const page = await visionTutorial(t, 'faces', (dir) => {
    const camera = path.join(dir, 'face.y4m');
    gstLaunch(`filesrc location=${FACE} ! pngdec ! imagefreeze num-buffers=30 ! video/x-raw,framerate=15/1 ! videoconvert ! video/x-raw,format=I420 ! y4menc ! filesink location=OUT`, camera);
    return camera;
  });
  const boxed = await pollUntil(async () => { const f = await outputFrame(page); return { ...pixels(f.px, f.width, 4, green), width: f.width }; }, (p) => p.count > 200, { tries: 30 });
  const scale = boxed.width / 512;
  const [fx, fy, fw] = FACE_BOX.map((v) => v * scale);
  assert.ok(boxed.count > 200, `a box is drawn: ${JSON.stringify(boxed)}`);
  assert.ok(Math.abs(boxed.box[0] - fx) < 15 * scale && Math.abs(boxed.box[1] - fy) < 15 * scale && Math.abs(boxed.box[2] - (fx + fw)) < 15 * scale, `around the face: ${JSON.stringify(boxed)}`);
  assert.deepEqual(await page.evaluate(() => window.appErrors), []);
});
