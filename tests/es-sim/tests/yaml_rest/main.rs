//! Runs Elasticsearch's YAML REST tests against the stand-in: the specs (`specs.rs`), the test
//! files and skip list (`cases.rs`), one test's steps (`exec.rs`) and assertions (`assert.rs`),
//! and here the run.
//!
//! Test folders: `ES_CONFORMANCE_DIR` (default: the project's `shared/es-conformance`,
//! found beside the checkout — `../shared/es-conformance` from the repository root or
//! any folder above it, else `/work/shared/es-conformance`, where the workplace keeps
//! it for clones made elsewhere) plus every folder in the colon-separated
//! `ES_YAML_EXTRA_DIRS`.
//! `do:` API names are mapped to HTTP calls with the JSON REST specs found in
//! those folders; APIs without a spec there use the small table
//! `specs::BUILTIN_SPECS`. Each test runs against a fresh `EsSim` (version
//! `ES_YAML_SIM_VERSION`, default below). Tests may be skipped only by name in
//! `yaml-skips.txt` (`file :: test name :: reason`); tests whose own
//! `skip`/`requires` sections exclude them are counted as skipped too.
//! Prints `N passed, N failed, N skipped` and fails below a 90% pass rate.

mod assert;
mod cases;
mod exec;
mod specs;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use es_sim::{EsSim, SimConfig, SimUser};
use serde_json::{Map, Value};

use cases::{TestCase, load_skips, load_tests};
use exec::{Exec, Outcome};
use specs::{Spec, load_specs};

/// The version the stand-in claims while running the suite: new enough for every
/// capability the (main-branch) test files ask about.
const DEFAULT_VERSION: &str = "9.5.1";
const ADMIN_USER: &str = "x_pack_rest_user";
const ADMIN_PASSWORD: &str = "x-pack-test-password";
const PASS_RATE: f64 = 0.90;
const PARALLEL: usize = 4;
/// Path parts named differently in the stored specs and the stored tests.
const RENAMED_PARTS: &[(&str, &str)] = &[("policy_name", "policy_id")];

async fn run_test(
    t: TestCase,
    specs: Arc<BTreeMap<String, Spec>>,
    version: String,
    repo_dir: String,
) -> Outcome {
    let cfg = SimConfig {
        version: version.clone(),
        users: vec![SimUser::new(ADMIN_USER, ADMIN_PASSWORD, &["superuser"])],
        path_repo: vec![repo_dir],
        ..SimConfig::default()
    };
    let sim = EsSim::start_with(cfg).await;
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
    {
        Ok(c) => c,
        Err(e) => return Outcome::Fail(format!("client: {e}")),
    };
    let mut exec = Exec {
        client,
        base: sim.url(),
        specs,
        stash: Map::new(),
        response: None,
        version,
    };
    let outcome = async {
        let mut gates: Vec<Value> = t.setup.clone();
        gates.extend(t.teardown.iter().cloned());
        gates.extend(t.steps.iter().cloned());
        let gate_steps: Vec<Value> = gates
            .into_iter()
            .filter(|s| s.get("skip").is_some() || s.get("requires").is_some())
            .collect();
        match exec.skip_reason(&gate_steps).await {
            Ok(Some(r)) => return Outcome::Skip(format!("own skip/requires: {r}")),
            Ok(None) => {}
            Err(e) => return Outcome::Fail(e),
        }
        if let Err(e) = exec.run_steps(&t.setup).await {
            return Outcome::Fail(format!("setup: {e}"));
        }
        exec.stash.clear();
        exec.response = None;
        let result = exec.run_steps(&t.steps).await;
        let teardown = exec.run_steps(&t.teardown).await;
        match (result, teardown) {
            (Err(e), _) => Outcome::Fail(e),
            (Ok(()), Err(e)) => Outcome::Fail(format!("teardown: {e}")),
            (Ok(()), Ok(())) => Outcome::Pass,
        }
    }
    .await;
    sim.stop().await;
    outcome
}

/// `shared/es-conformance` in the nearest folder above the repository that has one, else
/// the workplace's fixed place (a clone made outside the workplace folder).
fn default_conformance_dir() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .ancestors()
        .skip(3) // tests/es-sim, tests, the repository root: beside the checkout, not in it
        .map(|a| a.join("shared/es-conformance"))
        .chain([PathBuf::from("/work/shared/es-conformance")])
        .find(|d| d.is_dir())
        .unwrap_or_else(|| crate_dir.join("../../../shared/es-conformance"))
}

fn conformance_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![match std::env::var("ES_CONFORMANCE_DIR") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => default_conformance_dir(),
    }];
    if let Ok(extra) = std::env::var("ES_YAML_EXTRA_DIRS") {
        dirs.extend(
            extra
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
        );
    }
    dirs
}

fn main() {
    let dirs = conformance_dirs();
    for d in &dirs {
        if !d.is_dir() {
            eprintln!("yaml_rest: test folder {} does not exist", d.display());
            std::process::exit(1);
        }
    }
    let version =
        std::env::var("ES_YAML_SIM_VERSION").unwrap_or_else(|_| DEFAULT_VERSION.to_string());
    let specs = Arc::new(load_specs(&dirs));
    let (tests, load_errors) = load_tests(&dirs);
    let skips = load_skips(&Path::new(env!("CARGO_MANIFEST_DIR")).join("yaml-skips.txt"));
    let repo_dir = std::env::temp_dir()
        .join("es-sim-yaml-repo")
        .to_string_lossy()
        .to_string();
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));

    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("yaml_rest: runtime: {e}");
            std::process::exit(1);
        }
    };
    let mut results: Vec<(String, String, Outcome)> = Vec::new();
    let mut used_skips = BTreeSet::new();
    rt.block_on(async {
        let sem = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
        let mut set = tokio::task::JoinSet::new();
        for (i, t) in tests.into_iter().enumerate() {
            let display = format!("{} :: {}", t.file, t.name);
            if let Some(f) = &filter
                && !display.contains(f.as_str())
            {
                continue;
            }
            if let Some((si, s)) = skips
                .iter()
                .enumerate()
                .find(|(_, s)| t.file.ends_with(&s.file) && t.name == s.name)
            {
                used_skips.insert(si);
                results.push((
                    t.file.clone(),
                    t.name.clone(),
                    Outcome::Skip(format!("yaml-skips.txt: {}", s.reason)),
                ));
                continue;
            }
            let specs = specs.clone();
            let version = version.clone();
            let repo_dir = repo_dir.clone();
            let sem = sem.clone();
            set.spawn(async move {
                let _permit = sem.acquire_owned().await;
                let (file, name) = (t.file.clone(), t.name.clone());
                let out = tokio::time::timeout(
                    Duration::from_secs(120),
                    run_test(t, specs, version, repo_dir),
                )
                .await
                .unwrap_or_else(|_| Outcome::Fail("timed out after 120s".into()));
                (i, file, name, out)
            });
        }
        let mut done = Vec::new();
        while let Some(r) = set.join_next().await {
            match r {
                Ok(v) => done.push(v),
                Err(e) => done.push((
                    usize::MAX,
                    "?".into(),
                    "?".into(),
                    Outcome::Fail(format!("panicked: {e}")),
                )),
            }
        }
        done.sort_by_key(|d| d.0);
        results.extend(done.into_iter().map(|(_, f, n, o)| (f, n, o)));
    });

    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    results.sort_by(|a, b| (a.0.as_str(), a.1.as_str()).cmp(&(b.0.as_str(), b.1.as_str())));
    println!(
        "YAML REST tests against es-sim {version} (folders: {})",
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (file, name, o) in &results {
        match o {
            Outcome::Pass => {
                passed += 1;
                println!("PASS {file} :: {name}");
            }
            Outcome::Skip(r) => {
                skipped += 1;
                println!("SKIP {file} :: {name} ({r})");
            }
            Outcome::Fail(r) => {
                failed += 1;
                let r: String = r.chars().take(600).collect();
                println!("FAIL {file} :: {name}\n     {r}");
            }
        }
    }
    for e in &load_errors {
        failed += 1;
        println!("FAIL (load) {e}");
    }
    if filter.is_none() {
        for (i, s) in skips.iter().enumerate() {
            if !used_skips.contains(&i) {
                println!(
                    "WARN yaml-skips.txt entry matches no test: {} :: {}",
                    s.file, s.name
                );
            }
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    let ran = passed + failed;
    let rate = if ran == 0 {
        0.0
    } else {
        passed as f64 / ran as f64
    };
    if ran == 0 || rate < PASS_RATE {
        eprintln!(
            "yaml_rest: pass rate {:.1}% is below {:.0}%",
            rate * 100.0,
            PASS_RATE * 100.0
        );
        std::process::exit(1);
    }
}
