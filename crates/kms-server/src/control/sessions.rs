//! Sessions, their connections and their event subscriptions (KMS's
//! `WebSocketTransport` + `ServerMethods` session handling).
//!
//! A session is bound to the connection that last carried a request with its
//! id; events go to that connection. A session outlives its connection until
//! the garbage collector finds it unused for a whole period.

use kms_protocol::ObjectId;
use std::collections::HashMap;

/// Id of one WebSocket connection.
pub type ConnId = u64;

/// Sender of text frames to one connection (bounded in bytes, see `outgoing`).
pub type ConnSender = crate::outgoing::Outgoing;

#[derive(Debug, Default)]
pub struct Session {
    pub conn: Option<ConnId>,
    /// Marked by any request and by an open connection; cleared by each GC run.
    pub in_use: bool,
    /// subscription id -> (object, event type)
    pub subscriptions: HashMap<String, (ObjectId, String)>,
}

#[derive(Debug, Default)]
pub struct Sessions {
    sessions: HashMap<String, Session>,
    conns: HashMap<ConnId, ConnSender>,
}

impl Sessions {
    pub fn add_connection(&mut self, conn: ConnId, tx: ConnSender) {
        self.conns.insert(conn, tx);
    }

    /// Forgets a closed connection; its sessions stay until GC.
    pub fn remove_connection(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
        for s in self.sessions.values_mut() {
            if s.conn == Some(conn) {
                s.conn = None;
            }
        }
    }

    pub fn contains(&self, session: &str) -> bool {
        self.sessions.contains_key(session)
    }

    /// Creates the session if needed, binds it to `conn` and marks it in use.
    pub fn touch(&mut self, session: &str, conn: ConnId) {
        let s = self.sessions.entry(session.to_owned()).or_default();
        s.conn = Some(conn);
        s.in_use = true;
    }

    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.sessions.keys().cloned().collect();
        ids.sort();
        ids
    }

    pub fn remove(&mut self, session: &str) -> Option<Session> {
        self.sessions.remove(session)
    }

    /// Adds a subscription and returns its id.
    pub fn subscribe(&mut self, session: &str, object: ObjectId, event_type: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let s = self.sessions.entry(session.to_owned()).or_default();
        s.subscriptions.insert(id.clone(), (object, event_type.to_owned()));
        id
    }

    /// Removes a subscription; unknown ids are ignored, as in KMS.
    pub fn unsubscribe(&mut self, session: &str, subscription: &str) {
        if let Some(s) = self.sessions.get_mut(session) {
            s.subscriptions.remove(subscription);
        }
    }

    /// Drops every subscription on the given objects (they were released).
    pub fn forget_objects(&mut self, objects: &[ObjectId]) {
        for s in self.sessions.values_mut() {
            s.subscriptions.retain(|_, (o, _)| !objects.contains(o));
        }
    }

    /// Sends `text` once to every session subscribed to (`object`, `event_type`)
    /// that has a connection. Returns how many sessions it reached.
    pub fn deliver(&self, object: &ObjectId, event_type: &str, text: &str) -> usize {
        let mut reached = 0;
        for s in self.sessions.values() {
            let subscribed = s.subscriptions.values().any(|(o, t)| o == object && t == event_type);
            let Some(tx) = s.conn.and_then(|c| self.conns.get(&c)) else { continue };
            if subscribed && tx.send(text.to_owned()) {
                reached += 1;
            }
        }
        reached
    }

    /// One garbage-collection pass: sessions with a live connection count as in
    /// use; returns the sessions unused since the previous pass (removed), and
    /// clears every flag.
    pub fn collect_garbage(&mut self) -> Vec<String> {
        let conns = &self.conns;
        let mut dead = Vec::new();
        for (id, s) in self.sessions.iter_mut() {
            let connected = s.conn.is_some_and(|c| conns.contains_key(&c));
            if !s.in_use && !connected {
                dead.push(id.clone());
            }
            s.in_use = false;
        }
        for id in &dead {
            self.sessions.remove(id);
        }
        dead
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj() -> ObjectId {
        ObjectId::new(None, "kurento", "MediaPipeline")
    }

    #[test]
    fn one_delivery_per_session_however_many_subscriptions() {
        let mut s = Sessions::default();
        let (tx, mut rx) = crate::outgoing::channel(1 << 20);
        s.add_connection(1, tx);
        s.touch("a", 1);
        let o = obj();
        s.subscribe("a", o.clone(), "Error");
        let second = s.subscribe("a", o.clone(), "Error");
        assert_eq!(s.deliver(&o, "Error", "x"), 1);
        assert_eq!(rx.try_recv().unwrap(), "x");
        assert!(rx.try_recv().is_none());
        s.unsubscribe("a", &second);
        assert_eq!(s.deliver(&o, "Other", "y"), 0);
    }

    #[test]
    fn events_follow_the_session_to_its_new_connection() {
        let mut s = Sessions::default();
        let (tx1, mut rx1) = crate::outgoing::channel(1 << 20);
        let (tx2, mut rx2) = crate::outgoing::channel(1 << 20);
        s.add_connection(1, tx1);
        s.add_connection(2, tx2);
        s.touch("a", 1);
        let o = obj();
        s.subscribe("a", o.clone(), "Error");
        s.remove_connection(1);
        s.touch("a", 2);
        s.deliver(&o, "Error", "x");
        assert!(rx1.try_recv().is_none());
        assert_eq!(rx2.try_recv().unwrap(), "x");
    }

    #[test]
    fn gc_removes_sessions_unused_for_a_whole_period() {
        let mut s = Sessions::default();
        let (tx, _rx) = crate::outgoing::channel(1 << 20);
        s.add_connection(1, tx);
        s.touch("live", 1);
        s.touch("gone", 1);
        s.touch("gone", 2); // bound to a connection that no longer exists
        assert!(s.collect_garbage().is_empty(), "both were used in this period");
        assert_eq!(s.collect_garbage(), ["gone"]);
        assert!(s.contains("live"));
    }
}
