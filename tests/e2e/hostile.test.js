// The hostile-input matrix: while a Chromium hello-world call decodes on one
// session and another application's objects sit on a second, a third
// connection sends broken envelopes, oversized and deeply nested messages,
// wrong types for every parameter kind, hostile SDP and candidates, double
// releases and cross-pipeline connects; idle connections, a
// client that never reads, 3,000 subscriptions and a 2,000-operation
// transaction join in. Every case gets its Kurento/JSON-RPC error (the
// request id echoed whenever it can be read), the call's frames keep rising
// and the other application notices nothing.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { connect, call } = require('./lib/client');
const { openPage } = require('./lib/browser');
const { pollUntil } = require('./lib/poll');
const { RawClient, openIdleConnections } = require('./lib/raw');

const SDP_HEAD = 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n';
const HOSTILE_SDP = {
  '900 KB of attributes': `v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n${'a=x:'.padEnd(1000, 'y')}\r\n`.repeat(900),
  '500 m-lines': SDP_HEAD + Array.from({ length: 500 }, (_, i) => `m=audio ${9000 + 2 * i} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`).join(''),
  binary: Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)).toString('latin1'),
  empty: '',
  'no m-line': SDP_HEAD,
};

/** The call's decoded video frames, as Chromium counts them. */
async function framesDecoded(page) {
  const stats = await page.evaluate(() => window.inboundStats());
  return (stats.video && stats.video.framesDecoded) || 0;
}

test('80+ hostile requests beside a live call: each gets its error, the call keeps decoding, other sessions notice nothing', async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());

  // The call, and another application's objects.
  const page = await openPage(defer, server, 'hello-world.html');
  await pollUntil(() => framesDecoded(page), (n) => n > 10);
  const other = await connect(server.url);
  defer(() => other.close());
  const otherPipeline = await other.create('MediaPipeline');
  const otherElement = await otherPipeline.create('PassThrough');
  await call(otherElement, 'setName', 'untouched');
  const otherEvents = [];
  otherElement.on('Error', (e) => otherEvents.push(e));

  // The hostile connection, with its own session and objects to aim at.
  const raw = await RawClient.open(server.url);
  defer(() => raw.close());
  // The session: the one the first request opens (ping answers without one).
  const sessionId = (await raw.request('create', { type: 'MediaPipeline' })).result.sessionId;
  const request = (method, params) => raw.request(method, params === undefined ? undefined : { ...params, sessionId });
  const create = async (type, constructorParams = {}) => {
    const reply = await request('create', { type, constructorParams });
    assert.ok(reply.result, `create ${type}: ${JSON.stringify(reply)}`);
    return reply.result.value;
  };
  const invoke = (object, operation, operationParams = {}) => request('invoke', { object, operation, operationParams });
  const pipeline = await create('MediaPipeline');
  const secondPipeline = await create('MediaPipeline');
  const webrtc = await create('WebRtcEndpoint', { mediaPipeline: pipeline });
  const player = await create('PlayerEndpoint', { mediaPipeline: pipeline, uri: 'file:///nonexistent.webm' });
  const passThrough = await create('PassThrough', { mediaPipeline: pipeline });
  const elsewhere = await create('PassThrough', { mediaPipeline: secondPipeline });
  const blending = await create('AlphaBlending', { mediaPipeline: pipeline });
  const blendingPort = await create('HubPort', { hub: blending });
  const released = await create('PassThrough', { mediaPipeline: pipeline });
  assert.equal((await request('release', { object: released })).error, undefined);
  const before = await framesDecoded(page);

  /** [name, () => reply, expected code ('ok' for a result), expected id (optional)] */
  const cases = [];
  const text = (name, body, code, id = null) => cases.push([name, () => raw.sendNext(body), code, id]);
  const req = (name, method, params, code) => cases.push([name, () => request(method, params), code]);
  const inv = (name, object, operation, params, code) => cases.push([name, () => invoke(object, operation, params), code]);

  // Envelopes: JSON-RPC's codes, the id echoed whenever it can be read.
  text('not JSON', 'not json', -32700);
  text('truncated object', '{"jsonrpc":"2.0","id":1001,"method":"ping"', -32700, 1001);
  text('truncated inside params', '{"jsonrpc":"2.0","id":"r-1002","method":"create","params":{"type":"Media', -32700, 'r-1002');
  text('an id only in params is not the id', '{"jsonrpc":"2.0","method":"ping","params":{"id":1003', -32700, null);
  text('empty batch', '[]', -32600);
  text('batch of garbage', '[1,2,3]', -32600);
  text('jsonrpc 1.0', '{"jsonrpc":"1.0","id":1004,"method":"ping"}', -32600, 1004);
  text('no jsonrpc member', '{"id":1005,"method":"ping"}', -32600, 1005);
  text('no method', '{"jsonrpc":"2.0","id":1006}', -32600, 1006);
  text('method not a string', '{"jsonrpc":"2.0","id":1007,"method":42}', -32600, 1007);
  text('unknown method', '{"jsonrpc":"2.0","id":1008,"method":"nosuch","params":{}}', -32601, 1008);
  text('object id', '{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}', -32600);
  text('boolean id', '{"jsonrpc":"2.0","id":true,"method":"ping"}', -32600);
  text('params an array', '{"jsonrpc":"2.0","id":1009,"method":"create","params":[]}', -32602, 1009);
  text('params a string', '{"jsonrpc":"2.0","id":1010,"method":"create","params":"x"}', -32602, 1010);
  text('a bare string', '"string"', -32600);
  text('a bare number', '123', -32600);
  text('null', 'null', -32600);
  text('deeply nested params', `{"jsonrpc":"2.0","id":1011,"method":"ping","params":${'['.repeat(20000)}${']'.repeat(20000)}}`, -32700, 1011);
  text('deeply nested objects', `{"jsonrpc":"2.0","id":1012,"method":"ping","params":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`, -32700, 1012);
  text('over maxRequestBytes', JSON.stringify({ jsonrpc: '2.0', id: 1013, method: 'ping', params: { pad: 'x'.repeat(1100000) } }), -32600, 1013);
  text('a 100 KB string id', JSON.stringify({ jsonrpc: '2.0', id: 'i'.repeat(100000), method: 'nosuch' }), -32601, 'i'.repeat(100000));
  text('NUL bytes in a method name', '{"jsonrpc":"2.0","id":1014,"method":"pi\\u0000ng"}', -32601, 1014);

  // The protocol's methods with missing or mistyped members.
  req('create without type', 'create', {}, -32000);
  req('create with a numeric type', 'create', { type: 5 }, -32000);
  req('create of an unknown class', 'create', { type: 'Nope' }, 40108);
  req('create of an abstract class', 'create', { type: 'MediaElement', constructorParams: { mediaPipeline: pipeline } }, 40108);
  req('create with constructorParams a string', 'create', { type: 'PassThrough', constructorParams: 'x' }, 40001);
  req('create in an unknown pipeline', 'create', { type: 'PassThrough', constructorParams: { mediaPipeline: 'nope_kurento.MediaPipeline' } }, 40101);
  req('create with a non-pipeline as pipeline', 'create', { type: 'PassThrough', constructorParams: { mediaPipeline: passThrough } }, 40001);
  req('create without a required parameter', 'create', { type: 'PlayerEndpoint', constructorParams: { mediaPipeline: pipeline } }, 40001);
  req('create with a mistyped boolean parameter', 'create', { type: 'WebRtcEndpoint', constructorParams: { mediaPipeline: pipeline, recvonly: 'yes' } }, 40001);
  req('create with an unknown enum value', 'create', { type: 'RecorderEndpoint', constructorParams: { mediaPipeline: pipeline, uri: 'file:///tmp/x.webm', mediaProfile: 'NOPE' } }, 40001);
  req('invoke without object', 'invoke', { operation: 'getName' }, -32000);
  req('invoke with a numeric object', 'invoke', { object: 5, operation: 'getName' }, -32000);
  req('invoke on an unknown object', 'invoke', { object: 'nope', operation: 'getName', operationParams: {} }, 40101);
  req('invoke on a released object', 'invoke', { object: released, operation: 'getName', operationParams: {} }, 40101);
  req('invoke without operation', 'invoke', { object: webrtc }, -32000);
  req('invoke of an unknown operation', 'invoke', { object: webrtc, operation: 'selfDestruct', operationParams: {} }, 40105);
  req('invoke with operationParams an array', 'invoke', { object: webrtc, operation: 'getName', operationParams: [] }, -32000);
  req('release twice', 'release', { object: released }, 40101);
  req('release the ServerManager', 'release', { object: 'manager_ServerManager' }, 40111);
  req('release an unknown object', 'release', { object: 'nope' }, 40101);
  req('release without object', 'release', {}, -32000);
  req('describe an unknown object', 'describe', { object: 'nope' }, 40101);
  req('subscribe to an unknown object', 'subscribe', { type: 'ObjectCreated', object: 'nope' }, 40101);
  req('subscribe to an event the class lacks', 'subscribe', { type: 'IceCandidateFound', object: passThrough }, 40106);
  req('subscribe with a numeric type', 'subscribe', { type: 7, object: passThrough }, -32000);
  req('unsubscribe an unknown subscription (KMS: nothing to do)', 'unsubscribe', { subscription: 'nope', object: passThrough }, 'ok');
  req('transaction without operations', 'transaction', {}, -32000);
  req('transaction with operations an object', 'transaction', { operations: {} }, -32000);
  cases.push(['keepAlive without a session', () => raw.request('keepAlive', {}), -32000]);
  cases.push(['connect to an unknown session', () => raw.request('connect', { sessionId: 'no-such-session' }), 40007]);

  // Wrong types for every parameter kind of the IDL.
  inv('String given a number (setName)', passThrough, 'setName', { name: 5 }, 40001);
  inv('String given an object (processOffer)', webrtc, 'processOffer', { offer: {} }, 40001);
  inv('String given null (addTag)', passThrough, 'addTag', { key: null, value: 'v' }, 40001);
  inv('int given a string', webrtc, 'setMaxVideoRecvBandwidth', { maxVideoRecvBandwidth: 'x' }, 40001);
  inv('int given a fraction', webrtc, 'setMaxVideoRecvBandwidth', { maxVideoRecvBandwidth: 1.5 }, 40001);
  inv('int given a huge number', webrtc, 'setMaxVideoRecvBandwidth', { maxVideoRecvBandwidth: 1e30 }, 40001);
  inv('int64 given a string', player, 'setPosition', { position: 'x' }, 40001);
  inv('float given a string', blending, 'setPortProperties', { relativeX: 'x', relativeY: 0, zOrder: 1, relativeWidth: 0.5, relativeHeight: 0.5, port: blendingPort }, 40001);
  inv('boolean given a string', passThrough, 'setSendTagsInEvents', { sendTagsInEvents: 'yes' }, 40001);
  inv('boolean given a number', passThrough, 'setSendTagsInEvents', { sendTagsInEvents: 1 }, 40001);
  inv('enum given an unknown value', passThrough, 'getStats', { mediaType: 'SMELL' }, 40001);
  inv('enum given a number', passThrough, 'isMediaFlowingIn', { mediaType: 1 }, 40001);
  inv('register given a string', webrtc, 'addIceCandidate', { candidate: 'candidate:1' }, 40001);
  inv('register missing a field', webrtc, 'addIceCandidate', { candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host' } }, 40001);
  inv('register with a mistyped field', passThrough, 'setAudioFormat', { caps: { codec: 'NOPE', bitrate: 'x' } }, 40001);
  inv('object given a number', passThrough, 'connect', { sink: 5 }, 40001);
  inv('object given an unknown id', passThrough, 'connect', { sink: 'nope' }, 40101);
  inv('object given the ServerManager', passThrough, 'connect', { sink: 'manager_ServerManager' }, 40001);
  inv('object of another pipeline (cross-pipeline connect)', passThrough, 'connect', { sink: elsewhere }, 40004);
  inv('object given a released element', passThrough, 'connect', { sink: released }, 40101);
  inv('missing a required parameter', webrtc, 'processOffer', {}, 40001);
  inv('getter given unexpected parameters', passThrough, 'getName', { name: 'x' }, 'ok');
  inv('an unknown method name (40105)', passThrough, 'getNameX', {}, 40105);
  inv('ServerManager getKmd of an unknown module', 'manager_ServerManager', 'getKmd', { moduleName: 'nope' }, 40500);
  inv('ServerManager getKmd given a number', 'manager_ServerManager', 'getKmd', { moduleName: 5 }, 40001);

  // Hostile SDP and candidates.
  for (const type of ['WebRtcEndpoint', 'RtpEndpoint']) {
    for (const [name, offer] of Object.entries(HOSTILE_SDP)) {
      // 500 plain-RTP lines are served (each refused line answered with port 0).
      const expected = type === 'RtpEndpoint' && name === '500 m-lines' ? 'ok' : null;
      cases.push([`${type} processOffer: ${name}`, async () => invoke(await create(type, { mediaPipeline: pipeline }), 'processOffer', { offer }), expected]);
    }
  }
  for (const candidate of ['candidate:x', 'candidate:1 1 udp 1 999.1.1.1 1 typ host', '\u0000\u0001garbage', 'a='.repeat(5000)]) {
    inv(`candidate ${JSON.stringify(candidate.slice(0, 24))}`, webrtc, 'addIceCandidate', { candidate: { __module__: 'kurento', __type__: 'IceCandidate', candidate, sdpMid: '0', sdpMLineIndex: 0 } }, 40401);
  }
  inv('processAnswer without an offer', webrtc, 'processAnswer', { answer: SDP_HEAD }, 40209);

  assert.ok(cases.length >= 80, `${cases.length} cases`);
  const outcomes = [];
  for (const [name, run, code, id] of cases) {
    const reply = await run();
    const got = reply.error ? reply.error.code : 'ok';
    if (code !== null && got !== code) outcomes.push(`${name}: expected ${code}, got ${JSON.stringify(reply).slice(0, 200)}`);
    if (code === null && got === 'ok') outcomes.push(`${name}: expected an error, got ${JSON.stringify(reply).slice(0, 200)}`);
    if (id !== undefined && reply.id !== id) outcomes.push(`${name}: the reply's id is ${JSON.stringify(reply.id).slice(0, 40)}, not ${JSON.stringify(id).slice(0, 40)}`);
  }
  assert.deepEqual(outcomes, [], `${outcomes.length} of ${cases.length} cases answered wrongly`);

  // Load beside the call: idle connections, a client that never reads its
  // replies, thousands of subscriptions, a 2,000-operation transaction.
  await openIdleConnections(server.url, 200, defer);
  const stalled = spawn('/usr/bin/python3', [path.join(__dirname, 'lib', 'stalled_client.py'), String(server.port), 'kurento'], { stdio: ['pipe', 'pipe', 'inherit'] });
  defer(() => stalled.kill());
  await new Promise((resolve) => stalled.stdout.once('data', resolve));
  raw.timeoutMs = 30000;
  const subscriptions = await Promise.all(Array.from({ length: 3000 }, () => request('subscribe', { type: 'ObjectCreated', object: 'manager_ServerManager' })));
  assert.ok(subscriptions.every((r) => typeof r.result.value === 'string'), 'every subscription answered');
  const operations = [{ jsonrpc: '2.0', id: 0, method: 'create', params: { type: 'MediaPipeline', sessionId } }];
  for (let i = 1; i < 2000; i++) operations.push({ jsonrpc: '2.0', id: i, method: 'create', params: { type: 'PassThrough', constructorParams: { mediaPipeline: 'newref:0' }, sessionId } });
  const transaction = await request('transaction', { operations });
  assert.equal(transaction.result.value.length, 2000);
  assert.equal((await request('release', { object: transaction.result.value[0].result.value })).error, undefined);
  // (The stalled reader's events pile up in its own bounded queue; the
  // bound itself is tested in access.test.js.)

  // The call kept decoding throughout; the other application noticed nothing.
  const after = await pollUntil(() => framesDecoded(page), (n) => n > before + 30);
  assert.ok(after > before + 30, `the call kept decoding: ${before} -> ${after} frames`);
  assert.equal(await call(otherElement, 'getName'), 'untouched');
  assert.deepEqual(otherEvents, []);
  assert.equal((await request('ping', {})).result.value, 'pong', 'the hostile connection itself is still served');
});
