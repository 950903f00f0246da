// HttpPostEndpoint: uploads with curl (a length, chunked, a browser form) and
// cut short, into a RecorderEndpoint whose file is probed; the URL's life
// (disconnectionTimeout) and the answers to bad requests.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { call, once } = require('./lib/client');
const { withPipeline } = require('./lib/pipeline');
const { probe } = require('./lib/media');

const serverOptions = { modules: { 'HttpEndpoint.conf.ini': 'serverAddress=127.0.0.1\nserverPort=0\n' } };

/** Runs curl with `args`; resolves { code: HTTP status, stderr }. */
function curl(args) {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', ...args], { timeout: 60000 }, (error, stdout, stderr) => {
      resolve({ code: Number(stdout), stderr: String(stderr), error });
    });
  });
}

/** An HttpPostEndpoint connected to a WebM RecorderEndpoint that records. */
async function uploadTarget(pipeline, dir, name, params = {}) {
  const endpoint = await pipeline.create('HttpPostEndpoint', params);
  const file = path.join(dir, name);
  const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}`, mediaProfile: 'WEBM' });
  await call(endpoint, 'connect', recorder);
  await call(recorder, 'record');
  return { endpoint, recorder, file, url: await call(endpoint, 'getUrl') };
}

for (const [label, input, args] of [
  ['a WebM with a length', 'in.webm', (f) => ['--data-binary', `@${f}`, '-H', 'Content-Type: video/webm']],
  ['an MP4, chunked', 'in.mp4', (f) => ['--data-binary', `@${f}`, '-H', 'Content-Type: video/mp4', '-H', 'Transfer-Encoding: chunked']],
  ['an MP4 from a browser form (multipart/form-data)', 'in.mp4', (f) => ['-F', 'title=holiday', '-F', `file=@${f};type=video/mp4`]],
]) {
  test(`${label} uploaded with curl to getUrl() -> RecorderEndpoint: EndOfStream, and the recording has both streams`, async (t) => {
    const { media, pipeline } = await withPipeline(t, serverOptions);
    const { endpoint, recorder, file, url } = await uploadTarget(pipeline, media.dir, 'out.webm');
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]{36}$/);
    const started = once(endpoint, 'MediaSessionStarted', 10000);
    const eos = once(endpoint, 'EndOfStream', 30000);
    const { code, stderr } = await curl([url, ...args(media.file(input))]);
    assert.equal(code, 200, stderr);
    await started;
    await eos;
    await call(recorder, 'stopAndWait');
    const info = probe(file);
    assert.deepEqual(info.videoCodecs, ['VP8'], info.text);
    assert.equal(info.audio.length, 1, info.text);
    assert.ok(info.duration > 3, `${info.duration} s recorded: ${info.text}`);
  });
}

test('useEncodedMedia: an MP4 upload\'s AAC (which would need decoding) raises Error, its H.264 is recorded', async (t) => {
  const { media, pipeline } = await withPipeline(t, serverOptions);
  const endpoint = await pipeline.create('HttpPostEndpoint', { useEncodedMedia: true });
  const errors = [];
  endpoint.on('Error', (e) => errors.push(e));
  const file = path.join(media.dir, 'video.webm');
  const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}`, mediaProfile: 'WEBM_VIDEO_ONLY' });
  await call(endpoint, 'connect', recorder);
  await call(recorder, 'record');
  const eos = once(endpoint, 'EndOfStream', 30000);
  const { code } = await curl([await call(endpoint, 'getUrl'), '--data-binary', `@${media.file('in.mp4')}`, '-H', 'Content-Type: video/mp4']);
  assert.equal(code, 200);
  await eos;
  await call(recorder, 'stopAndWait');
  assert.deepEqual(errors.map((e) => e.type), ['STREAM_ERROR_CODEC_NOT_FOUND']);
  const info = probe(file);
  assert.deepEqual(info.videoCodecs, ['VP8'], info.text);
  assert.ok(info.duration > 3, info.text);
});

test('a cut upload raises EndOfStream and leaves the pipeline usable: the next upload records', async (t) => {
  const { media, pipeline } = await withPipeline(t, serverOptions);
  const { endpoint, url } = await uploadTarget(pipeline, media.dir, 'first.webm');
  const ended = [];
  endpoint.on('EndOfStream', () => ended.push(Date.now()));
  const bytes = fs.readFileSync(media.file('in.webm'));
  const eos = once(endpoint, 'EndOfStream', 30000);
  await new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'video/webm', 'content-length': bytes.length } });
    req.on('error', resolve);
    req.write(bytes.subarray(0, Math.floor(bytes.length / 3)), () => setTimeout(() => { req.destroy(); resolve(); }, 1500));
  });
  await eos;
  assert.equal(ended.length, 1, 'one EndOfStream for the cut upload');
  // Same pipeline, same endpoint URL (within disconnectionTimeout would also do): a new recorder gets a whole upload.
  const second = await uploadTarget(pipeline, media.dir, 'second.webm');
  const eos2 = once(second.endpoint, 'EndOfStream', 30000);
  const { code } = await curl([second.url, '--data-binary', `@${media.file('in.webm')}`, '-H', 'Content-Type: video/webm']);
  assert.equal(code, 200);
  await eos2;
  await call(second.recorder, 'stopAndWait');
  assert.ok(probe(second.file).duration > 3, probe(second.file).text);
});

test('bad requests: garbage (Error, 415), GET (405), no Content-Type (406), unknown URL (404); the URL expires after disconnectionTimeout', async (t) => {
  const { media, pipeline } = await withPipeline(t, serverOptions);
  const endpoint = await pipeline.create('HttpPostEndpoint', { disconnectionTimeout: 1 });
  const url = await call(endpoint, 'getUrl');
  const errors = [];
  endpoint.on('Error', (e) => errors.push(e));
  const garbage = path.join(media.dir, 'garbage.bin');
  fs.writeFileSync(garbage, Buffer.alloc(200000, 7));
  assert.equal((await curl([url, '--data-binary', `@${garbage}`, '-H', 'Content-Type: video/webm'])).code, 415);
  assert.ok(errors.length >= 1, 'the unreadable upload raised Error');
  assert.equal((await curl([url])).code, 405);
  assert.equal((await curl([url, '--data-binary', 'x', '-H', 'Content-Type:'])).code, 406);
  assert.equal((await curl([url.replace(/[0-9a-f-]{36}$/, '00000000-0000-0000-0000-000000000000'), '--data-binary', 'x', '-H', 'Content-Type: video/webm'])).code, 404);
  const terminated = once(endpoint, 'MediaSessionTerminated', 10000);
  await terminated;
  assert.equal(await call(endpoint, 'getUrl'), '', 'an expired URL is "" (KMS)');
  assert.equal((await curl([url, '--data-binary', `@${media.file('in.webm')}`, '-H', 'Content-Type: video/webm'])).code, 404);
});
