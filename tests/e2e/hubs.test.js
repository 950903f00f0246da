// Hubs: Composite's grid and mix-minus audio, AlphaBlending's placements,
// the dispatchers' switching without decoding, and ports that come and go.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { call } = require('./lib/client');
const { withPipeline } = require('./lib/pipeline');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { openPage } = require('./lib/browser');
const { generateMedia, probe, videoFrameRGB, gstLaunch, tonePowers } = require('./lib/media');
const { sleep, pollUntil } = require('./lib/poll');


/** Solid-colour clips with their own tone: `seconds` of 320x240 VP8 + Opus. */
const CLIPS = { red: 500, green: 1300, blue: 2900 };
function makeClip(dir, colour, seconds = 12) {
  const out = path.join(dir, `${colour}-${seconds}.webm`);
  gstLaunch(`videotestsrc pattern=${colour} num-buffers=${seconds * 30} ! video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc keyframe-max-dist=30 deadline=1 ! queue ! webmmux name=m ! filesink location=OUT `
    + `audiotestsrc freq=${CLIPS[colour]} volume=0.3 num-buffers=${seconds * 50} samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=2 ! opusenc ! queue ! m.`, out);
  return `file://${out}`;
}

/** The RGB pixel at (x, y) of a frame `width` wide. */
const pixel = (frame, width, x, y) => [...frame.subarray((y * width + x) * 3, (y * width + x) * 3 + 3)];
const near = ([r, g, b], [er, eg, eb]) => Math.abs(r - er) < 60 && Math.abs(g - eg) < 60 && Math.abs(b - eb) < 60;
const COLOURS = { red: [255, 0, 0], green: [0, 255, 0], blue: [0, 0, 255], black: [0, 0, 0] };

/** The server's warning and error lines, last 40. */
const warnings = (server) => server.logs().split('\n').filter((l) => /WARN|ERROR/.test(l)).slice(-40).join('\n');

/** Records `port` into `file` (WebM) for `ms`. */
async function record(pipeline, port, file, ms) {
  const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}`, mediaProfile: 'WEBM' });
  await call(port, 'connect', recorder);
  await call(recorder, 'record');
  await sleep(ms);
  await call(recorder, 'stopAndWait');
  await call(recorder, 'release');
}

test('Composite: three coloured players in KMS grid cells with their three tones mixed; a released port regrids', async (t) => {
  const { media, pipeline, server } = await withPipeline(t);
  const composite = await pipeline.create('Composite');
  const ports = [];
  const players = [];
  for (const colour of Object.keys(CLIPS)) {
    const port = await pipeline.create('HubPort', { hub: composite });
    const player = await pipeline.create('PlayerEndpoint', { uri: makeClip(media.dir, colour) });
    await call(player, 'connect', port);
    ports.push(port);
    players.push(player);
  }
  const out = await pipeline.create('HubPort', { hub: composite });
  for (const player of players) await call(player, 'play');
  await sleep(1500);
  const first = path.join(media.dir, 'grid3.webm');
  const ownPort = path.join(media.dir, 'red-port.webm');
  await Promise.all([record(pipeline, out, first, 3500), record(pipeline, ports[0], ownPort, 3500)]);

  // 800x600, three inputs: 2 columns x 2 rows of 400x300, creation order.
  const frame = videoFrameRGB(first, [800, 600], 60);
  const cells = { red: [200, 150], green: [600, 150], blue: [200, 450], black: [600, 450] };
  for (const [colour, [x, y]] of Object.entries(cells)) {
    assert.ok(near(pixel(frame, 800, x, y), COLOURS[colour]), `${colour} at (${x}, ${y}): ${pixel(frame, 800, x, y)}`);
  }
  // The fourth port hears the three others: each tone well above a frequency nobody sends.
  const streams = probe(first);
  assert.equal(streams.audio.length, 1, `the mix is recorded: ${streams.text}\nserver warnings:\n${warnings(server)}`);
  const [red, green, blue, none] = tonePowers(first, [...Object.values(CLIPS), 4100], [1, 3]);
  for (const [name, power] of Object.entries({ red, green, blue })) {
    assert.ok(power > 0.01 && power > 20 * none, `the ${name} tone is in the mix: ${power} (none: ${none})`);
  }

  // KMS's mixing rule: a port hears the others, not itself.
  const [ownRed, ownGreen, ownBlue] = tonePowers(ownPort, Object.values(CLIPS), [1, 3]);
  assert.ok(ownGreen > 0.01 && ownBlue > 0.01 && ownRed < Math.min(ownGreen, ownBlue) / 10, `the red port hears green and blue, not itself: ${[ownRed, ownGreen, ownBlue]}`);

  // The green port leaves: two inputs, 400x600 cells side by side.
  await call(ports[1], 'release');
  await sleep(500);
  const second = path.join(media.dir, 'grid2.webm');
  await record(pipeline, out, second, 3000);
  const after = videoFrameRGB(second, [800, 600], 45);
  assert.ok(near(pixel(after, 800, 200, 300), COLOURS.red), `red on the left: ${pixel(after, 800, 200, 300)}`);
  assert.ok(near(pixel(after, 800, 600, 300), COLOURS.blue), `blue on the right: ${pixel(after, 800, 600, 300)}`);
  const [, greenAfter, blueAfter] = tonePowers(second, Object.values(CLIPS), [1, 2.5]);
  assert.ok(greenAfter < blueAfter / 10, `the released port is no longer heard: ${greenAfter} vs ${blueAfter}`);
});

test('AlphaBlending: a port drawn over the master where setPortProperties puts it', async (t) => {
  const { media, pipeline } = await withPipeline(t);
  const blending = await pipeline.create('AlphaBlending');
  const [master, inset, out] = [await pipeline.create('HubPort', { hub: blending }), await pipeline.create('HubPort', { hub: blending }), await pipeline.create('HubPort', { hub: blending })];
  const red = await pipeline.create('PlayerEndpoint', { uri: makeClip(media.dir, 'red') });
  const blue = await pipeline.create('PlayerEndpoint', { uri: makeClip(media.dir, 'blue') });
  await call(red, 'connect', master);
  await call(blue, 'connect', inset);
  await call(blending, 'setMaster', master, 1);
  await call(blending, 'setPortProperties', 0.5, 0.5, 2, 0.25, 0.25, inset);
  await call(red, 'play');
  await call(blue, 'play');
  await sleep(1500);
  const file = path.join(media.dir, 'blend.webm');
  await record(pipeline, out, file, 3000);
  // The output is the master's size (320x240); the inset covers (160, 120)-(240, 180).
  const frame = videoFrameRGB(file, [320, 240], 45);
  const at = (x, y) => pixel(frame, 320, x, y);
  assert.ok(near(at(200, 150), COLOURS.blue), `blue inset at (200, 150): ${at(200, 150)}`);
  for (const [x, y] of [[50, 50], [300, 220], [130, 150], [200, 200]]) assert.ok(near(at(x, y), COLOURS.red), `master around the inset at (${x}, ${y}): ${at(x, y)}`);

  // Bad ports: another hub's, a released one, a non-port.
  const other = await pipeline.create('AlphaBlending');
  const foreign = await pipeline.create('HubPort', { hub: other });
  await assert.rejects(call(blending, 'setMaster', foreign, 1), (e) => e.code === 40107);
  await call(foreign, 'release');
  await assert.rejects(call(blending, 'setPortProperties', 0, 0, 1, 0.5, 0.5, foreign), (e) => e.code === 40101);
  await assert.rejects(call(blending, 'setPortProperties', 0, 0, 1, 0, 0.5, inset), (e) => e.code === 40107, 'a zero width is refused');
  await call(blending, 'setMaster', master, 1);
});

test('1,000 HubPort create/connect/release cycles on a playing Composite: threads and memory back to baseline', async (t) => {
  const { media, pipeline, server } = await withPipeline(t);
  const composite = await pipeline.create('Composite');
  const player = await pipeline.create('PlayerEndpoint', { uri: makeClip(media.dir, 'green', 60) });
  const out = await pipeline.create('HubPort', { hub: composite });
  await call(player, 'play');
  const cycle = async (wait) => {
    const port = await pipeline.create('HubPort', { hub: composite });
    await call(player, 'connect', port);
    if (wait) await sleep(wait);
    await call(port, 'release');
  };
  for (let i = 0; i < 20; i++) await cycle(100);
  await sleep(2000);
  const baseline = server.usage();
  const started = Date.now();
  for (let i = 0; i < 1000 && Date.now() - started < 120000; i++) await cycle(i % 50 === 0 ? 300 : 0);
  const after = await pollUntil(() => server.usage(), (u) => u.threads <= baseline.threads, { tries: 20 });
  console.log(`hub port churn: ${JSON.stringify({ baseline, after })}`);
  // GStreamer's task pool may keep a few idle threads for reuse; a leak of
  // even one thread per hundred cycles would show ten more.
  assert.ok(after.threads <= baseline.threads + 6, `threads back: ${after.threads} vs ${baseline.threads}`);
  assert.ok(after.rssKiB < baseline.rssKiB + 40 * 1024, `memory back: ${after.rssKiB} KiB vs ${baseline.rssKiB} KiB`);
  // The hub still works: the player still plays into new ports, the remaining port sends video.
  assert.equal(await call(player, 'isMediaFlowingOut', 'VIDEO'), true, 'the input kept playing through the churn');
  assert.equal(await call(out, 'isMediaFlowingOut', 'VIDEO'), true);
});

/** A server and the hubs page in Chromium (with `kind` created), closed after the test. */
async function hubsPage(t, kind) {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  const page = await openPage(defer, server, 'hubs.html');
  await page.evaluate((k) => window.setup(k), kind);
  return { server, page, defer };
}

const decoding = (s, n = 10) => s && s.video && s.video.framesDecoded > n;
const dominant = ({ rgb: [r, g, b] }) => (r > 150 && g < 90 && b < 90 ? 'red' : b > 150 && r < 90 && g < 90 ? 'blue' : `rgb(${r},${g},${b})`);

test('DispatcherOneToMany: two Chromium viewers follow setSource from red to blue and back, decoding throughout, nothing transcoded', async (t) => {
  const { page, defer } = await hubsPage(t, 'DispatcherOneToMany');
  const media = generateMedia();
  defer(() => media.remove());
  const red = await page.evaluate((u) => window.addPlayer(u), makeClip(media.dir, 'red', 40));
  const blue = await page.evaluate((u) => window.addPlayer(u), makeClip(media.dir, 'blue', 40));
  await page.evaluate(() => window.addViewer());
  await page.evaluate(() => window.addViewer());
  await page.evaluate((r) => window.setSource(r), red);
  let stats = await pollUntil(() => page.evaluate(() => window.viewerStats()), (all) => all.every((s) => decoding(s)), { tries: 60 });
  for (const i of [0, 1]) assert.equal(dominant(await page.evaluate((n) => window.meanColour(n), i)), 'red', `viewer ${i} sees the first source`);
  for (const [source, colour] of [[blue, 'blue'], [red, 'red']]) {
    await page.evaluate((s) => window.setSource(s), source);
    await pollUntil(async () => Promise.all([0, 1].map((i) => page.evaluate((n) => window.meanColour(n), i))), (all) => all.every((c) => dominant(c) === colour), { tries: 40 });
    const now = await pollUntil(() => page.evaluate(() => window.viewerStats()), (all) => all.every((s, i) => s.video.framesDecoded > stats[i].video.framesDecoded + 30));
    stats = now;
  }
  // Switch time (figures for the README): setSource to the first presented frame of the new source.
  const times = [];
  for (const [source, channel] of [[blue, 2], [red, 0], [blue, 2], [red, 0], [blue, 2]]) {
    times.push(await page.evaluate(([s, c]) => window.switchTime(s, 0, c), [source, channel]));
    await sleep(1500);
  }
  console.log(`DispatcherOneToMany switch to first presented frame (ms): ${JSON.stringify(times)}`);
  assert.ok(times.every((ms) => ms !== null), `every switch was seen: ${times}`);
  assert.equal(await page.evaluate(() => window.anyTranscoding()), false, 'forwarded, never decoded');
  assert.deepEqual(await page.evaluate(() => window.appErrors), []);
});

test('A three-person Composite call in Chromium: every participant decodes the composed picture and hears the others', async (t) => {
  const { page } = await hubsPage(t, 'Composite');
  for (let i = 0; i < 3; i++) await page.evaluate(() => window.addParticipant());
  const stats = await pollUntil(
    () => page.evaluate(() => window.viewerStats()),
    (all) => all.every((s) => decoding(s, 20) && s.audio && s.audio.packetsReceived > 50),
    { tries: 60 },
  );
  for (const [i, s] of stats.entries()) {
    assert.equal(s.video.frameWidth, 800, `participant ${i} gets the 800x600 composition: ${JSON.stringify(stats)}`);
    // (Once its audio stopped after 0.2 s: its encoder failed on mixer output going back in time.)
    assert.ok(s.audio && s.audio.packetsReceived > 50, `participant ${i} keeps receiving audio: ${JSON.stringify(stats)}`);
    const peak = await page.evaluate((n) => window.audioPeak(n), i);
    assert.ok(peak > 0.01, `participant ${i} hears the others (the fake microphones beep): RMS peak ${peak}`);
  }
  assert.deepEqual(await page.evaluate(() => window.appErrors), []);
});

test('Dispatcher and Mixer: ports routed without decoding video, Mixer audio mixed per sink, KMS errors for what they refuse', async (t) => {
  const { media, pipeline } = await withPipeline(t);
  const red = await pipeline.create('PlayerEndpoint', { uri: makeClip(media.dir, 'red') });
  const blue = await pipeline.create('PlayerEndpoint', { uri: makeClip(media.dir, 'blue') });

  const dispatcher = await pipeline.create('Dispatcher');
  const [dRed, dBlue, dOut] = [await pipeline.create('HubPort', { hub: dispatcher }), await pipeline.create('HubPort', { hub: dispatcher }), await pipeline.create('HubPort', { hub: dispatcher })];
  const mixer = await pipeline.create('Mixer');
  const [mRed, mBlue, mOut] = [await pipeline.create('HubPort', { hub: mixer }), await pipeline.create('HubPort', { hub: mixer }), await pipeline.create('HubPort', { hub: mixer })];
  for (const [player, ports] of [[red, [dRed, mRed]], [blue, [dBlue, mBlue]]]) for (const port of ports) await call(player, 'connect', port);
  await call(dispatcher, 'connect', dBlue, dOut);
  await call(mixer, 'connect', 'VIDEO', mRed, mOut);
  await call(mixer, 'connect', 'AUDIO', mRed, mOut);
  await call(mixer, 'connect', 'AUDIO', mBlue, mOut);
  await assert.rejects(call(mixer, 'connect', 'DATA', mRed, mOut), (e) => e.code === 40005);
  await assert.rejects(call(mixer, 'disconnect', 'VIDEO', mRed, mOut), (e) => e.code === 40005);
  await assert.rejects(call(dispatcher, 'connect', mRed, dOut), (e) => e.code === 40004, "another hub's port");
  await call(red, 'play');
  await call(blue, 'play');
  await sleep(1000);
  const [dFile, mFile] = [path.join(media.dir, 'dispatcher.webm'), path.join(media.dir, 'mixer.webm')];
  await Promise.all([record(pipeline, dOut, dFile, 3000), record(pipeline, mOut, mFile, 3000)]);
  assert.ok(near(pixel(videoFrameRGB(dFile, [320, 240], 30), 320, 160, 120), COLOURS.blue), 'the dispatcher forwards blue');
  const [dRedTone, dBlueTone] = tonePowers(dFile, [CLIPS.red, CLIPS.blue], [1, 2.5]);
  assert.ok(dBlueTone > 20 * dRedTone, `the dispatcher forwards blue's audio only: ${dBlueTone} vs ${dRedTone}`);
  assert.ok(near(pixel(videoFrameRGB(mFile, [320, 240], 30), 320, 160, 120), COLOURS.red), 'the mixer routes red video');
  const [mRedTone, mBlueTone, none] = tonePowers(mFile, [CLIPS.red, CLIPS.blue, 4100], [1, 2.5]);
  assert.ok(mRedTone > 20 * none && mBlueTone > 20 * none, `the mixer mixes both tones: ${mRedTone}, ${mBlueTone} (none: ${none})`);
  assert.equal(await call(red, 'isMediaTranscoding', 'VIDEO'), false, 'video is forwarded, not decoded');
  await call(mixer, 'disconnect', 'AUDIO', mBlue, mOut);
  await assert.rejects(call(mixer, 'disconnect', 'AUDIO', mBlue, mOut), (e) => e.code === 40004, 'not connected any more');
});

test('Composite size: 0 takes Composite.conf.ini, a negative one is refused', async (t) => {
  const { media, pipeline } = await withPipeline(t, { modules: { 'Composite.conf.ini': 'width=320\nheight=240\nframerate=10\n' } });
  await assert.rejects(pipeline.create('Composite', { width: -1 }), (e) => e.code === 40107);
  const composite = await pipeline.create('Composite', { width: 0, height: 0, framerate: 0 });
  const out = await pipeline.create('HubPort', { hub: composite });
  const file = path.join(media.dir, 'background.webm');
  await record(pipeline, out, file, 2000);
  const video = probe(file).text;
  assert.match(video, /Width: 320\s+Height: 240/, video);
});
