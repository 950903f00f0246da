//! The media plane's I/O shell: media workers, one thread each (one per core
//! by default, `mediaServer.resources.mediaWorkers` / `KMS_MEDIA_WORKERS`),
//! each owning its pipelines, UDP sockets, ICE-TCP listeners and timers.
//!
//! A pipeline lives on one worker for its whole life, placed by load when it
//! is created ([`MediaHandle::create_pipeline`]); its [`PipelineHandle`]
//! names the worker. The control plane never touches a pipeline directly: it
//! sends a closure to the pipeline's worker over a bounded queue with
//! [`MediaHandle::call`] and awaits its result, so pipelines need no locks
//! and the per-packet path never waits for the control plane. Element events
//! come back over one bounded channel as [`MediaEvent`]s.

mod load;
mod net;
mod route;
mod tcp;
mod udp;
mod unmatched;
mod worker;

pub use load::WorkerLoad;
pub use unmatched::UnmatchedCounts;
pub use worker::Worker;

use kms_media::{ElementEvent, ElementId};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, Notify};

/// Commands queued towards one worker before `call` waits for room.
const COMMAND_QUEUE: usize = 1024;
/// Events queued towards the control plane before workers keep them back.
pub const EVENT_QUEUE: usize = 8192;

/// Typed id of a pipeline: the worker it lives on and its number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipelineHandle {
    worker: u16,
    id: u64,
}

impl PipelineHandle {
    pub fn new(worker: u16, id: u64) -> PipelineHandle {
        PipelineHandle { worker, id }
    }

    /// The index of the worker the pipeline lives on.
    pub fn worker(self) -> usize {
        usize::from(self.worker)
    }
}

/// What a worker sends the control plane, in order.
#[derive(Debug)]
pub enum MediaEvent {
    /// An event raised by an element, for the control plane to publish.
    Raised { pipeline: PipelineHandle, element: ElementId, event: ElementEvent },
    /// A pipeline was dropped after a panic while the worker drove it (a
    /// bug): the control plane raises Error on the MediaPipeline; its
    /// elements no longer exist on the worker.
    PipelineFailed { pipeline: PipelineHandle, description: String },
    /// A barrier ([`MediaHandle::events_published`]): the control plane
    /// answers it once every event sent before it has been published.
    Barrier(oneshot::Sender<()>),
}

type Command = Box<dyn FnOnce(&mut Worker, Instant) + Send>;

/// Elements whose GStreamer island queued output, for one worker to poll.
/// At most one entry per element is pending (its flag), so the queue is
/// bounded by the worker's elements however fast islands produce.
#[derive(Default)]
pub(crate) struct WakeQueue {
    pending: Mutex<Vec<(PipelineHandle, ElementId, Arc<AtomicBool>)>>,
    notify: Notify,
}

impl WakeQueue {
    fn push(&self, pipeline: PipelineHandle, element: ElementId, flag: Arc<AtomicBool>) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((pipeline, element, flag));
        self.notify.notify_one();
    }

    /// The pending wake-ups; each element's flag is cleared first, so output
    /// queued from now on wakes it again.
    fn take(&self) -> Vec<(PipelineHandle, ElementId)> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        pending
            .into_iter()
            .map(|(p, e, flag)| {
                flag.store(false, Ordering::Release);
                (p, e)
            })
            .collect()
    }
}

/// The control plane's link to one worker.
struct WorkerLink {
    commands: mpsc::Sender<Command>,
    wakes: Arc<WakeQueue>,
    load: Arc<WorkerLoad>,
}

/// The control plane's handle on the media workers. Cheap to clone.
#[derive(Clone)]
pub struct MediaHandle {
    workers: Arc<[WorkerLink]>,
    /// Rotates placement among equally loaded workers.
    next: Arc<AtomicUsize>,
}

/// The media worker gave no answer: it has stopped (only when the process
/// exits), or the request panicked inside a pipeline, which the worker then
/// dropped (see the worker's `guarded`).
#[derive(Debug, thiserror::Error)]
#[error("the media worker did not answer: it stopped, or the pipeline failed")]
pub struct WorkerGone;

/// The control plane answers 40003 UNEXPECTED_ERROR when the worker is gone.
impl From<WorkerGone> for kms_protocol::KurentoError {
    fn from(e: WorkerGone) -> Self {
        kms_protocol::KurentoError::new(kms_protocol::ErrorCode::UnexpectedError, e.to_string())
    }
}

/// The worker with the least load (pipelines plus elements, see
/// [`WorkerLoad::weight`]); among equals, the first from `start` on.
fn least_loaded(weights: &[usize], start: usize) -> usize {
    let n = weights.len().max(1);
    (0..n)
        .map(|i| (start + i) % n)
        .min_by_key(|&i| weights.get(i).copied().unwrap_or(0))
        .unwrap_or(0)
}

impl MediaHandle {
    /// Starts `config.media_workers` worker threads, each with its own media
    /// sockets (one per host address, a port of its own from the range) and
    /// ICE-TCP listeners.
    pub fn spawn(
        config: &crate::config::Config,
        events: mpsc::Sender<MediaEvent>,
    ) -> std::io::Result<MediaHandle> {
        let count = config.media_workers();
        let mut workers = Vec::with_capacity(count);
        for index in 0..count {
            let index = u16::try_from(index)
                .map_err(|_| std::io::Error::other("too many media workers"))?;
            let sockets = net::bind_media_sockets(config)?;
            let listeners = net::bind_tcp_listeners(&sockets, config);
            let (tx, commands) = mpsc::channel(COMMAND_QUEUE);
            let (wakes, load) = (
                Arc::new(WakeQueue::default()),
                Arc::new(WorkerLoad::default()),
            );
            let start = worker::WorkerStart {
                index,
                sockets,
                listeners,
                ports: (config.min_port, config.max_port),
                commands,
                wakes: wakes.clone(),
                events: events.clone(),
                load: load.clone(),
            };
            std::thread::Builder::new()
                .name(format!("kms-media-{index}"))
                .spawn(move || worker::run(start))?;
            workers.push(WorkerLink {
                commands: tx,
                wakes,
                load,
            });
        }
        tracing::info!(workers = count, "media workers started");
        Ok(MediaHandle {
            workers: workers.into(),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Each worker's load figures, by worker index.
    pub fn loads(&self) -> Vec<Arc<WorkerLoad>> {
        self.workers.iter().map(|w| w.load.clone()).collect()
    }

    /// Creates a pipeline on the least-loaded worker, with GStreamer
    /// transcoders whose islands wake that worker.
    pub async fn create_pipeline(&self) -> Result<PipelineHandle, WorkerGone> {
        let weights: Vec<usize> = self.workers.iter().map(|w| w.load.weight()).collect();
        let index = least_loaded(&weights, self.next.fetch_add(1, Ordering::Relaxed));
        // Counted at once, so creations that race each other spread out.
        self.workers[index].load.placed();
        let media = self.clone();
        self.call_on(index, move |worker, _| {
            let handle = worker.create_pipeline();
            if let Some(p) = worker.pipeline(handle) {
                p.set_transcoder_factory(Box::new(media.transcoders(handle)));
            }
            handle
        })
        .await
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

    /// At most one wake-up is pending per element: a burst of frames costs
    /// the worker one poll, not one queue entry each.
    fn wake_slot(&self, pipeline: PipelineHandle, id: Arc<OnceLock<ElementId>>) -> kms_gst::Waker {
        let Some(link) = self.workers.get(pipeline.worker()) else {
            return Arc::new(|| {});
        };
        let wakes = link.wakes.clone();
        let pending = Arc::new(AtomicBool::new(false));
        Arc::new(move || {
            let Some(&element) = id.get() else { return };
            if !pending.swap(true, Ordering::AcqRel) {
                wakes.push(pipeline, element, pending.clone());
            }
        })
    }

    /// The transcoder factory of `pipeline`: GStreamer transcoders whose
    /// islands wake the pipeline's worker.
    pub fn transcoders(&self, pipeline: PipelineHandle) -> kms_gst::GstTranscoderFactory {
        let media = self.clone();
        kms_gst::GstTranscoderFactory::new(move |id| media.waker_for(pipeline, id))
    }

    /// Runs `f` on the worker of `pipeline` with its state and current time.
    pub async fn call<T: Send + 'static>(
        &self,
        pipeline: PipelineHandle,
        f: impl FnOnce(&mut Worker, Instant) -> T + Send + 'static,
    ) -> Result<T, WorkerGone> {
        self.call_on(pipeline.worker(), f).await
    }

    /// Returns once every event `pipeline`'s worker raised before this call
    /// has been published to the sessions, so a reply sent afterwards
    /// follows them on each connection (stopAndWait's reply comes after its
    /// Stopped event, as with KMS).
    pub async fn events_published(&self, pipeline: PipelineHandle) -> Result<(), WorkerGone> {
        let published = self
            .call(pipeline, |worker, _| {
                let (tx, rx) = oneshot::channel();
                worker.barriers.push(tx);
                rx
            })
            .await?;
        published.await.map_err(|_| WorkerGone)
    }

    /// Runs `f` on every worker in turn; the results by worker index.
    pub async fn call_all<T: Send + 'static>(
        &self,
        f: impl Fn(&mut Worker, Instant) -> T + Send + Sync + 'static,
    ) -> Result<Vec<T>, WorkerGone> {
        let f = Arc::new(f);
        let mut results = Vec::with_capacity(self.workers.len());
        for index in 0..self.workers.len() {
            let f = f.clone();
            results.push(
                self.call_on(index, move |worker, now| f(worker, now))
                    .await?,
            );
        }
        Ok(results)
    }

    /// Runs `f` on worker `index`. Waits for room in its bounded queue.
    async fn call_on<T: Send + 'static>(
        &self,
        index: usize,
        f: impl FnOnce(&mut Worker, Instant) -> T + Send + 'static,
    ) -> Result<T, WorkerGone> {
        let link = self.workers.get(index).ok_or(WorkerGone)?;
        let (reply_tx, reply_rx) = oneshot::channel();
        let command: Command = Box::new(move |worker, now| {
            let _ = reply_tx.send(f(worker, now));
        });
        link.commands.send(command).await.map_err(|_| WorkerGone)?;
        reply_rx.await.map_err(|_| WorkerGone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic while a worker drives one pipeline drops that pipeline only:
    /// the worker goes on, the other pipeline on it answers, and the control
    /// plane is told which one failed.
    #[tokio::test]
    async fn a_panic_in_one_pipeline_leaves_the_worker_and_the_others_running() {
        let config = crate::config::Config { network_interfaces: vec!["lo".into()], media_workers: 1, ..Default::default() };
        let (events_tx, mut events) = mpsc::channel(16);
        let media = MediaHandle::spawn(&config, events_tx).unwrap();
        let doomed = media.create_pipeline().await.unwrap();
        let healthy = media.create_pipeline().await.unwrap();
        let crashed = media
            .call(doomed, move |w, _| {
                let _pipeline = w.pipeline(doomed);
                panic!("a bug while driving the pipeline");
            })
            .await;
        assert!(crashed.is_err(), "the panicking command gets no reply");
        assert!(media.call(healthy, move |w, _| w.pipeline(healthy).is_some()).await.unwrap(), "the other pipeline is there");
        assert!(!media.call(doomed, move |w, _| w.pipeline(doomed).is_some()).await.unwrap(), "the failed one is gone");
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), events.recv()).await.unwrap().unwrap();
        match event {
            MediaEvent::PipelineFailed { pipeline, description } => {
                assert_eq!(pipeline, doomed);
                assert!(description.contains("a bug while driving"), "{description}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn placement_picks_the_least_loaded_and_rotates_among_equals() {
        assert_eq!(least_loaded(&[5, 2, 9], 0), 1);
        assert_eq!(least_loaded(&[5, 2, 9], 2), 1);
        // Equal weights: the rotation decides, so equals take turns.
        let picks: Vec<usize> = (0..4).map(|start| least_loaded(&[3, 3], start)).collect();
        assert_eq!(picks, vec![0, 1, 0, 1]);
    }

    #[test]
    fn placement_spreads_pipelines_over_workers() {
        // Eight pipelines of three elements each, placed one after another.
        let mut weights = vec![0usize; 3];
        for n in 0..8 {
            let i = least_loaded(&weights, n);
            weights[i] += 4;
        }
        let (min, max) = (weights.iter().min().unwrap(), weights.iter().max().unwrap());
        assert!(max - min <= 4, "{weights:?}");
    }
}
