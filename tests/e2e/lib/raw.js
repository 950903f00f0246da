// A bare JSON-RPC WebSocket client, for requests the official client never sends.
'use strict';
const WebSocket = require('ws');

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
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      if (msg.method === 'onEvent') return this.events.push(msg.params.value);
      const waiter = this.pending.get(JSON.stringify(msg.id));
      if (waiter) {
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
      const timer = setTimeout(() => reject(new Error(`no reply to ${text.slice(0, 80)}`)), 5000);
      this.pending.set(JSON.stringify(id), (m) => { clearTimeout(timer); resolve(m); });
      this.ws.send(text);
    });
  }

  close() {
    this.ws.close();
  }
}

module.exports = { RawClient };
