// Real media for the UriEndpoint tests: files generated with gst-launch-1.0
// (test sources, no fixtures in the repo) and probed with gst-discoverer-1.0.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const run = (cmd, args, timeout = 60000) => execFileSync(cmd, args, { timeout, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** 5 s of 320x240 30 fps video with a keyframe every second, plus audio. */
const SOURCES = {
  // WebM: VP8 + Opus, as browsers record it.
  'in.webm': 'videotestsrc num-buffers=150 ! video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc keyframe-max-dist=30 deadline=1 ! queue ! webmmux name=m ! filesink location=OUT '
    + 'audiotestsrc num-buffers=250 samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=2 ! opusenc ! queue ! m.',
  // MP4: H.264 (constrained baseline, as WebRTC wants) + AAC.
  'in.mp4': 'videotestsrc num-buffers=150 ! video/x-raw,width=320,height=240,framerate=30/1 ! x264enc key-int-max=30 tune=zerolatency speed-preset=ultrafast '
    + '! video/x-h264,profile=constrained-baseline ! h264parse ! queue ! mp4mux name=m ! filesink location=OUT '
    + 'audiotestsrc num-buffers=235 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! queue ! m.',
};

/** A temp directory with the generated inputs: { dir, file(name) → path }. */
function generateMedia() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kms-media-'));
  for (const [name, description] of Object.entries(SOURCES)) {
    const out = path.join(dir, name);
    // Split before the path is put in, so a temp dir with spaces stays one argument.
    run('gst-launch-1.0', ['-q', ...description.split(' ').map((arg) => arg.replace('OUT', out))]);
  }
  return { dir, file: (name) => path.join(dir, name), remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * gst-discoverer-1.0's view of a file: { duration (s), seekable, container,
 * video: [description], videoCodecs: [first word, e.g. "VP8", "H.264"], audio: [description] }.
 */
function probe(file) {
  const text = run('gst-discoverer-1.0', [file]);
  const duration = /Duration: (\d+):(\d+):([\d.]+)/.exec(text);
  const streams = (kind) => [...text.matchAll(new RegExp(`${kind}(?:\\(image\\))? #\\d+: (.+)`, 'g'))].map((m) => m[1].trim());
  return {
    duration: duration ? Number(duration[1]) * 3600 + Number(duration[2]) * 60 + Number(duration[3]) : 0,
    seekable: /Seekable: yes/.test(text),
    container: (/container #\d+: (.+)/.exec(text) || [])[1],
    video: streams('video'),
    videoCodecs: streams('video').map((v) => v.split(' ')[0]),
    audio: streams('audio'),
    text,
  };
}

/**
 * Decodes the whole file (every stream, to the last frame, as fast as
 * possible); throws if decoding fails or a decoder warns (decoders report
 * isolated bad frames as warnings, not errors).
 */
function decodeAll(file) {
  const out = run('gst-launch-1.0', ['playbin', `uri=file://${file}`, 'video-sink=fakesink sync=false', 'audio-sink=fakesink sync=false']);
  if (/^WARNING/m.test(out)) throw new Error(`${file} decodes with warnings:\n${out}`);
}

/**
 * The `index`th (10th by default) decoded video frame of a WebM (VP8) file
 * as RGB bytes, scaled to `width` x `height` (the generated inputs are
 * static test patterns, so any frame will do).
 */
function videoFrameRGB(file, [width, height] = [320, 240], index = 10) {
  const out = `${file}.rgb`;
  run('gst-launch-1.0', ['-q', 'filesrc', `location=${file}`, '!', 'matroskademux', 'name=d', 'd.video_0', '!', 'vp8dec', '!', 'videoconvert', '!', 'videoscale',
    '!', `video/x-raw,format=RGB,width=${width},height=${height}`, '!', 'identity', `eos-after=${index}`, '!', 'filesink', `location=${out}`]);
  const bytes = fs.readFileSync(out);
  fs.rmSync(out);
  const size = width * height * 3;
  return bytes.subarray(bytes.length - size);
}

/**
 * Where `frame` (RGB, `width` wide) turned red: { count, box: [x0, y0, x1, y1] }
 * of the pixels with R > 180 and G, B < 80 that are not red in `before`
 * (the same picture without the overlay), when given.
 */
function redPixels(frame, width, before) {
  const red = (f, i) => f[i] > 180 && f[i + 1] < 80 && f[i + 2] < 80;
  let count = 0;
  const box = [Infinity, Infinity, -1, -1];
  for (let i = 0; i < frame.length; i += 3) {
    if (red(frame, i) && !(before && red(before, i))) {
      const [x, y] = [(i / 3) % width, Math.floor(i / 3 / width)];
      count++;
      box[0] = Math.min(box[0], x); box[1] = Math.min(box[1], y);
      box[2] = Math.max(box[2], x); box[3] = Math.max(box[3], y);
    }
  }
  return { count, box };
}

/** Mean absolute difference per byte between two RGB frames, `b` mirrored left-right when `mirror`. */
function frameDifference(a, b, mirror = false) {
  const [w, h] = [320, 240];
  let sum = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const bx = mirror ? w - 1 - x : x;
      for (let c = 0; c < 3; c++) sum += Math.abs(a[(y * w + x) * 3 + c] - b[(y * w + bx) * 3 + c]);
    }
  }
  return sum / (w * h * 3);
}

/** The largest absolute sample of a WebM's (Opus) audio, decoded to 16-bit mono. */
function audioPeak(file) {
  const out = `${file}.pcm`;
  run('gst-launch-1.0', ['-q', 'filesrc', `location=${file}`, '!', 'matroskademux', 'name=d', 'd.audio_0', '!', 'opusdec', '!', 'audioconvert',
    '!', 'audio/x-raw,format=S16LE,channels=1', '!', 'filesink', `location=${out}`]);
  const bytes = fs.readFileSync(out);
  fs.rmSync(out);
  let peak = 0;
  for (let i = 0; i + 1 < bytes.length; i += 2) peak = Math.max(peak, Math.abs(bytes.readInt16LE(i)));
  return { peak, samples: bytes.length / 2 };
}

/**
 * Strength of each of `freqs` (Hz) in a WebM's (Opus) audio between
 * `from` and `to` seconds: the Goertzel magnitude per sample, 0 for
 * silence, about 0.5 x amplitude for a pure tone (amplitude 1 = full scale).
 */
function tonePowers(file, freqs, [from, to] = [1, 2]) {
  const out = `${file}.pcm`;
  run('gst-launch-1.0', ['-q', 'filesrc', `location=${file}`, '!', 'matroskademux', 'name=d', 'd.audio_0', '!', 'opusdec', '!', 'audioconvert', '!', 'audioresample',
    '!', 'audio/x-raw,format=S16LE,channels=1,rate=48000', '!', 'filesink', `location=${out}`]);
  const bytes = fs.readFileSync(out);
  fs.rmSync(out);
  const samples = [];
  for (let i = from * 48000 * 2; i + 1 < Math.min(bytes.length, to * 48000 * 2); i += 2) samples.push(bytes.readInt16LE(i) / 32768);
  return freqs.map((f) => {
    const k = 2 * Math.cos((2 * Math.PI * f) / 48000);
    let [s1, s2] = [0, 0];
    for (const x of samples) [s1, s2] = [x + k * s1 - s2, s1];
    const power = s1 * s1 + s2 * s2 - k * s1 * s2;
    return samples.length ? Math.sqrt(Math.max(power, 0)) / samples.length : 0;
  });
}

/**
 * Runs gst-launch-1.0 with a description whose `OUT` is replaced by `out`
 * (split on spaces before, so paths with spaces stay one argument).
 */
function gstLaunch(description, out) {
  run('gst-launch-1.0', ['-q', ...description.split(' ').map((arg) => arg.replace('OUT', out))], 120000);
}

/** The public-domain face picture install-deps.sh puts in place (512x512). */
const FACE = path.join(os.homedir(), '.cache', 'kms-test-media', 'astronaut.png');
/** Where OpenCV finds the face in it: x, y, width, height (measured once with facedetect). */
const FACE_BOX = [175, 64, 97, 97];

module.exports = { FACE, FACE_BOX, generateMedia, probe, decodeAll, videoFrameRGB, frameDifference, audioPeak, gstLaunch, redPixels, tonePowers };
