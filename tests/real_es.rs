//! The operator's Elasticsearch configuration against a **real Elasticsearch** (the
//! integration-test distribution, started once for this test binary by
//! `support::elasticsearch`): every API that distribution has is proven here, not against
//! the stand-in.
//!
//! What the distribution lacks — ILM, SLM, the native realm (roles and users) — is covered
//! by the stand-in in `tests/es_sync.rs`; here those kinds must be reported as
//! `NotSupportedByCluster` (or refused by Elasticsearch with its own reason) while every
//! other kind still applies.

use std::collections::BTreeMap;

mod support;

use meshlogging_operator::api::AppliedStatus;
use meshlogging_operator::elastic::sync::{Passwords, SyncInput};
use meshlogging_operator::elastic::{DesiredConfig, EsClient, Kind, SyncReport, desired, sync};
use serde_json::{Value, json};
use support::elasticsearch::{self, RealEs};

/// A resource of its own for each test: `index.name` and owner are unique, so tests share
/// the node without seeing each other's objects.
fn spec_for(example: &str, index: &str) -> meshlogging_operator::api::MeshLoggingSpec {
    let mut spec = support::example(&format!("{example}.yaml")).spec;
    spec.index.name = index.to_string();
    spec
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:06x}", rand::random::<u32>() & 0xff_ffff)
}

async fn pass(client: &EsClient, desired: &DesiredConfig, prev: &AppliedStatus) -> SyncReport {
    let pw = Passwords {
        collector: "collector-Pw-77ab20".into(),
        kibana: Some("kibana-Pw-0c4e91".into()),
    };
    let missing = BTreeMap::new();
    sync(
        client,
        desired,
        SyncInput {
            passwords: &pw,
            previously_applied: prev,
            missing_credentials: &missing,
        },
    )
    .await
}

fn es() -> &'static RealEs {
    elasticsearch::get()
}

async fn get(client: &EsClient, path: &str) -> Value {
    client
        .get("test", path)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .unwrap_or_else(|| panic!("GET {path}: 404"))
}

#[tokio::test]
async fn the_external_example_applies_on_a_real_elasticsearch() {
    let node = es();
    let client = node.client();
    let index = unique("ext");
    let spec = spec_for("external-elasticsearch", &index);
    let owner = format!("test/{index}");
    let desired = desired(&spec, &owner);

    let report = pass(&client, &desired, &AppliedStatus::default()).await;
    eprintln!("{report:#?}");
    assert!(report.aborted.is_none(), "aborted: {:?}", report.aborted);
    let ct = report.kind(Kind::ComponentTemplate);
    assert!(ct.failed.is_empty(), "component templates: {:?}", ct.failed);
    assert_eq!(ct.created.len(), 2);
    let it = report.kind(Kind::IndexTemplate);
    assert!(it.failed.is_empty(), "index template: {:?}", it.failed);
    let alias = report.kind(Kind::WriteAlias);
    assert_eq!(alias.created, vec![index.clone()], "{:?}", alias.failed);

    let found = get(&client, &format!("/_alias/{index}")).await;
    assert_eq!(
        found.pointer(&format!("/{index}-000001/aliases/{index}/is_write_index")),
        Some(&json!(true))
    );
}
