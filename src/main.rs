//! The `meshlogging-operator` binary: arguments, telemetry, then the operator.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use meshlogging_operator::controller::Settings;
use meshlogging_operator::operator::{self, Options};
use meshlogging_operator::telemetry::{self, LogFormat};

#[derive(Parser)]
#[command(version, about = "Kubernetes operator for MeshLogging logging stacks")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator against the current kubeconfig context or in-cluster (default).
    Run(Box<RunArgs>),
    /// Print the MeshLogging CustomResourceDefinition as YAML.
    Crd(CrdArgs),
}

#[derive(Parser, Clone)]
struct CrdArgs {
    /// Print the JSON Schema of the resource instead (for kubeconform and editors).
    #[arg(long)]
    json_schema: bool,
}

#[derive(Parser, Clone)]
struct RunArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Elect a leader through a Lease, so replicas never reconcile at once.
    #[arg(long, env = "LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// Namespace of the leader-election Lease (default: the pod's namespace, else `default`).
    #[arg(long, env = "POD_NAMESPACE")]
    lease_namespace: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "meshlogging-operator")]
    lease_name: String,
    /// Seconds a standby waits after the leader stopped renewing.
    #[arg(long, default_value_t = 15)]
    lease_duration_secs: u64,
    /// This replica's identity (default: the pod name, else host name and process id).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Seconds between re-checks of a Ready resource (Elasticsearch drift).
    #[arg(long, default_value_t = 300)]
    resync_secs: u64,
    /// Reconciles running at once (they never wait for Elasticsearch).
    #[arg(long, default_value_t = 4)]
    concurrency: u16,
    /// Elasticsearch passes (health, sync) running at once, apart from the reconciles.
    #[arg(long, default_value_t = 8)]
    es_concurrency: u16,
    /// ClusterRole the collectors are bound to (shipped in manifests/).
    #[arg(long, default_value = "meshlogging-collector")]
    collector_cluster_role: String,
    /// Allow only these collector images (repeat, or comma-separate; a trailing `*` matches
    /// a prefix); the operator's pinned images are always allowed. Default: any image.
    #[arg(
        long,
        env = "MESHLOGGING_ALLOWED_COLLECTOR_IMAGES",
        value_delimiter = ','
    )]
    allowed_collector_image: Vec<String>,
    /// Allow only these Kibana Ingress annotation keys (repeat, or comma-separate; a
    /// trailing `*` matches a prefix). Default: any key.
    #[arg(
        long,
        env = "MESHLOGGING_ALLOWED_INGRESS_ANNOTATIONS",
        value_delimiter = ','
    )]
    allowed_ingress_annotation: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Crd(args)) => crd(args),
        Some(Command::Run(args)) => run(*args),
        None => run(RunArgs::parse_from(["meshlogging-operator"])),
    }
}

fn crd(args: CrdArgs) -> ExitCode {
    use std::io::Write as _;
    let text = if args.json_schema {
        meshlogging_operator::crd::json_schema().map_err(|e| e.to_string())
    } else {
        meshlogging_operator::crd::yaml().map_err(|e| e.to_string())
    };
    match text {
        Ok(yaml) => match std::io::stdout().write_all(yaml.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("error: cannot render the CRD: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> ExitCode {
    telemetry::init(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let identity = args.identity.clone().unwrap_or_else(default_identity);
        let client = match operator::client(&identity).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot reach Kubernetes");
                return ExitCode::FAILURE;
            }
        };
        let options = Options {
            settings: Settings {
                resync_ready: Duration::from_secs(args.resync_secs),
                collector_cluster_role: args.collector_cluster_role,
                namespace: args.namespace,
                concurrency: args.concurrency.max(1),
                es_concurrency: args.es_concurrency.max(1),
                admission: meshlogging_operator::validate::AdmissionPolicy {
                    collector_images: (!args.allowed_collector_image.is_empty())
                        .then_some(args.allowed_collector_image),
                    ingress_annotation_keys: (!args.allowed_ingress_annotation.is_empty())
                        .then_some(args.allowed_ingress_annotation),
                },
                ..Settings::default()
            },
            metrics_addr: args.metrics_addr,
            leader_election: args.leader_election,
            lease_namespace: args
                .lease_namespace
                .unwrap_or_else(|| "default".to_string()),
            lease_name: args.lease_name,
            lease_duration: Duration::from_secs(args.lease_duration_secs),
            identity,
        };
        match operator::run(client, options, shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "operator stopped");
                ExitCode::FAILURE
            }
        }
    })
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "local".to_string());
    format!("{host}-{}", std::process::id())
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
