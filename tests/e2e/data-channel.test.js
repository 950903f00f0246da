// The WebRTC data channel tutorial: a WebRtcEndpoint created with
// useDataChannels, looped back to itself; the browser's text messages come
// back on its own channel, and the server reports the channel.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('./lib/server');
const { deferrer } = require('./lib/defer');
const { openPage } = require('./lib/browser');
const { pollUntil } = require('./lib/poll');

test('data channels: browser text messages loop back through the endpoint', async (t) => {
  const defer = deferrer(t);
  const server = await startServer();
  defer(() => server.stop());
  const page = await openPage(defer, server, 'hello-world.html', { datachannel: '1' });

  const open = await pollUntil(() => page.evaluate(() => window.channelOpen), (o) => o === true);
  assert.ok(open, `the browser's channel opens\n${server.logs()}`);
  const events = await pollUntil(() => page.evaluate(() => window.appEvents), (ev) => ev.some((e) => e.type === 'DataChannelOpened'));
  const opened = events.find((e) => e.type === 'DataChannelOpened');
  assert.ok(opened && Number.isInteger(opened.channelId), JSON.stringify(events));

  for (const text of ['hello', 'kurento', 'ünïcødé']) {
    await page.evaluate((t) => window.sendText(t), text);
  }
  const messages = await pollUntil(() => page.evaluate(() => window.channelMessages), (m) => m.length >= 3);
  assert.deepEqual(messages, ['hello', 'kurento', 'ünïcødé']);

  const stats = Object.values(await page.evaluate(() => window.serverStats('DATA')));
  const channel = stats.find((s) => s.type === 'datachannel');
  assert.ok(channel && channel.label === 'chat' && channel.state === 'open', JSON.stringify(stats));
  assert.equal(channel.datachannelid, opened.channelId);
  assert.equal(channel.messagesReceived, 3);
  assert.equal(channel.messagesSent, 3);
  assert.ok(!stats.some((s) => s.type === 'inboundrtp'), 'filtered to DATA');
  assert.equal(stats.find((s) => s.type === 'session').dataChannelsOpened, 1);
  assert.deepEqual(await page.evaluate(() => window.appErrors), []);
  await page.evaluate(() => window.stop());
});
