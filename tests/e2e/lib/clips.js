// Clips drawn frame by frame for the vision modules' tests: RGB frames
// written by a drawing function, encoded with gst-launch-1.0 to VP8 in WebM
// (for a PlayerEndpoint) or to Y4M (for Chromium's fake camera).
'use strict';
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const { gstLaunch } = require('./media');

/**
 * Renders `frames` frames of `width` x `height` at 30 fps into `out` (.webm
 * or .y4m): `draw(index, rgb)` fills each frame (RGB bytes, rows top down).
 */
function renderClip(out, { width, height, frames }, draw) {
  const raw = `${out}.rgb`;
  const fd = fs.openSync(raw, 'w');
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0; i < frames; i++) {
    draw(i, rgb);
    fs.writeSync(fd, rgb);
  }
  fs.closeSync(fd);
  const encode = out.endsWith('.y4m')
    ? 'y4menc'
    : 'vp8enc deadline=1 keyframe-max-dist=30 target-bitrate=3000000 ! webmmux';
  gstLaunch(`filesrc location=${raw} ! rawvideoparse format=rgb width=${width} height=${height} framerate=30/1 `
    + `! videoconvert ! video/x-raw,format=I420 ! ${encode} ! filesink location=OUT`, out);
  fs.rmSync(raw);
  return out;
}

/** Sets pixel (x, y) of an RGB frame `width` wide (ignored outside it). */
function put(rgb, width, x, y, [r, g, b]) {
  const height = rgb.length / (width * 3);
  if (x < 0 || y < 0 || x >= width || y >= height) return;
  const k = (y * width + x) * 3;
  rgb[k] = r;
  rgb[k + 1] = g;
  rgb[k + 2] = b;
}

/** Fills a disc of `radius` at (cx, cy) with `colour(x, y)`. */
function disc(rgb, width, cx, cy, radius, colour) {
  for (let y = cy - radius; y <= cy + radius; y++) {
    for (let x = cx - radius; x <= cx + radius; x++) {
      if ((x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2) put(rgb, width, x, y, colour(x, y));
    }
  }
}

/** A fixed pseudo-random value 0..250 for (x, y): static texture. */
const noise = (x, y) => (((x * 73856093) ^ (y * 19349663)) >>> 0) % 251;

/**
 * A picture drawn by GStreamer's textoverlay (pango): `text` in `font`
 * (black on white, centred) on a `width` x `height` picture; its RGB bytes.
 */
function textPicture(text, font, width, height, dir) {
  const out = `${dir}/text-${width}x${height}.rgb`;
  // Arguments one by one: the text and the font name have spaces.
  execFileSync('gst-launch-1.0', ['-q', 'videotestsrc', 'pattern=white', 'num-buffers=1', '!', `video/x-raw,width=${width},height=${height}`,
    '!', 'textoverlay', `text=${text}`, `font-desc=${font}`, 'color=0xff101010', 'valignment=center', 'halignment=center',
    'shaded-background=false', 'draw-outline=false', 'draw-shadow=false', 'auto-resize=false',
    '!', 'videoconvert', '!', 'video/x-raw,format=RGB', '!', 'filesink', `location=${out}`], { timeout: 60000, stdio: 'ignore' });
  const rgb = fs.readFileSync(out);
  fs.rmSync(out);
  return rgb;
}

module.exports = { renderClip, put, disc, noise, textPicture };
