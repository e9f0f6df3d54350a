//! `kibana-sim`: an in-process stand-in for Kibana's saved objects API, for tests.
//!
//! It serves `/api/status` and the saved objects routes the operator uses (`_import`,
//! `_bulk_get`, `_find`, `_export`, `GET`/`DELETE /api/saved_objects/<type>/<id>`) in the
//! default space, with Kibana's status codes and error bodies, and adds test controls: a
//! request log with a read/write count, a switch that answers 503 as a starting Kibana does,
//! and direct state edits (drift). Its checks are written from Kibana's documentation of the
//! API, not from its code: see [`api`].
//!
//! ```text
//!  client ──HTTP──▶ server (I/O: log, 503 switch, kbn-xsrf, multipart) ──▶ api (pure, &mut State)
//! ```
#![forbid(unsafe_code)]

pub mod api;
mod server;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use api::State;

/// How Kibana says it is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// `/api/status` 200, level `available`.
    Available,
    /// `/api/status` 200, level `degraded`; the API still serves.
    Degraded,
    /// Every route answers 503 "Kibana server is not ready yet", as while Kibana starts.
    Starting,
}

/// One request as the stand-in received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// HTTP method.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// Whether it changes saved objects (`_import`, `DELETE`): every other route reads.
    pub write: bool,
}

pub(crate) struct Shared {
    pub version: String,
    pub state: Mutex<State>,
    pub log: Mutex<Vec<Recorded>>,
    pub availability: Mutex<Availability>,
    /// `(user, password)` pairs for basic auth; empty = security off.
    pub users: Mutex<Vec<(String, String)>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running stand-in. Stops on [`KibanaSim::stop`] or when dropped.
pub struct KibanaSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl KibanaSim {
    /// Starts a Kibana 8.15.3 on a free loopback port.
    pub async fn start() -> KibanaSim {
        KibanaSim::start_on(0, "8.15.3")
            .await
            .unwrap_or_else(|e| panic!("kibana-sim failed to start: {e}"))
    }

    /// Starts on `port` (0 = a free one) of 127.0.0.1, claiming Kibana `version`.
    pub async fn start_on(port: u16, version: &str) -> std::io::Result<KibanaSim> {
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            version: version.to_string(),
            state: Mutex::new(State::default()),
            log: Mutex::new(Vec::new()),
            availability: Mutex::new(Availability::Available),
            users: Mutex::new(Vec::new()),
        });
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(server::run(listener, shared.clone(), rx));
        Ok(KibanaSim {
            shared,
            addr,
            shutdown: tx,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.log).clone()
    }

    /// Requests that changed saved objects.
    pub fn writes(&self) -> usize {
        lock(&self.shared.log).iter().filter(|r| r.write).count()
    }

    /// Requests that only read.
    pub fn reads(&self) -> usize {
        lock(&self.shared.log).iter().filter(|r| !r.write).count()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Sets how Kibana says it is doing.
    pub fn set_availability(&self, a: Availability) {
        *lock(&self.shared.availability) = a;
    }

    /// Turns security on: every request must authenticate as one of `users` (`(name,
    /// password)`), else 401. An empty list turns it off (the default).
    pub fn set_users(&self, users: &[(&str, &str)]) {
        *lock(&self.shared.users) = users
            .iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect();
    }

    /// Reads or edits the saved objects behind the clients' back (drift).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut lock(&self.shared.state))
    }

    /// Stops serving and waits for the accept loop to end.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for KibanaSim {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
