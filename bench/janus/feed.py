#!/usr/bin/python3
"""Usage: feed.py FILE.webm AUDIO_PORT VIDEO_PORT [HOST]

Replays the already-encoded VP8 + Opus of a WebM as plain RTP (no transcoding)
to a Janus streaming mountpoint: Opus pt 111 -> AUDIO_PORT, VP8 pt 96 ->
VIDEO_PORT, paced in real time (udpsink sync=true). Loops forever using
segment seeks, so running time -- and hence RTP timestamps and sequence
numbers -- keep increasing across loops (no jumps back, same SSRCs).
Needs Debian's python3-gi (run with /usr/bin/python3).
"""
import sys
import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst, GLib

path, aport, vport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
host = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1"
Gst.init(None)
sink = f"udpsink host={host} bind-address={host} sync=true"
pipe = Gst.parse_launch(
    f"filesrc name=src ! matroskademux name=d "
    f"d.audio_0 ! queue ! rtpopuspay pt=111 ! {sink} port={aport} "
    f"d.video_0 ! queue ! rtpvp8pay pt=96 picture-id-mode=15-bit ! {sink} port={vport}")
pipe.get_by_name("src").set_property("location", path)
loop = GLib.MainLoop()
loops = 0

def seek(flags):
    pipe.seek(1.0, Gst.Format.TIME, flags | Gst.SeekFlags.SEGMENT,
              Gst.SeekType.SET, 0, Gst.SeekType.NONE, -1)

def on_message(_bus, msg):
    global loops
    if msg.type == Gst.MessageType.SEGMENT_DONE:
        loops += 1
        seek(Gst.SeekFlags.NONE)          # non-flushing: running time continues
    elif msg.type == Gst.MessageType.ERROR:
        err, dbg = msg.parse_error()
        print(f"feed: error: {err.message} ({dbg})", file=sys.stderr)
        loop.quit()
    elif msg.type == Gst.MessageType.EOS:  # only if segment seeking failed
        loop.quit()

bus = pipe.get_bus()
bus.add_signal_watch()
bus.connect("message", on_message)
pipe.set_state(Gst.State.PAUSED)
pipe.get_state(Gst.CLOCK_TIME_NONE)
seek(Gst.SeekFlags.FLUSH)                 # first segment seek enables SEGMENT_DONE
pipe.set_state(Gst.State.PLAYING)
GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, 15, loop.quit)  # SIGTERM
GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, 2, loop.quit)   # SIGINT
try:
    loop.run()
finally:
    pipe.set_state(Gst.State.NULL)
    print(f"feed: stopped after {loops} loop(s)", file=sys.stderr)
