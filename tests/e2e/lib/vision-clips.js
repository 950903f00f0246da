// The clips the vision modules' tests play (PlayerEndpoint, .webm) or show
// to Chromium's fake camera (.y4m), drawn frame by frame.
'use strict';
const { renderClip, disc, noise, textPicture } = require('./clips');
const path = require('node:path');

const GREEN = [40, 180, 60];

/**
 * 320x240: a green screen with a red disc (radius 30) moving along the
 * lower half, away from the top-left corner where the key is calibrated.
 */
function greenScreen(out, frames = 150) {
  return renderClip(out, { width: 320, height: 240, frames }, (i, rgb) => {
    for (let k = 0; k < rgb.length; k += 3) GREEN.forEach((c, j) => { rgb[k + j] = c; });
    disc(rgb, 320, 80 + (i % 150), 170, 30, () => [220, 30, 30]);
  });
}

/**
 * 320x240: a static noise texture; after 1 s six bright textured discs
 * (radius 22) walk in from the left, 4 pixels a frame, and stand in the
 * left half from frame 65 on. The right half stays empty.
 */
function crowd(out, frames = 150) {
  return renderClip(out, { width: 320, height: 240, frames }, (i, rgb) => {
    for (let y = 0; y < 240; y++) {
      for (let x = 0; x < 320; x++) {
        const v = 40 + (noise(x, y) % 60);
        rgb.fill(v, (y * 320 + x) * 3, (y * 320 + x) * 3 + 3);
      }
    }
    if (i < 30) return;
    const front = Math.min(-20 + (i - 30) * 4, 120);
    for (let b = 0; b < 6; b++) {
      const [cx, cy] = [front - (b % 3) * 40, 60 + Math.floor(b / 3) * 90 + (b % 3) * 12];
      disc(rgb, 320, cx, cy, 22, (x, y) => { const v = 170 + (noise(x - cx, y - cy) % 80); return [v, v, v]; });
    }
  });
}

/** The plate's text and the event KMS's layout makes of it. */
const PLATE = { text: '1234 BCD', event: '--1234BCD' };

/**
 * 640x360: grey, with a white 360x80 plate reading PLATE.text in a bold
 * monospaced font, moving right 1 pixel a frame.
 */
function plate(out, frames = 150) {
  const [pw, ph] = [360, 80];
  const picture = textPicture(PLATE.text, 'DejaVu Sans Mono Bold 44', pw, ph, path.dirname(out));
  return renderClip(out, { width: 640, height: 360, frames }, (i, rgb) => {
    rgb.fill(90);
    const x0 = 60 + (i % 200);
    for (let y = 0; y < ph; y++) picture.copy(rgb, ((140 + y) * 640 + x0) * 3, y * pw * 3, (y + 1) * pw * 3);
  });
}

/**
 * 320x240 grey: a blue disc (radius 20) rests in the calibration region
 * POINTER.region for 45 frames, then moves right 4 pixels a frame through
 * the windows POINTER.windows and out of the picture.
 */
function pointer(out, frames = 150) {
  return renderClip(out, { width: 320, height: 240, frames }, (i, rgb) => {
    rgb.fill(100);
    const x = 30 + Math.max(0, (i % 150) - 45) * 4;
    disc(rgb, 320, x, 120, 20, () => [20, 60, 220]);
  });
}

/** Where the pointer clip calibrates and its two windows (pixels). */
const POINTER = {
  region: { topRightCornerX: 20, topRightCornerY: 110, width: 20, height: 20 },
  windows: [
    { id: 'left', upperRightX: 100, upperRightY: 60, width: 60, height: 120 },
    { id: 'right', upperRightX: 210, upperRightY: 60, width: 60, height: 120 },
  ],
};

module.exports = { greenScreen, crowd, plate, pointer, PLATE, POINTER, GREEN };
