// Serves the test pages and the browserify bundle of kurento-client and
// kurento-utils on 127.0.0.1 (a secure context, so getUserMedia works).
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const browserify = require('browserify');

const root = path.resolve(__dirname, '..');
const bundlePath = path.join(root, 'bundle', 'kurento.js');

const entryPath = path.join(__dirname, 'bundle-entry.js');

/** Builds bundle/kurento.js once, and again when its entry changed (browserify brings the Node core shims). */
async function ensureBundle() {
  if (fs.existsSync(bundlePath) && fs.statSync(bundlePath).mtimeMs >= fs.statSync(entryPath).mtimeMs) return bundlePath;
  fs.mkdirSync(path.dirname(bundlePath), { recursive: true });
  const code = await new Promise((resolve, reject) => {
    browserify(entryPath).bundle((err, buf) => (err ? reject(err) : resolve(buf)));
  });
  fs.writeFileSync(`${bundlePath}.tmp`, code);
  fs.renameSync(`${bundlePath}.tmp`, bundlePath);
  return bundlePath;
}

const types = { '.html': 'text/html', '.js': 'text/javascript' };

/** Starts a static server for page/ and bundle/; resolves with { origin, close }. */
async function servePages() {
  await ensureBundle();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const file = path.normalize(path.join(root, url.pathname));
    const allowed = [path.join(root, 'page'), path.join(root, 'bundle')].some((d) => file.startsWith(d + path.sep));
    if (!allowed || !fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

module.exports = { servePages, ensureBundle };
