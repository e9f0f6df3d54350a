//! Kibana sync against the Kibana stand-in (`tests/kibana-sim`): from empty every object is
//! imported in one request; a second pass writes nothing; objects deleted or changed behind
//! the operator's back are restored; a user's objects (same title, or even one of the
//! operator's ids without its marker) are left alone; removal deletes only the resource's
//! objects; a starting Kibana is `KibanaUnavailable`.

use std::time::Duration;

use kibana_sim::{Availability, KibanaSim};
use meshlogging_operator::api::MeshLogging;
use meshlogging_operator::elastic::RetryPolicy;
use meshlogging_operator::kibana::{
    DesiredObjects, KibanaClient, KibanaConfig, import_ndjson, objects, remove, sync,
};
use meshlogging_operator::validate::validate;
use serde_json::{Value, json};

fn desired(name: &str) -> DesiredObjects {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/production.yaml");
    let text = std::fs::read_to_string(path).expect("read example");
    let mut ml: MeshLogging = serde_saphyr::from_str(&text).expect("parse example");
    ml.metadata.name = Some(name.to_string());
    ml.metadata.namespace = Some("logging".to_string());
    ml.metadata.uid = Some("6f1c2a3b-0000-4000-8000-000000000001".to_string());
    objects(&validate(&ml).expect("valid"))
}

fn client(sim: &KibanaSim) -> KibanaClient {
    let mut config = KibanaConfig::new(sim.url());
    config.retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
    };
    KibanaClient::new(config).expect("client")
}

fn stored(sim: &KibanaSim) -> Vec<(String, String)> {
    sim.with_state(|s| s.objects.keys().cloned().collect())
}

#[tokio::test]
async fn from_empty_then_no_op() {
    let sim = KibanaSim::start().await;
    let d = desired("mcp-mesh-logs");
    let report = sync(&client(&sim), &d).await.expect("sync");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.created.len(), d.objects.len());
    assert_eq!(stored(&sim).len(), d.objects.len());
    // status, bulk get, one import, find: one write for the whole set.
    assert_eq!((sim.reads(), sim.writes()), (3, 1), "{:?}", sim.requests());

    sim.clear_requests();
    let report = sync(&client(&sim), &d).await.expect("sync");
    assert_eq!(report.unchanged, d.objects.len(), "{report:?}");
    assert!(report.created.is_empty() && report.updated.is_empty() && report.deleted.is_empty());
    assert_eq!(
        (sim.reads(), sim.writes()),
        (3, 0),
        "a no-op pass writes nothing"
    );
}

#[tokio::test]
async fn deleted_and_changed_objects_are_restored() {
    let sim = KibanaSim::start().await;
    let d = desired("mcp-mesh-logs");
    sync(&client(&sim), &d).await.expect("sync");
    let dashboard = d.log_dashboard_id().expect("dashboard").to_string();
    let view = (
        "index-pattern".to_string(),
        "meshlogging.logging.mcp-mesh-logs.data-view".to_string(),
    );
    sim.with_state(|s| {
        s.objects
            .remove(&("dashboard".to_string(), dashboard.clone()));
        let o = s.objects.get_mut(&view).expect("data view");
        o.attributes["timeFieldName"] = json!("@timestamp");
    });
    sim.clear_requests();
    let report = sync(&client(&sim), &d).await.expect("sync");
    assert_eq!(report.created.len(), 1, "{report:?}");
    assert_eq!(report.created[0].id, dashboard);
    assert_eq!(report.updated.len(), 1);
    assert_eq!(report.updated[0].id, view.1);
    assert_eq!(sim.writes(), 1, "both in one import");
    let time_field = sim.with_state(|s| s.objects[&view].attributes["timeFieldName"].clone());
    assert_eq!(time_field, "timestamp");
    sim.clear_requests();
    sync(&client(&sim), &d).await.expect("sync");
    assert_eq!(sim.writes(), 0);
}

/// A user's dashboard with the same title is another object (ids differ); a user's object
/// at one of the operator's ids, without the marker, is reported and not overwritten.
#[tokio::test]
async fn users_objects_are_left_alone() {
    let sim = KibanaSim::start().await;
    let d = desired("mcp-mesh-logs");
    let security = d
        .objects
        .iter()
        .find(|o| o["attributes"]["title"] == "MCP Mesh Security Audit")
        .expect("security dashboard")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let users = [
        json!({"type": "dashboard", "id": "my-own", "attributes": {"title": "MCP Mesh Log Analysis", "panelsJSON": "[]"}}),
        json!({"type": "dashboard", "id": security, "attributes": {"title": "Mine", "panelsJSON": "[]"}}),
    ];
    import_user_objects(&sim, &users).await;
    let report = sync(&client(&sim), &d).await.expect("sync");
    assert_eq!(report.not_owned.len(), 1, "{report:?}");
    assert_eq!(report.not_owned[0].id, security);
    assert!(!report.is_ok());
    let title = |id: &str| {
        sim.with_state(|s| {
            s.objects[&("dashboard".to_string(), id.to_string())].attributes["title"].clone()
        })
    };
    assert_eq!(title("my-own"), "MCP Mesh Log Analysis");
    assert_eq!(title(&security), "Mine");

    // Removal deletes the resource's objects only.
    let report = remove(&client(&sim), &d).await.expect("remove");
    assert_eq!(report.deleted.len(), d.objects.len() - 1, "{report:?}");
    let left = stored(&sim);
    assert_eq!(
        left,
        vec![
            ("dashboard".to_string(), security.clone()),
            ("dashboard".to_string(), "my-own".to_string())
        ]
    );
}

/// Two resources on one Kibana keep their own objects; removing one leaves the other's.
#[tokio::test]
async fn removal_deletes_only_the_resources_objects() {
    let sim = KibanaSim::start().await;
    let (a, b) = (desired("mcp-mesh-logs"), desired("other-logs"));
    sync(&client(&sim), &a).await.expect("sync a");
    sync(&client(&sim), &b).await.expect("sync b");
    assert_eq!(stored(&sim).len(), a.objects.len() + b.objects.len());
    let report = remove(&client(&sim), &a).await.expect("remove");
    assert_eq!(report.deleted.len(), a.objects.len());
    let left = stored(&sim);
    assert_eq!(left.len(), b.objects.len());
    assert!(left.iter().all(|(_, id)| id.contains(".other-logs.")));
    sim.clear_requests();
    let report = remove(&client(&sim), &a).await.expect("remove again");
    assert!(report.deleted.is_empty());
    assert_eq!(sim.writes(), 0, "nothing left to delete");
}

/// Objects a later version no longer renders, still tagged as the resource's, are pruned.
#[tokio::test]
async fn objects_no_longer_rendered_are_pruned() {
    let sim = KibanaSim::start().await;
    let d = desired("mcp-mesh-logs");
    let old = json!({"type": "search", "id": "meshlogging.logging.mcp-mesh-logs.search-old",
        "attributes": {"title": "Old", "kibanaSavedObjectMeta": {"searchSourceJSON": "{}"}},
        "references": [{"type": "tag", "id": d.tag_id, "name": "tag-ref-meshlogging"}]});
    let mut first = d.objects.clone();
    first.push(old);
    import_user_objects(&sim, &first).await;
    let report = sync(&client(&sim), &d).await.expect("sync");
    assert_eq!(report.deleted.len(), 1, "{report:?}");
    assert_eq!(report.deleted[0].title, "Old");
    assert_eq!(report.unchanged, d.objects.len());
}

#[tokio::test]
async fn a_starting_kibana_is_unavailable() {
    let sim = KibanaSim::start().await;
    sim.set_availability(Availability::Starting);
    let err = sync(&client(&sim), &desired("mcp-mesh-logs"))
        .await
        .expect_err("503");
    assert_eq!(err.category(), "KibanaUnavailable", "{err}");
    assert_eq!(sim.writes(), 0);
    let err = remove(&client(&sim), &desired("mcp-mesh-logs"))
        .await
        .expect_err("503");
    assert_eq!(err.category(), "KibanaUnavailable");
    sim.stop().await;
    // Nobody listening at all.
    let err = sync(&client_at("http://127.0.0.1:1"), &desired("x"))
        .await
        .expect_err("down");
    assert_eq!(err.category(), "KibanaUnavailable");
}

fn client_at(url: &str) -> KibanaClient {
    let mut config = KibanaConfig::new(url);
    config.retry.max_attempts = 1;
    KibanaClient::new(config).expect("client")
}

/// A partial failure names each failed object and Kibana's error.
#[tokio::test]
async fn refused_objects_are_reported_with_kibanas_error() {
    let sim = KibanaSim::start().await;
    let mut d = desired("mcp-mesh-logs");
    // A dashboard whose panel points at a saved search that exists nowhere.
    let i = d
        .objects
        .iter()
        .position(|o| o["type"] == "dashboard")
        .expect("dashboard");
    d.objects[i]["references"]
        .as_array_mut()
        .expect("refs")
        .push(json!({"type": "search", "id": "nowhere", "name": "9:panel_9"}));
    let report = sync(&client(&sim), &d).await.expect("sync");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.failed[0].error, "missing_references: search/nowhere");
    assert_eq!(report.created.len(), d.objects.len() - 1);
}

/// Imports objects as a user would (the stand-in's own import route).
async fn import_user_objects(sim: &KibanaSim, objects: &[Value]) {
    let boundary = "userboundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"mine.ndjson\"\r\n\r\n{}\r\n--{boundary}--\r\n",
        import_ndjson(objects)
    );
    let r = reqwest::Client::new()
        .post(format!(
            "{}/api/saved_objects/_import?overwrite=true",
            sim.url()
        ))
        .header("kbn-xsrf", "true")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .expect("import");
    let answer: Value = r.json().await.expect("json");
    assert_eq!(answer["success"], true, "{answer}");
    sim.clear_requests();
}

/// The client sends its credentials; wrong ones are `Unauthorized`, not unavailable.
#[tokio::test]
async fn credentials_are_sent_and_refusals_classified() {
    use meshlogging_operator::elastic::Credentials;
    let sim = KibanaSim::start().await;
    sim.set_users(&[("dashboards", "secret")]);
    let with = |password: &str| {
        let mut config = KibanaConfig::new(sim.url());
        config.credentials = Some(Credentials {
            username: "dashboards".into(),
            password: password.into(),
        });
        KibanaClient::new(config).expect("client")
    };
    let d = desired("mcp-mesh-logs");
    let report = sync(&with("secret"), &d).await.expect("sync");
    assert_eq!(report.created.len(), d.objects.len());
    let err = sync(&with("wrong"), &d).await.expect_err("401");
    assert_eq!(err.category(), "Unauthorized");
    assert!(!err.to_string().contains("wrong"), "{err}");
}

/// Deleting the tag in Kibana drops every reference to it; the objects stay the resource's
/// (marker in the description, the data view by its name) and the tag comes back.
#[tokio::test]
async fn a_deleted_tag_is_restored_with_its_references() {
    let sim = KibanaSim::start().await;
    let d = desired("mcp-mesh-logs");
    sync(&client(&sim), &d).await.expect("sync");
    sim.with_state(|s| {
        s.objects.remove(&("tag".to_string(), d.tag_id.clone()));
        for o in s.objects.values_mut() {
            o.references.retain(|r| r["type"] != "tag");
        }
    });
    sim.clear_requests();
    let report = sync(&client(&sim), &d).await.expect("sync");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.created.len(), 1);
    assert_eq!(report.updated.len(), d.objects.len() - 1);
    assert_eq!(sim.writes(), 1);
    sim.clear_requests();
    sync(&client(&sim), &d).await.expect("sync");
    assert_eq!(sim.writes(), 0);
    // Removal finds the objects by id even without the tag.
    sim.with_state(|s| {
        s.objects.remove(&("tag".to_string(), d.tag_id.clone()));
        for o in s.objects.values_mut() {
            o.references.retain(|r| r["type"] != "tag");
        }
    });
    let report = remove(&client(&sim), &d).await.expect("remove");
    assert_eq!(report.deleted.len(), d.objects.len() - 1, "{report:?}");
    assert!(stored(&sim).is_empty());
}
