// Generated media, a server, a client and a pipeline, released after the test.
'use strict';
const { startServer } = require('./server');
const { deferrer } = require('./defer');
const { connect, call, once } = require('./client');
const { generateMedia } = require('./media');

/**
 * Resolves with { media, server, client, pipeline }; all released when the
 * test ends. `serverOptions` go to startServer (config files, variables).
 */
async function withPipeline(t, serverOptions = {}) {
  const defer = deferrer(t);
  const media = generateMedia();
  defer(() => media.remove());
  const server = await startServer(serverOptions);
  defer(() => server.stop());
  const client = await connect(server.url);
  defer(() => client.close());
  return { media, server, client, pipeline: await client.create('MediaPipeline') };
}

/**
 * Plays a PlayerEndpoint (`player`: its constructor parameters) through the
 * elements of `middle` (already made, chained in order) into a
 * RecorderEndpoint (`recorder`: its constructor parameters) to the end of
 * the stream, and closes the file. `before(player)` runs first. Resolves
 * with the Error events the player and the middle elements raised.
 */
async function playInto(pipeline, { player: playerParams, middle = [], recorder: recorderParams, before = async () => {} }) {
  const player = await pipeline.create('PlayerEndpoint', playerParams);
  const recorder = await pipeline.create('RecorderEndpoint', recorderParams);
  const errors = [];
  let upstream = player;
  for (const element of [player, ...middle]) element.on('Error', (e) => errors.push(e));
  await before(player);
  for (const element of middle) {
    await call(upstream, 'connect', element);
    upstream = element;
  }
  await call(upstream, 'connect', recorder);
  await call(recorder, 'record');
  const eos = once(player, 'EndOfStream', 30000);
  await call(player, 'play');
  await eos;
  await call(recorder, 'stopAndWait');
  return errors;
}

module.exports = { withPipeline, playInto };
