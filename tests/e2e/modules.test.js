// Modules found on the modules path: a module that is only a kmd binding
// existing GStreamer elements (videobalance, videoanalyse), loaded from a
// temporary directory, served like the built-in ones and driven by the
// official client with a module client generated from the same kmd.
'use strict';
require('./lib/domain-shim');
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startServer, binaryPath } = require('./lib/server');
const { execFileSync } = require('node:child_process');
const { deferrer } = require('./lib/defer');
const { kurento, connect, call, once } = require('./lib/client');
const { playInto } = require('./lib/pipeline');
const { generateMedia, videoFrameRGB } = require('./lib/media');
const { RawClient } = require('./lib/raw');
const { clientModule } = require('./lib/module-client');

/** The test module: two classes over stock GStreamer elements, split in KMS's per-class kmd files. */
const MODULE = { name: 'balance', version: '1.0.0', kurentoVersion: '^7.0.0', code: { implementation: { elements: { Balance: 'videobalance', Analyse: 'videoanalyse' } } } };
const CLASSES = {
  remoteClasses: [
    {
      name: 'Balance',
      extends: 'Filter',
      constructor: { params: [{ name: 'mediaPipeline', type: 'MediaPipeline' }, { name: 'saturation', type: 'double', optional: true, defaultValue: 1.0 }] },
      properties: [{ name: 'saturation', type: 'double' }, { name: 'hue', type: 'double' }],
      methods: [{ name: 'reset', params: [] }],
    },
    {
      name: 'Analyse',
      extends: 'kurento.Filter',
      constructor: { params: [{ name: 'mediaPipeline', type: 'MediaPipeline' }] },
      properties: [{ name: 'interval', type: 'int64' }],
      events: ['GstVideoAnalyse'],
    },
    { name: 'Missing', extends: 'Filter', constructor: { params: [{ name: 'mediaPipeline', type: 'MediaPipeline' }] } },
  ],
  events: [{ name: 'GstVideoAnalyse', extends: 'Media', properties: [{ name: 'lumaAverage', type: 'double' }, { name: 'lumaVariance', type: 'double' }] }],
};

/** A modules directory: the balance module, plus a broken kmd and a module whose class clashes with a built-in one. */
function modulesDir(defer) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kms-modules-'));
  defer(() => fs.rmSync(root, { recursive: true, force: true }));
  const write = (rel, value) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  };
  write('balance/balance.kmd.json', MODULE);
  write('balance/balance.Balance.kmd.json', CLASSES);
  write('broken/broken.kmd.json', '{"name": "broken", "version": ');
  write('clash/clash.kmd.json', { name: 'clash', version: '1.0.0', remoteClasses: [{ name: 'WebRtcEndpoint', extends: 'MediaElement' }] });
  return root;
}

kurento.register(clientModule({ ...MODULE, ...CLASSES }));

test('a module from the modules path: listed, its kmd served, properties on the element, events from its bus messages, media processed; broken modules refused and the rest served', async (t) => {
  const defer = deferrer(t);
  const root = modulesDir(defer);
  const server = await startServer({ env: { KURENTO_MODULES_PATH: `/nonexistent:${root}` } });
  defer(() => server.stop());
  const logs = server.logs();
  assert.match(logs, /Loaded module: balance, version: 1\.0\.0/);
  assert.match(logs, /broken\.kmd\.json not loaded: .*does not parse/);
  assert.match(logs, /clash\.kmd\.json not loaded: its class WebRtcEndpoint is already declared by module elements/);
  const client = await connect(server.url);
  defer(() => client.close());
  const manager = await client.getServerManager();
  const info = await manager.getInfo();
  const balanceInfo = info.modules.find((m) => m.name === 'balance');
  assert.deepEqual(balanceInfo && balanceInfo.factories.sort(), ['Analyse', 'Balance', 'Missing']);
  assert.ok(!info.modules.some((m) => m.name === 'broken' || m.name === 'clash'));
  const kmd = JSON.parse(await manager.getKmd('balance'));
  assert.deepEqual(kmd.remoteClasses.map((c) => c.name), ['Balance', 'Analyse', 'Missing'], 'the class file joined its module');

  const pipeline = await client.create('MediaPipeline');
  // Constructor parameters checked from the kmd (the client checks them too:
  // sent raw); one naming an element property is set on it.
  const raw = await RawClient.open(server.url);
  defer(() => raw.close());
  const refused = await raw.request('create', { type: 'balance.Balance', constructorParams: { mediaPipeline: pipeline.id, saturation: 'grey' } });
  assert.equal(refused.error && refused.error.code, 40001, JSON.stringify(refused));
  const balance = await pipeline.create('balance.Balance', { saturation: 0.0 });
  const d = (await raw.request('describe', { object: balance.id })).result;
  assert.equal(d.qualifiedType, 'balance.Balance');
  assert.deepEqual(d.hierarchy, ['kurento.Filter', 'kurento.MediaElement', 'kurento.MediaObject']);
  assert.equal(await call(balance, 'getSaturation'), 0);
  await call(balance, 'setHue', 0.25);
  assert.equal(await call(balance, 'getHue'), 0.25, 'the element\'s property round-trips');
  await call(balance, 'setHue', 0);
  await assert.rejects(call(balance, 'setHue', 'red'), (e) => e.code === 40001);
  // videobalance has no action signal `reset`: the method says so.
  await assert.rejects(call(balance, 'reset'), (e) => e.code === 40006 && /no action signal/.test(e.message));
  await assert.rejects(pipeline.create('balance.Missing'), (e) => e.code === 40108 && /no GStreamer element for balance\.Missing/.test(e.message));

  const analyse = await pipeline.create('balance.Analyse');
  await call(analyse, 'setInterval', 200000000);
  assert.equal(await call(analyse, 'getInterval'), 200000000);
  const events = [];
  analyse.on('GstVideoAnalyse', (e) => events.push(e));
  const media = generateMedia();
  defer(() => media.remove());
  const errors = await playInto(pipeline, {
    player: { uri: `file://${media.file('in.webm')}` },
    middle: [balance, analyse],
    recorder: { uri: `file://${media.file('grey.webm')}`, mediaProfile: 'WEBM' },
  });
  assert.deepEqual(errors, []);
  // The picture: SMPTE bars in, grey out (saturation 0).
  const [input, output] = [videoFrameRGB(media.file('in.webm')), videoFrameRGB(media.file('grey.webm'))];
  const colour = (rgb) => { let sum = 0; for (let k = 0; k < rgb.length; k += 3) sum += Math.max(rgb[k], rgb[k + 1], rgb[k + 2]) - Math.min(rgb[k], rgb[k + 1], rgb[k + 2]); return sum / (rgb.length / 3); };
  assert.ok(colour(input) > 60, `the input has colour: ${colour(input)}`);
  assert.ok(colour(output) < 8, `the output is grey: ${colour(output)}`);
  // The events: videoanalyse's messages every 0.2 s of the 5 s clip, with its fields in camelCase.
  assert.ok(events.length >= 10, `GstVideoAnalyse raised: ${events.length}`);
  assert.ok(events.every((e) => e.lumaAverage > 0 && e.lumaAverage < 1 && e.source === analyse.id), JSON.stringify(events[0]));
});

test('kurento-media-server module new: the scaffold builds, loads from the modules path and works from the official client (property, action signal, bus event, pixels)', async (t) => {
  const defer = deferrer(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kms-scaffold-'));
  defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  execFileSync(binaryPath(), ['module', 'new', 'invert-colors', dir], { stdio: 'pipe' });
  const root = path.join(dir, 'invertcolors');
  // Its own test builds the element with make and checks it in bare GStreamer.
  assert.match(execFileSync(path.join(root, 'test.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), /invertcolors: ok/);
  const kmd = JSON.parse(fs.readFileSync(path.join(root, 'invertcolors.kmd.json'), 'utf8'));
  kurento.register(clientModule(kmd));

  // (The client checks that every module it registered is on the server: the balance one too.)
  const server = await startServer({ args: ['--modules-path', `${modulesDir(defer)}:${root}`] });
  defer(() => server.stop());
  assert.match(server.logs(), /Loaded module: invertcolors/);
  const client = await connect(server.url);
  defer(() => client.close());
  const pipeline = await client.create('MediaPipeline');
  const invert = await pipeline.create('invertcolors.InvertColors');
  assert.equal(await call(invert, 'getInvert'), true);
  await call(invert, 'setInvert', false);
  assert.equal(await call(invert, 'getInvert'), false, 'the property round-trips through the element');
  await call(invert, 'setInvert', true);
  assert.equal(await call(invert, 'frames'), 0, 'the action signal answers the method');
  const events = [];
  invert.on('InvertColorsFrames', (e) => events.push(e.frames));
  const media = generateMedia();
  defer(() => media.remove());
  const errors = await playInto(pipeline, {
    player: { uri: `file://${media.file('in.webm')}` },
    middle: [invert],
    recorder: { uri: `file://${media.file('inverted.webm')}`, mediaProfile: 'WEBM' },
  });
  assert.deepEqual(errors, []);
  const frames = await call(invert, 'frames');
  assert.ok(frames >= 140, `frames processed: ${frames}`);
  assert.ok(events.length >= 4 && events.every((n) => n % 30 === 0), `an event every 30 frames: ${events}`);
  // The picture: each channel of the output is 255 minus the input's.
  const [input, output] = [videoFrameRGB(media.file('in.webm')), videoFrameRGB(media.file('inverted.webm'))];
  let difference = 0;
  for (let k = 0; k < input.length; k++) difference += Math.abs(255 - input[k] - output[k]);
  assert.ok(difference / input.length < 12, `the output is the input inverted (mean difference ${difference / input.length})`);
});
