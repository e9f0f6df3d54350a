//! Small helpers for the servers the tests start: free loopback ports, files, and the
//! shell quoting of the supervisor scripts.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::Path;
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
