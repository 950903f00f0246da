// Runs an outside command (podman, systemctl in a container) for the tests
// that drive packaged forms of the server.
'use strict';
const { execFile } = require('node:child_process');

/** Runs `cmd args`: resolves with { code, stdout, stderr }, never throws. */
function runCommand(cmd, args, { env = process.env, timeout = 120000 } = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout, encoding: 'utf8', maxBuffer: 16 << 20 }, (error, stdout, stderr) => resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr }));
  });
}

module.exports = { runCommand };
