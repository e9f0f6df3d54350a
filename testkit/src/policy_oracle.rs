//! Elasticsearch's own ILM/SLM policy validation, without a cluster: the validator
//! `hack/es-policy-validator.sh` builds on the x-pack-core classes of the distribution
//! `hack/elasticsearch.sh` provides (compiled once, cached). One JVM checks a whole batch.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A policy kind the validator checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// `PUT /_ilm/policy/<name>`
    Ilm,
    /// `PUT /_slm/policy/<id>`
    Slm,
}

impl PolicyKind {
    /// The validator's name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Ilm => "ilm",
            PolicyKind::Slm => "slm",
        }
    }
}

/// One body to check, as the operator (or a test) would PUT it.
#[derive(Debug, Clone)]
pub struct PolicyRequest {
    /// ILM or SLM.
    pub kind: PolicyKind,
    /// The policy's name (id).
    pub name: String,
    /// The body of the `PUT`.
    pub body: Value,
    /// The cluster's snapshot repositories (`None`: not checked).
    pub repositories: Option<Vec<String>>,
}

/// Elasticsearch's answer: `None` when it stores the policy, else its `error.type` and
/// `error.reason`, and the root cause's.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// `error.type`
    pub kind: String,
    /// `error.reason`
    pub reason: String,
    /// The root cause's `type`.
    pub root_kind: String,
    /// The root cause's `reason`.
    pub root_reason: String,
}

/// A batch's verdicts (in request order) and how long it took.
pub struct Batch {
    /// One per request, in order.
    pub verdicts: Vec<Option<Refusal>>,
    /// From starting the JVM to its answer to the first line (a warm-up body).
    pub startup: Duration,
    /// The rest: the batch's own bodies.
    pub checking: Duration,
}

/// The command that runs the validator, from `hack/es-policy-validator.sh`.
fn command() -> Vec<String> {
    crate::process::tool("es-policy-validator.sh")
        .unwrap_or_else(|e| panic!("{e}"))
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Checks every request with one JVM.
pub fn check(requests: &[PolicyRequest]) -> Batch {
    let cmd = command();
    let started = Instant::now();
    let mut child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start the validator ({}): {e}", cmd[0]));
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    // Warm-up: the JVM's start, separately from the bodies.
    let warm_up = json!({"kind": "ilm", "name": "warm-up", "body": {"policy": {"phases": {}}}});
    writeln!(stdin, "{warm_up}").expect("write to the validator");
    stdin.flush().expect("flush");
    stdout.read_line(&mut line).expect("read the validator");
    let startup = started.elapsed();
    assert_eq!(line.trim(), r#"{"valid":true}"#, "the validator's warm-up");

    let lines: Vec<String> = requests
        .iter()
        .map(|r| {
            let mut l = json!({"kind": r.kind.as_str(), "name": r.name, "body": r.body});
            if let Some(repos) = &r.repositories {
                l["repositories"] = json!(repos);
            }
            l.to_string()
        })
        .collect();
    let checking_started = Instant::now();
    // Write from another thread so a full pipe cannot block both sides.
    let writer = std::thread::spawn(move || {
        for l in lines {
            writeln!(stdin, "{l}").expect("write to the validator");
        }
        // dropping stdin ends the validator
    });
    let mut verdicts = Vec::with_capacity(requests.len());
    for r in requests {
        line.clear();
        let n = stdout.read_line(&mut line).expect("read the validator");
        assert!(n > 0, "the validator stopped before answering {r:?}");
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("validator answer {line:?}: {e}"));
        verdicts.push(if v["valid"] == json!(true) {
            None
        } else {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            Some(Refusal {
                kind: s("type"),
                reason: s("reason"),
                root_kind: s("root_cause_type"),
                root_reason: s("root_cause_reason"),
            })
        });
    }
    let checking = checking_started.elapsed();
    writer.join().expect("writer thread");
    let status = child.wait().expect("wait for the validator");
    assert!(status.success(), "the validator exited with {status}");
    Batch {
        verdicts,
        startup,
        checking,
    }
}

/// `ms` per body, for the printed figures.
pub fn per_body_ms(batch: &Batch) -> f64 {
    batch.checking.as_secs_f64() * 1000.0 / batch.verdicts.len().max(1) as f64
}
