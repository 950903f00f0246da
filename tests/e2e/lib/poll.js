// Bounded waiting for a condition observed from outside (browser stats, events).
'use strict';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `read()` until `done(value)` holds or `tries` reads were made, `ms`
 * apart; returns the last value read (the caller asserts on it).
 */
async function pollUntil(read, done, { tries = 40, ms = 500 } = {}) {
  let value = await read();
  for (let i = 1; i < tries && !done(value); i++) {
    await sleep(ms);
    value = await read();
  }
  return value;
}

module.exports = { sleep, pollUntil };
