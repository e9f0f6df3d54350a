//! `kubectl` against the test API server, as a user would run it.

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use crate::apiserver::ApiServer;
use crate::process::wait_for;

/// stdout and stderr of `out`, one after the other.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `kubectl args...`, whatever its exit code.
pub fn output<S: AsRef<OsStr>>(server: &ApiServer, args: &[S]) -> Output {
    server.kubectl().args(args).output().expect("run kubectl")
}

/// Runs `kubectl args...` and returns its [`text`]; panics with it when kubectl fails.
pub fn run<S: AsRef<OsStr>>(server: &ApiServer, args: &[S]) -> String {
    checked(output(server, args), args)
}

/// [`run`] with `input` on kubectl's stdin (`-f -`).
pub fn run_with_input<S: AsRef<OsStr>>(server: &ApiServer, args: &[S], input: &str) -> String {
    let mut child = server
        .kubectl()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("kubectl stdin");
    }
    checked(child.wait_with_output().expect("run kubectl"), args)
}

fn checked<S: AsRef<OsStr>>(out: Output, args: &[S]) -> String {
    let text = text(&out);
    let args: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    assert!(out.status.success(), "kubectl {}: {text}", args.join(" "));
    text
}

/// `kubectl apply -n <ns> -f examples/<file>`, as a user would.
pub fn apply_example(server: &ApiServer, ns: &str, file: &str) {
    let path = crate::repo(&format!("examples/{file}"));
    let args = ["apply", "-n", ns, "-f", &path.display().to_string()];
    run(server, &args);
}

/// `kubectl apply --server-side --dry-run=server -n <ns> -f <file>`: what admission says of
/// `file`, whatever it says.
pub fn dry_run_apply(server: &ApiServer, ns: &str, file: &Path) -> Output {
    let args = ["apply", "--server-side", "--dry-run=server", "-n", ns, "-f"];
    server
        .kubectl()
        .args(args)
        .arg(file)
        .output()
        .expect("run kubectl")
}

/// A token (1 h) of the ServiceAccount `account` in `ns`, from `kubectl create token`.
pub fn token(server: &ApiServer, account: &str, ns: &str) -> String {
    let args = ["create", "token", account, "-n", ns, "--duration=1h"];
    let out = output(server, &args);
    assert!(out.status.success(), "kubectl create token: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Waits (up to 60 s) until the MeshLogging CRD, installed some other way (manifests, a
/// Helm chart), is Established.
pub async fn wait_crd_established(server: &ApiServer) {
    let args = [
        "wait",
        "--for=condition=Established",
        "crd/meshloggings.logging.mcp-mesh.io",
        "--timeout=5s",
    ];
    wait_for(Duration::from_secs(60), "the CRD Established", || async {
        output(server, &args).status.success().then_some(())
    })
    .await;
}
