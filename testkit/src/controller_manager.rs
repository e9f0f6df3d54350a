//! The real `kube-controller-manager` (StatefulSet controller and garbage collector only)
//! for the test binaries that need real pods of a StatefulSet: it creates them with their
//! real `controller-revision-hash` labels, keeps the StatefulSet's status, and recreates a
//! deleted pod at the update revision (`OnDelete`). Built once by
//! `hack/controller-manager.sh` from the same Kubernetes module as the API server.
//!
//! One per test binary, started on first use against this binary's API server, under an
//! `sh` supervisor like the API server's: killed when the binary ends, however it ends.
//! No port is bound (`--secure-port=0`), no leader election.

use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Mutex, OnceLock};

use crate::apiserver::ApiServer;
use crate::process::{quote, shell_words, supervisor, tool};

/// A running controller manager.
pub struct ControllerManager {
    /// Its log.
    pub log: PathBuf,
    _supervisor: Mutex<(Child, ChildStdin)>,
}

static KCM: OnceLock<ControllerManager> = OnceLock::new();

/// This binary's controller manager for `server`, started on first use.
pub fn get(server: &ApiServer) -> &'static ControllerManager {
    KCM.get_or_init(|| start(server).unwrap_or_else(|e| panic!("kube-controller-manager: {e}")))
}

fn start(server: &ApiServer) -> Result<ControllerManager, String> {
    let binary = tool("controller-manager.sh")?;
    let log = server.dir.join("controller-manager.log");
    let kubeconfig = server.kubeconfig.display().to_string();
    let args = [
        binary,
        format!("--kubeconfig={kubeconfig}"),
        "--controllers=statefulset,garbagecollector".into(),
        "--leader-elect=false".into(),
        "--secure-port=0".into(),
        "--use-service-account-credentials=false".into(),
        // Pods are made at once (no batching backoff beyond the controller's own).
        "--concurrent-statefulset-syncs=2".into(),
        "--v=1".into(),
    ];
    let script = format!(
        "{kcm} >{log} 2>&1 & kcm=$!\n\
         cat >/dev/null\n\
         kill -9 $kcm 2>/dev/null\n\
         wait\n",
        kcm = shell_words(&args),
        log = quote(&log.display().to_string()),
    );
    let (child, stdin) = supervisor(&script, Stdio::null())?;
    Ok(ControllerManager {
        log,
        _supervisor: Mutex::new((child, stdin)),
    })
}
