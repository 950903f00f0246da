// Media nodes behind one entry, coordinated through Redis: placement,
// routing by object id, a browser call through the entry, a node killed,
// a drain, a Redis restart and a session resumed through the entry.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { deferrer } = require('./lib/defer');
const { connect, call, once } = require('./lib/client');
const { openPage } = require('./lib/browser');
const { RawClient } = require('./lib/raw');
const { sleep, pollUntil } = require('./lib/poll');
const { startCluster, startRedis, nodeOf } = require('./lib/cluster');

const TTL_MS = 2000;

test('pipelines spread over the nodes; requests follow their ids; ServerManager answers for the cluster', async (t) => {
  const defer = deferrer(t);
  const { nodes, entry } = await startCluster(defer);
  const client = await connect(entry.url);
  defer(() => client.close());
  const pipelines = [];
  for (let i = 0; i < 20; i++) pipelines.push(await client.create('MediaPipeline'));
  const counts = {};
  for (const p of pipelines) counts[nodeOf(p.id)] = (counts[nodeOf(p.id)] || 0) + 1;
  assert.deepEqual(Object.keys(counts).sort(), ['node-a', 'node-b'], JSON.stringify(counts));
  assert.ok(Math.abs(counts['node-a'] - counts['node-b']) <= 2, `balanced: ${JSON.stringify(counts)}`);

  // Objects inside a pipeline live on its node; their requests go there.
  const endpoint = await pipelines[1].create('WebRtcEndpoint');
  assert.equal(nodeOf(endpoint.id), nodeOf(pipelines[1].id));
  assert.match(await call(endpoint, 'generateOffer'), /^v=0/);
  await call(endpoint, 'setName', 'through-the-entry');
  // Each node holds exactly its own pipelines (asked directly).
  for (const node of nodes) {
    const direct = await connect(node.url);
    const ids = await call(await direct.getServerManager(), 'getPipelines');
    direct.close();
    assert.deepEqual(ids.map((i) => (typeof i === 'string' ? i : i.id)).sort(), pipelines.map((p) => p.id).filter((id) => nodeOf(id) === node.id).sort());
  }
  const manager = await client.getServerManager();
  assert.equal((await call(manager, 'getPipelines')).length, 20, 'getPipelines over every node');
  assert.equal((await call(manager, 'getInfo')).type, 'KMS');
  // A pipeline of no live node, and errors of the node passed through as they are.
  await assert.rejects(client.getMediaobjectById('node-z~0f7e7d38-0000-0000-0000-000000000000_kurento.MediaPipeline'), (e) => e.code === 40101);
  await assert.rejects(call(endpoint, 'processAnswer', 'garbage'), (e) => e.code >= 40200 && e.code < 40300, 'an SDP error from the node');
  for (const p of pipelines) await call(p, 'release');
  assert.equal((await call(manager, 'getPipelines')).length, 0);

  // Health for a load balancer, beside the entry's Kurento port.
  const base = `http://127.0.0.1:${entry.port}`;
  const ready = await fetch(`${base}/health/ready`);
  assert.equal(ready.status, 200, await ready.text());
  assert.match(await (await fetch(`${base}/metrics`)).text(), /kms_cluster_nodes\{draining="false"\} 2/);
  for (const node of nodes) await node.stop();
  const unready = await pollUntil(() => fetch(`${base}/health/ready`).then((r) => r.status), (st) => st === 503, { tries: 40, ms: 100 });
  assert.equal(unready, 503, 'no node left: not ready');
});

test('a call through the entry decodes in Chromium; a node killed with SIGKILL is noticed within its TTL', async (t) => {
  const defer = deferrer(t);
  const { nodes, entry } = await startCluster(defer);
  const client = await connect(entry.url);
  defer(() => client.close());
  const page = await openPage(defer, entry, 'hello-world.html', { offerer: 'browser' });
  const first = await pollUntil(() => page.evaluate(() => window.inboundStats()), (s) => s.video && s.video.framesDecoded > 0);
  const callPipeline = (await page.evaluate(() => window.objectIds())).pipeline;
  const callNode = nodeOf(callPipeline);
  const victim = nodes.find((n) => n.id !== callNode);
  // Pipelines until one lands on the victim; the application watches them.
  const manager = await client.getServerManager();
  const destroyed = [];
  manager.on('ObjectDestroyed', (e) => destroyed.push(e.objectId));
  await sleep(300); // the subscription is made
  let doomed;
  for (let i = 0; i < 4 && !doomed; i++) {
    const p = await client.create('MediaPipeline');
    if (nodeOf(p.id) === victim.id) doomed = p;
  }
  assert.ok(doomed, 'a pipeline on the other node');
  const doomedError = once(doomed, 'Error', 10000);
  await call(doomed, 'getName');

  const killedAt = Date.now();
  victim.child.kill('SIGKILL');
  // Its objects answer 40101 (at once: its connection is gone; within the TTL at most).
  const code = await pollUntil(() => call(doomed, 'getName').then(() => 0, (e) => e.code), (c) => c === 40101, { tries: 40, ms: 100 });
  assert.equal(code, 40101);
  // Within the TTL (and a heartbeat) the entry reports it gone to the application.
  const error = await doomedError;
  assert.ok(Date.now() - killedAt < TTL_MS + 2000, `noticed in ${Date.now() - killedAt} ms`);
  assert.ok(error.description.includes(victim.id), JSON.stringify(error));
  await pollUntil(() => destroyed, (d) => d.includes(doomed.id), { tries: 20, ms: 100 });
  // New pipelines go to the survivor; the call there keeps decoding.
  for (let i = 0; i < 4; i++) assert.equal(nodeOf((await client.create('MediaPipeline')).id), callNode);
  let last = first;
  for (let i = 0; i < 3; i++) {
    await sleep(1000);
    const now = await page.evaluate(() => window.inboundStats());
    assert.ok(now.video.framesDecoded > last.video.framesDecoded, `the call keeps decoding: ${JSON.stringify([last, now])}`);
    last = now;
  }
  assert.ok(/node gone.*node-/.test(entry.logs()), entry.logs().slice(-2000));
});

test('a drained node takes no new pipelines and stops once its last one is released', async (t) => {
  const defer = deferrer(t);
  const { nodes, entry } = await startCluster(defer);
  const client = await connect(entry.url);
  defer(() => client.close());
  const kept = [];
  for (let i = 0; i < 4; i++) kept.push(await client.create('MediaPipeline'));
  const [a, b] = nodes;
  b.child.kill('SIGUSR1');
  await pollUntil(() => b.logs(), (l) => l.includes('draining'), { tries: 30, ms: 100 });
  await sleep(TTL_MS); // the entry reads the drain from the node's next record
  for (let i = 0; i < 6; i++) assert.equal(nodeOf((await client.create('MediaPipeline')).id), a.id, 'no new pipeline on the drained node');
  // Its pipelines keep working until they are released; then it leaves.
  const onB = kept.filter((p) => nodeOf(p.id) === b.id);
  assert.ok(onB.length > 0);
  for (const p of onB) assert.equal(typeof (await call(p, 'getName')), 'string');
  for (const p of onB) await call(p, 'release');
  const exit = await pollUntil(() => b.child.exitCode, (c) => c !== null, { tries: 50, ms: 100 });
  assert.equal(exit, 0, b.logs().slice(-1500));
  await pollUntil(() => entry.logs(), (l) => l.includes(`node gone`), { tries: 50, ms: 100 });
});

test('a Redis restart loses no pipeline; a session resumes through the entry with its replies', async (t) => {
  const defer = deferrer(t);
  const { redis, entry } = await startCluster(defer);
  const raw = await RawClient.open(entry.url);
  const connected = await raw.request('connect', {});
  const sessionId = connected.result.sessionId;
  const created = await raw.request('create', { type: 'MediaPipeline', constructorParams: {}, sessionId });
  const pipeline = created.result.value;
  assert.equal(created.result.sessionId, sessionId, 'the entry session, not a node session');

  // Redis goes away and comes back empty on the same port: the nodes register again.
  await redis.stop();
  await sleep(TTL_MS + 500);
  const got = await raw.request('invoke', { object: pipeline, operation: 'getName', sessionId });
  assert.equal(typeof got.result.value, 'string', JSON.stringify(got));
  const again = await startRedis(redis.port);
  defer(() => again.stop());
  await sleep(TTL_MS + 500);
  const second = await raw.request('create', { type: 'MediaPipeline', constructorParams: {}, sessionId });
  assert.ok(second.result, JSON.stringify(second));
  const named = await raw.request('invoke', { object: pipeline, operation: 'getName', sessionId });
  assert.equal(typeof named.result.value, 'string', 'the first pipeline lives on');

  // The connection drops; a new one resumes the session by its id.
  const id = 'resent-1';
  const before = await raw.request('invoke', { object: pipeline, operation: 'getCreationTime', sessionId }, id);
  raw.close();
  const back = await RawClient.open(entry.url);
  defer(() => back.close());
  const resumed = await back.request('connect', { sessionId });
  assert.equal(resumed.result.sessionId, sessionId, JSON.stringify(resumed));
  const after = await back.request('invoke', { object: pipeline, operation: 'getName', sessionId });
  assert.equal(typeof after.result.value, 'string');
  // A request sent again with its id gets the same reply.
  const repeat = await back.request('invoke', { object: pipeline, operation: 'getCreationTime', sessionId }, id);
  assert.deepEqual(repeat, before);
  const unknown = await back.request('connect', { sessionId: 'no-such-session' });
  assert.equal(unknown.error.code, 40007);

  // A transaction goes to one node whole: a pipeline and an endpoint in it by newref.
  const operations = [
    { jsonrpc: '2.0', id: 0, method: 'create', params: { type: 'MediaPipeline', constructorParams: {} } },
    { jsonrpc: '2.0', id: 1, method: 'create', params: { type: 'WebRtcEndpoint', constructorParams: { mediaPipeline: 'newref:0' } } },
  ];
  const tx = await back.request('transaction', { operations, sessionId: resumed.result.sessionId });
  assert.ok(tx.result, JSON.stringify(tx));
  const made = JSON.stringify(tx.result).match(/node-[ab]~[^"]+?_kurento\.WebRtcEndpoint/);
  assert.ok(made, JSON.stringify(tx.result));
  const offer = await back.request('invoke', { object: made[0], operation: 'generateOffer', sessionId });
  assert.match(offer.result.value, /^v=0/);
});
