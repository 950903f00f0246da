// A cluster on loopback for one test: its own Redis, media nodes and the
// entry, each the real binary (see crates/kms-server/src/cluster).
'use strict';
const { spawn } = require('node:child_process');
const { startServer, freePort } = require('./server');
const { pollUntil } = require('./poll');
const net = require('node:net');

/** Starts redis-server on a free port of 127.0.0.1 (no persistence). */
async function startRedis(port) {
  port = port || (await freePort());
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await pollUntil(() => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  }), (ok) => ok, { tries: 50, ms: 100 });
  return {
    port,
    url: `redis://127.0.0.1:${port}/`,
    child,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Starts Redis, `nodes` media nodes (ids node-a, node-b, ...) and the entry;
 *  resolves once the entry knows every node. TTL 2 s. */
async function startCluster(defer, { nodes = 2, ttl = 2 } = {}) {
  const redis = await startRedis();
  defer(() => redis.stop());
  const common = { KMS_CLUSTER_REDIS_URL: redis.url, KMS_CLUSTER_TTL: String(ttl) };
  const started = [];
  for (let i = 0; i < nodes; i++) {
    const id = `node-${String.fromCharCode(97 + i)}`;
    const node = await startServer({ env: { ...common, KMS_CLUSTER_ROLE: 'node', KMS_CLUSTER_NODE_ID: id } });
    node.id = id;
    defer(() => node.stop());
    started.push(node);
  }
  const entry = await startServer({ env: { ...common, KMS_CLUSTER_ROLE: 'entry' } });
  defer(() => entry.stop());
  await pollUntil(() => entry.logs(), (logs) => started.every((n) => logs.includes(`node joined node=${n.id}`)), { tries: 50, ms: 200 });
  return { redis, nodes: started, entry };
}

/** The node id at the head of an object id. */
function nodeOf(id) {
  return id.split('/')[0].split('~')[0];
}

module.exports = { startRedis, startCluster, nodeOf };
