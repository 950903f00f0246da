// The container image (scripts/container.sh build) used as KMS's image is
// used: `scripts/container.sh run` with --network host inside this test's
// own network namespace (scripts/container-test.sh), the KMS_* variables,
// a recordings volume, the health checker, and SIGTERM.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const lib = path.join(__dirname, '..', 'e2e', 'lib');
const { deferrer } = require(path.join(lib, 'defer'));
const { connect, call } = require(path.join(lib, 'client'));
const { playInto } = require(path.join(lib, 'pipeline'));
const { openPage } = require(path.join(lib, 'browser'));
const { generateMedia, probe, decodeAll } = require(path.join(lib, 'media'));
const { pollUntil } = require(path.join(lib, 'poll'));
const { freePort } = require(path.join(lib, 'server'));
const { runCommand } = require(path.join(lib, 'command'));

const root = path.join(__dirname, '..', '..');
const image = process.env.KMS_IMAGE || 'localhost/kms-media-server:latest';
const env = { ...process.env, CONTAINERS_CONF: path.join(root, 'container', 'containers.conf') };

/** Runs a command with podman's settings: { code, stdout, stderr } (never throws). */
const run = (cmd, args) => runCommand(cmd, args, { env });

/** `scripts/container.sh run OPTIONS -- --port PORT`: { name, url, port }; stopped when the test ends. */
async function start(defer, options) {
  const port = await freePort();
  const name = `kms-test-${process.pid}-${port}`;
  const out = await run(path.join(root, 'scripts', 'container.sh'), ['run', '--name', name, ...options, '--', '--port', String(port)]);
  defer(() => run('podman', ['rm', '--force', '--time', '2', name]));
  assert.equal(out.code, 0, `container.sh run: ${out.stdout}\n${out.stderr}`);
  const url = /^ws_uri=(\S+)$/m.exec(out.stdout);
  assert.ok(url, out.stdout);
  assert.equal(url[1], `ws://127.0.0.1:${port}/kurento`);
  return { name, url: url[1], port };
}

test('hello-world decodes through the container, a recording lands in the mounted volume, logs go to standard output, SIGTERM stops it cleanly', async (t) => {
  const defer = deferrer(t);
  const media = generateMedia();
  defer(() => media.remove());
  // The volume: the image's unprivileged user writes into it.
  const volume = fs.mkdtempSync(path.join(os.tmpdir(), 'kms-volume-'));
  defer(() => fs.rmSync(volume, { recursive: true, force: true }));
  fs.chmodSync(volume, 0o777);
  fs.copyFileSync(media.file('in.webm'), path.join(volume, 'in.webm'));
  // --rm=false: the container stays after it exits, so its exit status can be read below.
  const server = await start(defer, ['--rm=false', '-e', 'KMS_MIN_PORT=45000', '-e', 'KMS_MAX_PORT=45099', '-e', 'KMS_NETWORK_INTERFACES=lo', '-e', 'KMS_MTU=', '-v', `${volume}:/var/lib/kurento`]);

  // The tutorial in Chromium; its media crosses the container's port range.
  const page = await openPage(defer, server, 'hello-world.html');
  const stats = await pollUntil(() => page.evaluate(() => window.inboundStats()), (s) => s.video && s.video.framesDecoded > 10);
  assert.ok(stats.video && stats.video.framesDecoded > 10, JSON.stringify(stats));
  const remote = await page.evaluate(() => window.selectedRemoteCandidate());
  assert.ok(remote.port >= 45000 && remote.port <= 45099, `the media port is in KMS_MIN_PORT..KMS_MAX_PORT: ${JSON.stringify(remote)}`);

  // PlayerEndpoint -> RecorderEndpoint, relative URIs under defaultPath (/var/lib/kurento).
  const client = await connect(server.url);
  defer(() => client.close());
  const pipeline = await client.create('MediaPipeline');
  const errors = await playInto(pipeline, { player: { uri: 'in.webm' }, recorder: { uri: 'out.webm', mediaProfile: 'WEBM' } })
    .catch(async (e) => assert.fail(`${e.message}; log:\n${(await run('podman', ['logs', server.name])).stderr.slice(-3000)}`));
  assert.deepEqual(errors, []);
  await pipeline.release();
  const out = path.join(volume, 'out.webm');
  assert.ok(fs.existsSync(out), 'the recording is in the volume on the host');
  const probed = probe(out);
  assert.deepEqual(probed.videoCodecs, ['VP8'], probed.text);
  assert.equal(probed.audio.length, 1, probed.text);
  assert.ok(probed.duration > 3, probed.text);
  decodeAll(out);

  const logs = await run('podman', ['logs', server.name]);
  assert.match(logs.stdout, /Kurento Protocol listening/, 'the log is on standard output');
  assert.doesNotMatch(logs.stdout + logs.stderr, /\x1b\[/, 'no colour codes in the container log');
  assert.equal((await run('podman', ['exec', server.name, 'id', '-u'])).stdout.trim(), '10001', 'an unprivileged user');

  // SIGTERM: the server stops at once and exits 0. (`podman wait` started
  // before the kill raced the removal of a --rm container: "no such container".)
  await client.close();
  const t0 = Date.now();
  assert.equal((await run('podman', ['kill', '--signal', 'TERM', server.name])).code, 0);
  const exit = await run('podman', ['wait', server.name]);
  assert.equal(exit.stdout.trim(), '0', `exit status after SIGTERM: ${JSON.stringify(exit)}`);
  assert.ok(Date.now() - t0 < 5000, `stopped in ${Date.now() - t0} ms`);
});

test('KMS_EXTERNAL_IPV4 and the port range reach the server; the health checker passes while it is up and fails when it is down', async (t) => {
  const defer = deferrer(t);
  const server = await start(defer, ['-e', 'KMS_EXTERNAL_IPV4=198.51.100.7', '-e', 'KMS_MIN_PORT=46000', '-e', 'KMS_MAX_PORT=46010', '-e', 'KMS_NETWORK_INTERFACES=lo']);
  const client = await connect(server.url);
  defer(() => client.close());
  const pipeline = await client.create('MediaPipeline');
  const endpoint = await pipeline.create('WebRtcEndpoint');
  const offer = await call(endpoint, 'generateOffer');
  const candidates = offer.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:'));
  assert.ok(candidates.length > 0, offer);
  for (const c of candidates) {
    const [, , , , address, port] = c.split(' ');
    assert.equal(address, '198.51.100.7', `the external address is announced: ${c}`);
    assert.ok(Number(port) >= 46000 && Number(port) <= 46010, `the port is in range: ${c}`);
  }
  await client.close();

  assert.equal((await run('podman', ['healthcheck', 'run', server.name])).code, 0, 'healthy while the server runs');
  await run('podman', ['stop', '--time', '5', server.name]);
  // The same check with no server behind the port: unhealthy.
  const down = await run('podman', ['run', '--rm', '--network', 'host', '--entrypoint', '/usr/local/bin/healthchecker.sh',
    '-e', `KMS_HEALTHCHECK_PORT=${server.port}`, image]);
  assert.equal(down.code, 1, `the health checker fails with the server down: ${JSON.stringify(down)}`);
});

test('KMS_EXTERNAL_IPV4=auto without a way to find the public address is dropped with a warning, as KMS\'s entrypoint does', async (t) => {
  const defer = deferrer(t);
  const server = await start(defer, ['-e', 'KMS_EXTERNAL_IPV4=auto', '-e', 'KMS_NETWORK_INTERFACES=lo']);
  const client = await connect(server.url);
  defer(() => client.close());
  const pipeline = await client.create('MediaPipeline');
  const offer = await call(await pipeline.create('WebRtcEndpoint'), 'generateOffer');
  const addresses = offer.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:')).map((l) => l.split(' ')[4]);
  assert.ok(addresses.length > 0 && addresses.every((a) => a === '127.0.0.1'), `the local address is announced: ${addresses}`);
  const logs = await run('podman', ['logs', server.name]);
  assert.match(logs.stdout, /KMS_EXTERNAL_IPV4=auto but the public IPv4 address could not be found/);
});
