//! Viewers of Janus's streaming plugin over the Janus HTTP API: one session,
//! one plugin handle per viewer; Janus offers on `watch`, the load client
//! answers with `start`.

use super::media::{ask, Command};
use serde_json::{json, Value};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

pub struct Janus {
    /// e.g. `http://127.0.0.1:8088/janus`
    url: String,
    session: u64,
    agent: ureq::Agent,
    transaction: u64,
}

impl Janus {
    /// Creates a session on the Janus HTTP API at `url`.
    pub fn connect(url: &str) -> Result<Janus, String> {
        let agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(35))).build().into();
        let mut janus = Janus { url: url.trim_end_matches('/').to_owned(), session: 0, agent, transaction: 0 };
        janus.session = janus.post(&janus.url.clone(), json!({ "janus": "create" }))?["data"]["id"].as_u64().ok_or("create: no session id")?;
        Ok(janus)
    }

    fn post(&mut self, url: &str, mut body: Value) -> Result<Value, String> {
        self.transaction += 1;
        body["transaction"] = json!(format!("t{}", self.transaction));
        let reply: Value = self.agent.post(url).send_json(&body).map_err(|e| format!("POST {url}: {e}"))?.body_mut().read_json().map_err(|e| e.to_string())?;
        match reply["janus"].as_str() {
            Some("error") => Err(format!("{body}: {}", reply["error"])),
            _ => Ok(reply),
        }
    }

    /// Long-polls the session until the event with a JSEP for `handle` arrives.
    fn wait_jsep(&mut self, handle: u64) -> Result<Value, String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = format!("{}/{}?maxev=10", self.url, self.session);
        while Instant::now() < deadline {
            let reply: Value = self.agent.get(&url).call().map_err(|e| format!("GET {url}: {e}"))?.body_mut().read_json().map_err(|e| e.to_string())?;
            let events = if reply.is_array() { reply.as_array().cloned().unwrap_or_default() } else { vec![reply] };
            for e in events {
                if e["sender"].as_u64() == Some(handle) && e["jsep"]["sdp"].is_string() {
                    return Ok(e["jsep"].clone());
                }
                if e["sender"].as_u64() == Some(handle) && e["plugindata"]["data"]["error"].is_string() {
                    return Err(format!("watch: {}", e["plugindata"]["data"]["error"]));
                }
            }
        }
        Err(format!("no offer for handle {handle}"))
    }

    /// Adds `count` viewers of mountpoint `mountpoint`, numbered from `first`.
    pub fn add_viewers(&mut self, mountpoint: u64, first: usize, count: usize, media: &Sender<Command>) -> Result<(), String> {
        let session_url = format!("{}/{}", self.url, self.session);
        for peer in first..first + count {
            let handle = self.post(&session_url, json!({ "janus": "attach", "plugin": "janus.plugin.streaming" }))?["data"]["id"]
                .as_u64()
                .ok_or("attach: no handle id")?;
            let handle_url = format!("{session_url}/{handle}");
            self.post(&handle_url, json!({ "janus": "message", "body": { "request": "watch", "id": mountpoint } }))?;
            let offer = self.wait_jsep(handle)?["sdp"].as_str().unwrap_or_default().to_owned();
            let answer = ask(media, |reply| Command::Answer { peer, offer, reply })??;
            self.post(&handle_url, json!({ "janus": "message", "body": { "request": "start" }, "jsep": { "type": "answer", "sdp": answer } }))?;
            self.post(&handle_url, json!({ "janus": "trickle", "candidate": { "completed": true } }))?;
        }
        Ok(())
    }

    /// Destroys the session and every viewer in it.
    pub fn destroy(mut self) {
        let url = format!("{}/{}", self.url, self.session);
        let _ = self.post(&url, json!({ "janus": "destroy" }));
    }
}
