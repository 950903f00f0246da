// Operations: KMS's command line (GStreamer's options, unknown arguments),
// logs without colour codes off a terminal and rotated by size, Prometheus
// metrics that follow a session's media, liveness and readiness.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { connect, call } = require('./lib/client');
const { RawClient } = require('./lib/raw');
const { pollUntil } = require('./lib/poll');
const { senderOffer, startSender } = require('./lib/rtp_peer');
const { samples, sum } = require('./lib/metrics');

/** GET `path` on the server's Kurento port: { status, text }. */
async function get(server, url) {
  const res = await fetch(`http://127.0.0.1:${server.port}${url}`);
  return { status: res.status, text: await res.text() };
}

test('KMS\'s command line: GStreamer options applied, an unknown argument warned about, no colour codes in piped logs', async (t) => {
  const defer = deferrer(t);
  const server = await startServer({ args: ['--gst-debug-level', '1', '--gst-debug=GST_ELEMENT_FACTORY:5', '--gst-debug-no-color', '--gst-plugin-path=/nonexistent', '--frobnicate'], env: { RUST_LOG: 'info' } });
  defer(() => server.stop());
  const client = await connect(server.url);
  defer(() => client.close());
  const pipeline = await client.create('MediaPipeline');
  // Building an RtpEndpoint's session creates GStreamer elements: the raised category logs them.
  const rtp = await pipeline.create('RtpEndpoint');
  await call(rtp, 'processOffer', senderOffer({ audio: 45060, video: 45062 }));
  const logs = server.logs();
  assert.match(logs, /GST_ELEMENT_FACTORY .*rtpbin/, '--gst-debug raised that category');
  assert.doesNotMatch(logs, /GST_PADS /, 'other categories stay at --gst-debug-level 1');
  assert.match(logs, /unknown argument "--frobnicate" ignored/);
  assert.doesNotMatch(logs, /\x1b\[/, 'no ANSI colour codes when stderr is not a terminal (GStreamer\'s included)');
});

test('/metrics follow a session: pipelines, elements, endpoint states and RTP counters rise with media and fall when released; liveness and readiness', async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  assert.deepEqual(await get(server, '/health/live'), { status: 200, text: 'alive\n' });
  assert.deepEqual(await get(server, '/health/ready'), { status: 200, text: 'ready\n' });
  const idle = samples((await get(server, '/metrics')).text);
  assert.equal(idle.kms_pipelines, 0);
  assert.equal(idle.kms_sessions, 0);
  assert.ok(idle.process_resident_memory_bytes > 1e6 && idle.process_threads >= 2 && idle.process_open_fds > 3, JSON.stringify(idle));

  const client = await connect(server.url);
  defer(() => client.close());
  const pipeline = await client.create('MediaPipeline');
  const rtp = await pipeline.create('RtpEndpoint');
  await pipeline.create('WebRtcEndpoint');
  const answer = await call(rtp, 'processOffer', senderOffer({ audio: 45050, video: 45052 }));
  const sender = startSender(answer);
  defer(() => sender.stop());
  const busy = await pollUntil(async () => samples((await get(server, '/metrics')).text),
    (m) => m['kms_rtp_packets{direction="in",media="video"}'] > 50, { tries: 30 });
  assert.equal(busy.kms_sessions, 1);
  assert.equal(busy.kms_pipelines, 1);
  assert.equal(busy['kms_objects{type="RtpEndpoint"}'], 1);
  assert.equal(busy['kms_objects{type="WebRtcEndpoint"}'], 1);
  // The WebRtcEndpoint was never negotiated: DTLS NEW, whatever ICE says.
  const states = Object.entries(busy).filter(([k]) => k.startsWith('kms_webrtc_endpoints{'));
  assert.equal(states.length, 1, JSON.stringify(states));
  assert.match(states[0][0], /^kms_webrtc_endpoints\{ice_state="[A-Z]+",dtls_state="NEW"\}$/);
  assert.equal(states[0][1], 1);
  assert.ok(busy['kms_rtp_packets{direction="in",media="video"}'] > 50 && busy['kms_rtp_bytes{direction="in",media="audio"}'] > 1000, JSON.stringify(busy));
  assert.ok(sum(busy, 'kms_media_worker_wakeups_total') > sum(idle, 'kms_media_worker_wakeups_total'));
  const ratios = Object.entries(busy).filter(([k]) => k.startsWith('kms_media_worker_busy_ratio{worker="'));
  assert.ok(ratios.length >= 1 && ratios.every(([, r]) => r >= 0 && r <= 1), JSON.stringify(ratios));
  assert.equal(sum(busy, 'kms_media_worker_pipelines'), 1, 'the pipeline is on one worker');
  await new Promise((r) => setTimeout(r, 1000));
  const later = samples((await get(server, '/metrics')).text);
  assert.ok(later['kms_rtp_packets{direction="in",media="video"}'] > busy['kms_rtp_packets{direction="in",media="video"}'], 'the counters move with the media');

  await pipeline.release();
  const after = samples((await get(server, '/metrics')).text);
  assert.equal(after.kms_pipelines, 0);
  assert.equal(after['kms_objects{type="RtpEndpoint"}'], undefined);
  assert.equal(after['kms_rtp_packets{direction="in",media="video"}'], undefined, 'no live endpoint, no RTP figures');
});

test('JSON log lines, GST_DEBUG category levels as tracing targets', async (t) => {
  const defer = deferrer(t);
  // Warnings by default, the server's own target at info: its start-up line shows, no other info line.
  const server = await startServer({ args: ['--log-format', 'json'], env: { RUST_LOG: '', GST_DEBUG: '2,kurento_media_server:4' } });
  defer(() => server.stop());
  const client = await connect(server.url);
  defer(() => client.close());
  await client.create('MediaPipeline');
  const lines = server.logs().split('\n').filter((l) => l.trim());
  const records = lines.map((l) => JSON.parse(l));
  assert.ok(records.every((r) => r.level && r.target && r.fields), lines.slice(0, 3).join('\n'));
  assert.ok(records.some((r) => r.level === 'INFO' && /Kurento Protocol listening/.test(r.fields.message)), lines.join('\n'));
  assert.ok(records.every((r) => r.level !== 'INFO' || r.target.startsWith('kurento_media_server')), 'info only from the raised target');
});

test('metrics on an address of their own; draining after SIGTERM makes readiness fail while the server still answers', async (t) => {
  const defer = deferrer(t);
  const { freePort } = require('./lib/server');
  const metricsPort = await freePort();
  const server = await startServer({ env: { KMS_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`, KMS_DRAIN_PERIOD: '3' } });
  defer(() => server.stop());
  const at = (port, url) => fetch(`http://127.0.0.1:${port}${url}`).then(async (r) => ({ status: r.status, text: await r.text() }));
  assert.equal((await at(metricsPort, '/metrics')).status, 200);
  assert.match((await at(metricsPort, '/metrics')).text, /^kms_sessions 0$/m);
  assert.equal((await at(server.port, '/metrics')).status, 404, 'not on the Kurento port any more');
  assert.equal((await at(metricsPort, '/health/ready')).status, 200);
  const exited = new Promise((r) => server.child.once('exit', r));
  server.child.kill('SIGTERM');
  const ready = await pollUntil(() => at(metricsPort, '/health/ready'), (r) => r.status === 503, { tries: 20, ms: 100 });
  assert.deepEqual(ready, { status: 503, text: 'draining: the server is stopping\n' });
  assert.equal((await at(metricsPort, '/health/live')).status, 200, 'alive while draining');
  const raw = await RawClient.open(server.url);
  assert.equal((await raw.request('ping', {})).result.value, 'pong', 'the Kurento port still serves while draining');
  raw.close();
  const started = Date.now();
  await exited;
  assert.ok(Date.now() - started < 6000, 'stops after the drain period');
});

test('--logs-path with --log-file-size 1 and --number-log-files 2: the log rotates at 1 MiB and keeps two old files', async (t) => {
  const defer = deferrer(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kms-logs-'));
  defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  const server = await startServer({ args: ['--logs-path', dir, '--log-file-size', '1', '--number-log-files', '2'], env: { RUST_LOG: 'trace' } });
  defer(() => server.stop());
  const raw = await RawClient.open(server.url);
  defer(() => raw.close());
  // Trace-level logging of requests fills a MiB quickly; bounded to 20,000 pings.
  for (let i = 0; i < 20000 && !fs.existsSync(path.join(dir, 'media-server.log.2')); i++) {
    await raw.request('ping', { interval: 240000 });
  }
  const files = fs.readdirSync(dir).sort();
  assert.deepEqual(files, ['media-server.log', 'media-server.log.1', 'media-server.log.2']);
  for (const f of files.slice(1)) {
    const size = fs.statSync(path.join(dir, f)).size;
    assert.ok(size >= 1 << 20 && size < (1 << 20) + 64 * 1024, `${f}: ${size} bytes`);
  }
  assert.doesNotMatch(fs.readFileSync(path.join(dir, 'media-server.log.1'), 'utf8').slice(0, 100000), /\x1b\[/);
});
