// Starts the real kurento-media-server binary for one test file and stops it.
'use strict';
const { spawn } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');

const repo = path.resolve(__dirname, '..', '..', '..');

/** Path of the binary: $KMS_BIN, else the debug build in $CARGO_TARGET_DIR
 *  (scripts/env.sh's default is ~/.cache/kms-target), else ./target. */
function binaryPath() {
  if (process.env.KMS_BIN) return process.env.KMS_BIN;
  const targets = [process.env.CARGO_TARGET_DIR, path.join(os.homedir(), '.cache', 'kms-target'), path.join(repo, 'target')];
  const found = targets.filter(Boolean).map((t) => path.join(t, 'debug', 'kurento-media-server')).find((p) => fs.existsSync(p));
  if (!found) throw new Error('kurento-media-server is not built: run cargo build first');
  return found;
}

/** A free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, child, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not listen on ${port} within ${timeoutMs} ms`);
}

/**
 * Starts the server on 127.0.0.1 with media on the loopback interface.
 * `confJson` (optional) is written as kurento.conf.json; `modules` maps module
 * config file names (e.g. 'UriEndpoint.conf.ini') to their text; `env` adds variables;
 * `args` are appended to the command line.
 * Returns { url, port, child, stop(), logs() }.
 */
async function startServer({ confJson, modules = {}, env = {}, args: extraArgs = [] } = {}) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kms-e2e-'));
  const confFile = path.join(dir, 'kurento.conf.json');
  if (confJson) fs.writeFileSync(confFile, JSON.stringify(confJson));
  const modulesDir = path.join(dir, 'modules', 'kurento');
  fs.mkdirSync(modulesDir, { recursive: true });
  for (const [name, text] of Object.entries(modules)) fs.writeFileSync(path.join(modulesDir, name), text);
  const args = ['-f', confFile, '--address', '127.0.0.1', '--port', String(port), ...extraArgs];
  let output = '';
  const child = spawn(binaryPath(), args, {
    env: { ...process.env, KMS_NETWORK_INTERFACES: 'lo', KMS_MIN_PORT: '40000', KMS_MAX_PORT: '40999', RUST_LOG: process.env.RUST_LOG || 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  await waitForPort(port, child);
  return {
    port,
    url: `ws://127.0.0.1:${port}/kurento`,
    child,
    logs: () => output,
    /** Threads and resident memory (KiB) of the server process, from /proc. */
    usage() {
      const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return { threads: Number(/Threads:\s+(\d+)/.exec(status)[1]), rssKiB: Number(/VmRSS:\s+(\d+)/.exec(status)[1]) };
    },
    async stop() {
      // KMS_E2E_LOG_DIR keeps every server's whole log (<port>.log) for a look after the run.
      if (process.env.KMS_E2E_LOG_DIR) fs.writeFileSync(path.join(process.env.KMS_E2E_LOG_DIR, `${port}.log`), output);
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { startServer, freePort, binaryPath };
