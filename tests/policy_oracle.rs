//! ILM and SLM policies checked by Elasticsearch's own code (x-pack-core, through
//! `hack/es-policy-validator.sh`; the integration-test distribution has no ILM/SLM API):
//!
//! - every ILM and SLM body the operator renders, for the examples and for generated specs,
//!   is valid by Elasticsearch's rules;
//! - the stand-in (`tests/es-sim`) accepts and refuses exactly what Elasticsearch does, with
//!   the same `error.type`, over generated bodies, valid and invalid;
//! - what Elasticsearch refuses that a spec can express is refused at admission: each known
//!   gap is a fixture in `tests/fixtures/admission-gaps/` (accepted by the CRD today, refused
//!   by Elasticsearch), to move to `tests/fixtures/invalid/` once the CRD refuses it.
//!
//! Each test prints its figures: bodies checked, agreement, the JVM's start and time per body.

use std::collections::{BTreeMap, BTreeSet};

use kit::policy_oracle::{self, Batch, PolicyKind, PolicyRequest, Refusal};
use meshlogging_operator::api::{MeshLogging, MeshLoggingSpec};
use meshlogging_operator::elastic::desired::{ilm_policy, slm_policy};
use meshlogging_operator::naming::Names;
use meshlogging_operator::validate::validate;
use meshlogging_testkit as kit;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value, json};

/// `n` values of `strategy`, the same on every run (a failure reproduces).
fn sample<S: Strategy>(strategy: S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).expect("generate").current())
        .collect()
}

/// The ILM and SLM bodies the operator PUTs for `spec`, with the repositories it creates.
fn rendered(spec: &MeshLoggingSpec) -> Vec<PolicyRequest> {
    // Body by body rather than through `desired()`: the generated specs need not validate.
    let (owner, names) = ("ns/logs", Names::new(&spec.index.name));
    let snapshots = spec.snapshots.clone().unwrap_or_default();
    let repositories: BTreeSet<String> = snapshots
        .repositories
        .iter()
        .map(|r| r.name.clone())
        .collect();
    let repositories: Vec<String> = repositories.into_iter().collect();
    let slm: BTreeMap<String, Value> = snapshots
        .policies
        .iter()
        .map(|p| (p.name.clone(), slm_policy(p, &names, owner)))
        .collect();
    let ilm = PolicyRequest {
        kind: PolicyKind::Ilm,
        name: names.ilm_policy(),
        body: ilm_policy(&spec.lifecycle, owner),
        repositories: None,
    };
    let slm = slm.into_iter().map(|(name, body)| PolicyRequest {
        kind: PolicyKind::Slm,
        name,
        body,
        repositories: Some(repositories.clone()),
    });
    std::iter::once(ilm).chain(slm).collect()
}

fn figures(what: &str, batch: &Batch) {
    eprintln!(
        "{what}: {} bodies checked by Elasticsearch's code; JVM start {} ms, {:.2} ms per body",
        batch.verdicts.len(),
        batch.startup.as_millis(),
        policy_oracle::per_body_ms(batch)
    );
}

#[test]
fn rendered_policies_are_valid_by_elasticsearch() {
    let mut requests = Vec::new();
    let mut sources = Vec::new();
    for file in [
        "minimal.yaml",
        "production.yaml",
        "external-elasticsearch.yaml",
    ] {
        let mut ml = kit::example(file);
        ml.metadata.namespace = Some("ns".into());
        ml.metadata.uid = Some("uid".into());
        validate(&ml).unwrap_or_else(|e| panic!("examples/{file} is invalid: {e:?}"));
        for r in rendered(&ml.spec) {
            requests.push(r);
            sources.push(format!("examples/{file}"));
        }
    }
    let examples = requests.len();
    let mut specs = 0;
    let mut with_slm = 0;
    for (i, spec) in sample(kit::specgen::spec(), 1200).into_iter().enumerate() {
        let spec: MeshLoggingSpec = serde_json::from_value(spec).expect("valid-shaped spec");
        let mut ml = MeshLogging::new("logs", spec);
        ml.metadata.namespace = Some("ns".into());
        ml.metadata.uid = Some("uid".into());
        if validate(&ml).is_err() {
            continue; // refused with InvalidSpec: nothing is sent
        }
        specs += 1;
        let bodies = rendered(&ml.spec);
        with_slm += usize::from(bodies.iter().any(|r| r.kind == PolicyKind::Slm));
        for r in bodies {
            requests.push(r);
            sources.push(format!(
                "generated spec #{i}: {}",
                serde_json::to_string(&ml.spec).expect("spec json")
            ));
        }
    }
    assert!(
        specs >= 200 && with_slm >= 100,
        "too few accepted specs: {specs} ({with_slm} with SLM policies)"
    );
    let batch = policy_oracle::check(&requests);
    figures("rendered policies", &batch);
    eprintln!(
        "rendered policies: {examples} from the examples, {} from {specs} generated specs ({with_slm} with SLM policies)",
        requests.len() - examples
    );
    let refused: Vec<String> = requests
        .iter()
        .zip(&batch.verdicts)
        .zip(&sources)
        .filter_map(|((r, v), source)| {
            v.as_ref().map(|v| {
                format!(
                    "{source}\n  {} {}: {}\n  refused: {} {} (root cause: {} {})",
                    r.kind.as_str(),
                    r.name,
                    r.body,
                    v.kind,
                    v.reason,
                    v.root_kind,
                    v.root_reason
                )
            })
        })
        .collect();
    assert!(
        refused.is_empty(),
        "{} rendered bodies refused by Elasticsearch:\n{}",
        refused.len(),
        refused.join("\n")
    );
}

// ---- generated bodies, valid and invalid, for the stand-in vs Elasticsearch ----

/// Mostly the first value (a valid one), else any of them.
fn pick(values: Vec<Value>) -> impl Strategy<Value = Value> {
    prop_oneof![2 => Just(values[0].clone()), 1 => select(values)]
}

/// One action with valid or invalid parameters.
fn ilm_action() -> impl Strategy<Value = (String, Value)> {
    let params = |name: &'static str, values: Vec<Value>| {
        pick(values).prop_map(move |v| (name.to_string(), v))
    };
    prop_oneof![
        4 => params("rollover", vec![
            json!({"max_age": "1d"}),
            json!({"max_primary_shard_size": "50gb", "max_age": "7d"}),
            json!({"max_docs": 1000}),
            json!({"max_size": "100gb"}),
            json!({"max_primary_shard_docs": 10}),
            json!({}),
            json!({"min_docs": 1}),
            json!({"max_age": "1d", "min_docs": 1}),
            json!({"max_age": "banana"}),
            json!({"max_size": "lots"}),
            json!({"max_primary_shard_size": "9999999999gb"}),
            json!({"max_size": "1.5gb"}),
            json!({"max_age": "99999999999999999999d"}),
            json!({"max_age": "5micros"}),
            json!({"max_age": "1d", "bogus": 1}),
        ]),
        3 => params("set_priority", vec![
            json!({"priority": 50}),
            json!({"priority": 0}),
            json!({"priority": -1}),
            json!({"priority": null}),
            json!({}),
            json!({"priority": "high"}),
        ]),
        3 => params("shrink", vec![
            json!({"number_of_shards": 1}),
            json!({"max_primary_shard_size": "50gb"}),
            json!({}),
            json!({"number_of_shards": 0}),
            json!({"number_of_shards": 1, "max_primary_shard_size": "50gb"}),
            json!({"number_of_shards": -2}),
            json!({"number_of_shards": 1, "allow_write_after_shrink": true}),
        ]),
        3 => params("forcemerge", vec![
            json!({"max_num_segments": 1}),
            json!({"max_num_segments": 0}),
            json!({}),
            json!({"max_num_segments": 1, "index_codec": "best_compression"}),
            json!({"max_num_segments": 1, "index_codec": "zip"}),
        ]),
        3 => params("allocate", vec![
            json!({"number_of_replicas": 1}),
            json!({"number_of_replicas": 0}),
            json!({"number_of_replicas": -1}),
            json!({"require": {"box": "warm"}}),
            json!({}),
            json!({"total_shards_per_node": 2}),
        ]),
        2 => params("delete", vec![json!({}), json!({"delete_searchable_snapshot": false})]),
        1 => params("readonly", vec![json!({})]),
        1 => params("migrate", vec![json!({}), json!({"enabled": false})]),
        1 => params("freeze", vec![json!({})]),
        1 => params("unfollow", vec![json!({})]),
        1 => params("wait_for_snapshot", vec![json!({"policy": "nightly"}), json!({})]),
        1 => params("downsample", vec![json!({"fixed_interval": "1h"}), json!({})]),
        1 => params("no_such_action", vec![json!({})]),
    ]
}

/// A phase: usually the actions Elasticsearch allows in it, sometimes any action.
fn ilm_phase(name: &'static str) -> impl Strategy<Value = Value> {
    let allowed: &'static [&'static str] = match name {
        "hot" => &[
            "rollover",
            "set_priority",
            "shrink",
            "forcemerge",
            "readonly",
            "unfollow",
            "downsample",
        ],
        "warm" => &[
            "set_priority",
            "allocate",
            "shrink",
            "forcemerge",
            "readonly",
            "migrate",
            "unfollow",
            "downsample",
        ],
        "cold" => &[
            "set_priority",
            "allocate",
            "readonly",
            "migrate",
            "freeze",
            "unfollow",
            "downsample",
        ],
        "frozen" => &["unfollow"],
        _ => &["delete", "wait_for_snapshot"],
    };
    (
        proptest::collection::vec((proptest::bool::weighted(0.85), ilm_action()), 0..4),
        prop_oneof![
            6 => Just(None),
            2 => select(vec!["0ms", "1d", "2d", "10d", "12h", "30d"]).prop_map(Some),
            1 => select(vec!["-1", "banana", "1.5d", "7", "1D"]).prop_map(Some),
        ],
    )
        .prop_map(move |(actions, min_age)| {
            let mut a = Map::new();
            for (keep_to_phase, (action, params)) in actions {
                if keep_to_phase && !allowed.contains(&action.as_str()) {
                    continue;
                }
                a.insert(action, params);
            }
            let mut p = json!({"actions": a});
            if let Some(age) = min_age {
                p["min_age"] = json!(age);
            }
            p
        })
}

fn ilm_body() -> impl Strategy<Value = (String, Value)> {
    (
        proptest::option::weighted(0.8, ilm_phase("hot")),
        proptest::option::weighted(0.5, ilm_phase("warm")),
        proptest::option::weighted(0.4, ilm_phase("cold")),
        proptest::option::weighted(0.1, ilm_phase("frozen")),
        proptest::option::weighted(0.5, ilm_phase("delete")),
        // ages that may run phases out of order
        proptest::collection::vec(select(vec!["0ms", "1d", "2d", "5d", "30d", "1h"]), 5),
        prop_oneof![
            12 => Just(None),
            1 => Just(Some(("bogus_phase", json!({"actions": {}})))),
            1 => Just(Some(("bogus_field", json!(1)))),
            1 => Just(Some(("_meta", json!({"managed_by": "meshlogging"})))),
            1 => Just(Some(("phases", json!("not an object")))),
        ],
        prop_oneof![
            12 => Just("logs-policy"),
            1 => Just("_hidden"),
            1 => Just("Upper-Case"),
            1 => Just("a,b"),
        ],
        any::<bool>(),
    )
        .prop_map(
            |(hot, warm, cold, frozen, delete, ages, extra, name, reorder)| {
                let mut phases = Map::new();
                let all = [
                    ("hot", hot),
                    ("warm", warm),
                    ("cold", cold),
                    ("frozen", frozen),
                    ("delete", delete),
                ];
                for (i, (phase, body)) in all.into_iter().enumerate() {
                    if let Some(mut body) = body {
                        if reorder && phase != "hot" {
                            body["min_age"] = json!(ages[i]);
                        }
                        phases.insert(phase.to_string(), body);
                    }
                }
                let mut policy = json!({"phases": phases});
                match extra {
                    Some(("bogus_phase", v)) => {
                        policy["phases"]["bogus_phase"] = v;
                    }
                    Some((k, v)) => {
                        policy[k] = v;
                    }
                    None => {}
                }
                (name.to_string(), json!({ "policy": policy }))
            },
        )
}

fn slm_body() -> impl Strategy<Value = (String, Value)> {
    let schedules = vec![
        "0 30 1 * * ?",
        "0 0 */6 * * ?",
        "0 0/30 * * * ?",
        "0 15 10 ? * MON-FRI",
        "0 0 0 L * ?",
        "0 0 1 ? * 6#3",
        "0 45 23 * * ? 2099",
        "0 0 0 LW * ?",
        "0 0 0 15W * ?",
        "0 0 0 ? * 5L",
        "1h",
        "30m",
        "1d",
        // invalid or too frequent
        "0 30 1 * *",
        "* * * * * ?",
        "0 0/5 * * * ?",
        "0 * * * * ?",
        "0 0 0 * * *",
        "daily",
        "5m",
        "0 0 25 * * ?",
        "0 0 0 32 * ?",
        "0 0 0 ? * 8",
        "0 0 0 * 13 ?",
        "",
        "0 0 0 ? * MON#6",
        "0 0 12 ? * MON-FRI 1999",
        "0 0 0 L-3 * ?",
        "0 0 0 1 * ? *",
        "0 0 0 ? * * 2099",
        "0 0 0 1-40 * ?",
        "0 61 0 * * ?",
        "0 0 0 ? JAN-FEB MON",
        "0 0 0 ? * SUN-SAT/2",
    ];
    let names = vec![
        "<snap-{now/d}>",
        "<snap-{now/M{yyyy.MM}}>",
        "snap",
        "nightly-snap",
        "<{now/d}>",
        // invalid
        "Snap",
        "<snap-{now/x}>",
        "",
        "snap#1",
        "<snap-{now/d}",
        "snap with space",
        "_snap",
        "-snap",
        "<Snap-{now/d}>",
        "snap,1",
    ];
    let configs = vec![
        None,
        None,
        Some(json!({"indices": ["logs-*"]})),
        Some(json!({"indices": ["logs-*"]})),
        Some(
            json!({"indices": ["logs-*"], "include_global_state": false, "partial": true,
            "metadata": {"managed_by": "meshlogging"}}),
        ),
        Some(json!({"indices": "logs-*"})),
        Some(json!({"metadata": "not an object"})),
        Some(json!({"bogus": 1})),
        Some(json!({"indices": ["logs-*"], "ignore_unavailable": true})),
    ];
    let retentions = vec![
        None,
        None,
        None,
        Some(json!({})),
        Some(json!({"expire_after": "30d"})),
        Some(json!({"expire_after": "30d", "min_count": 1, "max_count": 10})),
        Some(json!({"min_count": 2, "max_count": 2})),
        Some(json!({"expire_after": "banana"})),
        Some(json!({"min_count": 0})),
        Some(json!({"max_count": 0})),
        Some(json!({"min_count": 5, "max_count": 1})),
        Some(json!({"expire_after": "0d"})),
        Some(json!({"expire_after": "-1"})),
        Some(json!({"bogus": 1})),
    ];
    (
        prop_oneof![4 => select(schedules[..13].to_vec()), 1 => select(schedules)],
        prop_oneof![4 => select(names[..5].to_vec()), 1 => select(names)],
        prop_oneof![8 => Just("repo"), 1 => Just(""), 1 => Just("missing")],
        select(configs),
        select(retentions),
        prop_oneof![12 => Just("nightly"), 1 => Just("Nightly"), 1 => Just("_nightly"), 1 => Just("a*b")],
        prop_oneof![12 => Just(None), 1 => Just(Some("bogus")), 1 => Just(Some("no_schedule"))],
    )
        .prop_map(|(schedule, name, repo, config, retention, id, extra)| {
            let mut b = json!({"schedule": schedule, "name": name, "repository": repo});
            if let Some(c) = config {
                b["config"] = c;
            }
            if let Some(r) = retention {
                b["retention"] = r;
            }
            match extra {
                Some("bogus") => b["bogus"] = json!(true),
                Some(_) => {
                    b.as_object_mut().map(|m| m.remove("schedule"));
                }
                None => {}
            }
            (id.to_string(), b)
        })
}

/// What the stand-in answers for a PUT: `None` (stored) or its `error.type`.
async fn stand_in(
    http: &reqwest::Client,
    url: &str,
    r: &PolicyRequest,
) -> Result<(), (u16, String, String)> {
    let path = match r.kind {
        PolicyKind::Ilm => "_ilm/policy",
        PolicyKind::Slm => "_slm/policy",
    };
    let resp = http
        .put(format!("{url}/{path}/{}", r.name))
        .json(&r.body)
        .send()
        .await
        .expect("PUT to the stand-in");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status == 200 {
        return Ok(());
    }
    let s = |p: &str| {
        body.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Err((status, s("/error/type"), s("/error/reason")))
}

#[tokio::test]
async fn stand_in_agrees_with_elasticsearch() {
    let mut requests: Vec<PolicyRequest> = sample(ilm_body(), 400)
        .into_iter()
        .map(|(name, body)| PolicyRequest {
            kind: PolicyKind::Ilm,
            name,
            body,
            repositories: None,
        })
        .collect();
    requests.extend(
        sample(slm_body(), 400)
            .into_iter()
            .map(|(name, body)| PolicyRequest {
                kind: PolicyKind::Slm,
                name,
                body,
                repositories: Some(vec!["repo".into()]),
            }),
    );
    // and what the operator renders for the examples
    for file in [
        "minimal.yaml",
        "production.yaml",
        "external-elasticsearch.yaml",
    ] {
        for mut r in rendered(&kit::example(file).spec) {
            if r.kind == PolicyKind::Slm {
                r.body["repository"] = json!("repo");
                r.repositories = Some(vec!["repo".into()]);
            }
            requests.push(r);
        }
    }
    let batch = policy_oracle::check(&requests);
    figures("stand-in vs Elasticsearch", &batch);

    let sim = es_sim::EsSim::start_with(es_sim::SimConfig {
        version: "8.19.21".into(),
        path_repo: vec!["/snapshots".into()],
        ..Default::default()
    })
    .await;
    let http = reqwest::Client::new();
    let created = http
        .put(format!("{}/_snapshot/repo", sim.url()))
        .json(&json!({"type": "fs", "settings": {"location": "/snapshots/repo"}}))
        .send()
        .await
        .expect("create the repository");
    assert_eq!(created.status().as_u16(), 200, "create the repository");

    let mut disagreements = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for (r, verdict) in requests.iter().zip(&batch.verdicts) {
        let got = stand_in(&http, &sim.url(), r).await;
        match verdict {
            None => valid += 1,
            Some(_) => invalid += 1,
        }
        let agree = match (verdict, &got) {
            (None, Ok(())) => true,
            (Some(Refusal { kind, .. }), Err((400, t, _))) => kind == t,
            _ => false,
        };
        if !agree {
            let es = match verdict {
                None => "stored".to_string(),
                Some(v) => format!(
                    "{} {} (root cause: {} {})",
                    v.kind, v.reason, v.root_kind, v.root_reason
                ),
            };
            let sim = match &got {
                Ok(()) => "stored".to_string(),
                Err((s, t, m)) => format!("{s} {t} {m}"),
            };
            disagreements.push(format!(
                "{} {}: {}\n  Elasticsearch: {es}\n  stand-in:      {sim}",
                r.kind.as_str(),
                r.name,
                r.body
            ));
        }
    }
    sim.stop().await;
    let total = requests.len();
    eprintln!(
        "stand-in vs Elasticsearch: {total} bodies ({valid} valid, {invalid} invalid by Elasticsearch), {} agree ({:.1}%)",
        total - disagreements.len(),
        100.0 * (total - disagreements.len()) as f64 / total as f64
    );
    assert!(
        valid >= 150 && invalid >= 150,
        "the corpus must hold both: {valid} valid, {invalid} invalid"
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

// ---- what a spec can express that Elasticsearch refuses: refused at admission? ----

/// The fixtures of `tests/fixtures/admission-gaps/`, sorted: path, content, the MeshLogging.
fn gap_fixtures() -> Vec<(std::path::PathBuf, String, MeshLogging)> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/admission-gaps");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("read tests/fixtures/admission-gaps")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read fixture");
            let mut ml: MeshLogging =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            ml.metadata.namespace = Some("ns".into());
            ml.metadata.uid = Some("uid".into());
            (path, text, ml)
        })
        .collect()
}

/// The ILM/SLM bodies rendered for `specs`, checked in one batch (its figures printed as
/// `what`): the batch, and for each verdict the index of the spec it belongs to.
fn check_rendered<'a>(
    specs: impl IntoIterator<Item = &'a MeshLoggingSpec>,
    what: &str,
) -> (Batch, Vec<usize>) {
    let mut requests = Vec::new();
    let mut owner = Vec::new();
    for (i, spec) in specs.into_iter().enumerate() {
        for r in rendered(spec) {
            requests.push(r);
            owner.push(i);
        }
    }
    let batch = policy_oracle::check(&requests);
    figures(what, &batch);
    (batch, owner)
}

/// Elasticsearch's refusals of the bodies of spec `i` (see [`check_rendered`]).
fn refusals_of<'a>(batch: &'a Batch, owner: &[usize], i: usize) -> Vec<&'a Refusal> {
    owner
        .iter()
        .zip(&batch.verdicts)
        .filter(|(o, _)| **o == i)
        .filter_map(|(_, v)| v.as_ref())
        .collect()
}

fn comment<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .collect()
}

/// Every known gap is real: Elasticsearch refuses what the operator renders for it (with
/// the words the fixture names) and the API server admits it. When the CRD starts refusing
/// one, this fails: move the fixture to `tests/fixtures/invalid/`, where `tests/crd.rs`
/// checks that the refusal names the field.
#[tokio::test]
async fn admission_gaps_are_refused_by_elasticsearch_and_admitted_by_the_crd() {
    let fixtures = gap_fixtures();
    assert!(!fixtures.is_empty(), "no admission-gap fixtures");
    let (batch, owner) = check_rendered(fixtures.iter().map(|f| &f.2.spec), "admission gaps");

    let kit::Setup { server, ns, .. } = kit::Setup::new("gaps").await;
    let mut failures = Vec::new();
    let mut gaps = Vec::new();
    for (i, (path, text, ml)) in fixtures.iter().enumerate() {
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default();
        let words = comment(text, "# elasticsearch:");
        let refusals = refusals_of(&batch, &owner, i);
        let matched = refusals.iter().find(|v| {
            words
                .iter()
                .all(|w| v.reason.contains(w) || v.root_reason.contains(w))
        });
        let Some(refusal) = matched else {
            failures.push(format!(
                "{file}: Elasticsearch does not refuse it with {words:?} (refusals: {refusals:?})"
            ));
            continue;
        };
        let out = kit::kubectl::dry_run_apply(server, &ns, path);
        if !out.status.success() {
            failures.push(format!(
                "{file}: the CRD refuses it now; move it to tests/fixtures/invalid/:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        let operator = match validate(ml) {
            Ok(_) => "sent to Elasticsearch".to_string(),
            Err(e) => format!("refused by the operator (InvalidSpec: {e:?})"),
        };
        gaps.push(format!(
            "{} ({}): admitted, {operator}; Elasticsearch: {} {}",
            comment(text, "# expect:").join(", "),
            file,
            refusal.root_kind,
            refusal.root_reason
        ));
    }
    eprintln!("admission gaps ({}):\n  {}", gaps.len(), gaps.join("\n  "));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Generated specs with edge values (cron fields, snapshot names, time values beyond a
/// long or below a millisecond, byte sizes, phase order): each one whose rendered ILM/SLM
/// Elasticsearch refuses is refused at admission, or is one of the known gaps above (the
/// refusal's words match a fixture). A new kind of gap fails here with the spec.
#[tokio::test]
async fn what_elasticsearch_refuses_is_refused_at_admission_or_a_known_gap() {
    let known: Vec<(String, Vec<String>)> = gap_fixtures()
        .into_iter()
        .map(|(path, text, _)| {
            let file = path
                .file_name()
                .and_then(|f| f.to_str())
                .unwrap_or_default()
                .to_string();
            let words = comment(&text, "# elasticsearch:")
                .into_iter()
                .map(String::from)
                .collect();
            (file, words)
        })
        .collect();
    let specs: Vec<MeshLoggingSpec> = sample(kit::specgen::edgy_spec(), 300)
        .into_iter()
        .map(|s| serde_json::from_value(s).expect("valid-shaped spec"))
        .collect();
    let (batch, owner) = check_rendered(&specs, "edge-value specs");

    let kit::Setup { client, ns, .. } = kit::Setup::new("edgy").await;
    let api: kube::Api<MeshLogging> = kube::Api::namespaced(client, &ns);
    let dry_run = kube::api::PostParams {
        dry_run: true,
        ..Default::default()
    };
    let (mut refused_by_es, mut refused_at_admission) = (0, 0);
    let mut per_gap: std::collections::BTreeMap<String, usize> = Default::default();
    let mut unknown = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let refusals = refusals_of(&batch, &owner, i);
        if refusals.is_empty() {
            continue;
        }
        refused_by_es += 1;
        let ml = MeshLogging::new(&format!("edgy-{i}"), spec.clone());
        if api.create(&dry_run, &ml).await.is_err() {
            refused_at_admission += 1;
            continue;
        }
        for refusal in refusals {
            let gap = known.iter().find(|(_, words)| {
                words
                    .iter()
                    .all(|w| refusal.reason.contains(w) || refusal.root_reason.contains(w))
            });
            match gap {
                Some((_, words)) => *per_gap.entry(words.join(" ")).or_default() += 1,
                None => unknown.push(format!(
                    "{}\n  Elasticsearch: {} {} (root cause: {} {})",
                    serde_json::to_string(spec).expect("spec json"),
                    refusal.kind,
                    refusal.reason,
                    refusal.root_kind,
                    refusal.root_reason
                )),
            }
        }
    }
    eprintln!(
        "edge-value specs: {} generated, {refused_by_es} refused by Elasticsearch, {refused_at_admission} of them refused at admission; admitted, by the words of the known gap: {per_gap:?}",
        specs.len()
    );
    assert!(
        refused_by_es >= 30,
        "too few refusals to say anything: {refused_by_es}"
    );
    assert!(
        unknown.is_empty(),
        "{} admitted specs Elasticsearch refuses for a reason no fixture in tests/fixtures/admission-gaps/ names:\n{}",
        unknown.len(),
        unknown.join("\n")
    );
}
