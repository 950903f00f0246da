//! The media plane's I/O shell: one worker thread that owns the UDP sockets and
//! every [`Pipeline`], driven by commands from the control plane.
//!
//! The control plane never touches a pipeline directly: it sends a closure to
//! the worker with [`MediaHandle::call`] and awaits its result, so pipelines
//! need no locks and the per-packet path never waits for the control plane.
//! Element events flow back on an unbounded channel as [`MediaEvent`]s.

mod load;
mod net;
mod tcp;
mod worker;

pub use load::WorkerLoad;
pub use worker::Worker;

use kms_media::{ElementEvent, ElementId};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Typed id of a pipeline inside the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PipelineHandle(pub u64);

/// An event raised by an element, for the control plane to publish.
#[derive(Debug)]
pub struct MediaEvent {
    pub pipeline: PipelineHandle,
    pub element: ElementId,
    pub event: ElementEvent,
}

type Command = Box<dyn FnOnce(&mut Worker, Instant) + Send>;

/// The control plane's handle on the media worker. Cheap to clone.
#[derive(Clone)]
pub struct MediaHandle {
    tx: mpsc::UnboundedSender<Command>,
    load: Arc<WorkerLoad>,
}

/// The media worker has stopped (it only stops when the process exits).
#[derive(Debug, thiserror::Error)]
#[error("the media worker is not running")]
pub struct WorkerGone;

/// The control plane answers 40003 UNEXPECTED_ERROR when the worker is gone.
impl From<WorkerGone> for kms_protocol::KurentoError {
    fn from(e: WorkerGone) -> Self {
        kms_protocol::KurentoError::new(kms_protocol::ErrorCode::UnexpectedError, e.to_string())
    }
}

impl MediaHandle {
    /// Starts the worker thread with media sockets bound per `config`.
    pub fn spawn(config: &crate::config::Config, events: mpsc::UnboundedSender<MediaEvent>) -> std::io::Result<MediaHandle> {
        let sockets = net::bind_media_sockets(config)?;
        let listeners = net::bind_tcp_listeners(&sockets, config);
        let (tx, rx) = mpsc::unbounded_channel();
        let ports = (config.min_port, config.max_port);
        let load = Arc::new(WorkerLoad::default());
        let worker_load = load.clone();
        std::thread::Builder::new().name("kms-media".into()).spawn(move || worker::run(sockets, listeners, ports, rx, events, worker_load))?;
        Ok(MediaHandle { tx, load })
    }

    /// The worker's load figures.
    pub fn load(&self) -> Arc<WorkerLoad> {
        self.load.clone()
    }

    /// A waker for an element of `pipeline` fed from other threads (a
    /// GStreamer island): it makes the worker poll the element whose id is
    /// put in the returned slot once the element is added.
    pub fn waker(&self, pipeline: PipelineHandle) -> (kms_gst::Waker, Arc<OnceLock<ElementId>>) {
        let slot = Arc::new(OnceLock::new());
        (self.wake_slot(pipeline, slot.clone()), slot)
    }

    /// A waker for the element (or transcoder) `element` of `pipeline`.
    pub fn waker_for(&self, pipeline: PipelineHandle, element: ElementId) -> kms_gst::Waker {
        self.wake_slot(pipeline, Arc::new(OnceLock::from(element)))
    }

    /// At most one wake command is in flight per element: a burst of frames
    /// costs the worker one poll, not one command each.
    fn wake_slot(&self, pipeline: PipelineHandle, id: Arc<OnceLock<ElementId>>) -> kms_gst::Waker {
        let tx = self.tx.clone();
        let pending = Arc::new(AtomicBool::new(false));
        Arc::new(move || {
            let Some(&element) = id.get() else { return };
            if pending.swap(true, Ordering::AcqRel) {
                return;
            }
            let pending = pending.clone();
            let _ = tx.send(Box::new(move |worker: &mut Worker, _| {
                // Cleared before polling: output queued from now on wakes again.
                pending.store(false, Ordering::Release);
                worker.wake(pipeline, element);
            }));
        })
    }

    /// The transcoder factory of `pipeline`: GStreamer transcoders whose
    /// islands wake the worker.
    pub fn transcoders(&self, pipeline: PipelineHandle) -> kms_gst::GstTranscoderFactory {
        let media = self.clone();
        kms_gst::GstTranscoderFactory::new(move |id| media.waker_for(pipeline, id))
    }

    /// Runs `f` on the worker thread with the worker's state and current time.
    pub async fn call<T: Send + 'static>(&self, f: impl FnOnce(&mut Worker, Instant) -> T + Send + 'static) -> Result<T, WorkerGone> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let command: Command = Box::new(move |worker, now| {
            let _ = reply_tx.send(f(worker, now));
        });
        self.tx.send(command).map_err(|_| WorkerGone)?;
        reply_rx.await.map_err(|_| WorkerGone)
    }
}
