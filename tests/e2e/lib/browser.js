// Debian's Chromium driven by playwright-core, with fake camera and microphone.
'use strict';
const { chromium } = require('playwright-core');

const FLAGS = [
  '--headless', '--no-sandbox', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-gpu', '--disable-quic', '--autoplay-policy=no-user-gesture-required',
];

/** Launches Chromium with the test flags and `extraArgs` (e.g. a fake camera file). */
async function launchBrowser(extraArgs = []) {
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: [...FLAGS, ...extraArgs], headless: true });
}

/**
 * Serves the test pages, launches Chromium and opens `page/<file>?<query>`
 * with `ws_uri` set to `server.url` (Chromium launched with `extraArgs` too).
 * Teardown is registered with `defer`.
 */
async function openPage(defer, server, file, query = {}, extraArgs = []) {
  const { servePages } = require('./pages');
  const pages = await servePages();
  defer(() => pages.close());
  const browser = await launchBrowser(extraArgs);
  defer(() => browser.close());
  const page = await browser.newPage();
  const search = new URLSearchParams({ ...query, ws_uri: server.url });
  await page.goto(`${pages.origin}/page/${file}?${search}`);
  return page;
}

module.exports = { launchBrowser, openPage };
