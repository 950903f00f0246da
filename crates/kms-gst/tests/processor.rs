//! Frame processors (the vision modules' machinery) never hold up the
//! caller (the media worker) and drop frames when they are slow instead of
//! queueing them: in place, the video goes at the processor's pace; read
//! only, the video goes at full rate while the processor skips frames.

use kms_gst::{BgrFrame, FrameProcessor, ProcessorFilter};
use kms_media::{Codec, Element, ElementEvent, ElementOutput, MediaFrame};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// Sleeps 100 ms a frame; counts frames and notes the threads it ran on.
struct Slow<const READ_ONLY: bool> {
    processed: Arc<AtomicUsize>,
    threads: Arc<Mutex<Vec<ThreadId>>>,
}

impl<const READ_ONLY: bool> FrameProcessor for Slow<READ_ONLY> {
    const IDLE_WITHOUT_CONSUMERS: bool = false;
    const READ_ONLY: bool = READ_ONLY;

    fn process(&mut self, frame: &mut BgrFrame<'_>, events: &mut Vec<ElementEvent>) {
        assert_eq!((frame.width, frame.height), (320, 240));
        self.threads.lock().unwrap().push(std::thread::current().id());
        std::thread::sleep(Duration::from_millis(100));
        self.processed.fetch_add(1, Ordering::SeqCst);
        if self.processed.load(Ordering::SeqCst) == 1 {
            events.push(ElementEvent::Media { name: "Processed" });
        }
    }
}

/// Feeds 30 raw frames at 30 fps; (frames processed, frames out, events, processing threads, longest handle_media).
fn run<const READ_ONLY: bool>() -> (usize, usize, usize, Vec<ThreadId>, Duration) {
    kms_gst::init().unwrap();
    let processed = Arc::new(AtomicUsize::new(0));
    let threads = Arc::new(Mutex::new(Vec::new()));
    let slow = Slow::<READ_ONLY> { processed: processed.clone(), threads: threads.clone() };
    let mut filter = ProcessorFilter::with_processor(slow, Arc::new(|| {})).unwrap();
    let caps: Arc<str> = Arc::from("video/x-raw,format=I420,width=320,height=240,framerate=30/1");
    let (mut out, mut events, mut longest) = (0, 0, Duration::ZERO);
    let mut drain = |filter: &mut ProcessorFilter<Slow<READ_ONLY>>| {
        while let Some(o) = filter.poll_output() {
            match o {
                ElementOutput::Media(_) => out += 1,
                ElementOutput::Event(ElementEvent::Media { name: "Processed" }) => events += 1,
                _ => {}
            }
        }
    };
    for i in 0..30u64 {
        let mut frame = MediaFrame::new(Codec::RawVideo, 90_000, i * 3000, Instant::now(), Arc::from(vec![128u8; 320 * 240 * 3 / 2]));
        frame.raw_caps = Some(caps.clone());
        let start = Instant::now();
        filter.handle_media(Instant::now(), &frame);
        longest = longest.max(start.elapsed());
        drain(&mut filter);
        std::thread::sleep(Duration::from_millis(33));
    }
    std::thread::sleep(Duration::from_millis(600));
    drain(&mut filter);
    let threads = threads.lock().unwrap().clone();
    (processed.load(Ordering::SeqCst), out, events, threads, longest)
}

#[test]
fn a_slow_in_place_processor_skips_frames_and_never_blocks_the_caller() {
    let (processed, out, events, threads, longest) = run::<false>();
    assert!((5..=16).contains(&processed), "about 10 frames a second processed, the rest dropped: {processed}");
    assert!(out <= processed + 1, "only processed frames come out: {out} of {processed}");
    assert_eq!(events, 1, "its events are raised on the filter");
    assert!(!threads.contains(&std::thread::current().id()), "never on the caller's thread");
    assert!(longest < Duration::from_millis(30), "handing a frame over does not wait for processing: {longest:?}");
}

#[test]
fn a_slow_read_only_processor_leaves_the_video_at_full_rate() {
    let (processed, out, _, threads, longest) = run::<true>();
    assert!(out >= 28, "every frame passes: {out} of 30");
    assert!((5..=16).contains(&processed), "the processor takes the latest frame when it is free: {processed}");
    assert!(!threads.contains(&std::thread::current().id()));
    assert!(longest < Duration::from_millis(30), "{longest:?}");
}
