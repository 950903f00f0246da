// The four vision modules (chroma, crowddetector, platedetector,
// pointerdetector) driven by the official client and their module clients,
// on clips the tests draw (lib/vision-clips.js): the pixels of the filtered
// video and the events the clips imply; then each module's tutorial flow in
// Chromium with the clip as the fake camera.
'use strict';
require('./lib/domain-shim');
const test = require('node:test');
const assert = require('node:assert/strict');
const { kurento, call, once } = require('./lib/client');
const { withPipeline, playInto } = require('./lib/pipeline');
const { videoFrameRGB, gstLaunch } = require('./lib/media');
const { freePort } = require('./lib/server');
const clips = require('./lib/vision-clips');

for (const m of ['kurento-module-chroma', 'kurento-module-crowddetector', 'kurento-module-platedetector', 'kurento-module-pointerdetector']) {
  kurento.register(require(m));
}
const { WindowParam } = require('kurento-module-chroma').complexTypes;
const crowdTypes = require('kurento-module-crowddetector').complexTypes;
const pointerTypes = require('kurento-module-pointerdetector').complexTypes;

/** Counts of green, blue and red pixels in an RGB frame. */
function colours(rgb) {
  const count = { green: 0, blue: 0, red: 0, pixels: rgb.length / 3 };
  for (let k = 0; k < rgb.length; k += 3) {
    const [r, g, b] = [rgb[k], rgb[k + 1], rgb[k + 2]];
    if (g > 130 && r < 100 && b < 110) count.green++;
    else if (b > 180 && r < 80 && g < 80) count.blue++;
    else if (r > 160 && g < 80 && b < 80) count.red++;
  }
  return count;
}

/** A 320x240 solid blue PNG at `out` (the chroma background). */
const makeBlue = (out) => gstLaunch('videotestsrc pattern=blue num-buffers=1 ! video/x-raw,width=320,height=240 ! pngenc ! filesink location=OUT', out);

/** The crowd clip's regions: a busy left one (with direction events) and an empty right one. */
function crowdRois() {
  const rect = (x0, x1) => [[x0, 0.1], [x1, 0.1], [x1, 0.9], [x0, 0.9]].map(([x, y]) => new crowdTypes.RelativePoint({ x, y }));
  const config = (direction) => new crowdTypes.RegionOfInterestConfig({ sendOpticalFlowEvent: direction });
  return [
    new crowdTypes.RegionOfInterest({ id: 'busy', points: rect(0, 0.5), regionOfInterestConfig: config(true) }),
    new crowdTypes.RegionOfInterest({ id: 'empty', points: rect(0.6, 1), regionOfInterestConfig: config(true) }),
  ];
}

/** Plays `clip` into `filter` (and on into a WebM recording at `out`, when given) to its end. */
async function play(pipeline, media, clip, filter, out) {
  const errors = await playInto(pipeline, {
    player: { uri: `file://${clip}` },
    middle: [filter],
    recorder: { uri: `file://${media.file(out || 'discard.webm')}`, mediaProfile: 'WEBM' },
  });
  assert.deepEqual(errors, []);
  return media.file(out || 'discard.webm');
}

test('ChromaFilter: after 60 frames of calibration the green is the background picture, the moving disc is not; an unreachable picture raises Error', async (t) => {
  const { media, pipeline } = await withPipeline(t);
  const clip = clips.greenScreen(media.file('green.webm'));
  makeBlue(media.file('blue.png'));
  const chroma = await pipeline.create('ChromaFilter', { window: new WindowParam({ topRightCornerX: 0, topRightCornerY: 0, width: 40, height: 40 }) });
  const failed = once(chroma, 'Error');
  await call(chroma, 'setBackground', `http://127.0.0.1:${await freePort()}/none.png`);
  assert.equal((await failed).type, 'RESOURCE_ERROR_OPEN');
  await call(chroma, 'setBackground', `file://${media.file('blue.png')}`);
  const out = await play(pipeline, media, clip, chroma, 'keyed.webm');
  const [input, keyed] = [colours(videoFrameRGB(clip, [320, 240], 120)), colours(videoFrameRGB(out, [320, 240], 120))];
  assert.ok(input.green > input.pixels * 0.9 && input.blue === 0, `the input is a green screen: ${JSON.stringify(input)}`);
  // (What stays green is the disc's rim, where the encoders blended its red with the green.)
  assert.ok(keyed.green < keyed.pixels * 0.03, `no green left: ${JSON.stringify(keyed)}`);
  assert.ok(keyed.blue > keyed.pixels * 0.85, `the background shows where the green was: ${JSON.stringify(keyed)}`);
  // The disc (radius 30: ~2,800 pixels) is not keyed out.
  assert.ok(keyed.red > 2000 && Math.abs(keyed.red - input.red) < input.red * 0.25, `the disc stays: ${JSON.stringify([input, keyed])}`);
  // While it calibrates (the first 60 frames) the picture is untouched but for the blue outline.
  const early = colours(videoFrameRGB(out, [320, 240], 20));
  assert.ok(early.green > early.pixels * 0.85, `not keyed before calibration ends: ${JSON.stringify(early)}`);

  await call(chroma, 'unsetBackground');
  const after = colours(videoFrameRGB(await play(pipeline, media, clip, chroma, 'unset.webm'), [320, 240], 120));
  assert.ok(after.green > after.pixels * 0.85, `unset: the green is back: ${JSON.stringify(after)}`);
});

test('CrowdDetectorFilter: discs walking into a region raise its occupancy, fluidity and direction; an empty region raises nothing', async (t) => {
  const { media, pipeline } = await withPipeline(t);
  const clip = clips.crowd(media.file('crowd.webm'));
  const crowd = await pipeline.create('CrowdDetectorFilter', { rois: crowdRois() });
  assert.equal(await call(crowd, 'getProcessingWidth'), 320);
  await assert.rejects(call(crowd, 'setProcessingWidth', 100), (e) => e.code === 40107);
  await call(crowd, 'setProcessingWidth', 320);
  const events = [];
  for (const name of ['CrowdDetectorOccupancy', 'CrowdDetectorFluidity', 'CrowdDetectorDirection']) {
    crowd.on(name, (e) => events.push({ name, roi: e.roiId, level: e.occupancyLevel ?? e.fluidityLevel, angle: e.directionAngle, percentage: e.occupancyPercentage ?? e.fluidityPercentage }));
  }
  await play(pipeline, media, clip, crowd);
  await new Promise((r) => setTimeout(r, 300));
  const of = (name, roi) => events.filter((e) => e.name === name && e.roi === roi);
  const text = JSON.stringify(events);
  assert.deepEqual(events.filter((e) => e.roi === 'empty'), [], `nothing in the empty region: ${text}`);
  // Walking in they move fast and fill a good part of the region: occupancy at least 1.
  assert.ok(of('CrowdDetectorOccupancy', 'busy').some((e) => e.level >= 1 && e.percentage > 10), text);
  // Standing still they become slow, occupied pixels: fluidity 3.
  assert.ok(of('CrowdDetectorFluidity', 'busy').some((e) => e.level === 3), text);
  // Moving right: 0 degrees (KMS's angles: counter-clockwise from the right).
  assert.equal(of('CrowdDetectorDirection', 'busy')[0]?.angle, 0, text);
  await assert.rejects(pipeline.create('CrowdDetectorFilter', {
    rois: [new crowdTypes.RegionOfInterest({ id: '1 bad', points: [], regionOfInterestConfig: new crowdTypes.RegionOfInterestConfig({}) })],
  }), (e) => e.code === 40107 && /Invalid roi name/.test(e.message));
});

test('PlateDetectorFilter: a plate moving through the picture raises PlateDetected once with its text in KMS\'s layout', async (t) => {
  const { media, pipeline } = await withPipeline(t);
  const clip = clips.plate(media.file('plate.webm'));
  const detector = await pipeline.create('PlateDetectorFilter');
  await assert.rejects(call(detector, 'setPlateWidthPercentage', 1.5), (e) => e.code === 40107);
  await call(detector, 'setPlateWidthPercentage', 0.3);
  const plates = [];
  detector.on('PlateDetected', (e) => plates.push(e.plate));
  const out = await play(pipeline, media, clip, detector, 'plate-out.webm');
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(plates, [clips.PLATE.event]);
  // The video passes untouched (the reading runs on a copy).
  const [a, b] = [videoFrameRGB(clip, [640, 360], 60), videoFrameRGB(out, [640, 360], 60)];
  let white = 0;
  for (let k = 0; k < b.length; k += 3) if (b[k] > 200 && b[k + 1] > 200 && b[k + 2] > 200) white++;
  let whiteIn = 0;
  for (let k = 0; k < a.length; k += 3) if (a[k] > 200 && a[k + 1] > 200 && a[k + 2] > 200) whiteIn++;
  assert.ok(Math.abs(white - whiteIn) < whiteIn * 0.1, `the plate is in the output as in the input: ${white} ${whiteIn}`);
});

test('PointerDetectorFilter: after trackColorFromCalibrationRegion a disc crossing two windows raises WindowIn then WindowOut for each, in order; windows are drawn', async (t) => {
  const { media, pipeline } = await withPipeline(t);
  const clip = clips.pointer(media.file('pointer.webm'));
  const windows = clips.POINTER.windows.map((w) => new pointerTypes.PointerDetectorWindowMediaParam(w));
  const detector = await pipeline.create('PointerDetectorFilter', {
    calibrationRegion: new pointerTypes.WindowParam(clips.POINTER.region),
    windows: [windows[0]],
  });
  await call(detector, 'addWindow', new pointerTypes.PointerDetectorWindowMediaParam({ id: 'gone', upperRightX: 0, upperRightY: 0, width: 30, height: 30 }));
  await call(detector, 'addWindow', windows[1]);
  await call(detector, 'removeWindow', 'gone');
  const events = [];
  detector.on('WindowIn', (e) => events.push(['in', e.windowId]));
  detector.on('WindowOut', (e) => events.push(['out', e.windowId]));
  await play(pipeline, media, clip, detector);
  await new Promise((r) => setTimeout(r, 300));
  // Not calibrated (KMS calibrates only when asked): nothing happened.
  assert.deepEqual(events, []);
  const errors = await playInto(pipeline, {
    player: { uri: `file://${clip}` },
    middle: [detector],
    recorder: { uri: `file://${media.file('pointer-2.webm')}`, mediaProfile: 'WEBM' },
    before: async () => call(detector, 'trackColorFromCalibrationRegion'),
  });
  assert.deepEqual(errors, []);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(events, [['in', 'left'], ['out', 'left'], ['in', 'right'], ['out', 'right']]);
  // Calibrated, the windows' white outlines are drawn, over grey (100).
  const frame = videoFrameRGB(media.file('pointer-2.webm'), [320, 240], 30);
  const at = (x, y) => frame[(y * 320 + x) * 3];
  const column = (x) => [70, 100, 150].map((y) => Math.max(at(x, y), at(x + 1, y), at(x - 1, y)));
  assert.ok(column(100).every((v) => v > 170), `the left window's edge: ${column(100)}`);
  assert.ok(column(210).every((v) => v > 170), `the right window's edge: ${column(210)}`);
  assert.ok(column(5).every((v) => v < 130), `no window at x=5: ${column(5)}`);
  await call(detector, 'clearWindows');
});

// The tutorials in Chromium: the clip (as Y4M) is the fake camera, looped.
const path = require('node:path');
const { pollUntil } = require('./lib/poll');
const { visionTutorial: tutorial } = require('./lib/tutorial');

test('the chroma tutorial in Chromium: the camera\'s green screen comes back as the background picture', async (t) => {
  const page = await tutorial(t, 'chroma', (dir) => clips.greenScreen(path.join(dir, 'camera.y4m')), (dir) => {
    makeBlue(path.join(dir, 'blue.png'));
    return { window: { topRightCornerX: 5, topRightCornerY: 5, width: 30, height: 30 }, background: `file://${path.join(dir, 'blue.png')}` };
  });
  const camera = await page.evaluate(() => window.colours('videoInput'));
  assert.ok(camera.green > 0.8, `the camera shows green: ${JSON.stringify(camera)}`);
  const out = await pollUntil(() => page.evaluate(() => window.colours()), (c) => c.blue > 0.7, { tries: 40 });
  assert.ok(out.blue > 0.7 && out.green < 0.05, `the green is keyed out for the background: ${JSON.stringify(out)}`);
  assert.deepEqual(await page.evaluate(() => window.appErrors), []);
});

test('the crowddetector tutorial in Chromium: occupancy and fluidity events for the busy region, none for the empty one', async (t) => {
  const rois = [['busy', 0, 0.5], ['empty', 0.6, 1]].map(([id, x0, x1]) => ({
    id, points: [[x0, 0.1], [x1, 0.1], [x1, 0.9], [x0, 0.9]].map(([x, y]) => ({ x, y })), config: { sendOpticalFlowEvent: true },
  }));
  const page = await tutorial(t, 'crowddetector', (dir) => clips.crowd(path.join(dir, 'camera.y4m')), () => ({ rois }));
  const events = await pollUntil(() => page.evaluate(() => window.moduleEvents),
    (e) => e.some((x) => x.type === 'CrowdDetectorOccupancy' && x.level >= 1) && e.some((x) => x.type === 'CrowdDetectorFluidity'), { tries: 40 });
  const text = JSON.stringify(events);
  assert.ok(events.some((e) => e.type === 'CrowdDetectorOccupancy' && e.roiId === 'busy' && e.level >= 1), text);
  assert.ok(events.some((e) => e.type === 'CrowdDetectorFluidity' && e.roiId === 'busy'), text);
  assert.deepEqual(events.filter((e) => e.roiId === 'empty'), [], text);
});

test('the platedetector tutorial in Chromium: the plate in front of the camera is read', async (t) => {
  const page = await tutorial(t, 'platedetector', (dir) => clips.plate(path.join(dir, 'camera.y4m')));
  const events = await pollUntil(() => page.evaluate(() => window.moduleEvents), (e) => e.length > 0, { tries: 40 });
  assert.deepEqual(events, [{ type: 'PlateDetected', plate: clips.PLATE.event }]);
});

test('the pointerdetector tutorial in Chromium: calibrated on the pointer, it raises WindowIn and WindowOut for each window in order', async (t) => {
  const page = await tutorial(t, 'pointerdetector', (dir) => clips.pointer(path.join(dir, 'camera.y4m')), () => ({
    region: clips.POINTER.region, windows: clips.POINTER.windows,
  }));
  // The user presses "Calibrate" while the pointer rests in the region (the first 1.5 s of each loop).
  const resting = (c) => c.at[2] > 150 && c.at[0] < 80;
  const camera = await pollUntil(() => page.evaluate(() => window.colours('videoInput', [30 / 320, 120 / 240])), resting, { tries: 200, ms: 50 });
  assert.ok(resting(camera), JSON.stringify(camera));
  await page.evaluate(() => window.calibrate());
  // The pointer crosses the left window, then the right one. At a window's
  // edge the tracked position may flicker in and out (seen in CI: In/Out of
  // the left window twice): every In is followed by the same window's Out,
  // and the windows entered, repeats merged, are left then right.
  const crossed = (e) => e.some((x) => x.type === 'WindowOut' && x.windowId === 'right');
  const events = await pollUntil(() => page.evaluate(() => window.moduleEvents), crossed, { tries: 40 });
  const pairs = events.map((e) => [e.type, e.windowId]);
  assert.ok(crossed(events), JSON.stringify(pairs));
  const upTo = pairs.findIndex(([type, id]) => type === 'WindowOut' && id === 'right') + 1;
  for (let i = 0; i < upTo; i += 2) {
    assert.deepEqual([pairs[i][0], pairs[i + 1][0], pairs[i + 1][1]], ['WindowIn', 'WindowOut', pairs[i][1]], JSON.stringify(pairs));
  }
  const entered = pairs.slice(0, upTo).filter(([type]) => type === 'WindowIn').map(([, id]) => id);
  assert.deepEqual(entered.filter((id, i) => id !== entered[i - 1]), ['left', 'right'], JSON.stringify(pairs));
});
