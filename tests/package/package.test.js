// The Debian package (scripts/package.sh) as an operator uses it: installed
// with dpkg on a Debian 12 system whose init is systemd (a podman container
// booted with /sbin/init, since the test machine itself has no systemd), the
// service enabled and started by the package, running as `kurento`, driven
// with the official client, reconfigured through /etc/default, stopped and
// purged. scripts/package-test.sh builds the package and the system image
// and runs this file in a network namespace of its own (only loopback).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const lib = path.join(__dirname, '..', 'e2e', 'lib');
const { deferrer } = require(path.join(lib, 'defer'));
const { connect, call } = require(path.join(lib, 'client'));
const { playInto } = require(path.join(lib, 'pipeline'));
const { generateMedia, probe, decodeAll } = require(path.join(lib, 'media'));
const { pollUntil } = require(path.join(lib, 'poll'));
const { runCommand } = require(path.join(lib, 'command'));

const root = path.join(__dirname, '..', '..');
const deb = process.env.KMS_DEB;
const image = process.env.KMS_PACKAGE_IMAGE || 'localhost/kms-package-test:latest';
const env = { ...process.env, CONTAINERS_CONF: path.join(root, 'container', 'containers.conf') };
const run = (cmd, args) => runCommand(cmd, args, { env });

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
const listening = (port) => new Promise((resolve) => {
  const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
  socket.once('error', () => resolve(false));
});

/** Connects the official client to `port` once the service listens there
 *  (the client itself must not meet a refused connection: it raises it
 *  outside the promise). */
async function connectWhenUp(port) {
  const up = await pollUntil(() => listening(port), (ok) => ok, { tries: 80, ms: 250 });
  assert.ok(up, `the service listens on ${port}`);
  return connect(`ws://127.0.0.1:${port}/kurento`);
}

test('the package installs, its systemd service runs as kurento and serves the official client, /etc/default applies, stop is clean, purge removes it', { skip: !deb && 'KMS_DEB is not set: run scripts/package-test.sh' }, async (t) => {
  const defer = deferrer(t);
  const name = `kms-package-${process.pid}`;
  const inside = (...args) => run('podman', ['exec', name, ...args]);
  const started = await run('podman', ['run', '--detach', '--systemd=always', '--network', 'host', '--name', name,
    '-v', `${path.dirname(deb)}:/pkg:ro`, image, '/sbin/init']);
  defer(() => run('podman', ['rm', '--force', '--time', '2', name]));
  assert.equal(started.code, 0, started.stderr);
  const booted = await pollUntil(() => inside('systemctl', 'is-system-running'), (r) => /^(running|degraded)/.test(r.stdout));
  assert.match(booted.stdout, /^(running|degraded)/, `systemd booted: ${JSON.stringify(booted)}`);
  const journal = async () => (await inside('journalctl', '--no-pager', '-u', 'kurento-media-server')).stdout.slice(-3000);

  // Install: the postinst makes the user and enables and starts the service.
  const installed = await inside('dpkg', '-i', `/pkg/${path.basename(deb)}`);
  assert.equal(installed.code, 0, `dpkg -i: ${installed.stdout}\n${installed.stderr}`);
  assert.equal((await inside('systemctl', 'is-enabled', 'kurento-media-server')).stdout.trim(), 'enabled');
  const active = await pollUntil(() => inside('systemctl', 'is-active', 'kurento-media-server'), (r) => r.stdout.trim() === 'active', { tries: 40, ms: 250 });
  assert.equal(active.stdout.trim(), 'active', await journal());
  for (const file of ['/usr/bin/kurento-media-server', '/etc/kurento/kurento.conf.json', '/etc/kurento/modules/kurento/WebRtcEndpoint.conf.ini', '/etc/default/kurento-media-server']) {
    assert.equal((await inside('test', '-f', file)).code, 0, `${file} is installed`);
  }

  // KMS's defaults: port 8888 from /etc/kurento/kurento.conf.json, the kurento user.
  let client = await connectWhenUp(8888);
  defer(() => client.close());
  const pid = (await inside('systemctl', 'show', '--property', 'MainPID', '--value', 'kurento-media-server')).stdout.trim();
  assert.equal((await inside('stat', '-c', '%U', `/proc/${pid}`)).stdout.trim(), 'kurento', 'the service runs as the unprivileged kurento user');
  const cmdline = (await inside('cat', `/proc/${pid}/cmdline`)).stdout.split('\0');
  assert.equal(cmdline[0], '/usr/bin/kurento-media-server', `the main process is the server itself: ${cmdline}`);

  // A player into a recorder by relative URIs: /var/lib/kurento, the kurento user's home.
  const media = generateMedia();
  defer(() => media.remove());
  assert.equal((await run('podman', ['cp', media.file('in.webm'), `${name}:/var/lib/kurento/in.webm`])).code, 0);
  await inside('chown', 'kurento:kurento', '/var/lib/kurento/in.webm');
  const pipeline = await client.create('MediaPipeline');
  const errors = await playInto(pipeline, { player: { uri: 'in.webm' }, recorder: { uri: 'out.webm', mediaProfile: 'WEBM' } })
    .catch(async (e) => assert.fail(`${e.message}; journal:\n${await journal()}`));
  assert.deepEqual(errors, []);
  await pipeline.release();
  const out = path.join(media.dir, 'out.webm');
  assert.equal((await run('podman', ['cp', `${name}:/var/lib/kurento/out.webm`, out])).code, 0, 'the recording is in /var/lib/kurento');
  assert.equal((await inside('stat', '-c', '%U', '/var/lib/kurento/out.webm')).stdout.trim(), 'kurento');
  const probed = probe(out);
  assert.deepEqual(probed.videoCodecs, ['VP8'], probed.text);
  assert.equal(probed.audio.length, 1, probed.text);
  decodeAll(out);
  await client.close();

  // Logs: in the journal and, as KURENTO_LOGS_PATH in /etc/default says, in files, without colour codes.
  assert.match(await journal(), /Kurento Protocol listening/);
  const files = await inside('sh', '-c', 'cat /var/log/kurento-media-server/*');
  assert.match(files.stdout, /Kurento Protocol listening/, `log files: ${files.stderr}`);
  assert.doesNotMatch(files.stdout, /\x1b\[/, 'no colour codes in the log files');

  // /etc/default applies on restart: DAEMON_ARGS moves the port.
  const edited = await inside('sh', '-c', `sed -i 's/^DAEMON_ARGS=.*/DAEMON_ARGS="--port 8890"/' /etc/default/kurento-media-server && systemctl restart kurento-media-server`);
  assert.equal(edited.code, 0, edited.stderr);
  client = await connectWhenUp(8890);
  assert.ok(await client.getServerManager(), 'the server answers on the port DAEMON_ARGS gave');
  await client.close();

  // Stop: SIGTERM, a clean exit, the service inactive.
  assert.equal((await inside('systemctl', 'stop', 'kurento-media-server')).code, 0);
  assert.equal((await inside('systemctl', 'is-active', 'kurento-media-server')).stdout.trim(), 'inactive');
  const result = (await inside('systemctl', 'show', '--property', 'Result', '--property', 'ExecMainStatus', 'kurento-media-server')).stdout;
  assert.match(result, /Result=success/, result);
  assert.match(result, /ExecMainStatus=0/, result);

  // Purge: the program, its configuration, its unit and its logs are gone;
  // the kurento user and its recordings stay (Debian's rule for system users).
  const purged = await inside('dpkg', '--purge', 'kurento-media-server');
  assert.equal(purged.code, 0, `dpkg --purge: ${purged.stdout}\n${purged.stderr}`);
  for (const file of ['/usr/bin/kurento-media-server', '/etc/kurento', '/etc/default/kurento-media-server', '/usr/lib/systemd/system/kurento-media-server.service', '/var/log/kurento-media-server']) {
    assert.notEqual((await inside('test', '-e', file)).code, 0, `${file} is gone`);
  }
  assert.notEqual((await inside('systemctl', 'cat', 'kurento-media-server')).code, 0, 'the unit is gone');
  assert.equal((await inside('id', '-u', 'kurento')).code, 0, 'the kurento user stays');
  assert.equal((await inside('test', '-f', '/var/lib/kurento/out.webm')).code, 0, 'the recordings stay');
});
