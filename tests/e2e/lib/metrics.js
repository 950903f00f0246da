// The server's Prometheus text (/metrics) as numbers, for the tests.
'use strict';

/** The samples of a metrics text: { 'name{labels}': value }. */
function samples(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  return out;
}

/** The sum of a family's samples (`name` or `name{...}`) whose labels include `match`. */
function sum(m, name, match = '') {
  return Object.entries(m).filter(([k]) => (k === name || k.startsWith(`${name}{`)) && k.includes(match)).reduce((a, [, v]) => a + v, 0);
}

/** GET /metrics on the server's Kurento port, as samples. */
async function metrics(server) {
  return samples(await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text());
}

module.exports = { samples, sum, metrics };
