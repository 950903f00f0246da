// A bare JSON-RPC WebSocket client, for requests the official client never sends.
'use strict';
const WebSocket = require('ws');

/** The pending key of a sendNext: the next reply, whatever its id. */
const NEXT = Symbol('next reply');

class RawClient {
  static open(url, options = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, options);
      ws.once('open', () => resolve(new RawClient(ws)));
      ws.once('error', reject);
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.nextId = 0;
    this.pending = new Map();
    this.unmatched = [];
    this.events = [];
    /** How long a request waits for its reply. */
    this.timeoutMs = 5000;
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      if (msg.method === 'onEvent') return this.events.push(msg.params.value);
      const waiter = this.pending.get(JSON.stringify(msg.id)) || this.pending.get(NEXT);
      if (waiter) {
        this.pending.delete(NEXT);
        this.pending.delete(JSON.stringify(msg.id));
        waiter(msg);
      } else {
        this.unmatched.push(msg);
      }
    });
  }

  /** Sends one request and resolves with the whole response message. */
  request(method, params, id = this.nextId++) {
    const msg = { jsonrpc: '2.0', id, method };
    if (params !== undefined) msg.params = params;
    return this.send(JSON.stringify(msg), id);
  }

  /** Sends raw text; resolves with the reply matching `id` (null for errors without id). */
  send(text, id = null) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${text.slice(0, 80)}`)), this.timeoutMs);
      this.pending.set(JSON.stringify(id), (m) => { clearTimeout(timer); resolve(m); });
      this.ws.send(text);
    });
  }

  /** Sends raw text; resolves with the next reply, whatever its id (one at a time). */
  sendNext(text) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${text.slice(0, 80)}`)), this.timeoutMs);
      this.pending.set(NEXT, (m) => { clearTimeout(timer); resolve(m); });
      this.ws.send(text);
    });
  }

  close() {
    this.ws.close();
  }
}

/** Opens `n` WebSocket connections to `url` that then stay idle; terminated when the test ends (`defer`). */
async function openIdleConnections(url, n, defer) {
  const idle = [];
  defer(() => idle.forEach((ws) => ws.terminate()));
  for (let i = 0; i < n; i++) {
    const ws = new WebSocket(url);
    idle.push(ws);
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  }
  return idle;
}

module.exports = { RawClient, openIdleConnections };
