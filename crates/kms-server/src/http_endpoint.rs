//! The HttpEndpoint server: the HTTP listener HttpPostEndpoint URLs point
//! at (`HttpEndpoint.conf.ini`: `serverAddress`, `serverPort`,
//! `announcedAddress`), started with the first HttpPostEndpoint as KMS does.
//!
//! `POST /<uuid>` streams its body (or, for `multipart/form-data` as a
//! browser form sends it, the first part that carries a file) into the
//! endpoint's [`UploadSlot`]. Answers: 200 when the upload ended, 404 for a
//! URL that is not (or no longer) registered, 405 for another method, 406
//! without a Content-Type or for a multipart body without a file part, 409
//! while another upload to the URL runs, 415 when the media cannot be read.

use crate::config::HttpEndpointConfig;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use kms_gst::{UploadError, UploadSlot, UploadWriter};
use kms_protocol::{ErrorCode, KurentoError};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::OnceCell;

/// Pieces of a body queued for the writer thread.
const BODY_QUEUE: usize = 8;

/// The registered URLs and the listener serving them.
pub struct HttpEndpoints {
    config: HttpEndpointConfig,
    /// The host:port URLs are announced with, once listening.
    origin: OnceCell<Result<String, String>>,
    slots: Arc<Mutex<HashMap<String, Weak<UploadSlot>>>>,
}

type Slots = Arc<Mutex<HashMap<String, Weak<UploadSlot>>>>;

impl HttpEndpoints {
    pub fn new(config: HttpEndpointConfig) -> HttpEndpoints {
        HttpEndpoints { config, origin: OnceCell::new(), slots: Arc::default() }
    }

    /// Registers `slot` under a new URL, starting the listener if needed.
    /// 40300 HTTP_END_POINT_REGISTRATION_ERROR when it cannot listen.
    pub async fn register(&self, slot: &Arc<UploadSlot>) -> Result<String, KurentoError> {
        let origin = self.origin.get_or_init(|| self.listen()).await;
        let origin = origin.as_ref().map_err(|e| KurentoError::new(ErrorCode::HttpEndPointRegistrationError, format!("Cannot register HttpPostEndpoint: {e}")))?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|_, s| s.strong_count() > 0);
        slots.insert(id.clone(), Arc::downgrade(slot));
        Ok(format!("http://{origin}/{id}"))
    }

    async fn listen(&self) -> Result<String, String> {
        let ip = match self.config.server_address.as_deref().map(str::trim) {
            None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Some("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(a) => a.parse().map_err(|_| format!("serverAddress '{a}' is not an IP address"))?,
        };
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, self.config.server_port))
            .await
            .map_err(|e| format!("cannot listen on {ip}:{}: {e}", self.config.server_port))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let app = axum::Router::new().route("/{id}", axum::routing::any(upload)).with_state(self.slots.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("HttpEndpoint server stopped: {e}");
            }
        });
        let host = match (&self.config.announced_address, &self.config.server_address) {
            (Some(a), _) | (None, Some(a)) => a.trim().to_owned(),
            (None, None) => first_ipv4().unwrap_or(Ipv4Addr::LOCALHOST).to_string(),
        };
        tracing::info!(%bound, "HttpEndpoint server listening; URLs announce {host}");
        Ok(format!("{host}:{}", bound.port()))
    }
}

/// The first non-loopback IPv4 address (KMS's choice without a configured one).
fn first_ipv4() -> Option<Ipv4Addr> {
    if_addrs::get_if_addrs().ok()?.into_iter().find_map(|i| match i.ip() {
        IpAddr::V4(v4) if !v4.is_loopback() => Some(v4),
        _ => None,
    })
}

fn status(code: StatusCode, text: impl Into<String>) -> Response {
    (code, text.into()).into_response()
}

/// One request to an endpoint URL.
async fn upload(State(slots): State<Slots>, Path(id): Path<String>, method: Method, headers: axum::http::HeaderMap, body: Body) -> Response {
    let slot = slots.lock().unwrap_or_else(|e| e.into_inner()).get(&id).and_then(Weak::upgrade);
    let Some(slot) = slot else { return status(StatusCode::NOT_FOUND, "no HttpPostEndpoint at this URL") };
    if method != Method::POST {
        return status(StatusCode::METHOD_NOT_ALLOWED, "HttpPostEndpoint takes POST");
    }
    let Some(content_type) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned) else {
        return status(StatusCode::NOT_ACCEPTABLE, "Request not acceptable, no content-type header present");
    };
    let multipart = content_type.to_ascii_lowercase().starts_with("multipart/");
    let boundary = multipart.then(|| multer::parse_boundary(&content_type).ok()).flatten();
    if multipart && (boundary.is_none() || !content_type.to_ascii_lowercase().starts_with("multipart/form-data")) {
        return status(StatusCode::NOT_ACCEPTABLE, "multipart bodies must be multipart/form-data with a boundary");
    }
    let writer = match slot.begin() {
        Ok(w) => w,
        Err(e @ UploadError::Gone) => return status(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ UploadError::Busy) => return status(StatusCode::CONFLICT, e.to_string()),
        Err(e @ UploadError::Failed(_)) => return status(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    drop(slot);
    let (tx, done) = spawn_writer(writer);
    let fed = match boundary {
        Some(boundary) => feed_form(body, boundary, &tx).await,
        None => feed(body.into_data_stream(), &tx).await,
    };
    drop(tx);
    let result = done.await.unwrap_or_else(|_| Err("the upload writer stopped".into()));
    match (fed, result) {
        (_, Err(e)) => status(StatusCode::UNSUPPORTED_MEDIA_TYPE, e),
        (Err(e), Ok(())) => status(StatusCode::NOT_ACCEPTABLE, e),
        (Ok(()), Ok(())) => StatusCode::OK.into_response(),
    }
}

/// A thread that writes the body into the upload (GStreamer's appsrc
/// blocks while the media is behind), fed through a bounded queue.
fn spawn_writer(writer: UploadWriter) -> (tokio::sync::mpsc::Sender<Vec<u8>>, tokio::sync::oneshot::Receiver<Result<(), String>>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(BODY_QUEUE);
    let (done_tx, done) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("kms-http-upload".into()).spawn(move || {
        while let Some(chunk) = rx.blocking_recv() {
            if !writer.write(chunk) {
                break;
            }
        }
        let _ = done_tx.send(writer.finish());
    });
    if let Err(e) = spawned {
        tracing::warn!("no upload thread: {e}");
    }
    (tx, done)
}

/// Passes a body stream on; a cut connection ends it like its end.
async fn feed<S, E>(mut stream: S, tx: &tokio::sync::mpsc::Sender<Vec<u8>>) -> Result<(), String>
where
    S: futures_util::Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) if bytes.is_empty() => {}
            Ok(bytes) => {
                if tx.send(bytes.to_vec()).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                tracing::info!("HttpPostEndpoint upload cut short: {e}");
                break;
            }
        }
    }
    Ok(())
}

/// The first part of a form that carries a file (KMS streams only that one).
async fn feed_form(body: Body, boundary: String, tx: &tokio::sync::mpsc::Sender<Vec<u8>>) -> Result<(), String> {
    let mut form = multer::Multipart::new(body.into_data_stream(), boundary);
    loop {
        match form.next_field().await {
            Ok(Some(field)) if field.file_name().is_some() => return feed(field, tx).await,
            Ok(Some(_)) => continue,
            Ok(None) => return Err("the form has no file part".into()),
            Err(e) => return Err(format!("the form cannot be read: {e}")),
        }
    }
}
