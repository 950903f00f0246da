// The official kurento-client, and helpers around its callback API.
'use strict';
const kurento = require('kurento-client');

/** Connects like the tutorials do (callback form, which checks the modules). */
function connect(url, options = { request_timeout: 5000 }) {
  return new Promise((resolve, reject) => {
    kurento(url, options, (error, client) => {
      if (error) return reject(error);
      // close() returns before the WebSocket has closed; a server stopped in
      // that window makes the client try to reconnect after the test. Tests
      // await close(), which leaves the closing handshake time to finish.
      const close = client.close.bind(client);
      client.close = () => { close(); return new Promise((r) => setTimeout(r, 250)); };
      return resolve(client);
    });
  });
}

/**
 * Calls `object[method](...args, callback)` and returns a promise. The client's
 * generated promise form swallows errors of some methods (it resolves with
 * undefined after console.trace), so error cases use the callback form.
 */
function call(object, method, ...args) {
  return new Promise((resolve, reject) => {
    object[method](...args, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

/** Resolves with the first `event` emitted by `object`, or rejects after `ms`. */
function once(object, event, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    object.once(event, (data) => { clearTimeout(timer); resolve(data); });
  });
}

module.exports = { kurento, connect, call, once };
