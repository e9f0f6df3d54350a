//! Running the operator in-process against the test API server, pointed at the
//! Elasticsearch stand-in, and reading its writes back from the audit log.

use std::sync::Arc;
use std::time::Duration;

use es_sim::EsSim;
use kube::config::{KubeConfigOptions, Kubeconfig};
use meshlogging_operator::controller::{self, Context, EsEndpoint, Settings};
use meshlogging_operator::elastic::{ClientConfig, Credentials, RetryPolicy};
use meshlogging_operator::metrics::Metrics;
use meshlogging_operator::validate::Validated;

use super::apiserver::ApiServer;

/// The password of `elastic` in every test's stand-in.
pub const ELASTIC_PASSWORD: &str = "elastic-test-Pw-41";

/// Reaches the stand-in whatever the resource says (managed or external).
pub struct SimEndpoint {
    url: String,
    ca: Option<Vec<u8>>,
}

impl SimEndpoint {
    /// Points at `sim`.
    pub fn new(sim: &EsSim) -> Self {
        Self {
            url: sim.url(),
            ca: sim.ca_pem().map(String::into_bytes),
        }
    }
}

impl EsEndpoint for SimEndpoint {
    fn client_config(
        &self,
        _: &Validated,
        _: Option<Credentials>,
        _: Option<Vec<u8>>,
    ) -> ClientConfig {
        let mut config = ClientConfig::new(self.url.clone());
        config.credentials = Some(Credentials {
            username: "elastic".into(),
            password: ELASTIC_PASSWORD.into(),
        });
        config.ca_pem = self.ca.clone();
        config
    }
}

/// A kube client whose user agent names `identity`, as the operator's does.
pub async fn client(server: &ApiServer, identity: &str) -> kube::Client {
    client_from(&server.kubeconfig, identity).await
}

/// A kube client from the kubeconfig at `path`, its user agent naming `identity`.
pub async fn client_from(path: &std::path::Path, identity: &str) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(path).expect("kubeconfig");
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("config");
    let agent = format!("meshlogging-operator/test ({identity})");
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_str(&agent).expect("agent"),
    ));
    kube::Client::try_from(config).expect("client")
}

/// Settings for tests: one namespace, quick requeues, quick retries.
pub fn settings(namespace: &str) -> Settings {
    Settings {
        resync_ready: Duration::from_secs(2),
        resync_pending: Duration::from_millis(500),
        cleanup_timeout: Duration::from_secs(10),
        es_request_timeout: Duration::from_secs(2),
        es_retry: RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
        },
        error_backoff: Duration::from_millis(200),
        error_backoff_max: Duration::from_secs(2),
        es_probe_backoff: Duration::from_millis(100),
        es_probe_backoff_max: Duration::from_secs(1),
        namespace: Some(namespace.to_string()),
        ..Settings::default()
    }
}

/// An operator running in this process.
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    /// Its identity (in its user agent).
    pub identity: String,
}

/// Starts the operator for `namespace`, reaching Elasticsearch at `sim`.
pub async fn start(server: &ApiServer, namespace: &str, sim: &EsSim, identity: &str) -> Running {
    start_with(
        server,
        settings(namespace),
        Arc::new(SimEndpoint::new(sim)),
        identity,
    )
    .await
}

/// Starts the operator with `settings` and `endpoint`.
pub async fn start_with(
    server: &ApiServer,
    settings: Settings,
    endpoint: Arc<dyn EsEndpoint>,
    identity: &str,
) -> Running {
    let client = client(server, identity).await;
    let ctx = Arc::new(Context::new(
        client,
        settings,
        endpoint,
        Arc::new(Metrics::default()),
        Some(identity.to_string()),
    ));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(controller::run(ctx, async move {
        let _ = rx.await;
    }));
    Running {
        stop: Some(tx),
        task,
        identity: identity.to_string(),
    }
}

impl Running {
    /// Stops it gracefully.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(20), &mut self.task).await;
    }

    /// Kills it where it stands (a crash in the middle of a reconcile).
    pub fn kill(self) {
        self.task.abort();
    }
}

/// Writes (`verb resource/name`) the API server audited for user agents naming `identity`.
pub fn writes(server: &ApiServer, identity: &str) -> Vec<String> {
    let log = std::fs::read_to_string(&server.audit_log).unwrap_or_default();
    let needle = format!("({identity})");
    log.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|e| {
            e["userAgent"]
                .as_str()
                .is_some_and(|ua| ua.contains(&needle))
                && e["stage"] == "ResponseComplete"
        })
        .map(|e| {
            let o = &e["objectRef"];
            format!(
                "{} {}{}/{}",
                e["verb"].as_str().unwrap_or(""),
                o["resource"].as_str().unwrap_or(""),
                o["subresource"]
                    .as_str()
                    .map(|s| format!("/{s}"))
                    .unwrap_or_default(),
                o["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}
