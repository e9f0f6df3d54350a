//! The operator under test, three ways: in-process with the controller alone ([`start`],
//! [`start_with`]), in-process as deployed (leader election, metrics server: [`run_as`]),
//! and the real binary as its own process, killed when dropped ([`OperatorProcess`]).

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use es_sim::EsSim;
use kube::config::{KubeConfigOptions, Kubeconfig};
use meshlogging_operator::controller::{self, Context, EsEndpoint, Settings};
use meshlogging_operator::elastic::RetryPolicy;
use meshlogging_operator::metrics::Metrics;
use meshlogging_operator::operator::{Options, run_with_endpoint};

use crate::apiserver::ApiServer;
use crate::process::KillOnDrop;
use crate::sim::SimEndpoint;

/// A kube client whose user agent names `identity`, as the operator's does.
pub async fn client(server: &ApiServer, identity: &str) -> kube::Client {
    client_from(&server.kubeconfig, identity).await
}

/// A kube client from the kubeconfig at `path`, its user agent naming `identity`.
pub async fn client_from(path: &Path, identity: &str) -> kube::Client {
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

/// How [`run_as`] runs the operator: `settings`, metrics on a free loopback port, the
/// identity `identity`; with leader election through the Lease `meshlogging-operator` (5 s)
/// in `lease_namespace` when given, else without.
pub fn options(identity: &str, settings: Settings, lease_namespace: Option<&str>) -> Options {
    Options {
        settings,
        metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        leader_election: lease_namespace.is_some(),
        lease_namespace: lease_namespace.unwrap_or("default").into(),
        lease_name: "meshlogging-operator".into(),
        lease_duration: Duration::from_secs(5),
        identity: identity.into(),
    }
}

/// Resolves when a [`Running`] operator is told to stop.
type Stopped = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + Sync>>;

/// An operator running in this process.
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    /// Its identity (in its user agent).
    pub identity: String,
}

/// Starts the controller for `namespace`, reaching Elasticsearch at `sim`.
pub async fn start(server: &ApiServer, namespace: &str, sim: &EsSim, identity: &str) -> Running {
    start_with(
        server,
        settings(namespace),
        Arc::new(SimEndpoint::new(sim)),
        identity,
    )
    .await
}

/// Starts the controller with `settings` and `endpoint`.
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
    Running::spawn(identity, |stopped| controller::run(ctx, stopped))
}

/// Runs the operator as `main` does (leader election, the metrics server) with `client`,
/// reaching Elasticsearch through `endpoint`.
pub fn run_as(client: kube::Client, options: Options, endpoint: Arc<dyn EsEndpoint>) -> Running {
    let identity = options.identity.clone();
    Running::spawn(&identity, move |stopped| async move {
        if let Err(e) = run_with_endpoint(client, options, endpoint, stopped).await {
            eprintln!("the operator stopped with an error: {e}");
        }
    })
}

impl Running {
    fn spawn<F, Fut>(identity: &str, run: F) -> Running
    where
        F: FnOnce(Stopped) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(Box::pin(async move {
            let _ = rx.await;
        })));
        Running {
            stop: Some(tx),
            task,
            identity: identity.to_string(),
        }
    }

    /// Stops it gracefully (waits up to 20 s).
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

/// The operator binary as its own process against the test API server, killed (SIGKILL)
/// when dropped, also when the test fails.
pub struct OperatorProcess(KillOnDrop);

impl OperatorProcess {
    /// `binary run --metrics-addr 127.0.0.1:0` with the server's kubeconfig; pass
    /// `env!("CARGO_BIN_EXE_meshlogging-operator")` (set for tests and benches only).
    pub fn builder(binary: impl AsRef<OsStr>, server: &ApiServer) -> OperatorProcessBuilder {
        let mut cmd = Command::new(binary);
        cmd.args(["run", "--metrics-addr", "127.0.0.1:0"])
            .env("KUBECONFIG", &server.kubeconfig)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        OperatorProcessBuilder { cmd, log: None }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

/// Arguments, log level and log file of an [`OperatorProcess`].
pub struct OperatorProcessBuilder {
    cmd: Command,
    log: Option<PathBuf>,
}

impl OperatorProcessBuilder {
    /// More arguments of `run`.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Its `RUST_LOG` (default `warn`).
    pub fn log_level(mut self, level: &str) -> Self {
        self.cmd.env("RUST_LOG", level);
        self
    }

    /// Its log (stderr) into `path` (default: discarded).
    pub fn log_to(mut self, path: PathBuf) -> Self {
        self.log = Some(path);
        self
    }

    /// Starts it.
    pub fn spawn(mut self) -> OperatorProcess {
        if let Some(path) = &self.log {
            let file = std::fs::File::create(path)
                .unwrap_or_else(|e| panic!("log file {}: {e}", path.display()));
            self.cmd.stderr(file);
        }
        OperatorProcess(KillOnDrop(self.cmd.spawn().expect("spawn the operator")))
    }
}
