// Plain-RTP peers for RtpEndpoint tests: gst-launch-1.0 senders and
// receivers (rtpbin, srtpenc/srtpdec) and the SDP they would announce.
'use strict';
const { spawn } = require('node:child_process');

/** Starts gst-launch-1.0 with `description`; returns { output(), stop() }. */
function launch(description) {
  const child = spawn('gst-launch-1.0', ['-q', ...description.split(/\s+/).filter(Boolean)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  return {
    output: () => output,
    exited: () => child.exitCode !== null,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGKILL');
    }),
  };
}

/** The media lines of an SDP: [{ kind, port, rtcpPort, proto, payloads: { NAME: pt }, ssrc, key }]. */
function mediaLines(sdp) {
  return sdp.split(/\r?\n(?=m=)/).slice(1).map((section) => {
    const [kind, port, proto] = /^m=(\S+) (\d+) (\S+)/.exec(section).slice(1);
    const payloads = {};
    for (const m of section.matchAll(/a=rtpmap:(\d+) ([^/\s]+)/g)) payloads[m[2].toUpperCase()] = Number(m[1]);
    const rtcp = /a=rtcp:(\d+)/.exec(section);
    const ssrc = /a=ssrc:(\d+)/.exec(section);
    const key = /a=crypto:\d+ \S+ inline:([A-Za-z0-9+/=]+)/.exec(section);
    return { kind, port: Number(port), proto, rtcpPort: rtcp ? Number(rtcp[1]) : Number(port) + 1, payloads, ssrc: ssrc ? Number(ssrc[1]) : null, key: key ? key[1] : null };
  });
}

/** A 30-byte AES_CM_128 key and salt: { text, base64, hex }. */
function sdesKey(seed) {
  const text = (seed.repeat(30)).slice(0, 30);
  return { text, base64: Buffer.from(text).toString('base64'), hex: Buffer.from(text).toString('hex') };
}

const SRTP_PARAMS = 'rtp-cipher=aes-128-icm rtp-auth=hmac-sha1-80 rtcp-cipher=aes-128-icm rtcp-auth=hmac-sha1-80';

/**
 * The offer of a sender of `video` (VP8 or H264, PT 96) and Opus (PT 97) that
 * receives RTCP on `ports.video`/`ports.audio` (+1 for RTCP, or the same port
 * with `mux`); with `key` it is SDES-SRTP, with `comedia` it announces
 * a=direction:active.
 */
function senderOffer(ports, { key, comedia, video = 'VP8', mux = false } = {}) {
  const proto = key ? 'RTP/SAVP' : 'RTP/AVP';
  const extra = (key ? `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${key.base64}\r\n` : '') + (comedia ? 'a=direction:active\r\n' : '') + (mux ? 'a=rtcp-mux\r\n' : '');
  const fmtp = video === 'H264' ? 'a=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\n' : '';
  return 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=gst-launch sender\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n'
    + `m=audio ${ports.audio} ${proto} 97\r\na=rtpmap:97 opus/48000/2\r\n${extra}a=sendonly\r\n`
    + `m=video ${ports.video} ${proto} 96\r\na=rtpmap:96 ${video}/90000\r\n${fmtp}${extra}a=sendonly\r\n`;
}

const ENCODERS = {
  VP8: 'vp8enc deadline=1 keyframe-max-dist=15 target-bitrate=300000 ! rtpvp8pay pt=96',
  H264: 'x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 bitrate=300 ! video/x-h264,profile=constrained-baseline ! rtph264pay pt=96 config-interval=-1',
};

/**
 * gst-launch sender of a moving test picture (`video`: VP8 or H264) and a
 * tone (Opus) to the lines of `answer`; with `mux` RTCP goes to the RTP port.
 */
function startSender(answer, { key, video = 'VP8', mux = false } = {}) {
  const [audioLine, videoLine] = ['audio', 'video'].map((k) => mediaLines(answer).find((m) => m.kind === k));
  const enc = key ? `srtpenc name=e key=${key.hex} ${SRTP_PARAMS}` : '';
  const out = (stream, session, port) => (key
    ? `r.send_${stream}_src_${session} ! e.${stream}_sink_${session} e.${stream}_src_${session} ! udpsink host=127.0.0.1 port=${port} sync=false async=false`
    : `r.send_${stream}_src_${session} ! udpsink host=127.0.0.1 port=${port} sync=false async=false`);
  const rtcpPort = (line) => (mux ? line.port : line.rtcpPort);
  return launch(`rtpbin name=r ${enc} `
    + `videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 ! ${ENCODERS[video]} ! r.send_rtp_sink_0 `
    + `${out('rtp', 0, videoLine.port)} ${out('rtcp', 0, rtcpPort(videoLine))} `
    + 'audiotestsrc is-live=true freq=440 ! audio/x-raw,rate=48000,channels=2 ! opusenc ! rtpopuspay pt=97 ! r.send_rtp_sink_1 '
    + `${out('rtp', 1, audioLine.port)} ${out('rtcp', 1, rtcpPort(audioLine))}`);
}

module.exports = { launch, mediaLines, sdesKey, senderOffer, startSender };
