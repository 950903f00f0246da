// Teardown in reverse order of setup (node:test runs t.after hooks in order).
'use strict';

/** Returns `defer(fn)`: every deferred fn runs after the test, last first. */
function deferrer(t) {
  const stack = [];
  t.after(async () => {
    while (stack.length) {
      try {
        await stack.pop()();
      } catch (e) {
        console.error('teardown:', e);
      }
    }
  });
  return (fn) => stack.push(fn);
}

module.exports = { deferrer };
