// Access control (off by default): a shared secret on the WebSocket, checked
// through the official client, and allow-lists for UriEndpoint locations and
// GStreamerFilter elements.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { kurento, connect, call } = require('./lib/client');

/** The HTTP status a WebSocket upgrade to `url` gets (101 when it opens). */
function upgradeStatus(url) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('open', () => { ws.close(); resolve(101); });
    ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode); ws.terminate(); });
    ws.on('error', () => {});
  });
}

/** Whether the official client can connect and create a pipeline with `url`. */
function clientWorks(url) {
  return new Promise((resolve) => {
    kurento(url, { request_timeout: 2000, failAfter: 1 }, (error, client) => {
      if (error) return resolve(false);
      client.create('MediaPipeline', (e) => { client.close(); resolve(!e); });
    });
  });
}

test('a shared secret on the WebSocket: the upgrade without it or with a wrong one is refused (401), the official client with the right one works', async (t) => {
  const defer = deferrer(t);
  const server = await startServer({ env: { KMS_ACCESS_TOKEN: 's3cret' } });
  defer(() => server.stop());
  assert.equal(await upgradeStatus(server.url), 401);
  assert.equal(await upgradeStatus(`${server.url}?token=s3cre`), 401);
  assert.equal(await upgradeStatus(`${server.url}?token=s3cret`), 101);
  assert.equal(await clientWorks(`${server.url}?token=s3cret`), true);
  assert.doesNotMatch(server.logs(), /s3cret/, 'the secret is never logged');
});

test('allow-lists: a recorder target and a player source outside the URI list, and a filter element outside the element list, are refused', async (t) => {
  const defer = deferrer(t);
  const server = await startServer({ env: { KMS_URI_ALLOW: 'file:///tmp/kms-allowed/,rtsp://', KMS_FILTER_ALLOW: 'videoflip,videobalance' } });
  defer(() => server.stop());
  const client = await connect(server.url);
  defer(() => client.close());
  const pipeline = await client.create('MediaPipeline');
  const code = async (p) => { try { await p; return 'ok'; } catch (e) { return e.code; } };
  assert.equal(await code(pipeline.create('RecorderEndpoint', { uri: 'file:///etc/evil.webm' })), 40107);
  assert.equal(await code(pipeline.create('PlayerEndpoint', { uri: 'file:///etc/passwd' })), 40107);
  assert.equal(await code(pipeline.create('RecorderEndpoint', { uri: 'file:///tmp/kms-allowed/ok.webm' })), 'ok');
  assert.equal(await code(pipeline.create('PlayerEndpoint', { uri: 'rtsp://127.0.0.1:1/x' })), 'ok');
  assert.equal(await code(pipeline.create('GStreamerFilter', { command: 'filesink location=/tmp/x' })), 40001);
  assert.equal(await code(pipeline.create('GStreamerFilter', { command: 'videoflip video-direction=horiz' })), 'ok');
  assert.equal(await call(pipeline, 'getName') !== undefined, true, 'the session keeps working');
});
