//! A real log shipper for the tests: Filebeat (built once by `hack/filebeat.sh`), run with a
//! configuration derived from the operator's collector contract (`src/render/collector/`):
//! CRI container logs in (partial lines joined), a JSON line nested under `app`, its time
//! as `timestamp`, the container stream as `stream`, `kubernetes.*` from the log file's
//! name and the node, a document id hashed from the line and its place in the file
//! (`create`: a batch sent again is answered 409, not copied), written to the write alias;
//! a line Elasticsearch refuses goes to the dead-letter index (`non_indexable_policy`),
//! never into an endless retry.
//!
//! Filebeat runs under a `sh` supervisor whose stdin is a pipe from the test binary: when
//! the [`Filebeat`] is dropped, or the binary ends however it ends, the pipe closes and the
//! supervisor kills Filebeat. As root (CI) it runs as the `meshlogging-es` user, like the
//! Elasticsearch harness; its configuration file is owned by that user and not
//! group/world-writable, as Filebeat demands.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::process::{quote, run_as_prefix, shell_words, supervisor, temp_dir, tool_path, write};

/// Where Filebeat sends and with what.
pub struct Output {
    /// `https://127.0.0.1:PORT` (an endpoint that answers `GET /`).
    pub url: String,
    /// The CA that signed the endpoint's certificate.
    pub ca_pem: String,
    /// The user Filebeat logs in as.
    pub username: String,
    /// Its password.
    pub password: String,
    /// The write alias.
    pub index: String,
    /// Where refused lines go (`<index>-deadletter`, `naming::Names::deadletter_index`).
    pub deadletter_index: String,
    /// The node name the collector reports (`kubernetes.host`, as both collectors'
    /// Kubernetes metadata filters set it).
    pub node: String,
}

impl Output {
    /// `index`'s output as the collector contract has it: its dead-letter index, node
    /// `node-a`.
    pub fn new(url: &str, ca_pem: &str, username: &str, password: &str, index: &str) -> Output {
        Output {
            url: url.to_string(),
            ca_pem: ca_pem.to_string(),
            username: username.to_string(),
            password: password.to_string(),
            index: index.to_string(),
            deadletter_index: meshlogging_operator::naming::Names::new(index).deadletter_index(),
            node: "node-a".to_string(),
        }
    }
}

/// The name the kubelet gives a container's log file under `/var/log/containers`
/// (`<pod>_<namespace>_<container>-<container id>.log`); the shipper reads `kubernetes.*`
/// from it, as the collectors' tail tags do.
pub fn container_log_file(pod: &str, namespace: &str, container: &str) -> String {
    let id = format!(
        "{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    );
    format!("{pod}_{namespace}_{container}-{id}.log")
}

/// A folder for one shipper: `logs/` (the container log files), `data/` (Filebeat's
/// registry, kept across restarts), its configuration and its own log.
pub struct ShipperDir {
    /// The folder.
    pub dir: PathBuf,
    run_as: Option<String>,
}

impl Default for ShipperDir {
    fn default() -> Self {
        Self::new()
    }
}

impl ShipperDir {
    /// A fresh folder (removed when dropped).
    pub fn new() -> ShipperDir {
        let dir = temp_dir("filebeat", &["logs", "data", "home", "fblogs"])
            .unwrap_or_else(|e| panic!("create shipper folder: {e}"));
        let run_as = crate::elasticsearch::get().run_as.clone();
        ShipperDir { dir, run_as }
    }

    /// The folder of the container log files.
    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// Appends `lines` (each ends with a newline) to the container log `file`.
    pub fn append(&self, file: &str, lines: &[String]) {
        use std::io::Write as _;
        let path = self.logs().join(file);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("open container log");
        for line in lines {
            f.write_all(line.as_bytes()).expect("write container log");
            f.write_all(b"\n").expect("write container log");
        }
        f.sync_all().expect("sync container log");
        if self.run_as.is_some() {
            chmod(&path, 0o644);
        }
    }

    /// Filebeat's own log so far (for failure messages and figures).
    pub fn filebeat_log(&self) -> String {
        let mut out = String::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.join("fblogs")) {
            for e in entries.flatten() {
                out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        out.push_str(&std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default());
        out
    }
}

impl Drop for ShipperDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The Filebeat configuration of the operator's collector contract.
pub fn config(dir: &ShipperDir, out: &Output) -> String {
    let q = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    format!(
        r#"filebeat.inputs:
  - type: filestream
    id: meshlogging-containers
    paths: [{logs}]
    prospector.scanner.check_interval: 250ms
    parsers:
      # CRI: time, stream, P/F; partial lines joined.
      - container:
          format: cri
          stream: all
      # A JSON line is nested under `app`, so no application clashes with the schema.
      - ndjson:
          target: app
          add_error_key: false
processors:
  # The collector's fields: `timestamp` (the line's own `timestamp` if it logged one, else
  # the runtime's), `stream`, `kubernetes.*` from the file name (the collectors' metadata
  # filters add labels from the API server too, which the tests do not run) and the node.
  - script:
      lang: javascript
      source: >
        function process(event) {{
          var own = event.Get("app.timestamp");
          event.Put("timestamp", own ? own : event.Get("@timestamp"));
          var path = event.Get("log.file.path") || "";
          var m = /([^\/]+)_([^_\/]+)_(.+)-([0-9a-f]{{64}})\.log$/.exec(path);
          if (m) {{
            event.Put("kubernetes.pod_name", m[1]);
            event.Put("kubernetes.namespace_name", m[2]);
            event.Put("kubernetes.container_name", m[3]);
          }}
          event.Put("kubernetes.host", {node});
        }}
  # The document id: the line's file, place and content. Sent again (a lost answer, a
  # restart before the registry was written), it is answered 409, not indexed twice.
  - fingerprint:
      fields: [log.file.path, log.offset, "@timestamp", message]
      ignore_missing: true
      method: sha256
      target_field: "@metadata._id"
  - drop_fields:
      fields: [log, input, ecs, agent, host]
      ignore_missing: true
  - rename:
      fields:
        - from: message
          to: log
      fail_on_error: false
      ignore_missing: true
queue.mem:
  events: 4096
  flush.min_events: 1
  flush.timeout: 0s
output.elasticsearch:
  hosts: [{url}]
  index: {index}
  username: {user}
  password: {password}
  ssl.certificate_authorities: [{ca}]
  ssl.verification_mode: full
  # A line the mappings refuse (4xx but 429) goes to the dead-letter index, with the
  # reason; 429, 5xx and network errors are retried.
  non_indexable_policy.dead_letter_index:
    index: {deadletter}
setup.template.enabled: false
setup.ilm.enabled: false
logging.level: info
logging.to_files: true
logging.files.path: {fblogs}
monitoring.enabled: false
http.enabled: false
"#,
        logs = q(&dir.logs().join("*.log").display().to_string()),
        url = q(&out.url),
        index = q(&out.index),
        deadletter = q(&out.deadletter_index),
        node = q(&out.node),
        user = q(&out.username),
        password = q(&out.password),
        ca = q(&dir.dir.join("ca.crt").display().to_string()),
        fblogs = q(&dir.dir.join("fblogs").display().to_string()),
    )
}

/// A running Filebeat.
pub struct Filebeat {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Filebeat {
    /// Starts Filebeat in `dir` with `out`; its registry in `dir` survives a restart.
    pub fn start(dir: &ShipperDir, out: &Output) -> Filebeat {
        let binary = binary();
        let cfg = dir.dir.join("filebeat.yml");
        write(&dir.dir.join("ca.crt"), &out.ca_pem).expect("write CA");
        write(&cfg, &config(dir, out)).expect("write filebeat.yml");
        chmod(&cfg, 0o600);
        let mut launcher = vec![];
        if let Some(user) = &dir.run_as {
            chmod(&dir.dir, 0o755);
            chmod(&dir.logs(), 0o755);
            let status = Command::new("chown")
                .arg("-R")
                .arg(format!("{user}:{user}"))
                .arg(dir.dir.join("data"))
                .arg(dir.dir.join("home"))
                .arg(dir.dir.join("fblogs"))
                .arg(&cfg)
                .arg(dir.dir.join("ca.crt"))
                .status()
                .expect("chown");
            assert!(status.success(), "chown shipper folder");
            launcher.extend(run_as_prefix(user));
        }
        let d = |s: &str| dir.dir.join(s).display().to_string();
        launcher.extend([
            binary.display().to_string(),
            "run".to_string(),
            "-c".to_string(),
            cfg.display().to_string(),
            "--path.home".to_string(),
            d("home"),
            "--path.config".to_string(),
            dir.dir.display().to_string(),
            "--path.data".to_string(),
            d("data"),
            "--path.logs".to_string(),
            d("fblogs"),
        ]);
        // At end of input (drop, or the test binary ending) the supervisor stops Filebeat:
        // SIGTERM, then SIGKILL if it lingers.
        let script = format!(
            "{launcher} >>{log} 2>&1 & fb=$!\n\
             while read -r _; do :; done\n\
             kill $fb 2>/dev/null\n\
             for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 $fb 2>/dev/null || break; sleep 0.2; done\n\
             kill -9 $fb 2>/dev/null\n\
             wait\n",
            launcher = shell_words(&launcher),
            log = quote(&d("console.log")),
        );
        let (child, stdin) = supervisor(&script, Stdio::null())
            .unwrap_or_else(|e| panic!("filebeat supervisor: {e}"));
        let stdin = Some(stdin);
        Filebeat { child, stdin }
    }

    /// Stops Filebeat (SIGTERM: it finishes what it was sending) and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stdin.take();
        let _ = self.child.wait();
    }
}

impl Drop for Filebeat {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The Filebeat binary, from `hack/filebeat.sh` (it builds it on first use).
fn binary() -> PathBuf {
    tool_path("filebeat.sh")
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}
