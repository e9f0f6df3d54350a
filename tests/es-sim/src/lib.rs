//! `es-sim`: an in-process stand-in for the Elasticsearch REST API, for tests.
//!
//! It speaks the subset of the API the MeshLogging operator uses, with
//! Elasticsearch's status codes, error bodies, validation and version info,
//! and adds test controls: a request log, fault injection and direct state
//! edits (drift). Its fidelity is checked by Elasticsearch's own YAML REST
//! tests (`tests/yaml_rest/`).
//!
//! ```text
//!  client ──HTTP(S)──▶ server.rs ── faults ─▶ auth ─▶ route ─▶ api/*.rs handler
//!                        │  (I/O)                          (pure, over &mut State)
//!                        └─ request log, /_sim/* admin API
//! ```
//!
//! Modules: [`server`] (I/O), [`api`] (routes and handlers), [`state`],
//! [`settings`] (normalisation), [`error`], [`cron`], [`version`], [`util`], `tls`.
#![forbid(unsafe_code)]

pub mod api;
pub mod cron;
pub mod error;
pub mod server;
pub mod settings;
pub mod state;
mod tls;
pub mod util;
pub mod version;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use error::{EsError, EsResult};
use server::{Shared, lock};
pub use state::State;

/// How the stand-in is started.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The Elasticsearch version it claims (`GET /`), default `8.15.3`.
    pub version: String,
    /// Serve HTTPS with a fresh self-signed CA (see [`EsSim::ca_pem`]).
    pub tls: bool,
    /// Users for basic auth; empty = security disabled (no auth at all).
    pub users: Vec<SimUser>,
    /// `path.repo`: where `fs` snapshot repositories may live.
    pub path_repo: Vec<String>,
    /// Secure setting names in the keystore, e.g. `s3.client.default.access_key`.
    pub keystore: Vec<String>,
    /// Port to bind on 127.0.0.1; 0 = a free port.
    pub port: u16,
    /// Nodes in the simulated cluster (replicas beyond `nodes - 1` are unassigned: yellow).
    pub nodes: u32,
    pub cluster_name: String,
    /// The request log keeps at most this many entries (oldest dropped first).
    pub max_logged_requests: usize,
    /// The optional modules the node has (default: all of them, like the default distribution).
    pub modules: Modules,
}

/// The optional Elasticsearch modules a simulated node has. The default distribution has all
/// of them; the integration-test distribution the real-Elasticsearch tests run
/// (`org.elasticsearch.distribution.integ-test-zip`) has none: [`Modules::INTEG_TEST_DISTRIBUTION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Modules {
    /// `x-pack-ilm`: the `/_ilm/*` APIs and the `index.lifecycle.*` index settings (all but
    /// `index.lifecycle.prefer_ilm`, which the server itself defines). Without it those paths
    /// answer as no handler would, and the settings are unknown.
    pub ilm: bool,
    /// `x-pack-slm`: the `/_slm/*` APIs.
    pub slm: bool,
    /// `analysis-common`: every analysis component beyond the server's own (the server has the
    /// `standard` tokenizer, the `lowercase`, `stop` and `shingle` filters, the `standard`
    /// analyzer type and the prebuilt `standard`, `simple`, `whitespace`, `stop`, `keyword`
    /// and `classic` analyzers). The native realm's `.security` index needs it: without it
    /// role, user and password writes fail the way Elasticsearch's do.
    pub analysis_common: bool,
    /// `rest-root`: `GET /` and `HEAD /`.
    pub rest_root: bool,
    /// The `url`, `s3`, `gcs` and `azure` repository types (`fs` is the server's own).
    pub repository_plugins: bool,
}

impl Modules {
    /// Every module: the default distribution.
    pub const ALL: Modules = Modules {
        ilm: true,
        slm: true,
        analysis_common: true,
        rest_root: true,
        repository_plugins: true,
    };

    /// The integration-test distribution: the server with `x-pack-core` and
    /// `x-pack-security` only.
    pub const INTEG_TEST_DISTRIBUTION: Modules = Modules {
        ilm: false,
        slm: false,
        analysis_common: false,
        rest_root: false,
        repository_plugins: false,
    };
}

impl Default for Modules {
    fn default() -> Self {
        Modules::ALL
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            version: "8.15.3".to_string(),
            tls: false,
            users: Vec::new(),
            path_repo: Vec::new(),
            keystore: Vec::new(),
            port: 0,
            nodes: 1,
            cluster_name: "es-sim".to_string(),
            max_logged_requests: 100_000,
            modules: Modules::ALL,
        }
    }
}

/// A user of the simulated node. Role `superuser` is the admin; other roles
/// are the built-in ones or roles created through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimUser {
    pub username: String,
    pub password: String,
    pub roles: Vec<String>,
}

impl SimUser {
    pub fn new(username: &str, password: &str, roles: &[&str]) -> SimUser {
        SimUser {
            username: username.to_string(),
            password: password.to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    /// `elastic` with the `superuser` role.
    pub fn elastic(password: &str) -> SimUser {
        SimUser::new("elastic", password, &["superuser"])
    }
}

/// Cluster health colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Green,
    Yellow,
    Red,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Green => "green",
            Health::Yellow => "yellow",
            Health::Red => "red",
        }
    }

    pub fn parse(s: &str) -> Option<Health> {
        match s.to_ascii_lowercase().as_str() {
            "green" => Some(Health::Green),
            "yellow" => Some(Health::Yellow),
            "red" => Some(Health::Red),
            _ => None,
        }
    }
}

/// An injected fault. JSON form (admin API): `{"status":{"status":503,"count":2,"path_prefix":"/_ilm"}}`,
/// `{"too_many_requests":{"count":1,"retry_after_secs":2}}`, `{"latency":250}` (ms),
/// `"refuse_connections"`, `{"fail_request_number":3}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The next `count` requests (whose path starts with `path_prefix`, if set) fail with `status` and an ES-shaped error body.
    Status {
        status: u16,
        count: u32,
        #[serde(default)]
        path_prefix: Option<String>,
    },
    /// The next `count` requests get 429 with `Retry-After: retry_after_secs`.
    TooManyRequests { count: u32, retry_after_secs: u64 },
    /// Every request waits this long before being handled (until cleared).
    Latency(#[serde(with = "duration_ms")] Duration),
    /// Until cleared, every request's connection is dropped before any HTTP response.
    RefuseConnections,
    /// The n-th request from now (1 = the next one) fails with 503.
    FailRequestNumber(u64),
    /// The n-th request from now (1 = the next one) fails with `status` (for example 500,
    /// which clients do not retry: a pass interrupted after exactly n-1 requests).
    FailRequestNumberWith { n: u64, status: u16 },
}

mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// One request as the stand-in received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    /// The raw (percent-encoded) path, without the query string.
    pub path: String,
    /// The raw query string (empty when none).
    pub query: String,
    /// The JSON body; for ndjson or invalid JSON the raw text as a JSON string; `None` when empty.
    pub body: Option<Value>,
    /// The authenticated user (`None` when security is off or authentication failed).
    pub user: Option<String>,
    /// The HTTP status answered (injected faults included).
    pub status: u16,
}

/// Read-only endpoints that are sent with POST (or PUT) but change nothing.
const READ_ENDPOINTS: &[&str] = &[
    "_search",
    "_count",
    "_msearch",
    "_mget",
    "_field_caps",
    "_explain",
    "_validate",
    "_has_privileges",
    "_verify",
    "_authenticate",
    "explain",
    "_refresh",
];

impl RecordedRequest {
    /// Is this a write? Rule: every method but GET and HEAD, except requests whose
    /// path ends in a read-only endpoint (`_search`, `_count`, `_msearch`, `_mget`,
    /// `_field_caps`, `_explain`, `_validate/query`, `_has_privileges`, `_verify`
    /// (repository verification), `_authenticate`, `_ilm/explain`, `_refresh`).
    pub fn is_write(&self) -> bool {
        if self.method == "GET" || self.method == "HEAD" {
            return false;
        }
        let segs: Vec<&str> = self.path.split('/').filter(|s| !s.is_empty()).collect();
        !segs.iter().any(|s| READ_ENDPOINTS.contains(s))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// A running stand-in. Stops on [`EsSim::stop`] or when dropped.
pub struct EsSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tls: bool,
    ca_pem: Option<String>,
    served: Option<Arc<tls::Served>>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl EsSim {
    /// Starts with the default configuration on a free loopback port.
    pub async fn start() -> EsSim {
        EsSim::start_with(SimConfig::default()).await
    }

    /// Starts with `cfg`. Panics if the port cannot be bound (a test helper; see [`EsSim::try_start_with`]).
    pub async fn start_with(cfg: SimConfig) -> EsSim {
        match EsSim::try_start_with(cfg).await {
            Ok(s) => s,
            Err(e) => panic!("es-sim failed to start: {e}"),
        }
    }

    pub async fn try_start_with(cfg: SimConfig) -> Result<EsSim, SimError> {
        let addr = server::loopback(cfg.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        let (ca_pem, tls_cfg, served) = if cfg.tls {
            let m = tls::self_signed()?;
            (Some(m.ca_pem), Some(m.config), Some(m.served))
        } else {
            (None, None, None)
        };
        let tls = cfg.tls;
        let shared = Arc::new(Shared::new(cfg));
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(server::run(listener, shared.clone(), tls_cfg, rx));
        Ok(EsSim {
            shared,
            addr,
            tls,
            ca_pem,
            served,
            shutdown: tx,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT` or `https://...`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// PEM of the CA that signed the server certificate (when TLS is on).
    pub fn ca_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }

    /// From now on, new TLS connections are served `cert_pem` (the chain, leaf first)
    /// with `key_pem`, as a node that reloaded its HTTP certificate from its files (which
    /// Elasticsearch does within seconds of them changing). [`EsSim::ca_pem`] still names
    /// the stand-in's own CA. An error without TLS, or for PEM that does not parse.
    pub fn serve_certificate(&self, cert_pem: &str, key_pem: &str) -> Result<(), SimError> {
        match &self.served {
            Some(served) => served.replace(cert_pem, key_pem),
            None => Err(SimError::Tls("the stand-in runs without TLS".into())),
        }
    }

    /// Every recorded request (admin `/_sim/*` calls are not recorded).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// The recorded writes (see [`RecordedRequest::is_write`] for the rule).
    pub fn write_requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log)
            .iter()
            .filter(|r| r.is_write())
            .cloned()
            .collect()
    }

    pub fn inject(&self, fault: Fault) {
        self.shared.inject(fault);
    }

    pub fn clear_faults(&self) {
        *lock(&self.shared.faults) = server::FaultState::default();
    }

    /// Forces the cluster health colour.
    pub fn set_health(&self, h: Health) {
        lock(&self.shared.state).health_override = Some(h);
    }

    /// Health is computed from the shards again.
    pub fn clear_health(&self) {
        lock(&self.shared.state).health_override = None;
    }

    /// Edits the state behind the clients' back (drift).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut lock(&self.shared.state))
    }

    /// SLM: the next run of policy `id` fails with `reason` (recorded as its
    /// `last_failure`, the exception a `snapshot_exception` quoting it). `false` when
    /// there is no such policy.
    pub fn slm_fail_next(&self, id: &str, reason: &str) -> bool {
        let mut state = lock(&self.shared.state);
        match state.slm_policies.get_mut(id) {
            Some(p) => {
                p.fail_next = Some(reason.to_string());
                true
            }
            None => false,
        }
    }

    /// SLM: runs policy `id` now, as its schedule would (not a request: not logged);
    /// returns the snapshot's name, or why the run could not start.
    pub fn slm_run(&self, id: &str) -> Result<String, String> {
        let mut state = lock(&self.shared.state);
        api::slm::run_policy(&mut state, id, util::now_millis()).map_err(|e| e.to_string())
    }

    /// Repository `name` cannot be verified (`_verify`, a verifying PUT and snapshots fail
    /// with `repository_verification_exception` caused by `cause`) until
    /// [`fix_repository`](Self::fix_repository).
    pub fn break_repository(&self, name: &str, cause: &str) {
        let mut state = lock(&self.shared.state);
        state
            .broken_repositories
            .insert(name.to_string(), cause.to_string());
    }

    /// Repository `name` verifies again.
    pub fn fix_repository(&self, name: &str) {
        lock(&self.shared.state).broken_repositories.remove(name);
    }

    /// ILM: `index` enters the `ERROR` step, `failed_step` having failed with `kind`
    /// (`step_info.type`) and `reason`, until `POST <index>/_ilm/retry`. `false` when there
    /// is no such index.
    pub fn ilm_fail_step(&self, index: &str, failed_step: &str, kind: &str, reason: &str) -> bool {
        let mut state = lock(&self.shared.state);
        match state.indices.get_mut(index) {
            Some(ix) => {
                ix.ilm_error = Some(state::IlmStepError {
                    failed_step: failed_step.to_string(),
                    kind: kind.to_string(),
                    reason: reason.to_string(),
                });
                true
            }
            None => false,
        }
    }

    /// The cluster's nodes are now `names` (a node that left loses its shard copies).
    pub fn set_node_names(&self, names: &[&str]) {
        lock(&self.shared.state).set_node_names(names);
    }

    /// Node `name` now runs `version` (a node that rejoined after an upgrade).
    pub fn set_node_version(&self, name: &str, version: &str) {
        let mut state = lock(&self.shared.state);
        state
            .node_versions
            .insert(name.to_string(), version.to_string());
    }

    /// Node `name`'s keystore is now protected by `password` (its keystore sidecar
    /// rebuilt it): a reload with another password is refused on that node.
    pub fn set_keystore_password(&self, name: &str, password: &str) {
        lock(&self.shared.state)
            .keystore_passwords
            .insert(name.to_string(), password.to_string());
    }

    /// Every node refuses a reload of its keystore with this reason (`None`: no more).
    pub fn set_keystore_reload_error(&self, reason: Option<&str>) {
        lock(&self.shared.state).keystore_reload_error = reason.map(str::to_string);
    }

    /// The elected master's name.
    pub fn master_node(&self) -> String {
        lock(&self.shared.state).master_node()
    }

    /// Node `name` is the elected master.
    pub fn set_master_node(&self, name: &str) {
        lock(&self.shared.state).elected_master = Some(name.to_string());
    }

    /// The cluster's health colour now, as `GET /_cluster/health` would answer it.
    pub fn health_now(&self) -> Health {
        let mut state = lock(&self.shared.state);
        if let Some(h) = state.health_override {
            return h;
        }
        let table = api::allocation::shard_table(&mut state);
        if table.iter().any(|r| r.primary && r.node.is_none()) {
            Health::Red
        } else if table.iter().any(|r| r.node.is_none()) {
            Health::Yellow
        } else {
            Health::Green
        }
    }

    /// `cluster.routing.allocation.enable` as the cluster applies it (`all` when unset).
    pub fn allocation_enable(&self) -> String {
        api::allocation::allocation_enable(&lock(&self.shared.state))
    }

    /// Holds (or releases) relocation: while held, shard copies on excluded nodes stay.
    pub fn hold_relocation(&self, held: bool) {
        lock(&self.shared.state).relocation_held = held;
    }

    /// The shard table as `_cat/shards` would show it now.
    pub fn shard_table(&self) -> Vec<api::allocation::ShardRow> {
        api::allocation::shard_table(&mut lock(&self.shared.state))
    }

    /// Changes the version reported and the version-dependent behaviour.
    pub fn set_version(&self, v: &str) {
        lock(&self.shared.state).version = v.to_string();
    }

    /// Back to a fresh node: state from the configuration, empty log, no faults.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Stops serving and waits until every connection task has ended.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for EsSim {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.task.take() {
            // aborting drops the accept loop and, with it, every connection task
            t.abort();
        }
    }
}
