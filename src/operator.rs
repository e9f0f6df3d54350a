//! Running the operator (I/O): the Kubernetes client, the HTTP server, leader election on
//! a `coordination.k8s.io` Lease, and the controller while this replica leads.
//!
//! Two replicas never reconcile at once: only the Lease holder runs the controller. A
//! replica that loses the Lease stops reconciling and exits (Kubernetes restarts it as a
//! standby); on SIGTERM the leader releases the Lease so a standby takes over at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kube_lease_manager::LeaseManagerBuilder;
use tracing::{info, warn};

use crate::controller::{self, Context, EsEndpoint, ServiceEndpoint, Settings};
use crate::metrics::Metrics;
use crate::server::{self, Health};

/// How to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Controller tunables.
    pub settings: Settings,
    /// Address of `/metrics`, `/healthz`, `/readyz`.
    pub metrics_addr: SocketAddr,
    /// Elect a leader through a Lease (off: this replica always reconciles).
    pub leader_election: bool,
    /// Namespace of the Lease.
    pub lease_namespace: String,
    /// Name of the Lease.
    pub lease_name: String,
    /// Lease duration: how long a standby waits after the leader stops renewing.
    pub lease_duration: Duration,
    /// This replica's identity (pod name).
    pub identity: String,
}

/// The Kubernetes client, from the in-cluster environment or the current kubeconfig
/// context, identifying itself as `meshlogging-operator/<version> (<identity>)`.
pub async fn client(
    identity: &str,
) -> Result<kube::Client, Box<dyn std::error::Error + Send + Sync>> {
    let mut config = kube::Config::infer().await?;
    let agent = format!(
        "meshlogging-operator/{} ({identity})",
        env!("CARGO_PKG_VERSION")
    );
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_str(&agent)?,
    ));
    Ok(kube::Client::try_from(config)?)
}

/// Runs until `shutdown` completes (or, with leader election, until leadership is lost).
pub async fn run(
    client: kube::Client,
    options: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    run_with_endpoint(client, options, Arc::new(ServiceEndpoint), shutdown).await
}

/// [`run`], reaching Elasticsearch through `endpoint`.
pub async fn run_with_endpoint(
    client: kube::Client,
    options: Options,
    endpoint: Arc<dyn EsEndpoint>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health {
        ready: false.into(),
        metrics: metrics.clone(),
    });
    let (addr, server_task) = server::serve(options.metrics_addr, health.clone()).await?;
    info!(%addr, "serving /metrics, /healthz, /readyz");
    let ctx = Arc::new(Context::new(
        client.clone(),
        options.settings.clone(),
        endpoint,
        metrics,
        Some(options.identity.clone()),
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    if !options.leader_election {
        health.ready.store(true, Ordering::Relaxed);
        controller::run(ctx, stopped(stop_rx)).await;
        server_task.abort();
        return Ok(());
    }

    let duration = options.lease_duration.as_secs().max(2);
    let manager = LeaseManagerBuilder::new(client, &options.lease_name)
        .with_namespace(&options.lease_namespace)
        .with_identity(&options.identity)
        .with_duration(duration)
        .with_grace((duration / 3).max(1))
        .build()
        .await?;
    let (mut leading, lease_task) = manager.watch().await;
    health.ready.store(true, Ordering::Relaxed);
    info!(lease = %options.lease_name, identity = %options.identity, "waiting for leadership");
    let mut stop = stop_rx.clone();
    let elected = tokio::select! {
        r = leading.wait_for(|l| *l) => { r?; true }
        _ = stop.wait_for(|s| *s) => false,
    };
    if !elected {
        drop(leading);
        release(lease_task).await;
        server_task.abort();
        return Ok(());
    }
    info!(identity = %options.identity, "leading: reconciling");
    // The controller stops when leadership is lost or shutdown is requested; a spawned task
    // tells which (graceful_shutdown_on needs a Sync future, which a oneshot receiver is).
    let mut lost = leading.clone();
    let stop_requested = stopped(stop_rx);
    let lost_flag = Arc::new(AtomicBool::new(false));
    let flag = lost_flag.clone();
    let (end_tx, end_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        tokio::select! {
            _ = lost.wait_for(|l| !*l) => flag.store(true, Ordering::Relaxed),
            _ = stop_requested => {}
        }
        let _ = end_tx.send(());
    });
    controller::run(ctx, async move {
        let _ = end_rx.await;
    })
    .await;
    drop(leading);
    release(lease_task).await;
    server_task.abort();
    if lost_flag.load(Ordering::Relaxed) {
        warn!("lost leadership: stopping");
        return Err("lost leadership".into());
    }
    Ok(())
}

/// Stops renewing and frees the Lease so a standby takes over without waiting.
async fn release(
    task: tokio::task::JoinHandle<kube_lease_manager::Result<kube_lease_manager::LeaseManager>>,
) {
    match task.await {
        Ok(Ok(manager)) => {
            if let Err(e) = manager.release().await {
                warn!(error = %e, "cannot release the Lease");
            }
        }
        Ok(Err(e)) => warn!(error = %e, "lease manager failed"),
        Err(e) => warn!(error = %e, "lease manager task failed"),
    }
}
