// Generated media, a server, a client and a pipeline, released after the test.
'use strict';
const { startServer } = require('./server');
const { deferrer } = require('./defer');
const { connect } = require('./client');
const { generateMedia } = require('./media');

/** Resolves with { media, server, client, pipeline }; all released when the test ends. */
async function withPipeline(t) {
  const defer = deferrer(t);
  const media = generateMedia();
  defer(() => media.remove());
  const server = await startServer();
  defer(() => server.stop());
  const client = await connect(server.url);
  defer(() => client.close());
  return { media, server, client, pipeline: await client.create('MediaPipeline') };
}

module.exports = { withPipeline };
