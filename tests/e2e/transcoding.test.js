// Transcoding on demand: sinks that cannot take their source's codec get it
// converted (KMS's agnosticbin), checked in the receivers' own stats and in
// probed files; formats that match are never decoded.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { openPage } = require('./lib/browser');
const { connect, call, once } = require('./lib/client');
const { probe, decodeAll } = require('./lib/media');
const { sleep, pollUntil } = require('./lib/poll');
const { withPipeline, playInto } = require('./lib/pipeline');


/** A server and the transcoding page in Chromium, closed after the test. */
async function transcodingPage(t) {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  return { server, page: await openPage(defer, server, 'transcoding.html') };
}

const decoding = (s) => s && s.video && s.video.framesDecoded > 10;

/** How many transcoders of `mediaType` the pipeline's dot shows, and their text. */
function transcoderNodes(dot, mediaType) {
  return [...dot.matchAll(/"(transcoder\d+-(audio|video))" \[shape=ellipse, label="([^"]*)"\]/g)]
    .filter((m) => m[2] === mediaType.toLowerCase())
    .map((m) => ({ name: m[1], label: m[3], edges: [...dot.matchAll(new RegExp(`"${m[1]}" -> "([^"]+)"`, 'g'))].map((e) => e[1]) }));
}

test('a VP8 + Opus publisher reaches VP8, H.264 + PCMU and AV1 viewers: one shared transcoder, torn down after', async (t) => {
  const { server, page } = await transcodingPage(t);

  await page.evaluate(() => window.startPresenter({ video: 'VP8', audio: 'opus' }));
  await page.evaluate(() => window.addViewer({ video: 'VP8', audio: 'opus' }));
  await pollUntil(() => page.evaluate(() => window.viewerStats()), (all) => decoding(all[0]));
  assert.deepEqual(await page.evaluate(() => window.transcodingEvents), [], 'matching codecs: nothing transcoded');
  assert.equal(await page.evaluate(() => window.isTranscoding('VIDEO')), false);
  await sleep(2000);
  const baseline = server.usage().threads;

  // Two H.264 + PCMU viewers: one video transcoder with one H.264 encoder, one audio transcoder.
  await page.evaluate(() => window.addViewer({ video: 'H264', audio: 'PCMU' }));
  await page.evaluate(() => window.addViewer({ video: 'H264', audio: 'PCMU' }));
  const stats = await pollUntil(
    () => page.evaluate(() => window.viewerStats()),
    (all) => all.length === 3 && all.every(decoding) && all.every((s) => s.audio && s.audio.packetsReceived > 50),
    { tries: 60 },
  );
  assert.deepEqual(await page.evaluate(() => window.appErrors), []);
  assert.equal(stats[0].video.codec, 'video/VP8');
  assert.equal(stats[0].audio.codec, 'audio/opus');
  for (const s of stats.slice(1)) {
    assert.equal(s.video.codec, 'video/H264', JSON.stringify(stats));
    assert.equal(s.audio.codec, 'audio/PCMU', JSON.stringify(stats));
  }
  // Heard: the beeps survive Opus -> PCMU (silence would be RMS 0).
  for (const i of [0, 1, 2]) {
    const peak = await page.evaluate((n) => window.audioPeak(n), i);
    assert.ok(peak > 0.01, `viewer ${i} hears the presenter: RMS peak ${peak}`);
  }
  await sleep(2000);
  const later = await page.evaluate(() => window.viewerStats());
  for (const [i, s] of later.entries()) {
    assert.ok(s.video.framesDecoded > stats[i].video.framesDecoded, `viewer ${i} keeps decoding: ${JSON.stringify(later)}`);
    assert.ok(s.audio.packetsReceived > stats[i].audio.packetsReceived, `viewer ${i} keeps receiving audio`);
  }
  const events = await page.evaluate(() => window.transcodingEvents);
  assert.deepEqual(events.map((e) => `${e.mediaType} ${e.state}`).sort(), ['AUDIO TRANSCODING', 'VIDEO TRANSCODING']);
  assert.equal(await page.evaluate(() => window.isTranscoding('VIDEO')), true);
  assert.equal(await page.evaluate(() => window.isTranscoding('AUDIO')), true);

  // The pipeline's picture: one video transcoder (VP8 decoded once, one x264enc)
  // feeding both H.264 viewers; the VP8 viewer is fed by the presenter directly.
  const dot = await page.evaluate(() => window.pipelineDot());
  const video = transcoderNodes(dot, 'VIDEO');
  assert.equal(video.length, 1, dot);
  assert.match(video[0].label, /VP8 -> vp8dec/);
  assert.equal((video[0].label.match(/x264enc/g) || []).length, 1, `one shared H.264 encoder: ${dot}`);
  assert.equal(video[0].edges.length, 2, dot);
  const audio = transcoderNodes(dot, 'AUDIO');
  assert.equal(audio.length, 1, dot);
  assert.equal((audio[0].label.match(/mulawenc/g) || []).length, 1, dot);

  // A viewer that only takes AV1: a second encoder on the same decoder.
  await page.evaluate(() => window.addViewer({ video: 'AV1' }));
  const av1 = await pollUntil(() => page.evaluate(() => window.viewerStats()), (all) => decoding(all[3]), { tries: 60 });
  assert.equal(av1[3].video.codec, 'video/AV1', JSON.stringify(av1[3]));
  const withAv1 = transcoderNodes(await page.evaluate(() => window.pipelineDot()), 'VIDEO');
  assert.equal(withAv1.length, 1, 'still one decoder');
  assert.match(withAv1[0].label, /AV1 <- av1enc/);
  assert.deepEqual(await page.evaluate(() => window.viewerErrors), []);
  await page.evaluate(() => window.removeViewer(3));

  // The last transcoded viewers leave: NOT_TRANSCODING, and the threads go back.
  await page.evaluate(() => window.removeViewer(1));
  assert.equal(await page.evaluate(() => window.isTranscoding('VIDEO')), true, 'still one H.264 viewer');
  await page.evaluate(() => window.removeViewer(2));
  const after = await pollUntil(() => page.evaluate(() => window.transcodingEvents), (e) => e.length === 4);
  assert.deepEqual(after.slice(2).map((e) => `${e.mediaType} ${e.state}`).sort(), ['AUDIO NOT_TRANSCODING', 'VIDEO NOT_TRANSCODING']);
  assert.equal(await page.evaluate(() => window.isTranscoding('VIDEO')), false);
  // GStreamer keeps up to a couple of idle pool threads for a while.
  const settled = await pollUntil(() => server.usage().threads, (n) => n <= baseline + 2, { tries: 60 });
  assert.ok(settled <= baseline + 2, `threads ${settled}, baseline ${baseline}`);
  const last = await page.evaluate(() => window.viewerStats());
  await sleep(1000);
  const still = await page.evaluate(() => window.viewerStats());
  assert.ok(still[0].video.framesDecoded > last[0].video.framesDecoded, 'the VP8 viewer never noticed');
  await page.evaluate(() => window.stop());
});

test('an H.264 + PCMU publisher reaches a VP8 + Opus viewer and a VP9 viewer', async (t) => {
  const { server, page } = await transcodingPage(t);
  await page.evaluate(() => window.startPresenter({ video: 'H264', audio: 'PCMU' }));
  await page.evaluate(() => window.addViewer({ video: 'VP8', audio: 'opus' }));
  await page.evaluate(() => window.addViewer({ video: 'VP9', audio: 'PCMA' }));
  const [s, vp9] = await pollUntil(
    () => page.evaluate(() => window.viewerStats()),
    (all) => decoding(all[0]) && decoding(all[1]) && all[0].audio && all[0].audio.packetsReceived > 50,
    { tries: 60 },
  );
  assert.equal(vp9.video.codec, 'video/VP9', JSON.stringify(vp9));
  assert.ok(decoding(vp9), `the VP9 viewer decodes: ${JSON.stringify(vp9)}`);
  assert.equal(vp9.audio.codec, 'audio/PCMA');
  assert.equal(s.video.codec, 'video/VP8');
  assert.equal(s.audio.codec, 'audio/opus');
  const peak = await page.evaluate(() => window.audioPeak(0));
  assert.ok(peak > 0.01, `PCMU -> Opus heard: RMS peak ${peak}`);
  await sleep(2000);
  const [later] = await page.evaluate(() => window.viewerStats());
  assert.ok(later.video.framesDecoded > s.video.framesDecoded + 20, `keeps decoding: ${JSON.stringify(later)}`);
  const dot = await page.evaluate(() => window.pipelineDot());
  const [video] = transcoderNodes(dot, 'VIDEO');
  assert.match(video.label, /H264 -> avdec_h264/, dot);
  assert.match(video.label, /VP8 <- vp8enc/, dot);
  assert.match(video.label, /VP9 <- vp9enc/, dot);
  assert.equal(transcoderNodes(dot, 'VIDEO').length, 1, 'one decoder for both encoders');
  await page.evaluate(() => window.stop());
});

test('an AV1 publisher reaches a VP8 viewer', async (t) => {
  const { server, page } = await transcodingPage(t);
  await page.evaluate(() => window.startPresenter({ video: 'AV1' }));
  await page.evaluate(() => window.addViewer({ video: 'VP8' }));
  const [s] = await pollUntil(() => page.evaluate(() => window.viewerStats()), (all) => decoding(all[0]), { tries: 60 });
  assert.equal(s.video.codec, 'video/VP8', JSON.stringify(s));
  assert.ok(decoding(s), JSON.stringify(s));
  assert.match(transcoderNodes(await page.evaluate(() => window.pipelineDot()), 'VIDEO')[0].label, /AV1 -> av1dec/);
  await page.evaluate(() => window.stop());
});

test('player(VP8 + Opus WebM) -> MP4 recorders: H.264 + AAC from one shared encoder; a WEBM recorder alone transcodes nothing', async (t) => {
  const { media, pipeline } = await withPipeline(t);

  // Matching formats: nothing is decoded, no event.
  const direct = await pipeline.create('PlayerEndpoint', { uri: `file://${media.file('in.webm')}` });
  const webm = await pipeline.create('RecorderEndpoint', { uri: `file://${media.file('direct.webm')}` });
  const directEvents = [];
  direct.on('MediaTranscodingStateChanged', (e) => directEvents.push(e));
  await call(direct, 'connect', webm);
  await call(webm, 'record');
  const directEos = once(direct, 'EndOfStream', 20000);
  await call(direct, 'play');
  await sleep(1500);
  assert.equal(await call(direct, 'isMediaTranscoding', 'VIDEO'), false);
  assert.equal(await call(direct, 'isMediaTranscoding', 'AUDIO'), false);
  assert.equal(transcoderNodes(await call(pipeline, 'getGstreamerDot'), 'VIDEO').length, 0);
  await directEos;
  await call(webm, 'stopAndWait');
  assert.deepEqual(directEvents, []);

  const player = await pipeline.create('PlayerEndpoint', { uri: `file://${media.file('in.webm')}` });
  const events = [];
  player.on('MediaTranscodingStateChanged', (e) => events.push(`${e.mediaType} ${e.state}`));
  const errors = [];
  const recorders = [];
  for (const name of ['a.mp4', 'b.mp4']) {
    const r = await pipeline.create('RecorderEndpoint', { uri: `file://${media.file(name)}`, mediaProfile: 'MP4' });
    r.on('Error', (e) => errors.push(e));
    await call(player, 'connect', r);
    await call(r, 'record');
    recorders.push(r);
  }
  const eos = once(player, 'EndOfStream', 30000);
  await call(player, 'play');
  await sleep(1500);
  assert.equal(await call(player, 'isMediaTranscoding', 'VIDEO'), true);
  const video = transcoderNodes(await call(pipeline, 'getGstreamerDot'), 'VIDEO');
  assert.equal(video.length, 1);
  assert.equal((video[0].label.match(/x264enc/g) || []).length, 1, 'both recorders share one H.264 encoder');
  assert.deepEqual(video[0].edges.sort(), recorders.map((r) => r.id).sort());
  await eos;
  for (const r of recorders) await call(r, 'stopAndWait');
  assert.deepEqual(errors, []);
  assert.deepEqual(events, ['VIDEO TRANSCODING'], 'Opus is taken as it is (the MP4 recorder encodes AAC itself)');
  for (const name of ['a.mp4', 'b.mp4']) {
    const p = probe(media.file(name));
    assert.deepEqual(p.videoCodecs, ['H.264'], p.text);
    assert.deepEqual(p.audio, ['MPEG-4 AAC'], p.text);
    assert.ok(Math.abs(p.duration - 5) <= 0.25, `${name} lasts ${p.duration} s`);
    decodeAll(media.file(name));
  }
  // The recorders released: the transcoder goes.
  for (const r of recorders) await call(r, 'release');
  await pollUntil(async () => events.length, (n) => n === 2);
  assert.deepEqual(events, ['VIDEO TRANSCODING', 'VIDEO NOT_TRANSCODING']);
  await call(pipeline, 'release');
});

test('setVideoFormat: a player forced to H.264 at 15 fps records H.264 into MKV (which takes its VP8 too)', async (t) => {
  const { media, pipeline } = await withPipeline(t);
  const { kurento } = require('./lib/client');
  const fps15 = kurento.getComplexType('Fraction')({ numerator: 15, denominator: 1 });
  const errors = await playInto(pipeline, {
    player: { uri: `file://${media.file('in.webm')}` },
    recorder: { uri: `file://${media.file('forced.mkv')}`, mediaProfile: 'MKV_VIDEO_ONLY' },
    before: async (player) => {
      await call(player, 'setVideoFormat', kurento.getComplexType('VideoCaps')({ codec: 'H264', framerate: fps15 }));
      await assert.rejects(call(player, 'setVideoFormat', kurento.getComplexType('VideoCaps')({ codec: 'RAW', framerate: fps15 })), (e) => e.code === 40107);
    },
  });
  assert.deepEqual(errors, []);
  const p = probe(media.file('forced.mkv'));
  assert.deepEqual(p.videoCodecs, ['H.264'], p.text);
  decodeAll(media.file('forced.mkv'));
  // At most 15 frames a second: about 75 frames in the 5 s recording (30 fps input: 150).
  const frames = Number(require('node:child_process').execFileSync('sh', ['-c', `gst-launch-1.0 -v filesrc location=${media.file('forced.mkv')} ! matroskademux ! fakesink silent=false | grep -c chain`], { encoding: 'utf8' }).trim());
  assert.ok(frames >= 60 && frames <= 90, `${frames} frames in 5 s`);
});

test('useEncodedMedia: a stream the pipeline cannot carry undecoded raises Error; H.264 still reaches a WEBM recorder as VP8', async (t) => {
  const { media, pipeline } = await withPipeline(t);
  // in.mp4 holds H.264 (carried as it is) and AAC (only carried decoded).
  const errors = await playInto(pipeline, {
    player: { uri: `file://${media.file('in.mp4')}`, useEncodedMedia: true },
    recorder: { uri: `file://${media.file('encoded.webm')}`, mediaProfile: 'WEBM' },
  });
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.equal(errors[0].type, 'STREAM_ERROR_CODEC_NOT_FOUND');
  assert.match(errors[0].description, /audio\/mpeg.*useEncodedMedia/);
  const p = probe(media.file('encoded.webm'));
  assert.deepEqual(p.videoCodecs, ['VP8'], p.text);
  assert.deepEqual(p.audio, [], p.text);
  decodeAll(media.file('encoded.webm'));
  await call(pipeline, 'release');
});
