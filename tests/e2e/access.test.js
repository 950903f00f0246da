// Access control (off by default): a shared secret on the WebSocket, checked
// through the official client, and allow-lists for UriEndpoint locations and
// GStreamerFilter elements; limits, and a client that stops reading.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { kurento, connect, call } = require('./lib/client');
const { pollUntil } = require('./lib/poll');
const { RawClient, openIdleConnections } = require('./lib/raw');
const { metrics } = require('./lib/metrics');

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

/** A server (with `env`) and a raw client with a session: { server, raw, sessionId, defer }. */
async function rawSession(t, env = {}) {
  const defer = deferrer(t);
  const server = await startServer({ env });
  defer(() => server.stop());
  const raw = await RawClient.open(server.url);
  defer(() => raw.close());
  const sessionId = (await raw.request('ping')).result.sessionId;
  return { server, raw, sessionId, defer };
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

test('limits: sessions, pipelines and objects per session past their limit answer 40009, and the server keeps serving', async (t) => {
  const defer = deferrer(t);
  const server = await startServer({ env: { KMS_MAX_SESSIONS: '2', KMS_MAX_PIPELINES: '2', KMS_MAX_OBJECTS_PER_SESSION: '3' } });
  defer(() => server.stop());
  const clients = [];
  for (let i = 0; i < 3; i++) {
    const raw = await RawClient.open(server.url);
    defer(() => raw.close());
    clients.push(raw);
  }
  const [a, b, c] = clients;
  const pipeA = await a.request('create', { type: 'MediaPipeline' });
  const session = pipeA.result.sessionId;
  // Objects per session: the pipeline and two elements, then 40009.
  for (let i = 0; i < 2; i++) {
    assert.ok((await a.request('create', { type: 'PassThrough', constructorParams: { mediaPipeline: pipeA.result.value }, sessionId: session })).result);
  }
  const fourth = await a.request('create', { type: 'PassThrough', constructorParams: { mediaPipeline: pipeA.result.value }, sessionId: session });
  assert.equal(fourth.error.code, 40009, JSON.stringify(fourth));
  // Sessions: a second one is admitted, a third is not.
  const pipeB = await b.request('create', { type: 'MediaPipeline' });
  assert.ok(pipeB.result, JSON.stringify(pipeB));
  const third = await c.request('create', { type: 'MediaPipeline' });
  assert.equal(third.error.code, 40009, JSON.stringify(third));
  // Pipelines: two exist; a session with room for objects gets 40009 for a third.
  const pipeB2 = await b.request('create', { type: 'MediaPipeline', sessionId: pipeB.result.sessionId });
  assert.equal(pipeB2.error.code, 40009, JSON.stringify(pipeB2));
  // Released, there is room again; everyone is still served.
  await b.request('release', { object: pipeB.result.value, sessionId: pipeB.result.sessionId });
  assert.ok((await b.request('create', { type: 'MediaPipeline', sessionId: pipeB.result.sessionId })).result);
  assert.deepEqual((await c.request('ping', {})).result, { value: 'pong' });
});

test('a client that stops reading is disconnected once its outgoing queue passes outgoingQueueBytes; everyone else keeps being served', async (t) => {
  const defer = deferrer(t);
  const server = await startServer({ env: { KMS_WS_OUTGOING_QUEUE_BYTES: String(64 * 1024) } });
  defer(() => server.stop());
  const stalled = spawn('/usr/bin/python3', [path.join(__dirname, 'lib', 'stalled_client.py'), String(server.port), 'kurento'], { stdio: ['pipe', 'pipe', 'inherit'] });
  defer(() => stalled.kill());
  const lines = [];
  const nextLine = () => new Promise((resolve) => {
    const take = () => (lines.length ? resolve(lines.shift()) : stalled.stdout.once('data', (d) => { lines.push(...d.toString().trim().split('\n')); take(); }));
    take();
  });
  assert.equal(await nextLine(), 'subscribed');

  // Another application makes the ServerManager raise thousands of events
  // (ObjectCreated, ObjectDestroyed), each queued for the stalled client.
  const client = await connect(server.url);
  defer(() => client.close());
  for (let round = 0; round < 4; round++) {
    const pipeline = await client.create('MediaPipeline');
    await Promise.all(Array.from({ length: 500 }, () => pipeline.create('PassThrough')));
    await pipeline.release();
  }
  await pollUntil(async () => server.logs(), (logs) => /outgoing queue is full/.test(logs), { tries: 50, ms: 100 });
  assert.match(server.logs(), /connection closed: the client does not read and its outgoing queue is full/);
  // The stalled client finds its connection gone after what was in flight.
  stalled.stdin.write('read\n');
  const [word, bytes, how] = (await nextLine()).split(' ');
  assert.equal(word, 'closed');
  assert.ok(['eof', 'reset'].includes(how), `the connection is closed: ${how}`);
  assert.ok(Number(bytes) < 8 << 20, `what reached it is bounded: ${bytes} bytes`);
  // The server still serves the other application.
  const pipeline = await client.create('MediaPipeline');
  await pipeline.create('PassThrough');
  await pipeline.release();
});

test('maxRequestBytes: a request over the configured size answers -32600 and the connection keeps serving', async (t) => {
  const { raw } = await rawSession(t, { KMS_WS_MAX_REQUEST_BYTES: '4096' });
  const ping = (pad, id, replyId = id) => raw.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'ping', params: { pad: 'x'.repeat(pad) } }), replyId);
  // The oversized request is not parsed; its reply names the id read from its head.
  const over = await ping(5000, 1);
  assert.equal(over.error.code, -32600);
  assert.match(over.error.message, /over the limit of 4096 bytes/);
  const under = await ping(3000, 2);
  assert.deepEqual(under.result, { value: 'pong' });
});

test('hundreds of idle connections cost little and keep no one else from being served', async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  const before = (await metrics(server)).process_resident_memory_bytes;
  await openIdleConnections(server.url, 300, defer);
  const client = await connect(server.url);
  defer(() => client.close());
  const pipeline = await client.create('MediaPipeline');
  await pipeline.create('PassThrough');
  await pipeline.release();
  const after = await metrics(server);
  const grown = after.process_resident_memory_bytes - before;
  console.log(`300 idle connections: +${grown >> 10} KiB`);
  assert.ok(grown < 16 << 20, `300 idle connections grew the server by ${grown >> 10} KiB`);
  assert.ok(after.process_open_fds >= 300, 'the connections are open');
});

test('3,000 subscriptions on one session deliver an event once; a 2,000-operation transaction is served whole; the connection keeps serving', async (t) => {
  const { raw, sessionId } = await rawSession(t);
  const subscriptions = await Promise.all(Array.from({ length: 3000 }, () => raw.request('subscribe', { type: 'ObjectCreated', object: 'manager_ServerManager', sessionId })));
  assert.ok(subscriptions.every((r) => typeof r.result.value === 'string'), 'every subscription answered');
  assert.equal(new Set(subscriptions.map((r) => r.result.value)).size, 3000, 'each has its own id');

  const operations = [{ jsonrpc: '2.0', id: 0, method: 'create', params: { type: 'MediaPipeline', sessionId } }];
  for (let i = 1; i < 2000; i++) {
    operations.push({ jsonrpc: '2.0', id: i, method: 'create', params: { type: 'PassThrough', constructorParams: { mediaPipeline: 'newref:0' }, sessionId } });
  }
  raw.events.length = 0;
  const reply = await raw.request('transaction', { operations, sessionId });
  const values = reply.result.value;
  assert.equal(values.length, 2000);
  assert.ok(values.every((v) => v.result && typeof v.result.value === 'string'), 'every operation succeeded');
  // One ObjectCreated per object for the session, however many subscriptions.
  await pollUntil(async () => raw.events.length, (n) => n >= 2000, { tries: 50, ms: 100 });
  assert.equal(raw.events.length, 2000);
  const released = await raw.request('release', { object: values[0].result.value, sessionId });
  assert.equal(released.error, undefined);
  assert.deepEqual((await raw.request('ping', { sessionId })).result.value, 'pong');
});

test('hostile SDP, candidates and envelopes get Kurento errors and nothing else changes', async (t) => {
  const { raw, sessionId } = await rawSession(t);
  const create = async (type, pipeline) => (await raw.request('create', { type, constructorParams: pipeline ? { mediaPipeline: pipeline } : {}, sessionId })).result.value;
  const pipeline = await create('MediaPipeline');
  const invoke = (object, operation, operationParams) => raw.request('invoke', { object, operation, operationParams, sessionId });
  const codeOf = (reply) => (reply.error ? reply.error.code : 'ok');

  const mline = (i) => `m=audio ${9000 + 2 * i} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;
  const hostile = {
    huge: `v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n${'a=x:'.padEnd(1000, 'y')}\r\n`.repeat(900),
    '500 m-lines': `v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n${Array.from({ length: 500 }, (_, i) => mline(i)).join('')}`,
    binary: Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)).toString('latin1'),
    empty: '',
  };
  const codes = {};
  for (const type of ['WebRtcEndpoint', 'RtpEndpoint']) {
    for (const [name, offer] of Object.entries(hostile)) {
      const endpoint = await create(type, pipeline);
      codes[`${type} ${name}`] = codeOf(await invoke(endpoint, 'processOffer', { offer }));
    }
  }
  for (const [what, code] of Object.entries(codes)) {
    // 500 plain-RTP lines are served (refused ones get port 0) but no offer is taken as valid otherwise.
    if (what === 'RtpEndpoint 500 m-lines') continue;
    assert.ok([40201, 40205].includes(code), `${what}: ${code} (${JSON.stringify(codes)})`);
  }
  const webrtc = await create('WebRtcEndpoint', pipeline);
  for (const candidate of ['candidate:x', 'candidate:1 1 udp 1 999.1.1.1 1 typ host', '\u0000\u0001garbage', 'a='.repeat(5000)]) {
    const reply = await invoke(webrtc, 'addIceCandidate', { candidate: { __module__: 'kurento', __type__: 'IceCandidate', candidate, sdpMid: '0', sdpMLineIndex: 0 } });
    assert.equal(codeOf(reply), 40401, `candidate ${JSON.stringify(candidate.slice(0, 40))}: ${JSON.stringify(reply).slice(0, 300)}`);
  }
  // Deeply nested JSON: a parse error, not a crash.
  const nested = await raw.send(`{"jsonrpc":"2.0","id":7,"method":"ping","params":${'['.repeat(20000)}${']'.repeat(20000)}}`, 7);
  assert.ok(nested.error, JSON.stringify(nested).slice(0, 200));
  // Everything still works: a fresh endpoint negotiates a plain offer.
  const rtp = await create('RtpEndpoint', pipeline);
  const answer = await invoke(rtp, 'processOffer', { offer: 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n' });
  assert.match(answer.result.value, /m=audio [1-9]\d* RTP\/AVP 0/);
  assert.deepEqual((await raw.request('ping', { sessionId })).result.value, 'pong');
});
