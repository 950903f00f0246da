// Sessions, reconnection, garbage collection, the request cache and the
// WebSocket transport's edge cases, against the real binary.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const WebSocket = require('ws');
const { startServer, freePort } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { RawClient } = require('./lib/raw');
const { connect, once } = require('./lib/client');
const { sleep } = require('./lib/poll');

async function open(t, server) {
  const raw = await RawClient.open(server.url);
  t.after(() => raw.close());
  return raw;
}

test('a session survives its connection; events follow it to the new one', async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  const first = await RawClient.open(server.url);
  const created = await first.request('create', { type: 'MediaPipeline' });
  const { sessionId, value: pipeline } = created.result;
  const a = (await first.request('create', { type: 'PassThrough', constructorParams: { mediaPipeline: pipeline }, sessionId })).result.value;
  const b = (await first.request('create', { type: 'PassThrough', constructorParams: { mediaPipeline: pipeline }, sessionId })).result.value;
  await first.request('subscribe', { object: a, type: 'ElementConnected', sessionId });
  first.close();
  await sleep(200);

  const second = await RawClient.open(server.url);
  defer(() => second.close());
  await second.request('ping');
  const reconnected = await second.request('connect', { sessionId });
  assert.equal(reconnected.result.sessionId, sessionId);
  assert.match(reconnected.result.serverId, /^[0-9a-f-]{36}$/);
  const described = await second.request('describe', { object: pipeline, sessionId });
  assert.equal(described.result.type, 'MediaPipeline');
  // The subscription made on the old socket delivers on the new one.
  await second.request('invoke', { object: a, operation: 'connect', operationParams: { sink: b, mediaType: 'AUDIO' }, sessionId });
  await second.request('ping');
  assert.deepEqual(second.events.map((e) => [e.type, e.object, e.data.sink]), [['ElementConnected', a, b]]);

  const unknown = await second.request('connect', { sessionId: '00000000-0000-0000-0000-000000000000' });
  assert.equal(unknown.error.code, 40007);
  const keepAlive = await second.request('keepAlive', { sessionId: 'nope' });
  assert.equal(keepAlive.error.code, 40007);
});

test('the official client reconnects to its session after the socket drops', async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  // A proxy in front of the server lets the test cut the client's socket.
  const upstreams = new Set();
  const proxy = new WebSocket.Server({ host: '127.0.0.1', port: 0 });
  proxy.on('connection', (down) => {
    const up = new WebSocket(server.url);
    const queue = [];
    upstreams.add(up);
    up.on('open', () => queue.splice(0).forEach((m) => up.send(m)));
    down.on('message', (m) => (up.readyState === WebSocket.OPEN ? up.send(m.toString()) : queue.push(m.toString())));
    up.on('message', (m) => down.readyState === WebSocket.OPEN && down.send(m.toString()));
    up.on('close', () => down.terminate());
    down.on('close', () => up.close());
  });
  await new Promise((r) => proxy.once('listening', r));
  defer(() => new Promise((r) => proxy.close(r)));
  const client = await connect(`ws://127.0.0.1:${proxy.address().port}/kurento`);
  defer(() => client.close());
  const pipeline = await client.create('MediaPipeline');

  // `reconnected(true)` means the server accepted connect{sessionId} with the old
  // session; an unknown session (40007) would give `reconnected(false)`.
  const reconnected = once(client, 'reconnected', 10000);
  for (const up of upstreams) up.terminate();
  assert.equal(await reconnected, true, 'reconnected to the same session');
  assert.equal(await pipeline.getName(), pipeline.id, 'objects survived the disconnect');
});

test('closeSession: release:true frees the objects, otherwise only the references go', async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  const a = await RawClient.open(server.url);
  defer(() => a.close());
  const b = await RawClient.open(server.url);
  defer(() => b.close());
  const owned = await a.request('create', { type: 'MediaPipeline' });
  const sessionA = owned.result.sessionId;
  const shared = (await a.request('create', { type: 'MediaPipeline', sessionId: sessionA })).result.value;
  const sessionB = (await b.request('ref', { object: shared, sessionId: 'b-session' })).result.sessionId;
  assert.equal(sessionB, 'b-session');
  // Without release, A's references go: its own pipeline is freed, the shared one stays.
  const closed = await a.request('closeSession', { sessionId: sessionA });
  assert.deepEqual(closed.result, { sessionId: sessionA });
  const left = (await b.request('invoke', { object: 'manager_ServerManager', operation: 'getPipelines', sessionId: sessionB })).result.value;
  assert.deepEqual(left, [shared]);
  // With release:true every object of the session is released.
  await b.request('closeSession', { sessionId: sessionB, release: true });
  const none = (await b.request('invoke', { object: 'manager_ServerManager', operation: 'getPipelines' })).result.value;
  assert.deepEqual(none, []);
  assert.equal(owned.result.value && (await b.request('describe', { object: owned.result.value })).error.code, 40101);
});

test('garbage collection frees the objects of a session unused for a whole period', async (t) => {
  const defer = deferrer(t);
  const server = await startServer({ confJson: { mediaServer: { resources: { garbageCollectorPeriod: 1 } } } });
  defer(() => server.stop());
  const watcher = await RawClient.open(server.url);
  defer(() => watcher.close());
  const kept = (await watcher.request('create', { type: 'MediaPipeline' })).result.value;

  const leaving = await RawClient.open(server.url);
  const dropped = (await leaving.request('create', { type: 'MediaPipeline' })).result.value;
  leaving.close();
  // One to two GC periods after the disconnect, the session's objects are gone;
  // the connected session's objects stay.
  await sleep(3500);
  const pipelines = (await watcher.request('invoke', { object: 'manager_ServerManager', operation: 'getPipelines' })).result.value;
  assert.deepEqual(pipelines, [kept]);
  assert.equal((await watcher.request('describe', { object: dropped })).error.code, 40101);
});

test('a repeated request id returns the cached response without running again', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const raw = await open(t, server);
  const first = await raw.request('create', { type: 'MediaPipeline' }, 7);
  const sessionId = first.result.sessionId;
  const again = await raw.request('create', { type: 'MediaPipeline', sessionId }, 7);
  assert.deepEqual(again, first);
  const list = await raw.request('invoke', { object: 'manager_ServerManager', operation: 'getPipelines', sessionId });
  assert.deepEqual(list.result.value, [first.result.value]);
});

test('transport: path, health check, notifications, oversized and broken frames', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());

  // The Docker health check: an Upgrade GET without a key answers 500.
  const status = await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: server.port, path: '/kurento', headers: { Connection: 'Upgrade', Upgrade: 'websocket' } }, (res) => resolve(res.statusCode));
    req.on('error', reject);
  });
  assert.equal(status, 500);

  // Another path: accepted, then closed with 1002 "Invalid path".
  const closed = await new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/other`);
    ws.on('close', (code, reason) => resolve([code, reason.toString()]));
    ws.on('error', () => {});
  });
  assert.deepEqual(closed, [1002, 'Invalid path']);

  // No subprotocol header in the handshake.
  const headers = await new Promise((resolve) => {
    const ws = new WebSocket(server.url);
    ws.on('error', () => {});
    ws.on('upgrade', (res) => resolve(res.headers));
    ws.on('open', () => ws.close());
  });
  assert.equal(headers['sec-websocket-protocol'], undefined);

  const raw = await open(t, server);
  const notification = await raw.send(JSON.stringify({ jsonrpc: '2.0', method: 'ping' }), null);
  assert.equal(notification.error.code, -32000);
  // Over maxRequestBytes: not parsed, answered with the id read from its head.
  const huge = await raw.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(2 << 20) } }), 1);
  assert.equal(huge.error.code, -32600);
  const missing = await raw.request('invoke', { operation: 'getName' });
  assert.equal(missing.error.code, -32000);
  assert.match(missing.error.message, /'object' parameter is required/);
  const noParams = await raw.request('create');
  assert.equal(noParams.error.code, -32602);
  // Still serving on the same connection.
  const pong = await raw.request('ping');
  assert.deepEqual(pong.result, { value: 'pong' });
});

test('wss: secure.port with a PEM certificate + key serves the same protocol', async (t) => {
  const defer = deferrer(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kms-wss-'));
  defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  const pem = path.join(dir, 'cert+key.pem');
  fs.writeFileSync(pem, Buffer.concat([fs.readFileSync(path.join(dir, 'cert.pem')), fs.readFileSync(path.join(dir, 'key.pem'))]));
  const securePort = await freePort();
  const server = await startServer({ confJson: { mediaServer: { net: { websocket: { secure: { port: securePort, certificate: pem } } } } } });
  defer(() => server.stop());
  let raw;
  for (let i = 0; i < 50 && !raw; i++) {
    raw = await RawClient.open(`wss://127.0.0.1:${securePort}/kurento`, { rejectUnauthorized: false }).catch(() => sleep(100));
  }
  assert.ok(raw, 'wss connects');
  defer(() => raw.close());
  const created = await raw.request('create', { type: 'MediaPipeline' });
  assert.match(created.result.value, /_kurento\.MediaPipeline$/);
  const pong = await raw.request('ping');
  assert.deepEqual(pong.result, { value: 'pong' });
});
