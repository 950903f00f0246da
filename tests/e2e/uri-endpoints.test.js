// PlayerEndpoint and RecorderEndpoint with real files: generated inputs are
// played into recorders of every profile and the outputs probed and decoded.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { connect, call, once } = require('./lib/client');
const { generateMedia, probe, decodeAll } = require('./lib/media');
const { pollUntil } = require('./lib/poll');
const { startRtspServer, startHttpServer, startUploadServer } = require('./lib/sources');
const { freePort } = require('./lib/server');

/** A port on 127.0.0.1 nothing listens on. */
const closedPort = freePort;

const INPUT_SECONDS = 5;

/** Plays `input` into one recorder per profile; returns { recorders, player } after stopAndWait. */
async function playInto(t, pipeline, input, outputs) {
  const player = await pipeline.create('PlayerEndpoint', { uri: `file://${input}` });
  const errors = [];
  player.on('Error', (e) => errors.push(e));
  const recorders = [];
  for (const [profile, file] of outputs) {
    const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}`, mediaProfile: profile });
    recorder.on('Error', (e) => errors.push({ profile, ...e }));
    await call(player, 'connect', recorder);
    await call(recorder, 'record');
    recorders.push(recorder);
  }
  const eos = once(player, 'EndOfStream', 20000);
  await call(player, 'play');
  // The dots while playing (at the end of the stream the player stops, as in KMS).
  await new Promise((r) => setTimeout(r, 1500));
  const playerDot = await call(player, 'getGstreamerDot');
  assert.match(await call(player, 'getElementGstreamerDot'), /digraph[\s\S]*appsink/i, 'the elementGstreamerDot property');
  // The pipeline's picture: every element, and the player's edges to each recorder.
  const pipelineDot = await call(pipeline, 'getGstreamerDot');
  assert.match(pipelineDot, /^digraph /);
  assert.match(pipelineDot, /label="PlayerEndpoint\\n/, 'class and name on two lines');
  for (const r of recorders) assert.ok(pipelineDot.includes(`"${player.id}" -> "${r.id}" [label="VIDEO"]`), pipelineDot);
  const recorderDots = [];
  for (const r of recorders) recorderDots.push(await call(r, 'getGstreamerDot'));
  await eos;
  assert.equal(await call(player, 'getState'), 'STOP', 'the player stops at the end of the stream');
  for (const r of recorders) await call(r, 'stopAndWait');
  assert.deepEqual(errors, [], 'no Error events');
  return { player, playerDot, recorderDots };
}

/** Generated media, a server, a client and a pipeline, all released after the test. */
async function setUp(t, beforeServer = async () => {}) {
  const defer = deferrer(t);
  const media = generateMedia();
  defer(() => media.remove());
  const serverOptions = await beforeServer(media, defer);
  const server = await startServer(serverOptions || {});
  defer(() => server.stop());
  const client = await connect(server.url);
  defer(() => client.close());
  return { media, server, pipeline: await client.create('MediaPipeline') };
}

/** Bytes of the first JPEG image in `file` (up to its end-of-image marker). */
function jpegSize(file) {
  const bytes = fs.readFileSync(file);
  assert.deepEqual([...bytes.subarray(0, 2)], [0xff, 0xd8], 'starts with a JPEG start-of-image');
  return bytes.indexOf(Buffer.from([0xff, 0xd9])) + 2;
}

/** The recording lasts as long as the 5 s input, within 5 %. */
function assertFullLength(p, label) {
  assert.ok(Math.abs(p.duration - INPUT_SECONDS) <= INPUT_SECONDS * 0.05, `${label} duration ${p.duration} s`);
}

test('player(file) -> recorder: every profile is probed for codecs, duration and a decodable last frame', async (t) => {
  const { media, pipeline } = await setUp(t);

  const cases = [
    ['in.webm', 'WEBM', 'out.webm', ['VP8'], ['Opus']],
    ['in.webm', 'WEBM_VIDEO_ONLY', 'video.webm', ['VP8'], []],
    ['in.webm', 'WEBM_AUDIO_ONLY', 'audio.webm', [], ['Opus']],
    ['in.webm', 'MKV', 'out.mkv', ['VP8'], ['Opus']],
    ['in.webm', 'MKV_AUDIO_ONLY', 'audio.mkv', [], ['Opus']],
    ['in.mp4', 'MKV_VIDEO_ONLY', 'video.mkv', ['H.264'], []],
    ['in.mp4', 'MP4', 'out.mp4', ['H.264'], ['MPEG-4 AAC']],
    ['in.mp4', 'MP4_VIDEO_ONLY', 'video.mp4', ['H.264'], []],
    ['in.mp4', 'MP4_AUDIO_ONLY', 'audio.mp4', [], ['MPEG-4 AAC']],
    ['in.mp4', 'FLV', 'out.flv', ['H.264'], ['MPEG-4 AAC']],
    ['in.webm', 'JPEG_VIDEO_ONLY', 'vp8.jpg', ['JPEG'], []],
    ['in.mp4', 'JPEG_VIDEO_ONLY', 'h264.jpg', ['JPEG'], []],
  ];
  for (const input of ['in.webm', 'in.mp4']) {
    const outputs = cases.filter((c) => c[0] === input).map((c) => [c[1], media.file(c[2])]);
    const { playerDot, recorderDots } = await playInto(t, pipeline, media.file(input), outputs);
    if (input === 'in.mp4') {
      // H.264 passes through: parsed, never decoded by the player nor encoded by a recorder.
      assert.match(playerDot, /h264parse/i);
      assert.match(playerDot, /appsink/i);
      assert.ok(!/avdec_h264|openh264dec/.test(playerDot), 'the player does not decode H.264');
      assert.match(recorderDots.join('\n'), /mp4mux/i);
      assert.ok(!/x264enc|openh264enc/.test(recorderDots.join('\n')), 'no recorder encodes H.264');
    }
  }
  for (const [input, profile, out, video, audio] of cases) {
    const file = media.file(out);
    const p = probe(file);
    assert.deepEqual(p.videoCodecs, video, `${profile} video: ${p.text}`);
    assert.deepEqual(p.audio, audio, `${profile} audio: ${p.text}`);
    if (profile === 'JPEG_VIDEO_ONLY') {
      // Decoded frames written as JPEG images, one after another: the file opens as an image.
      assert.match(p.text, /Width: 320\s+Height: 240/, p.text);
      assert.ok(fs.statSync(file).size > 20 * jpegSize(file), `many frames in ${out}`);
      continue;
    }
    assertFullLength(p, `${profile} (${input})`);
    if (profile !== 'FLV') assert.ok(p.seekable, `${profile} is seekable`);
    decodeAll(file);
  }
  await call(pipeline, 'release');
});

test('recorder refusals and bad URIs raise KMS errors and the pipeline keeps working', async (t) => {
  const { media, pipeline } = await setUp(t);

  // Unsupported profiles fail at creation with 40107.
  await assert.rejects(pipeline.create('RecorderEndpoint', { uri: `file://${media.file('x.jpg')}`, mediaProfile: 'KURENTO_SPLIT_RECORDER' }), (e) => e.code === 40107);

  // A URI no player can read and a missing file: the player's Error event.
  const bad = await pipeline.create('PlayerEndpoint', { uri: 'ftp://127.0.0.1/in.webm' });
  const invalid = once(bad, 'Error');
  await call(bad, 'play');
  assert.equal((await invalid).type, 'INVALID_URI');
  const missing = await pipeline.create('PlayerEndpoint', { uri: `file://${media.file('missing.webm')}` });
  const notFound = once(missing, 'Error');
  await call(missing, 'play');
  assert.equal((await notFound).type, 'RESOURCE_ERROR_OPEN');
  // Bytes no demuxer recognises: STREAM_ERROR_DECODE.
  fs.writeFileSync(media.file('corrupt.webm'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)));
  const corrupt = await pipeline.create('PlayerEndpoint', { uri: `file://${media.file('corrupt.webm')}` });
  const undecodable = once(corrupt, 'Error');
  await call(corrupt, 'play');
  assert.equal((await undecodable).type, 'STREAM_ERROR_DECODE');
  // Seeking a player that never played, or to a negative position, is PLAYER_SEEK_FAIL.
  const idle = await pipeline.create('PlayerEndpoint', { uri: `file://${media.file('in.webm')}` });
  await assert.rejects(call(idle, 'setPosition', 1000), (e) => e.code === 40700 && /stopped/.test(e.message));
  await assert.rejects(pipeline.create('PlayerEndpoint', { uri: `file://${media.file('in.webm')}`, networkCache: -1 }), (e) => e.code === 40001);

  // An unwritable target: RESOURCE_ERROR_OPEN.
  const player = await pipeline.create('PlayerEndpoint', { uri: `file://${media.file('in.webm')}` });
  const unwritable = await pipeline.create('RecorderEndpoint', { uri: 'file:///proc/no-such-dir/out.webm' });
  const good = await pipeline.create('RecorderEndpoint', { uri: `file://${media.file('still-works.webm')}` });
  // A full disk (/dev/full refuses every write with ENOSPC) and an upload target that refuses connections.
  const full = await pipeline.create('RecorderEndpoint', { uri: 'file:///dev/full' });
  const unreachable = await pipeline.create('RecorderEndpoint', { uri: `http://127.0.0.1:${await closedPort()}/up.webm` });
  const openError = once(unwritable, 'Error');
  const noSpace = once(full, 'Error');
  const writeError = once(unreachable, 'Error');
  const recorders = [unwritable, full, unreachable, good];
  for (const r of recorders) {
    await call(player, 'connect', r);
    await call(r, 'record');
  }
  const eos = once(player, 'EndOfStream', 20000);
  await call(player, 'play');
  assert.equal((await openError).type, 'RESOURCE_ERROR_OPEN');
  assert.equal((await noSpace).type, 'RESOURCE_ERROR_NO_SPACE_LEFT');
  assert.equal((await writeError).type, 'RESOURCE_ERROR_WRITE');
  await eos;
  for (const r of recorders) await call(r, 'stopAndWait');
  // A second stop changes nothing and raises no second Stopped.
  const stoppedAgain = once(good, 'Stopped', 1000).then(() => 1, () => 0);
  await call(good, 'stopAndWait');
  await call(good, 'stop');
  // The other recorder of the same player wrote a complete file.
  const p = probe(media.file('still-works.webm'));
  assert.deepEqual([p.video.length, p.audio.length], [1, 1], p.text);
  assertFullLength(p, 'still-works.webm');
  assert.equal(await stoppedAgain, 0, 'no second Stopped');
  await call(pipeline, 'release');
});

test('player(http://) and player(rtsp://) from local servers into recorders', async (t) => {
  let httpServer;
  let rtsp;
  const { media, server, pipeline } = await setUp(t, async (m, defer) => {
    httpServer = await startHttpServer(m.dir);
    defer(() => httpServer.close());
    rtsp = await startRtspServer(m.file('in.mp4'));
    defer(() => rtsp.stop());
  });

  // HTTP: the whole file arrives and ends; the recording has its length.
  const fromHttp = await pipeline.create('PlayerEndpoint', { uri: httpServer.url('in.webm') });
  const httpOut = media.file('http.webm');
  const httpRecorder = await pipeline.create('RecorderEndpoint', { uri: `file://${httpOut}`, mediaProfile: 'WEBM' });
  await call(fromHttp, 'connect', httpRecorder);
  await call(httpRecorder, 'record');
  const eos = once(fromHttp, 'EndOfStream', 20000);
  // RTSP: a live H.264 stream, recorded for about 3 s without decoding.
  const fromRtsp = await pipeline.create('PlayerEndpoint', { uri: rtsp.url, networkCache: 200 });
  const rtspOut = media.file('rtsp.mkv');
  const rtspRecorder = await pipeline.create('RecorderEndpoint', { uri: `file://${rtspOut}`, mediaProfile: 'MKV_VIDEO_ONLY' });
  const errors = [];
  for (const o of [fromHttp, fromRtsp, httpRecorder, rtspRecorder]) o.on('Error', (e) => errors.push(e));
  await call(fromRtsp, 'connect', rtspRecorder);
  await call(rtspRecorder, 'record');
  await call(fromHttp, 'play');
  await call(fromRtsp, 'play');
  await eos;
  await call(httpRecorder, 'stopAndWait');
  await call(rtspRecorder, 'stopAndWait');
  assert.deepEqual(errors, [], `no Error events\n${server.logs().slice(-3000)}`);

  const h = probe(httpOut);
  assert.deepEqual([h.videoCodecs, h.audio], [['VP8'], ['Opus']], h.text);
  assertFullLength(h, 'http');
  decodeAll(httpOut);
  const r = probe(rtspOut);
  assert.deepEqual(r.videoCodecs, ['H.264'], r.text);
  assert.ok(r.duration >= 2, `rtsp recorded ${r.duration} s`);
  decodeAll(rtspOut);
  await call(pipeline, 'release');
});

test('a recorder released while recording still leaves a complete, playable file', async (t) => {
  const { media, pipeline } = await setUp(t);
  const player = await pipeline.create('PlayerEndpoint', { uri: `file://${media.file('in.mp4')}` });
  const file = media.file('released.mp4');
  const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}`, mediaProfile: 'MP4' });
  await call(player, 'connect', recorder);
  await call(recorder, 'record');
  await call(player, 'play');
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(await call(recorder, 'isMediaFlowingIn', 'VIDEO'), true, 'the recorder sees video arriving');
  assert.equal(await call(player, 'isMediaFlowingOut', 'VIDEO'), true, 'the player sends video');
  await call(recorder, 'release');
  // MP4 writes its index last: the file only plays if the release finished it.
  const tryProbe = () => { try { return probe(file); } catch { return { duration: 0 }; } };
  const p = await pollUntil(tryProbe, (r) => r.duration > 0, { tries: 20, ms: 250 });
  assert.deepEqual(p.videoCodecs, ['H.264'], p.text);
  assert.ok(p.duration >= 1.5 && p.duration <= 3.5, `about 2.5 s recorded: ${p.duration}`);
  decodeAll(file);
  await call(pipeline, 'release');
});

test('relative URIs use defaultPath and http:// targets are uploaded with POST', async (t) => {
  let upload;
  const { media, pipeline } = await setUp(t, async (m, defer) => {
    upload = await startUploadServer(m.dir);
    defer(() => upload.close());
    fs.mkdirSync(m.file('recordings'));
    return { modules: { 'UriEndpoint.conf.ini': `defaultPath=file://${m.dir}//\n` } };
  });
  const player = await pipeline.create('PlayerEndpoint', { uri: 'in.webm' });
  const local = await pipeline.create('RecorderEndpoint', { uri: 'recordings//relative.webm', mediaProfile: 'WEBM' });
  const remote = await pipeline.create('RecorderEndpoint', { uri: upload.url('uploaded.webm'), mediaProfile: 'WEBM' });
  assert.equal(await call(local, 'getUri'), 'recordings//relative.webm', 'getUri returns the URI as given');
  const errors = [];
  for (const o of [player, local, remote]) o.on('Error', (e) => errors.push(e));
  for (const r of [local, remote]) {
    await call(player, 'connect', r);
    await call(r, 'record');
  }
  const eos = once(player, 'EndOfStream', 20000);
  await call(player, 'play');
  await eos;
  for (const r of [local, remote]) await call(r, 'stopAndWait');
  assert.deepEqual(errors, []);

  const l = probe(media.file('recordings/relative.webm'));
  assert.deepEqual([l.videoCodecs, l.audio], [['VP8'], ['Opus']], l.text);
  assertFullLength(l, 'relative.webm');
  const request = await upload.received('uploaded.webm');
  assert.equal(request.method, 'POST');
  assert.equal(request.headers['transfer-encoding'], 'chunked', 'streamed as it is recorded');
  const u = probe(media.file('uploaded.webm'));
  assert.deepEqual([u.videoCodecs, u.audio], [['VP8'], ['Opus']], u.text);
  decodeAll(media.file('uploaded.webm'));
  await call(pipeline, 'release');
});

test('a recorder keeps recording across a source switch: both sources are in the file', async (t) => {
  const { media, pipeline } = await setUp(t);
  const first = await pipeline.create('PlayerEndpoint', { uri: `file://${media.file('in.webm')}` });
  const second = await pipeline.create('PlayerEndpoint', { uri: `file://${media.file('in.webm')}` });
  const file = media.file('switched.webm');
  const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}`, mediaProfile: 'WEBM' });
  await call(first, 'connect', recorder);
  await call(recorder, 'record');
  const firstEos = once(first, 'EndOfStream', 20000);
  await call(first, 'play');
  await firstEos;
  // The new source starts with a keyframe request and is re-anchored after the first.
  await call(second, 'connect', recorder);
  const secondEos = once(second, 'EndOfStream', 20000);
  await call(second, 'play');
  await secondEos;
  await call(recorder, 'stopAndWait');
  const p = probe(file);
  assert.deepEqual([p.videoCodecs, p.audio], [['VP8'], ['Opus']], p.text);
  assert.ok(p.duration >= 2 * INPUT_SECONDS * 0.95 && p.duration <= 2 * INPUT_SECONDS + 1, `both sources recorded: ${p.duration} s`);
  decodeAll(file);
  await call(pipeline, 'release');
});
