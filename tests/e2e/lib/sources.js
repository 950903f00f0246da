// Network sources for PlayerEndpoint tests, on 127.0.0.1 only: a GStreamer
// RTSP server (Debian's /usr/bin/python3 with gst-rtsp-server) and a plain HTTP file server.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { freePort } = require('./server');

/** Serves `file`'s H.264 at rtsp://127.0.0.1:PORT/test; resolves { url, stop() }. */
async function startRtspServer(file) {
  const port = await freePort();
  const child = spawn('/usr/bin/python3', [path.join(__dirname, 'rtsp_server.py'), String(port), file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`RTSP server did not start: ${output}`)), 10000);
    child.stdout.on('data', (d) => { output += d; if (output.includes('ready')) { clearTimeout(timer); resolve(); } });
    child.stderr.on('data', (d) => { output += d; });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`RTSP server exited ${code}: ${output}`)); });
  });
  return { url: `rtsp://127.0.0.1:${port}/test`, stop: () => child.kill('SIGKILL') };
}

/** Serves the files of `dir` over HTTP on 127.0.0.1; resolves { url(name), close() }. */
async function startHttpServer(dir) {
  const server = http.createServer((req, res) => {
    const file = path.join(dir, path.basename(decodeURIComponent(req.url)));
    if (!fs.existsSync(file)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': 'video/webm', 'content-length': fs.statSync(file).size });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return { url: (name) => `http://127.0.0.1:${port}/${name}`, close: () => new Promise((r) => server.close(r)) };
}

/**
 * Accepts uploads (any method) on 127.0.0.1 and writes each body to `dir`
 * under the request's file name. Resolves { url(name), received(name), close() };
 * `received` resolves { method, headers } once that upload has ended.
 */
async function startUploadServer(dir) {
  const done = new Map();
  const waiters = new Map();
  const server = http.createServer((req, res) => {
    const name = path.basename(decodeURIComponent(req.url));
    const out = fs.createWriteStream(path.join(dir, name));
    req.pipe(out);
    out.on('finish', () => {
      res.writeHead(201);
      res.end();
      const request = { method: req.method, headers: req.headers };
      done.set(name, request);
      (waiters.get(name) || []).forEach((w) => w(request));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    received: (name) => done.has(name) ? Promise.resolve(done.get(name)) : new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no complete upload of ${name}`)), 10000);
      waiters.set(name, [...(waiters.get(name) || []), (r) => { clearTimeout(timer); resolve(r); }]);
    }),
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

module.exports = { startRtspServer, startHttpServer, startUploadServer };
