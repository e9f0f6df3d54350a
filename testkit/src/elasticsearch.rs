//! A real Elasticsearch for the integration tests: the integration-test distribution from
//! Maven Central (`hack/elasticsearch.sh` fetches and caches it), one node per test binary,
//! started on first use.
//!
//! The node listens on free loopback ports with HTTPS (a CA and a node certificate made
//! here), security on, a file-realm superuser with a generated password, `path.repo` in a
//! temporary folder, a small heap and the [`DISK_SETTINGS`]. Elasticsearch refuses to run as
//! root: as root (CI) it runs as the `meshlogging-es` user the script creates.
//!
//! Like the API server, the node runs under a `sh` supervisor whose stdin is a pipe from
//! the test binary: when the binary ends, however it ends, the pipe closes and the
//! supervisor kills the node's whole process group (the launcher and the server JVM) and
//! removes its folder.
//!
//! The distribution lacks ILM, SLM, `analysis-common` (so the native realm's `.security`
//! index) and `rest-root` (`GET /` answers 405): tests of those use the stand-in and say so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use meshlogging_operator::elastic::{ClientConfig, Credentials, EsClient, RetryPolicy};

use std::io::Write as _;

use crate::process::{
    free_port, is_root, poll_until_ready, quote, run_as_prefix, shell_words, supervisor, temp_dir,
    tool, write,
};

/// The folders of a node's folder.
const NODE_FOLDERS: &[&str] = &["config", "data", "logs", "repo", "tmp"];

/// The disk settings of every test node. A shared test machine's disk may be past
/// Elasticsearch's default watermarks (85/90/95 % used, with headrooms), and while the
/// allocation decider obeys `threshold_enabled: false`, the disk health indicator
/// (`GET _health_report/disk`) still judges the watermarks: the node then reports
/// `yellow` ("running low on disk space") for a reason that is the machine's, not the
/// test's. Small absolute amounts of free space keep both quiet unless the disk is
/// really full.
pub const DISK_SETTINGS: &[(&str, &str)] = &[
    ("cluster.routing.allocation.disk.threshold_enabled", "false"),
    ("cluster.routing.allocation.disk.watermark.low", "1gb"),
    ("cluster.routing.allocation.disk.watermark.high", "512mb"),
    (
        "cluster.routing.allocation.disk.watermark.flood_stage",
        "256mb",
    ),
    (
        "cluster.routing.allocation.disk.watermark.flood_stage.frozen",
        "256mb",
    ),
];

/// [`DISK_SETTINGS`] as `elasticsearch.yml` lines.
fn disk_settings_yml() -> String {
    DISK_SETTINGS
        .iter()
        .map(|(key, value)| format!("{key}: {value}\n"))
        .collect()
}

/// The file-realm superuser the harness creates.
pub const ADMIN_USER: &str = "meshlogging-test-admin";

/// A running Elasticsearch node.
pub struct RealEs {
    /// `https://127.0.0.1:PORT`
    pub url: String,
    /// PEM of the CA that signed the node's HTTP certificate.
    pub ca_pem: String,
    /// The superuser's password.
    pub password: String,
    /// The superuser's name ([`ADMIN_USER`] unless a [`NodeSpec`] named another).
    pub username: String,
    /// The version of the distribution.
    pub version: String,
    /// `path.repo`: where `fs` snapshot repositories may live.
    pub repo_dir: PathBuf,
    /// The node's folder (config, data, logs); removed when the binary ends.
    pub dir: PathBuf,
    /// Whether the node runs as another user (the harness runs as root).
    pub run_as: Option<String>,
    supervisor: Mutex<Option<Supervisor>>,
}

/// The `sh` supervisor: its stdin takes commands, its stdout acknowledges them.
struct Supervisor {
    /// Held, not used: the supervisor process itself.
    _child: Child,
    stdin: ChildStdin,
    acks: Option<std::io::BufReader<std::process::ChildStdout>>,
}

static NODE: OnceLock<RealEs> = OnceLock::new();

/// The Elasticsearch node of this test binary, started on first use.
pub fn get() -> &'static RealEs {
    NODE.get_or_init(|| start_retrying().unwrap_or_else(|e| panic!("{e}")))
}

/// A node of its own, for a test that stops it (the shared one must stay up).
pub fn start_dedicated() -> RealEs {
    start_retrying().unwrap_or_else(|e| panic!("{e}"))
}

/// Prepares a node's config folder before it starts; returns the file its stdin is read
/// from, if any.
pub type Prepare<'a> = &'a dyn Fn(&Path) -> Result<Option<PathBuf>, String>;

/// What a dedicated node gets beyond the harness's own configuration.
#[derive(Default)]
pub struct NodeExtras<'a> {
    /// Lines appended to `elasticsearch.yml` (`ca.crt`, `node.crt` and `node.key` are in
    /// the config folder, for the transport layer's TLS).
    pub yml: String,
    /// Called with the config folder before the node starts (a keystore, say); returns the
    /// file the node's stdin is read from (a keystore's password), if any.
    pub prepare: Option<Prepare<'a>>,
}

/// The distribution's home (fetched if needed) and the JDK it runs on, for running its
/// tools (`bin/elasticsearch-keystore`) as a test needs.
pub fn distribution() -> Result<(PathBuf, PathBuf), String> {
    Ok((es_home()?, java_home()?))
}

/// A node of its own with `extras` (a password-protected keystore, transport TLS).
pub fn start_dedicated_with(extras: &NodeExtras<'_>) -> RealEs {
    start_retrying_with(extras).unwrap_or_else(|e| panic!("{e}"))
}

fn start_retrying() -> Result<RealEs, String> {
    start_retrying_with(&NodeExtras::default())
}

fn start_retrying_with(extras: &NodeExtras<'_>) -> Result<RealEs, String> {
    let mut last = String::new();
    // A free port picked here can be taken before the node binds it: retry with new ports.
    for _ in 0..3 {
        match RealEs::start(extras) {
            Ok(node) => return Ok(node),
            Err(e) => last = e,
        }
    }
    Err(format!("Elasticsearch did not start: {last}"))
}

impl RealEs {
    fn start(extras: &NodeExtras<'_>) -> Result<RealEs, String> {
        let home = es_home()?;
        let version = home
            .file_name()
            .map(|v| v.to_string_lossy().to_string())
            .unwrap_or_default();
        let run_as = is_root().then(|| "meshlogging-es".to_string());
        let dir = temp_dir("es", NODE_FOLDERS)?;
        let config = dir.join("config");
        for file in ["log4j2.properties", "roles.yml", "role_mapping.yml"] {
            std::fs::copy(home.join("config").join(file), config.join(file))
                .map_err(|e| format!("copy {file}: {e}"))?;
        }

        let http_port = free_port()?;
        let transport_port = free_port()?;
        let url = format!("https://127.0.0.1:{http_port}");

        let (ca_pem, cert_pem, key_pem) = certificates()?;
        write(&config.join("ca.crt"), &ca_pem)?;
        write(&config.join("node.crt"), &cert_pem)?;
        write(&config.join("node.key"), &key_pem)?;

        let password = format!("{:024x}", rand::random::<u128>());
        let hash = bcrypt::hash_with_result(&password, 4)
            .map_err(|e| e.to_string())?
            .format_for_version(bcrypt::Version::TwoA);
        write(&config.join("users"), &format!("{ADMIN_USER}:{hash}\n"))?;
        write(
            &config.join("users_roles"),
            &format!("superuser:{ADMIN_USER}\n"),
        )?;
        write(&config.join("jvm.options"), JVM_OPTIONS)?;
        let d = |name: &str| dir.join(name).display().to_string();
        write(
            &config.join("elasticsearch.yml"),
            &format!(
                "cluster.name: meshlogging-test\n\
                 node.name: es-test-0\n\
                 path.data: {data}\n\
                 path.logs: {logs}\n\
                 path.repo: [{repo}]\n\
                 network.host: 127.0.0.1\n\
                 http.port: {http_port}\n\
                 transport.port: {transport_port}\n\
                 discovery.type: single-node\n\
                 {disk}\
                 xpack.security.enabled: true\n\
                 xpack.security.http.ssl.enabled: true\n\
                 xpack.security.http.ssl.certificate: node.crt\n\
                 xpack.security.http.ssl.key: node.key\n\
                 xpack.security.http.ssl.certificate_authorities: [ca.crt]\n{extra}",
                data = d("data"),
                logs = d("logs"),
                repo = d("repo"),
                disk = disk_settings_yml(),
                extra = extras.yml,
            ),
        )?;
        let stdin = match extras.prepare {
            Some(prepare) => prepare(&config)?,
            None => None,
        };
        launch(Launch {
            stdin,
            home: &home,
            version,
            dir,
            run_as,
            url,
            ca_pem,
            username: ADMIN_USER.to_string(),
            password,
            env: vec![],
        })
    }

    /// The superuser's credentials.
    pub fn credentials(&self) -> Credentials {
        Credentials {
            username: self.username.clone(),
            password: self.password.clone(),
        }
    }

    /// Adds a file-realm user `user` with the one role `role`, defined by `body` (as
    /// `PUT /_security/role/<role>` takes it) in the file realm's `roles.yml`: the native
    /// realm does not work in this distribution. The node reloads the files within a few
    /// seconds; callers wait until the user can do what they need.
    pub fn add_file_user(
        &self,
        user: &str,
        password: &str,
        role: &str,
        body: &serde_json::Value,
    ) -> Result<(), String> {
        static FILES: Mutex<()> = Mutex::new(());
        let _files = FILES.lock().map_err(|e| e.to_string())?;
        let config = self.dir.join("config");
        let hash = bcrypt::hash_with_result(password, 4)
            .map_err(|e| e.to_string())?
            .format_for_version(bcrypt::Version::TwoA);
        // Appending keeps each file's owner (the node's user). JSON is YAML.
        let role_line = format!("{}: {body}\n", serde_json::Value::String(role.into()));
        for (file, line) in [
            ("roles.yml", role_line),
            ("users_roles", format!("{role}:{user}\n")),
            ("users", format!("{user}:{hash}\n")),
        ] {
            let path = config.join(file);
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            f.write_all(format!("\n{line}").as_bytes())
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    }

    /// A client as the superuser, verifying TLS with the node's CA.
    pub fn client(&self) -> EsClient {
        EsClient::new(self.client_config()).expect("Elasticsearch client")
    }

    /// The client configuration of [`client`](Self::client).
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(self.url.clone());
        config.ca_pem = Some(self.ca_pem.clone().into_bytes());
        config.credentials = Some(self.credentials());
        config.retry = RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        };
        config
    }

    /// Kills the node now (SIGKILL), as a crash would; its data stays for [`start_again`].
    ///
    /// [`start_again`]: Self::start_again
    pub fn crash(&self) {
        self.command("kill");
    }

    /// Starts the crashed node again on the same ports and data, and waits for green.
    pub fn start_again(&self) {
        self.command("start");
        self.wait_green().unwrap_or_else(|e| panic!("{e}"));
    }

    fn command(&self, cmd: &str) {
        use std::io::BufRead as _;
        let mut guard = self.supervisor.lock().expect("supervisor");
        let supervisor = guard.as_mut().expect("the node was stopped for good");
        writeln!(supervisor.stdin, "{cmd}").expect("supervisor stdin");
        supervisor.stdin.flush().expect("supervisor stdin");
        let mut ack = String::new();
        if let Some(acks) = &mut supervisor.acks {
            acks.read_line(&mut ack)
                .expect("supervisor acknowledgement");
        }
    }

    /// How often each REST handler of the node has run (`GET /_nodes/usage`): what the
    /// node saw, not what a client meant to send. Reading it counts one
    /// `nodes_usage_action`.
    pub async fn rest_actions(&self) -> RestActions {
        let usage = self
            .client()
            .get("test", "/_nodes/usage")
            .await
            .expect("GET /_nodes/usage")
            .expect("nodes usage");
        let mut counts = BTreeMap::new();
        for node in usage["nodes"]
            .as_object()
            .into_iter()
            .flat_map(|n| n.values())
        {
            for (action, n) in node["rest_actions"].as_object().into_iter().flatten() {
                *counts.entry(action.clone()).or_insert(0) += n.as_u64().unwrap_or(0);
            }
        }
        RestActions(counts)
    }

    /// The last lines of the node's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Polls cluster health until it is green or yellow (one node cannot hold the replicas
    /// of indices with `number_of_replicas: 1`). Runs on its own thread and runtime, so it
    /// can be called from inside a test's runtime.
    fn wait_green(&self) -> Result<(), String> {
        let client = EsClient::new(self.client_config()).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let console = self.dir.join("console.log");
        let green = poll_until_ready(
            Duration::from_secs(180),
            Duration::from_millis(250),
            move || {
                let client = client.clone();
                let console = console.clone();
                async move {
                    if client.health().await.is_ok_and(|h| h != "red") {
                        return Some(true);
                    }
                    // The launcher says so when the node dies at start (bad settings).
                    let log = std::fs::read_to_string(&console).unwrap_or_default();
                    log.contains("Elasticsearch died while starting up")
                        .then_some(false)
                }
            },
        )?;
        if green {
            eprintln!(
                "elasticsearch: {} up at {} after {:.1}s (in {})",
                self.version,
                self.url,
                started.elapsed().as_secs_f64(),
                self.dir.display()
            );
            return Ok(());
        }
        Err(format!(
            "not up (green or yellow) after {:.0}s; console.log:\n{}",
            started.elapsed().as_secs_f64(),
            self.log_tail(40)
        ))
    }
}

/// What [`launch`] needs: a prepared node folder (`config/` written, ports in it).
struct Launch<'a> {
    home: &'a Path,
    version: String,
    dir: PathBuf,
    run_as: Option<String>,
    url: String,
    ca_pem: String,
    username: String,
    password: String,
    /// Extra environment of the node process (`POD_NAME`, `ES_JAVA_OPTS`, ...).
    env: Vec<(String, String)>,
    /// The file the node's stdin is read from (a keystore's password); none by default.
    stdin: Option<PathBuf>,
}

/// Starts the node of a prepared folder under its supervisor and waits for green/yellow.
fn launch(l: Launch<'_>) -> Result<RealEs, String> {
    let Launch {
        home,
        version,
        dir,
        run_as,
        url,
        ca_pem,
        username,
        password,
        env,
        stdin,
    } = l;
    let config = dir.join("config");
    let d = |name: &str| dir.join(name).display().to_string();
    if let Some(user) = &run_as {
        chown_recursive(&dir, user)?;
    }

    let java_home = java_home()?;
    let mut launcher = vec![];
    if let Some(user) = &run_as {
        launcher.extend(run_as_prefix(user));
    }
    launcher.extend([
        "env".to_string(),
        format!("ES_JAVA_HOME={}", java_home.display()),
        format!("ES_PATH_CONF={}", config.display()),
        format!("ES_TMPDIR={}", d("tmp")),
        format!("HOME={}", dir.display()),
    ]);
    launcher.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
    launcher.extend([
        home.join("bin/elasticsearch").display().to_string(),
        "-p".to_string(),
        d("es.pid"),
    ]);
    // `setsid` makes the launcher the leader of a new process group that the server JVM
    // it starts joins, so one `kill` of the group stops both. The supervisor reads
    // commands on stdin: `kill` (a crash: SIGKILL, data kept), `start` (the same node
    // again, on the same ports and data); at end of input it kills the node and
    // removes its folder. Each command is acknowledged on stdout.
    let script = format!(
        "cd {dir} || exit 1\n\
         start() {{ setsid {launcher} >>{log} 2>&1 <{stdin} & es=$!; }}\n\
         stop() {{ kill -9 -- -$es 2>/dev/null; [ -f {pid} ] && kill -9 \"$(cat {pid})\" 2>/dev/null; wait $es 2>/dev/null; rm -f {pid}; }}\n\
         start\n\
         while read -r cmd; do\n\
           case \"$cmd\" in kill) stop ;; start) start ;; esac\n\
           echo done\n\
         done\n\
         stop\n\
         wait\n\
         rm -rf {dir}\n",
        dir = quote(&dir.display().to_string()),
        launcher = shell_words(&launcher),
        log = quote(&d("console.log")),
        stdin = quote(
            &stdin
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "/dev/null".to_string())
        ),
        pid = quote(&d("es.pid")),
    );
    let (mut child, stdin) = supervisor(&script, Stdio::piped())?;
    let acks = child.stdout.take().map(std::io::BufReader::new);
    let node = RealEs {
        url,
        ca_pem,
        password,
        username,
        version,
        repo_dir: dir.join("repo"),
        dir,
        run_as,
        supervisor: Mutex::new(Some(Supervisor {
            _child: child,
            stdin,
            acks,
        })),
    };
    // On error the node is dropped, which closes stdin: the supervisor cleans up.
    node.wait_green()?;
    Ok(node)
}

/// A node booted from a configuration the caller wrote (the managed-mode test renders it
/// from what the operator created): `NodeSpec::new` picks the folder and free ports, the
/// caller fills in `elasticsearch.yml` (using them), the other config files, the
/// environment, and the superuser the harness waits with; [`start_node`] boots it.
pub struct NodeSpec {
    /// The node's folder: `config/`, `data/`, `logs/`, `tmp/` exist; removed at the end.
    pub dir: PathBuf,
    /// The distribution's home (its `bin/elasticsearch-keystore` builds keystores).
    pub home: PathBuf,
    /// The JDK the distribution runs on.
    pub java_home: PathBuf,
    /// The user the node runs as (`None`: this user).
    pub run_as: Option<String>,
    /// A free loopback port for HTTP.
    pub http_port: u16,
    /// A free loopback port for transport.
    pub transport_port: u16,
    /// A free loopback port (for `readiness.port`).
    pub extra_port: u16,
    /// The text of `config/elasticsearch.yml`.
    pub elasticsearch_yml: String,
    /// Further files under `config/` (relative path, content): certificates, realm files,
    /// `elasticsearch.keystore`.
    pub files: Vec<(String, Vec<u8>)>,
    /// Environment of the node process (`POD_NAME`, `POD_IP`, `ES_JAVA_OPTS`).
    pub env: Vec<(String, String)>,
    /// The CA the HTTP certificate verifies with.
    pub ca_pem: String,
    /// A superuser to wait for the node's health with.
    pub credentials: Credentials,
    /// How to reach HTTP (`https://127.0.0.1:PORT` unless set).
    pub url: Option<String>,
}

impl NodeSpec {
    /// A fresh folder and free ports; the distribution fetched if needed.
    pub fn new() -> Result<NodeSpec, String> {
        let home = es_home()?;
        let dir = temp_dir("es", NODE_FOLDERS)?;
        Ok(NodeSpec {
            dir,
            java_home: java_home()?,
            run_as: is_root().then(|| "meshlogging-es".to_string()),
            home,
            http_port: free_port()?,
            transport_port: free_port()?,
            extra_port: free_port()?,
            elasticsearch_yml: String::new(),
            files: vec![],
            env: vec![],
            ca_pem: String::new(),
            credentials: Credentials {
                username: String::new(),
                password: String::new(),
            },
            url: None,
        })
    }
}

/// Boots the node of `spec` (the distribution's `log4j2.properties`, `roles.yml` and
/// `role_mapping.yml`, a `jvm.options` without heap flags so `ES_JAVA_OPTS` sets it, and
/// the spec's files) and waits until it is green or yellow.
pub fn start_node(spec: NodeSpec) -> Result<RealEs, String> {
    let config = spec.dir.join("config");
    for file in ["log4j2.properties", "roles.yml", "role_mapping.yml"] {
        std::fs::copy(spec.home.join("config").join(file), config.join(file))
            .map_err(|e| format!("copy {file}: {e}"))?;
    }
    write(&config.join("jvm.options"), JVM_OPTIONS_NO_HEAP)?;
    write(&config.join("elasticsearch.yml"), &spec.elasticsearch_yml)?;
    for (rel, content) in &spec.files {
        let path = config.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, content).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let version = spec
        .home
        .file_name()
        .map(|v| v.to_string_lossy().to_string())
        .unwrap_or_default();
    launch(Launch {
        home: &spec.home,
        version,
        url: spec
            .url
            .clone()
            .unwrap_or_else(|| format!("https://127.0.0.1:{}", spec.http_port)),
        dir: spec.dir.clone(),
        run_as: spec.run_as.clone(),
        ca_pem: spec.ca_pem.clone(),
        username: spec.credentials.username.clone(),
        password: spec.credentials.password.clone(),
        env: spec.env.clone(),
        stdin: None,
    })
}

/// Counts of REST handler runs, by handler name (`put_component_template_action`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestActions(pub BTreeMap<String, u64>);

impl RestActions {
    /// The handlers that ran since `before`, with how often.
    pub fn since(&self, before: &RestActions) -> RestActions {
        RestActions(
            self.0
                .iter()
                .filter_map(|(a, n)| {
                    let d = n - before.0.get(a).copied().unwrap_or(0);
                    (d > 0).then(|| (a.clone(), d))
                })
                .filter(|(a, _)| a != "nodes_usage_action")
                .collect(),
        )
    }

    /// Requests in total.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// The handlers that may change something: every one that is not a known read.
    /// Unknown handlers count as writes, so a new kind of request cannot hide.
    pub fn writes(&self) -> RestActions {
        RestActions(
            self.0
                .iter()
                .filter(|(a, _)| !is_read(a))
                .map(|(a, n)| (a.clone(), *n))
                .collect(),
        )
    }
}

fn is_read(action: &str) -> bool {
    action.starts_with("get_")
        || action.starts_with("cat_")
        || action.contains("_get_")
        || matches!(
            action,
            "cluster_health_action"
                | "nodes_info_action"
                | "nodes_usage_action"
                | "main_action"
                | "security_authenticate_action"
                | "search_action"
                | "count_action"
                | "index_template_exists_action"
                | "component_template_exists_action"
        )
}

const JVM_OPTIONS: &str = "-XX:+UseG1GC\n\
-Djava.io.tmpdir=${ES_TMPDIR}\n\
-XX:+ExitOnOutOfMemoryError\n\
-XX:TieredStopAtLevel=1\n\
-Xms512m\n\
-Xmx512m\n";

const JVM_OPTIONS_NO_HEAP: &str = "-XX:+UseG1GC\n\
-Djava.io.tmpdir=${ES_TMPDIR}\n\
-XX:+ExitOnOutOfMemoryError\n\
-XX:TieredStopAtLevel=1\n";

/// A CA, and a node certificate it signed for `localhost` and `127.0.0.1`.
fn certificates() -> Result<(String, String, String), String> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let err = |e: rcgen::Error| e.to_string();
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "meshlogging test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_cert.pem(), ca_key).map_err(err)?;

    let node_key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).map_err(err)?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    params
        .distinguished_name
        .push(DnType::CommonName, "es-test-0");
    let cert = params.signed_by(&node_key, &issuer).map_err(err)?;
    Ok((ca_cert.pem(), cert.pem(), node_key.serialize_pem()))
}

/// The distribution's home, from `hack/elasticsearch.sh` (it fetches it on first use).
fn es_home() -> Result<PathBuf, String> {
    tool("elasticsearch.sh").map(PathBuf::from)
}

/// The JDK to run Elasticsearch on: `ES_JAVA_HOME`, `JAVA_HOME`, or the one `javac` is in.
fn java_home() -> Result<PathBuf, String> {
    for var in ["ES_JAVA_HOME", "JAVA_HOME"] {
        if let Ok(home) = std::env::var(var)
            && Path::new(&home).join("bin/java").exists()
        {
            return Ok(PathBuf::from(home));
        }
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg("readlink -f \"$(command -v java)\"")
        .output()
        .map_err(|e| e.to_string())?;
    let java = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    java.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .filter(|h| h.join("bin/java").exists())
        .ok_or_else(|| "no Java found for Elasticsearch (set ES_JAVA_HOME)".to_string())
}

fn chown_recursive(dir: &Path, user: &str) -> Result<(), String> {
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{user}:{user}"))
        .arg(dir)
        .status()
        .map_err(|e| e.to_string())?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("chown {} failed", dir.display()))
}
