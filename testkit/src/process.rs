//! Small helpers for the servers and processes the tests start: free loopback ports, files,
//! the tools `hack/*.sh` build, `sh` supervisors, kill-on-drop children, and polling.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (the OS picks it; it can be taken again before it is bound, so
/// callers retry a start that fails).
pub fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// Writes `content` to `path`, naming the path in the error.
pub fn write(path: &Path, content: &str) -> Result<(), String> {
    let mut f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(content.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// `s` as one single-quoted `sh` word.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `words` as a `sh` command line.
pub fn shell_words(words: &[String]) -> String {
    words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

/// What the script `hack/<script>` prints (trimmed): the path of the tool it builds or
/// fetches once into `~/.cache/meshlogging` (`envtest.sh`, `elasticsearch.sh`, `helm.sh`,
/// ...). Its stderr goes to the test's.
pub fn tool(script: &str) -> Result<String, String> {
    let path = crate::repo("hack").join(script);
    let out = Command::new(&path)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("run {}: {e}", path.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed", path.display()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// [`tool`] as a path, panicking with the script's failure.
pub fn tool_path(script: &str) -> PathBuf {
    PathBuf::from(tool(script).unwrap_or_else(|e| panic!("{e}")))
}

/// Runs `script` under `sh -c` with its stdin a pipe from this process: the script's way to
/// learn that the test binary ended (its `read`/`cat` sees end of input), however it ended.
/// `stdout` is the script's stdout (`Stdio::piped()` to read its acknowledgements).
pub fn supervisor(script: &str, stdout: Stdio) -> Result<(Child, ChildStdin), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawn sh: {e}"))?;
    let stdin = child.stdin.take().ok_or("no stdin for the supervisor")?;
    Ok((child, stdin))
}

/// A child process killed (SIGKILL) and reaped when dropped, also when a test panics.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// The process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout` naming
/// `what`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Calls `check` every `every` until it answers `Some(true)` (ready), `Some(false)` (give
/// up now) or `timeout` passes, on a thread and runtime of its own, so a test's runtime can
/// wait for a server it starts. `Ok(false)` when not ready.
pub fn poll_until_ready<F, Fut>(
    timeout: Duration,
    every: Duration,
    mut check: F,
) -> Result<bool, String>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Option<bool>>,
{
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        rt.block_on(async {
            while started.elapsed() < timeout {
                if let Some(answer) = check().await {
                    return Ok(answer);
                }
                tokio::time::sleep(every).await;
            }
            Ok(false)
        })
    })
    .join()
    .map_err(|_| "the polling thread panicked".to_string())?
}

/// A fresh folder `<temp>/meshlogging-<what>-<pid>-<random>` with the `subfolders`.
pub fn temp_dir(what: &str, subfolders: &[&str]) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!(
        "meshlogging-{what}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    for sub in subfolders {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("create {sub}: {e}"))?;
    }
    Ok(dir)
}

/// Whether this process runs as root (Elasticsearch and Filebeat then run as the
/// `meshlogging-es` user `hack/elasticsearch.sh` creates).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The `setpriv` prefix that runs a command as `user` (with its groups).
pub fn run_as_prefix(user: &str) -> Vec<String> {
    vec![
        "setpriv".to_string(),
        format!("--reuid={user}"),
        format!("--regid={user}"),
        "--init-groups".to_string(),
        "--".to_string(),
    ]
}
