// The control plane for every class, driven by the official kurento-client.
'use strict';
require('./lib/domain-shim');
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { kurento, connect, call, once } = require('./lib/client');
const { RawClient } = require('./lib/raw');

for (const m of ['kurento-module-chroma', 'kurento-module-crowddetector', 'kurento-module-platedetector', 'kurento-module-pointerdetector', 'kurento-module-datachannelexample']) {
  kurento.register(require(m));
}

const window = { topRightCornerX: 0, topRightCornerY: 0, width: 10, height: 10 };
const WindowParam = require('kurento-module-chroma').complexTypes.WindowParam;
const PointerWindowParam = require('kurento-module-pointerdetector').complexTypes.WindowParam;
// Every concrete class below MediaPipeline with the constructor params it requires.
const CLASSES = [
  ['PassThrough', {}, 'kurento'],
  ['WebRtcEndpoint', {}, 'kurento'],
  ['RtpEndpoint', {}, 'kurento'],
  ['PlayerEndpoint', { uri: 'file:///tmp/in.webm' }, 'kurento'],
  ['RecorderEndpoint', { uri: 'file:///tmp/out.webm' }, 'kurento'],
  ['HttpPostEndpoint', {}, 'kurento'],
  ['Composite', {}, 'kurento'],
  ['Dispatcher', {}, 'kurento'],
  ['DispatcherOneToMany', {}, 'kurento'],
  ['Mixer', {}, 'kurento'],
  ['AlphaBlending', {}, 'kurento'],
  ['FaceOverlayFilter', {}, 'kurento'],
  ['GStreamerFilter', { command: 'videoflip method=horizontal-flip' }, 'kurento'],
  ['ImageOverlayFilter', {}, 'kurento'],
  ['ZBarFilter', {}, 'kurento'],
  ['ChromaFilter', { window: new WindowParam(window) }, 'chroma'],
  ['CrowdDetectorFilter', { rois: [] }, 'crowddetector'],
  ['PlateDetectorFilter', {}, 'platedetector'],
  ['PointerDetectorFilter', { calibrationRegion: new PointerWindowParam(window) }, 'pointerdetector'],
  ['KmsShowData', {}, 'datachannelexample'],
  ['KmsSendData', {}, 'datachannelexample'],
  ['KmsDetectFaces', {}, 'datachannelexample'],
  ['KmsShowFaces', {}, 'datachannelexample'],
];

async function setup(t, options) {
  const defer = deferrer(t);
  const server = await startServer(options);
  defer(() => server.stop());
  const client = await connect(server.url);
  defer(() => client.close());
  const raw = await RawClient.open(server.url);
  defer(() => raw.close());
  return { defer, server, client, raw };
}

test('create, describe and release every concrete class', async (t) => {
  const { client, raw } = await setup(t);
  const pipeline = await client.create('MediaPipeline');
  const created = [];
  for (const [type, params, qualifier] of CLASSES) {
    const obj = await pipeline.create(type, params);
    assert.ok(obj.id.startsWith(`${pipeline.id}/`), obj.id);
    assert.ok(obj.id.endsWith(`_${qualifier}.${type}`), obj.id);
    const d = (await raw.request('describe', { object: obj.id })).result;
    assert.equal(d.type, type);
    assert.equal(d.qualifiedType, `${qualifier}.${type}`);
    assert.equal(d.hierarchy[d.hierarchy.length - 1], 'kurento.MediaObject');
    created.push(obj.id);
  }
  const composite = await pipeline.create('Composite');
  const port = await composite.createHubPort();
  assert.ok(port.id.startsWith(`${composite.id}/`) && port.id.endsWith('_kurento.HubPort'), port.id);
  const portDesc = (await raw.request('describe', { object: port.id })).result;
  assert.deepEqual(portDesc.hierarchy, ['kurento.MediaElement', 'kurento.MediaObject']);
  assert.deepEqual((await composite.getChildren()).map((c) => c.id), [port.id]);
  const parent = await raw.request('invoke', { object: port.id, operation: 'getParent' });
  assert.equal(parent.result.value, composite.id);
  const mp = await raw.request('invoke', { object: port.id, operation: 'getMediaPipeline' });
  assert.equal(mp.result.value, pipeline.id);

  const children = (await pipeline.getChildren()).map((c) => c.id);
  for (const id of created) assert.ok(children.includes(id), `${id} is a child`);

  // A module's methods are answered (vision.test.js tests what they do).
  const plates = await pipeline.create('PlateDetectorFilter');
  await call(plates, 'setPlateWidthPercentage', 0.3);

  await pipeline.release();
  for (const id of [...created, port.id]) {
    const reply = await raw.request('describe', { object: id });
    assert.equal(reply.error.code, 40101, id);
  }
  const manager = await client.getServerManager();
  assert.deepEqual(await manager.getPipelines(), []);
});

test('every IDL property getter of every concrete class answers (never 40006)', async (t) => {
  const { client } = await setup(t, { modules: { 'HttpEndpoint.conf.ini': 'serverAddress=127.0.0.1\nserverPort=0\n' } });
  const manager = await client.getServerManager();
  const classes = {};
  for (const module of ['core', 'elements', 'filters', 'chroma', 'crowddetector', 'platedetector', 'pointerdetector', 'datachannelexample']) {
    for (const c of JSON.parse(await manager.getKmd(module)).remoteClasses || []) classes[c.name] = c;
  }
  const properties = (name) => (classes[name] ? [...(classes[name].properties || []), ...properties(classes[name].extends)] : []);
  const pipeline = await client.create('MediaPipeline');
  const failures = [];
  for (const [type, params] of CLASSES) {
    // The client writes `mediaPipeline` into the parameters it is given (and
    // keeps one already there): the earlier test's must not be passed on.
    const { mediaPipeline: _earlier, ...own } = params;
    const object = await pipeline.create(type, own);
    const hub = ['Composite', 'Dispatcher', 'DispatcherOneToMany', 'Mixer', 'AlphaBlending'].includes(type);
    for (const p of properties(type)) {
      const getter = `get${p.name[0].toUpperCase()}${p.name.slice(1)}`;
      if (typeof object[getter] !== 'function') continue;
      try {
        await call(object, getter);
      } catch (e) {
        failures.push(`${type}.${getter}: ${e.code} ${e.message}`);
      }
    }
    if (!hub) await call(object, 'release');
  }
  assert.deepEqual(failures, []);
});

test('constructor parameters are checked like KMS', async (t) => {
  const { raw } = await setup(t);
  const pipeline = (await raw.request('create', { type: 'kurento.MediaPipeline' })).result.value;
  const bad = [
    [{ type: 'PlayerEndpoint', constructorParams: { mediaPipeline: pipeline } }, 40001], // uri missing
    [{ type: 'PlayerEndpoint', constructorParams: { mediaPipeline: pipeline, uri: 42 } }, 40001],
    [{ type: 'RecorderEndpoint', constructorParams: { mediaPipeline: pipeline, uri: 'file:///x', mediaProfile: 'AVI' } }, 40001],
    [{ type: 'WebRtcEndpoint', constructorParams: {} }, 40001],
    [{ type: 'WebRtcEndpoint', constructorParams: { mediaPipeline: 'a_kurento.MediaPipeline' } }, 40101],
    [{ type: 'HubPort', constructorParams: { hub: pipeline } }, 40001], // a pipeline is not a Hub
    [{ type: 'MediaElement' }, 40108], // abstract
    [{ type: 'kurento.ChromaFilter', constructorParams: { mediaPipeline: pipeline, window } }, 40108], // wrong module
  ];
  for (const [params, code] of bad) {
    const reply = await raw.request('create', params);
    assert.equal(reply.error && reply.error.code, code, JSON.stringify([params, reply]));
  }
  const chroma = await raw.request('create', { type: 'chroma.ChromaFilter', constructorParams: { mediaPipeline: pipeline, window } });
  assert.match(chroma.result.value, /_chroma\.ChromaFilter$/);
});

test('properties, final and read-only properties, tags', async (t) => {
  const { client, raw } = await setup(t);
  const pipeline = await client.create('MediaPipeline');
  const webRtc = await pipeline.create('WebRtcEndpoint');
  assert.equal(await webRtc.getName(), webRtc.id);
  await webRtc.setName('caller');
  assert.equal(await webRtc.getName(), 'caller');
  assert.equal(await webRtc.getStunServerPort(), 3478);
  await webRtc.setStunServerAddress('127.0.0.1');
  assert.equal(await webRtc.getStunServerAddress(), '127.0.0.1');
  assert.equal(await webRtc.getMaxVideoSendBandwidth(), 500);
  await webRtc.setMaxVideoSendBandwidth(1000);
  assert.equal(await webRtc.getMaxVideoSendBandwidth(), 1000);
  assert.equal(await webRtc.getMtu(), 1200);
  const remb = await webRtc.getRembParams();
  assert.equal(remb.rembOnConnect, 300000);
  assert.equal(remb.upLosses, 12);
  // setRembParams changes the fields given and keeps the others (KMS).
  await webRtc.setRembParams({ exponentialFactor: 0.5, upLosses: 20 });
  const merged = await webRtc.getRembParams();
  assert.deepEqual([merged.exponentialFactor, merged.upLosses, merged.rembOnConnect, merged.decrementFactor], [0.5, 20, 300000, 0.5]);
  const badRemb = await raw.request('invoke', { object: webRtc.id, operation: 'setRembParams', operationParams: { rembParams: { upLosses: 'many' } } });
  assert.equal(badRemb.error.code, 40001);
  assert.equal(await pipeline.getLatencyStats(), false);
  const now = Date.now() / 1000;
  const created = await webRtc.getCreationTime();
  assert.ok(Math.abs(created - now) < 30, `creationTime ${created} is Unix seconds`);

  const player = await pipeline.create('PlayerEndpoint', { uri: 'file:///tmp/in.webm' });
  assert.equal(await player.getUri(), 'file:///tmp/in.webm');
  const filter = await pipeline.create('GStreamerFilter', { command: 'identity' });
  assert.equal(await filter.getCommand(), 'identity');
  const setFinal = await raw.request('invoke', { object: player.id, operation: 'setUri', operationParams: { uri: 'x' } });
  assert.equal(setFinal.error.code, 40111);
  const badType = await raw.request('invoke', { object: webRtc.id, operation: 'setMtu', operationParams: { mtu: 'big' } });
  assert.equal(badType.error.code, 40001);

  await webRtc.addTag('room', 'r1');
  await webRtc.addTag('user', 'u1');
  assert.equal(await webRtc.getTag('room'), 'r1');
  assert.deepEqual((await webRtc.getTags()).map((tag) => [tag.key, tag.value]), [['room', 'r1'], ['user', 'u1']]);
  await webRtc.removeTag('room');
  await assert.rejects(call(webRtc, 'getTag', 'room'), (e) => e.code === 40110);

  // Tags travel in events only when sendTagsInEvents is set.
  await webRtc.setSendTagsInEvents(true);
  assert.equal(await webRtc.getSendTagsInEvents(), true);
  const pass = await pipeline.create('PassThrough');
  const connected = once(webRtc, 'ElementConnected');
  await webRtc.connect(pass, 'VIDEO');
  const ev = await connected;
  assert.deepEqual(ev.tags.map((tag) => [tag.key, tag.value]), [['user', 'u1']]);
  assert.equal(ev.sink, pass.id);
  assert.equal(ev.mediaType, 'VIDEO');
});

test('connect and disconnect bookkeeping with events', async (t) => {
  const { client } = await setup(t);
  const pipeline = await client.create('MediaPipeline');
  const [a, b, c] = [await pipeline.create('PassThrough'), await pipeline.create('PassThrough'), await pipeline.create('PassThrough')];
  const aEvents = [];
  a.on('ElementConnected', (e) => aEvents.push(['connected', e.mediaType, e.sink]));
  a.on('ElementDisconnected', (e) => aEvents.push(['disconnected', e.mediaType, e.sink]));
  await a.connect(b);
  const sources = await b.getSourceConnections();
  assert.deepEqual(sources.map((x) => [x.source.id || x.source, x.type]).sort(), [[a.id, 'AUDIO'], [a.id, 'DATA'], [a.id, 'VIDEO']]);
  assert.equal((await a.getSinkConnections('VIDEO')).length, 1);

  // A new VIDEO source replaces the old one on b.
  await c.connect(b, 'VIDEO');
  const video = await b.getSourceConnections('VIDEO');
  assert.equal(video.length, 1);
  assert.equal(video[0].source.id || video[0].source, c.id);
  await a.disconnect(b);
  assert.deepEqual(await a.getSinkConnections(), []);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(aEvents.filter((e) => e[0] === 'connected').map((e) => e[1]).sort(), ['AUDIO', 'DATA', 'VIDEO']);
  assert.deepEqual(aEvents.filter((e) => e[0] === 'disconnected').map((e) => e[1]).sort(), ['AUDIO', 'DATA', 'VIDEO']);
  assert.ok(aEvents.every((e) => e[2] === b.id));

  // Elements of different pipelines cannot be connected (40004).
  const other = await (await client.create('MediaPipeline')).create('PassThrough');
  await assert.rejects(call(a, 'connect', other), (e) => e.code === 40004);
  assert.equal(await b.isMediaFlowingIn('VIDEO'), false);
  await assert.rejects(call(b, 'isMediaFlowingIn', 'DATA'), (e) => e.code === 40107);
});

test('explicit transactions with newref', async (t) => {
  const { client, raw } = await setup(t);
  const tx = client.beginTransaction();
  const pipeline = client.create(tx, 'MediaPipeline');
  const player = pipeline.create(tx, 'PlayerEndpoint', { uri: 'file:///tmp/a.webm' });
  const pass = pipeline.create(tx, 'PassThrough');
  await tx.commit();
  assert.match(player.id, /_kurento\.PlayerEndpoint$/);
  assert.ok(player.id.startsWith(pipeline.id));
  await player.connect(pass);
  assert.equal((await pass.getSourceConnections()).length, 3);

  // On the wire: a failing operation ends the transaction and is its last reply.
  const reply = await raw.request('transaction', {
    operations: [
      { jsonrpc: '2.0', id: 0, method: 'create', params: { type: 'MediaPipeline' } },
      { jsonrpc: '2.0', id: 1, method: 'create', params: { type: 'PassThrough', constructorParams: { mediaPipeline: 'newref:0' } } },
      { jsonrpc: '2.0', id: 2, method: 'invoke', params: { object: 'newref:1', operation: 'nope' } },
      { jsonrpc: '2.0', id: 3, method: 'create', params: { type: 'PassThrough', constructorParams: { mediaPipeline: 'newref:0' } } },
    ],
  });
  const values = reply.result.value;
  assert.equal(values.length, 3);
  assert.ok(values[1].result.value.startsWith(values[0].result.value));
  assert.equal(values[2].error.code, 40105);
  const misnumbered = await raw.request('transaction', { operations: [{ jsonrpc: '2.0', id: 5, method: 'ping' }] });
  assert.equal(misnumbered.error.code, 40008);
  const stray = await raw.request('invoke', { object: 'newref:0', operation: 'getName' });
  assert.equal(stray.error.code, 40109);
});

test('ServerManager', async (t) => {
  const { client, raw } = await setup(t, { confJson: { mediaServer: {}, metadata: { region: 'test' } } });
  const manager = await client.getServerManager();
  const info = await manager.getInfo();
  assert.equal(info.type, 'KMS');
  assert.ok(info.capabilities.includes('transactions'));
  assert.deepEqual(info.modules.map((m) => m.name), ['core', 'elements', 'filters', 'chroma', 'crowddetector', 'platedetector', 'pointerdetector', 'datachannelexample']);
  assert.ok(info.modules[0].factories.includes('MediaPipeline'));
  assert.ok(!info.modules[0].factories.includes('MediaElement'), 'abstract classes are not factories');
  assert.deepEqual(JSON.parse(await manager.getMetadata()), { region: 'test' });
  assert.ok((await manager.getCpuCount()) >= 1);
  assert.equal(typeof (await manager.getUsedCpu(100)), 'number');
  assert.ok((await manager.getUsedMemory()) > 1000, 'RSS in KiB');
  const kmd = JSON.parse(await manager.getKmd('elements'));
  assert.ok(kmd.remoteClasses.some((c) => c.name === 'WebRtcEndpoint'));
  await assert.rejects(call(manager, 'getKmd', 'nope'), (e) => e.code === 40500);

  // ObjectCreated / ObjectDestroyed, subscribed on the wire so the order is certain.
  for (const type of ['ObjectCreated', 'ObjectDestroyed']) {
    const sub = await raw.request('subscribe', { object: 'manager_ServerManager', type });
    assert.match(sub.result.value, /^[0-9a-f-]{36}$/);
  }
  const pipeline = await client.create('MediaPipeline');
  await pipeline.release();
  await raw.request('ping', {});
  const seen = raw.events.map((e) => [e.type, e.data.object || e.data.objectId]);
  assert.deepEqual(seen, [['ObjectCreated', pipeline.id], ['ObjectDestroyed', pipeline.id]]);
  assert.equal(raw.events[0].object, 'manager_ServerManager');
  assert.equal(typeof raw.events[0].data.timestampMillis, 'string');

  // Both sessions are listed: the official client's and the raw one's.
  const sessions = await manager.getSessions();
  const rawSession = (await raw.request('describe', { object: 'manager_ServerManager' })).result.sessionId;
  assert.equal(sessions.length, 2, JSON.stringify(sessions));
  assert.ok(sessions.includes(rawSession), JSON.stringify([rawSession, sessions]));
});
