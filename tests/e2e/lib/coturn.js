// Starts Debian's coturn on 127.0.0.1 for one test: long-term credentials
// kurento/kurento, relay addresses on 127.0.0.2 (loopback peers allowed).
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./server');

const RELAY_IP = '127.0.0.2';

/** Returns { url: 'ip:port', relayIp, stop(), logs() } once coturn listens. */
async function startCoturn() {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coturn-'));
  const args = [
    '-n', '--listening-ip=127.0.0.1', `--relay-ip=${RELAY_IP}`, `--listening-port=${port}`,
    '--lt-cred-mech', '--user=kurento:kurento', '--realm=kurento.test', '--allow-loopback-peers',
    '--no-cli', '--no-tls', '--no-dtls', '--no-tcp-relay', '--min-port=49160', '--max-port=49400',
    '--log-file=stdout', '--simple-log', `--pidfile=${dir}/turnserver.pid`, `--userdb=${dir}/turndb`,
  ];
  const child = spawn(process.env.TURNSERVER || 'turnserver', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coturn did not start:\n${output}`)), 10000);
    const onData = (d) => {
      output += d;
      if (output.includes('Total General servers')) { clearTimeout(timer); resolve(); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`coturn exited with ${code}:\n${output}`)); });
  });
  await ready;
  return {
    url: `127.0.0.1:${port}`,
    relayIp: RELAY_IP,
    logs: () => output,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => { fs.rmSync(dir, { recursive: true, force: true }); resolve(); });
      child.kill('SIGTERM');
    }),
  };
}

module.exports = { startCoturn };
