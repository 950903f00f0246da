//! A GStreamer island: one private `gst::Pipeline` whose streaming threads
//! hand their results to the media worker.
//!
//! GStreamer threads never touch the router. They queue [`ElementOutput`]s
//! (frames from appsinks, events from the bus) on a channel and call the
//! element's [`Waker`], which makes the worker poll the element; the element
//! drains the channel in `poll_output`. Bus errors become KMS's `Error` event
//! (`MediaElementImpl` maps GStreamer error domains the same way). A dropped
//! island is stopped on a teardown thread, never on the media worker.

use gstreamer as gst;
use gst::prelude::*;
use kms_media::{ElementEvent, ElementOutput};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

/// Asks the media worker to poll this element soon; callable from any thread.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// Called once when the island reaches end of stream (or fails) while
/// finishing: `stopAndWait` completes through it.
pub type Finished = Box<dyn FnOnce() + Send>;

/// The thread-safe half: what GStreamer threads use to reach the worker.
#[derive(Clone)]
pub struct Outbox {
    tx: Sender<ElementOutput>,
    waker: Waker,
}

impl Outbox {
    pub fn push(&self, output: ElementOutput) {
        if self.tx.send(output).is_ok() {
            (self.waker)();
        }
    }

    pub fn event(&self, event: ElementEvent) {
        self.push(ElementOutput::Event(event));
    }
}

/// What the bus reported, for the element that owns the island.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusNote {
    EndOfStream,
    Error,
}

/// A private pipeline and the channel its threads report on.
pub struct Island {
    pub pipeline: gst::Pipeline,
    rx: Receiver<ElementOutput>,
    pub outbox: Outbox,
    /// Bus notes for the owner, read on the worker in `poll`.
    notes: Arc<Mutex<Vec<BusNote>>>,
    /// Wait for end-of-stream before stopping, when dropped.
    drain: bool,
}

impl Island {
    /// Wraps `pipeline`: bus EOS and errors are reported through the outbox.
    pub fn new(pipeline: gst::Pipeline, waker: Waker) -> Island {
        Island::with_messages(pipeline, waker, |_| None)
    }

    /// [`Island::new`], and every element message (a detector's findings:
    /// zbar's `barcode`, ...) goes through `hook`, on the posting thread;
    /// the events it returns are raised on the element.
    pub fn with_messages(pipeline: gst::Pipeline, waker: Waker, hook: impl Fn(&gst::Message) -> Option<ElementEvent> + Send + Sync + 'static) -> Island {
        let (tx, rx) = channel();
        let outbox = Outbox { tx, waker };
        let notes = Arc::new(Mutex::new(Vec::new()));
        if let Some(bus) = pipeline.bus() {
            let (outbox, notes) = (outbox.clone(), notes.clone());
            bus.set_sync_handler(move |_, msg| {
                let note = match msg.view() {
                    gst::MessageView::Element(_) => {
                        if let Some(event) = hook(msg) {
                            outbox.event(event);
                        }
                        None
                    }
                    gst::MessageView::Eos(_) => Some(BusNote::EndOfStream),
                    gst::MessageView::Error(err) => {
                        let (error_type, code) = kms_error(&err.error());
                        let description = format!("{} ({})", err.error(), err.debug().map(|d| d.to_string()).unwrap_or_default());
                        tracing::warn!(%description, "GStreamer error");
                        outbox.event(ElementEvent::Error { error_type, description, code });
                        Some(BusNote::Error)
                    }
                    _ => None,
                };
                if let Some(note) = note {
                    notes.lock().unwrap_or_else(|e| e.into_inner()).push(note);
                    (outbox.waker)();
                }
                gst::BusSyncReply::Drop
            });
        }
        Island { pipeline, rx, outbox, notes, drain: false }
    }

    /// The next output a GStreamer thread queued.
    pub fn try_recv(&self) -> Option<ElementOutput> {
        self.rx.try_recv().ok()
    }

    /// Bus notes since the last call.
    pub fn take_notes(&self) -> Vec<BusNote> {
        std::mem::take(&mut *self.notes.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The pipeline as a Graphviz dot text (MediaElement.getGstreamerDot).
    pub fn dot(&self) -> String {
        self.pipeline.debug_to_dot_data(gst::DebugGraphDetails::all()).to_string()
    }
}

/// How long a dropped island may take to drain its end-of-stream (a
/// recorder released while recording finishes its file first).
const DRAIN_LIMIT: gst::ClockTime = gst::ClockTime::from_seconds(5);

/// A pipeline on its way down: (pipeline, wait for end-of-stream first).
type Teardown = (gst::Pipeline, bool);

/// Stops islands on a thread of its own: going to NULL joins streaming
/// threads (an RTSP TEARDOWN, an HTTP close), which the media worker must
/// never wait for.
fn teardown_queue() -> Option<&'static Sender<Teardown>> {
    static QUEUE: OnceLock<Option<Sender<Teardown>>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let (tx, rx) = channel::<Teardown>();
            let spawned = std::thread::Builder::new().name("kms-gst-teardown".into()).spawn(move || {
                for (pipeline, drain) in rx {
                    if drain {
                        if let Some(bus) = pipeline.bus() {
                            bus.timed_pop_filtered(DRAIN_LIMIT, &[gst::MessageType::Eos, gst::MessageType::Error]);
                        }
                    }
                    let _ = pipeline.set_state(gst::State::Null);
                    drop(pipeline);
                    give_back_memory();
                }
            });
            spawned.ok().map(|_| tx)
        })
        .as_ref()
}

impl Island {
    /// Lets the island finish its end-of-stream (already sent by the owner)
    /// before it is stopped, when it is dropped.
    pub fn drain_on_drop(&mut self) {
        self.drain = true;
    }
}

impl Drop for Island {
    fn drop(&mut self) {
        if let Some(bus) = self.pipeline.bus() {
            bus.unset_sync_handler();
        }
        let pipeline = self.pipeline.clone();
        match teardown_queue() {
            Some(queue) => {
                let _ = queue.send((pipeline, self.drain));
            }
            None => {
                let _ = pipeline.set_state(gst::State::Null);
            }
        }
    }
}

/// Returns the C heap's free memory to the system. GStreamer's codecs
/// allocate frame buffers with the C allocator from their streaming
/// threads, each of which gets a glibc arena; freed arenas stay mapped, so
/// without this a server that built and tore down transcoders keeps their
/// peak memory. (Rust allocations use mimalloc and are not affected.)
pub(crate) fn give_back_memory() {
    // SAFETY: malloc_trim has no preconditions; it only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// KMS's `Error` type name and errorCode for a GStreamer error.
pub fn kms_error(err: &gst::glib::Error) -> (&'static str, i32) {
    if let Some(e) = err.kind::<gst::ResourceError>() {
        let name = match e {
            gst::ResourceError::NoSpaceLeft => "RESOURCE_ERROR_NO_SPACE_LEFT",
            gst::ResourceError::Write | gst::ResourceError::Close | gst::ResourceError::Sync => "RESOURCE_ERROR_WRITE",
            // NotFound, OpenRead/Write, Busy, Settings, ...: the resource could not be used.
            _ => "RESOURCE_ERROR_OPEN",
        };
        return (name, err.code());
    }
    if let Some(e) = err.kind::<gst::StreamError>() {
        let name = match e {
            gst::StreamError::Decode | gst::StreamError::Demux | gst::StreamError::TypeNotFound | gst::StreamError::WrongType => {
                "STREAM_ERROR_DECODE"
            }
            _ => "STREAM_ERROR_FAILED",
        };
        return (name, err.code());
    }
    ("UNEXPECTED_ELEMENT_ERROR", err.code())
}
