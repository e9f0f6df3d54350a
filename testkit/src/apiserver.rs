//! A real `kube-apiserver` + `etcd` for the integration tests (the envtest pattern).
//!
//! One pair per test binary, started on first use on free loopback ports, with a generated
//! serving certificate, service-account key and admin token, RBAC authorization, the
//! `OwnerReferencesPermissionEnforcement` admission plugin, and an audit log of every write (so tests can count the operator's writes by user agent).
//!
//! Both processes run under a small `sh` supervisor whose stdin is a pipe from the test
//! binary: when the test binary ends — normally, by panic or by a signal — the pipe closes,
//! the supervisor kills both processes (SIGKILL: their data is throwaway, and a graceful
//! kube-apiserver shutdown lingers for most of a minute) and removes their data folder. No fixed ports, no
//! stray processes, safe to run twice at once.

use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::process::{
    free_port, poll_until_ready, quote, shell_words, supervisor, temp_dir, tool, write,
};

/// A running API server.
pub struct ApiServer {
    /// `https://127.0.0.1:PORT`
    pub url: String,
    /// Kubeconfig for the admin user, for `kubectl` and kube clients.
    pub kubeconfig: PathBuf,
    /// Audit log: one JSON event per line for every create/update/patch/delete.
    pub audit_log: PathBuf,
    /// Folder of the run (logs, certificates, etcd data); removed when the binary ends.
    pub dir: PathBuf,
    /// PEM of the serving certificate (also the CA clients trust).
    pub ca_pem: String,
    /// Keeps the supervisor's stdin open while the test binary lives.
    _supervisor: Mutex<(Child, ChildStdin)>,
}

static SERVER: OnceLock<ApiServer> = OnceLock::new();

/// The API server of this test binary, started on first use.
pub fn get() -> &'static ApiServer {
    SERVER.get_or_init(|| {
        let mut last = String::new();
        // A free port picked here can be taken by someone else before the server binds it;
        // try again with new ports rather than fail.
        for _ in 0..3 {
            match ApiServer::start() {
                Ok(server) => return server,
                Err(e) => last = e,
            }
        }
        panic!("kube-apiserver did not start: {last}");
    })
}

impl ApiServer {
    fn start() -> Result<ApiServer, String> {
        let assets = assets_dir()?;
        let dir = temp_dir("envtest", &[])?;

        let etcd_client = free_port()?;
        let etcd_peer = free_port()?;
        let secure_port = free_port()?;
        let url = format!("https://127.0.0.1:{secure_port}");

        let serving = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .map_err(|e| e.to_string())?;
        let ca_pem = serving.cert.pem();
        let sa_key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
        let token = format!("{:032x}", rand::random::<u128>());

        write(&dir.join("serving.crt"), &ca_pem)?;
        write(
            &dir.join("serving.key"),
            &serving.signing_key.serialize_pem(),
        )?;
        write(&dir.join("sa.key"), &sa_key.serialize_pem())?;
        write(&dir.join("sa.pub"), &sa_key.public_key_pem())?;
        write(
            &dir.join("tokens.csv"),
            &format!("{token},envtest-admin,envtest-admin,system:masters\n"),
        )?;
        // The bench also counts reads (MESHLOGGING_AUDIT_READS=1); the tests only writes.
        let policy = if std::env::var_os("MESHLOGGING_AUDIT_READS").is_some() {
            AUDIT_POLICY_WITH_READS
        } else {
            AUDIT_POLICY
        };
        write(&dir.join("audit-policy.yaml"), policy)?;
        let audit_log = dir.join("audit.log");
        let kubeconfig = dir.join("kubeconfig");
        write(&kubeconfig, &kubeconfig_yaml(&url, &ca_pem, &token))?;

        let d = |name: &str| dir.join(name).display().to_string();
        let etcd = [
            assets.join("etcd").display().to_string(),
            format!("--data-dir={}", d("etcd")),
            format!("--listen-client-urls=http://127.0.0.1:{etcd_client}"),
            format!("--advertise-client-urls=http://127.0.0.1:{etcd_client}"),
            format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}"),
            format!("--initial-cluster=default=http://127.0.0.1:{etcd_peer}"),
            "--unsafe-no-fsync=true".into(),
            "--log-level=error".into(),
        ];
        let apiserver = [
            assets.join("kube-apiserver").display().to_string(),
            format!("--etcd-servers=http://127.0.0.1:{etcd_client}"),
            format!("--etcd-prefix=/registry-{}", rand::random::<u32>()),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={secure_port}"),
            format!("--tls-cert-file={}", d("serving.crt")),
            format!("--tls-private-key-file={}", d("serving.key")),
            format!("--cert-dir={}", d("certs")),
            format!("--token-auth-file={}", d("tokens.csv")),
            format!("--service-account-key-file={}", d("sa.pub")),
            format!("--service-account-signing-key-file={}", d("sa.key")),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            "--service-cluster-ip-range=10.96.0.0/16".into(),
            "--authorization-mode=RBAC".into(),
            "--allow-privileged=true".into(),
            "--enable-priority-and-fairness=false".into(),
            "--disable-admission-plugins=ServiceAccount".into(),
            // As on OpenShift: setting blockOwnerDeletion needs update on the owner's
            // finalizers (tests/rbac.rs proves the operator's ClusterRole has it).
            "--enable-admission-plugins=OwnerReferencesPermissionEnforcement".into(),
            format!("--audit-policy-file={}", d("audit-policy.yaml")),
            format!("--audit-log-path={}", audit_log.display()),
            "--audit-log-mode=blocking".into(),
            "--audit-log-format=json".into(),
            "--v=0".into(),
        ];
        let script = format!(
            "{etcd} >{etcd_log} 2>&1 & etcd=$!\n\
             {apiserver} >{api_log} 2>&1 & api=$!\n\
             cat >/dev/null\n\
             kill -9 $api $etcd 2>/dev/null\n\
             wait\n\
             rm -rf {dir}\n",
            etcd = shell_words(&etcd),
            apiserver = shell_words(&apiserver),
            etcd_log = quote(&d("etcd.log")),
            api_log = quote(&d("apiserver.log")),
            dir = quote(&dir.display().to_string()),
        );
        let (child, stdin) = supervisor(&script, Stdio::null())?;

        let server = ApiServer {
            url,
            kubeconfig,
            audit_log,
            dir: dir.clone(),
            ca_pem,
            _supervisor: Mutex::new((child, stdin)),
        };
        // On error the handle is dropped, which closes stdin: the supervisor stops both
        // processes and cleans up.
        server.wait_ready(&token)?;
        Ok(server)
    }

    /// Polls `/readyz` until it answers 200. Runs on its own thread and runtime, so it can
    /// be called from inside a test's runtime.
    fn wait_ready(&self, token: &str) -> Result<(), String> {
        let url = format!("{}/readyz", self.url);
        let client = https_client(&self.ca_pem)?;
        let token = token.to_string();
        let ready = poll_until_ready(
            Duration::from_secs(90),
            Duration::from_millis(200),
            move || {
                let request = client.get(&url).bearer_auth(&token).send();
                async move {
                    request
                        .await
                        .is_ok_and(|r| r.status().is_success())
                        .then_some(true)
                }
            },
        )?;
        if ready {
            return Ok(());
        }
        let log = std::fs::read_to_string(self.dir.join("apiserver.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().collect();
        let tail = tail[tail.len().saturating_sub(30)..].join("\n");
        Err(format!("not ready after 90s; apiserver.log:\n{tail}"))
    }

    /// A new admin client (one per test: a client belongs to the runtime that made it).
    pub async fn client(&self) -> kube::Client {
        let config = self.config().await;
        kube::Client::try_from(config).expect("kube client")
    }

    /// The admin client configuration.
    pub async fn config(&self) -> kube::Config {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("read kubeconfig");
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("kube config")
    }

    /// A kubeconfig file for a bearer `token` (a ServiceAccount's), next to the admin one.
    pub fn kubeconfig_for_token(&self, name: &str, token: &str) -> PathBuf {
        let path = self.dir.join(format!("kubeconfig-{name}"));
        write(&path, &kubeconfig_yaml(&self.url, &self.ca_pem, token)).expect("write kubeconfig");
        path
    }

    /// `kubectl` with this server's kubeconfig.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }
}

/// The folder holding `kube-apiserver` and `etcd`: `KUBEBUILDER_ASSETS`, or what
/// `hack/envtest.sh` provides (it builds them on first use and caches them).
fn assets_dir() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("KUBEBUILDER_ASSETS") {
        return Ok(PathBuf::from(dir));
    }
    tool("envtest.sh").map(PathBuf::from)
}

fn kubeconfig_yaml(url: &str, ca_pem: &str, token: &str) -> String {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: envtest\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\n\
         users:\n- name: envtest-admin\n  user:\n    token: {token}\n\
         contexts:\n- name: envtest\n  context:\n    cluster: envtest\n    user: envtest-admin\n\
         current-context: envtest\n"
    )
}

/// Every write at Metadata level (verb, resource, user, user agent); reads are not logged.
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
";

/// Every request at Metadata level, reads too (for the bench's read counts); status patches
/// and events with their bodies (so the bench can say what a write in an idle window changed).
const AUDIT_POLICY_WITH_READS: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Request
  verbs: [create, patch]
  resources:
  - {group: logging.mcp-mesh.io, resources: [meshloggings/status]}
  - {group: '', resources: [events]}
  - {group: events.k8s.io, resources: [events]}
- level: Metadata
";

/// An HTTPS client trusting only the API server's serving certificate.
fn https_client(ca_pem: &str) -> Result<reqwest::Client, String> {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).map_err(|e| e.to_string())?;
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())
}
