// The official kurento-client@7.3.0 against the real binary: the hello-world
// handshake, create/release, and a bad request.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { connect, call, once } = require('./lib/client');
const { RawClient } = require('./lib/raw');

const offer = fs.readFileSync(path.join(__dirname, 'fixtures', 'chrome-offer.sdp'), 'utf8').replace(/\n/g, '\r\n');

test('kurento-client: hello-world handshake, create, release, bad request', async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  const client = await connect(server.url);
  defer(() => client.close());

  const manager = await client.getServerManager();
  const info = await manager.getInfo();
  assert.equal(info.type, 'KMS');
  const modules = info.modules.map((m) => m.name);
  for (const name of ['core', 'elements', 'filters']) assert.ok(modules.includes(name), `module ${name} listed`);
  const elements = info.modules.find((m) => m.name === 'elements');
  assert.ok(elements.factories.includes('WebRtcEndpoint'));

  const pipeline = await client.create('MediaPipeline');
  assert.match(pipeline.id, /^[0-9a-f-]{36}_kurento\.MediaPipeline$/);
  const webRtc = await pipeline.create('WebRtcEndpoint');
  assert.ok(webRtc.id.startsWith(`${pipeline.id}/`));
  assert.match(webRtc.id, /_kurento\.WebRtcEndpoint$/);

  // Trickle ICE as the tutorial wires it.
  const found = [];
  webRtc.on('IceCandidateFound', (ev) => found.push(ev));
  const done = once(webRtc, 'IceGatheringDone');

  assert.equal(await webRtc.getMediaState(), 'DISCONNECTED');
  assert.equal(await webRtc.getConnectionState(), 'DISCONNECTED');
  const answer = await webRtc.processOffer(offer);
  assert.match(answer, /^v=0/);
  assert.match(answer, /a=fingerprint:sha-256 /);
  assert.match(answer, /a=candidate:.* 127\.0\.0\.1 \d+ typ host/);
  assert.match(answer, /VP8\/90000/);
  assert.match(answer, /opus\/48000\/2/);
  await webRtc.gatherCandidates();
  const doneEvent = await done;
  assert.equal(doneEvent.source, webRtc.id);
  assert.ok(found.length >= 1, 'at least one IceCandidateFound before IceGatheringDone');
  const c = found[0].candidate;
  assert.match(c.candidate, /^candidate:/);
  assert.equal(typeof c.sdpMLineIndex, 'number');
  assert.equal(typeof found[0].timestampMillis, 'string');

  // A browser's trickled candidate is accepted.
  await webRtc.addIceCandidate({ candidate: 'candidate:1 1 udp 2113937151 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 });
  // Loopback connect, as the hello-world does.
  await webRtc.connect(webRtc);
  const sinks = await webRtc.getSinkConnections();
  assert.equal(sinks.length, 3, 'AUDIO, VIDEO and DATA connected to itself');

  // A second negotiation is refused like KMS (40208), and an answerer has no
  // offer to match an answer to (40209).
  await assert.rejects(call(webRtc, 'processOffer', offer), (e) => e.code === 40208);
  await assert.rejects(call(webRtc, 'generateOffer'), (e) => e.code === 40208);
  await assert.rejects(call(webRtc, 'processAnswer', answer), (e) => e.code === 40209);

  // generateOffer: audio and video m-lines, then one answer only (40210).
  const offerer = await pipeline.create('WebRtcEndpoint');
  await assert.rejects(call(offerer, 'processAnswer', answer), (e) => e.code === 40209);
  const localOffer = await call(offerer, 'generateOffer');
  assert.match(localOffer, /m=audio [\s\S]*m=video /);
  assert.equal(await call(offerer, 'getLocalSessionDescriptor'), localOffer);
  // Bad SDP is a parse error with a reason, and the endpoint still works.
  const other = await pipeline.create('WebRtcEndpoint');
  await assert.rejects(call(other, 'processOffer', 'this is not sdp'), (e) => e.code === 40201 && /SDP/.test(e.message));

  // The recvonly / sendonly constructor flags show in the answer's directions.
  for (const [flag, direction] of [['recvonly', 'a=recvonly'], ['sendonly', 'a=sendonly']]) {
    const ep = await pipeline.create('WebRtcEndpoint', { [flag]: true });
    const sdp = await call(ep, 'processOffer', offer);
    assert.equal(sdp.split(direction).length - 1, 2, `${flag}: both m-lines ${direction}\n${sdp}`);
    assert.ok(!sdp.includes('a=sendrecv'), sdp);
  }

  assert.deepEqual((await manager.getPipelines()).map((p) => p.id), [pipeline.id]);
  await pipeline.release();
  assert.deepEqual(await manager.getPipelines(), []);

  // Released objects are gone: 40101 "... not found" (ReferenceError in the client).
  await assert.rejects(call(webRtc, 'getName'), (e) => e.code === 40101 && / not found/.test(e.message));
});

test('bad requests get KMS error codes and the connection keeps serving', async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  const client = await connect(server.url);
  defer(() => client.close());
  await assert.rejects(
    call(client, 'getMediaobjectById', '00000000-0000-0000-0000-000000000000_kurento.MediaPipeline'),
    (e) => e.code === 40101 && / not found/.test(e.message),
  );

  const raw = await RawClient.open(server.url);
  defer(() => raw.close());
  const created = await raw.request('create', { type: 'MediaPipeline' });
  const sessionId = created.result.sessionId;
  assert.match(created.result.value, /_kurento\.MediaPipeline$/);
  const cases = [
    [await raw.request('create', { type: 'NoSuchThing', sessionId }), 40108],
    [await raw.request('invoke', { object: 'nope_kurento.MediaPipeline', operation: 'getName', sessionId }), 40101],
    [await raw.request('invoke', { object: created.result.value, operation: 'noSuchOperation', sessionId }), 40105],
    [await raw.request('create', { type: 'WebRtcEndpoint', constructorParams: { mediaPipeline: 5 }, sessionId }), 40001],
    [await raw.request('subscribe', { object: created.result.value, type: 'IceCandidateFound', sessionId }), 40106],
    [await raw.request('noSuchMethod', {}), -32601],
    // Cut short: still a parse error, with the id it could read.
    [await raw.send('{"jsonrpc":"2.0","id":77,', 77), -32700],
    [await raw.send('[{"jsonrpc":"2.0","id":78,"method":"ping"}]', null), -32600],
  ];
  for (const [reply, code] of cases) {
    assert.equal(reply.jsonrpc, '2.0');
    assert.equal(reply.result, undefined, JSON.stringify(reply));
    assert.equal(reply.error.code, code, JSON.stringify(reply));
  }
  const pong = await raw.request('ping', { interval: 5000 });
  assert.deepEqual(pong.result, { value: 'pong' });
  const released = await raw.request('release', { object: created.result.value, sessionId });
  assert.deepEqual(released.result, { sessionId });
  // Released twice: 40101 (KMS); the ServerManager is never released (40111).
  assert.equal((await raw.request('release', { object: created.result.value, sessionId })).error.code, 40101);
  assert.equal((await raw.request('release', { object: 'manager_ServerManager', sessionId })).error.code, 40111);
  assert.deepEqual((await raw.request('ping', {})).result, { value: 'pong' }, 'still serving');
  // A broken envelope's reply echoes the id it can read.
  const broken = await raw.send('{"jsonrpc":"1.0","id":91,"method":"ping"}', 91);
  assert.deepEqual([broken.id, broken.error.code], [91, -32600]);
});

test('externalIPv4 (KMS_EXTERNAL_IPV4 and setExternalIPv4) is what the peer sees', async (t) => {
  const defer = deferrer(t);
  const server = await startServer({ env: { KMS_EXTERNAL_IPV4: '127.0.0.7' } });
  defer(() => server.stop());
  const client = await connect(server.url);
  defer(() => client.close());
  const pipeline = await client.create('MediaPipeline');
  const webRtc = await pipeline.create('WebRtcEndpoint');
  assert.equal(await webRtc.getExternalIPv4(), '127.0.0.7');
  const found = [];
  webRtc.on('IceCandidateFound', (ev) => found.push(ev.candidate.candidate));
  const done = once(webRtc, 'IceGatheringDone');
  const answer = await webRtc.processOffer(offer);
  assert.match(answer, /a=candidate:\S+ 1 udp \d+ 127\.0\.0\.7 \d+ typ host/);
  assert.ok(!/a=candidate:.* 127\.0\.0\.1 /.test(answer), answer);
  await webRtc.gatherCandidates();
  await done;
  assert.ok(found.length > 0 && found.every((c) => c.includes(' 127.0.0.7 ')), JSON.stringify(found));

  // Set per endpoint, before negotiating; a non-address is refused.
  const other = await pipeline.create('WebRtcEndpoint');
  await other.setExternalIPv4('127.0.0.9');
  assert.equal(await other.getExternalIPv4(), '127.0.0.9');
  assert.match(await other.processOffer(offer), / 127\.0\.0\.9 \d+ typ host/);
  await assert.rejects(call(other, 'setExternalIPv4', 'not-an-ip'), (e) => e.code === 40001);
});

test('stunServerAddress and turnUrl setters refuse what KMS cannot use', async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  const client = await connect(server.url);
  defer(() => client.close());
  const pipeline = await client.create('MediaPipeline');
  const webRtc = await pipeline.create('WebRtcEndpoint');
  await assert.rejects(call(webRtc, 'setStunServerAddress', 'stun.example.org'), (e) => e.code === 40001 && /IP address/.test(e.message));
  await assert.rejects(call(webRtc, 'setTurnUrl', '127.0.0.1:3478'), (e) => e.code === 40001 && /user:password@ip/.test(e.message));
  // Valid values are stored; the endpoint keeps working.
  await webRtc.setStunServerAddress('127.0.0.1');
  await webRtc.setTurnUrl('user:pass@127.0.0.1:3478');
  assert.equal(await webRtc.getTurnUrl(), 'user:pass@127.0.0.1:3478');
  assert.match(await webRtc.processOffer(offer), /a=candidate:/);
});
