// Debian's Chromium driven by playwright-core, with fake camera and microphone.
'use strict';
const { chromium } = require('playwright-core');

const FLAGS = [
  '--headless', '--no-sandbox', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-gpu', '--disable-quic',
];

async function launchBrowser() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: FLAGS, headless: true });
}

module.exports = { launchBrowser };
