//! The dashboards end to end: the operator (in-process) against a real API server, the
//! Elasticsearch stand-in and the Kibana stand-in (`tests/kibana-sim`). The production
//! example ends with the data view and both dashboards in Kibana, loaded as the operator's
//! own Kibana user; a no-op pass writes nothing to Kibana or the API server; drift is
//! restored; turning dashboards off or deleting the resource removes only the operator's
//! objects; a starting Kibana (503) does not hold up Ready; a partly refused import names
//! each refused object.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use es_sim::EsSim;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kibana_sim::{Availability, KibanaSim};
use kube::api::{Api, Patch, PatchParams};
use meshlogging_operator::api::{MeshLogging, condition};
use meshlogging_operator::naming as names;
use meshlogging_testkit::apiserver::ApiServer;
use meshlogging_testkit::sim::SimEndpoint;
use meshlogging_testkit::{Kubelet, Setup, audit, kubectl, operator, resource, wait_for};
use serde_json::{Value, json};

const WAIT: Duration = resource::WAIT;
const PRODUCTION: &str = "mcp-mesh-logs";
const MINIMAL: &str = "mesh-logs";

/// The API server, an admin client, a fresh namespace, both stand-ins and the operator
/// reaching them.
struct Stack {
    server: &'static ApiServer,
    client: kube::Client,
    ns: String,
    es: EsSim,
    kibana: KibanaSim,
    op: operator::Running,
}

impl Stack {
    async fn start(prefix: &str) -> Stack {
        let Setup { server, client, ns } = Setup::new(prefix).await;
        let es = meshlogging_testkit::sim::es_sim(3).await;
        let kibana = KibanaSim::start().await;
        let endpoint = Arc::new(SimEndpoint::new(&es).with_kibana(kibana.url()));
        let op = operator::start_with(server, operator::settings(&ns), endpoint, &ns).await;
        Stack {
            server,
            client,
            ns,
            es,
            kibana,
            op,
        }
    }

    fn api(&self) -> Api<MeshLogging> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// The saved object ids of `name` in this namespace.
    fn id(&self, name: &str, object: &str) -> String {
        names::kibana_object_id(name, &self.ns, object)
    }

    /// Every saved object in the Kibana stand-in: (type, id) -> attributes.
    fn stored(&self) -> BTreeMap<(String, String), Value> {
        self.kibana.with_state(|s| {
            s.objects
                .iter()
                .map(|(k, o)| (k.clone(), o.attributes.clone()))
                .collect()
        })
    }

    /// Waits until `DashboardsReady` of `name` satisfies `pred`, playing the kubelet.
    async fn dashboards(
        &self,
        name: &str,
        what: &str,
        pred: impl Fn(&Condition) -> bool,
    ) -> MeshLogging {
        let api = self.api();
        let kubelet = Kubelet::new(&self.client, &self.ns);
        wait_for(WAIT, what, || async {
            kubelet.mark_ready(name).await;
            let ml = api.get(name).await.ok()?;
            let c = dashboards_ready(&ml)?;
            pred(&c).then_some(ml)
        })
        .await
    }
}

fn dashboards_ready(ml: &MeshLogging) -> Option<Condition> {
    ml.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == condition::DASHBOARDS_READY)
        .cloned()
}

/// The notes of the events in `ns` with `reason` (every event when empty).
async fn events(client: &kube::Client, ns: &str, reason: &str) -> Vec<String> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    api.list(&Default::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| reason.is_empty() || e.reason.as_deref() == Some(reason))
        .filter_map(|e| e.note)
        .collect()
}

fn is(c: &Condition, status: &str, reason: &str) -> bool {
    c.status == status && c.reason == reason
}

/// Kibana's requests as `(passes, reads, writes)`: a pass starts with `/api/status`.
fn counts(kibana: &KibanaSim) -> (usize, usize, usize) {
    let passes = kibana
        .requests()
        .iter()
        .filter(|r| r.path == "/api/status")
        .count();
    (passes, kibana.reads(), kibana.writes())
}

/// A user's own dashboard with the operator's title, at an id of the user's.
fn users_dashboard(kibana: &KibanaSim) {
    let body = json!({
        "type": "dashboard", "id": "my-own-log-analysis",
        "attributes": {"title": "MCP Mesh Log Analysis", "panelsJSON": "[]",
            "kibanaSavedObjectMeta": {"searchSourceJSON": "{}"}},
        "references": [],
    });
    let reply =
        kibana.with_state(|s| s.import(Some(("mine.ndjson".into(), format!("{body}\n"))), false));
    assert!(
        matches!(&reply, kibana_sim::api::Reply::Json(200, b) if b["success"] == true),
        "{reply:?}"
    );
}

#[tokio::test]
async fn production_example_gets_its_dashboards_kept_in_sync_and_removed_when_turned_off() {
    let stack = Stack::start("dash-prod").await;
    let (client, ns, kibana) = (&stack.client, &stack.ns, &stack.kibana);
    resource::production_s3_secret(client, ns).await;
    // Kibana's security is on, and nobody it knows is the operator yet: the operator must
    // sign in as its own user, whose password only its Secret holds.
    kibana.set_users(&[("someone-else", "not-the-operator")]);
    kubectl::apply_example(stack.server, ns, "production.yaml");
    let ready = resource::wait_ready(client, ns, PRODUCTION, "Ready=True").await;
    let refused = stack
        .dashboards(PRODUCTION, "DashboardsReady=False/Unauthorized", |c| {
            is(c, "False", "Unauthorized")
        })
        .await;
    assert!(
        meshlogging_testkit::is_ready(&refused),
        "Kibana refusing does not undo Ready"
    );
    assert!(
        ready.status.as_ref().and_then(|s| s.phase).is_some(),
        "{:?}",
        ready.status
    );

    // The operator's Kibana user in Elasticsearch: a role with Kibana feature privileges
    // only (no cluster, no index privileges, not a superuser), and its password in a Secret.
    let user = "mcp-mesh-logs-kibana-dashboards";
    let es = meshlogging_testkit::sim::client(&stack.es);
    let role = es
        .get("security.role", &format!("/_security/role/{user}"))
        .await
        .expect("role")
        .expect("role exists");
    let role = &role[user];
    assert_eq!(role["cluster"], json!([]));
    assert_eq!(role["indices"], json!([]));
    assert_eq!(role["run_as"], json!([]));
    let apps = role["applications"].as_array().expect("applications");
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0]["application"], "kibana-.kibana");
    assert_eq!(apps[0]["resources"], json!(["space:default"]));
    assert!(
        apps[0]["privileges"]
            .as_array()
            .expect("privileges")
            .iter()
            .all(|p| p.as_str().is_some_and(|p| p.starts_with("feature_"))),
        "{role}"
    );
    let es_user = es
        .get("security.user", &format!("/_security/user/{user}"))
        .await
        .expect("user")
        .expect("user exists");
    assert_eq!(es_user[user]["roles"], json!([user]));
    let secret: Secret = Api::namespaced(client.clone(), ns)
        .get(&names::kibana_dashboards_user_secret(PRODUCTION))
        .await
        .expect("the dashboards user's Secret");
    let password = String::from_utf8(secret.data.expect("data")[names::PASSWORD_KEY].0.clone())
        .expect("utf-8");
    assert_eq!(
        Some(true),
        es.authenticates(&meshlogging_operator::elastic::Credentials {
            username: user.into(),
            password: password.clone(),
        })
        .await
        .ok(),
        "the Secret's password is the user's"
    );

    // Kibana knows the operator's user now: from empty, everything is imported.
    kibana.clear_requests();
    kibana.set_users(&[(user, password.as_str())]);
    let applied = stack
        .dashboards(PRODUCTION, "DashboardsReady=True/Applied", |c| {
            is(c, "True", "Applied")
        })
        .await;
    let (passes, reads, writes) = counts(kibana);
    eprintln!(
        "from empty: {passes} Kibana passes, {reads} reads, {writes} writes; {} requests: {:?}",
        kibana.requests().len(),
        kibana
            .requests()
            .iter()
            .map(|r| format!("{} {} {}", r.method, r.path, r.status))
            .collect::<Vec<_>>()
    );
    let stored = stack.stored();
    let data_view = (
        "index-pattern".to_string(),
        stack.id(PRODUCTION, "data-view"),
    );
    assert_eq!(stored[&data_view]["title"], "mcp-mesh-logs");
    assert_eq!(stored[&data_view]["timeFieldName"], "timestamp");
    let log_dashboard = (
        "dashboard".to_string(),
        stack.id(PRODUCTION, "dashboard-logs"),
    );
    let security = (
        "dashboard".to_string(),
        stack.id(PRODUCTION, "dashboard-security"),
    );
    assert_eq!(stored[&log_dashboard]["title"], "MCP Mesh Log Analysis");
    assert_eq!(stored[&security]["title"], "MCP Mesh Security Audit");
    let status = applied.status.clone().expect("status");
    let recorded = status.applied.clone().expect("applied").saved_objects;
    let mut in_kibana: Vec<String> = stored.keys().map(|(t, i)| format!("{t}/{i}")).collect();
    in_kibana.sort();
    let mut recorded_sorted = recorded.clone();
    recorded_sorted.sort();
    assert_eq!(recorded_sorted, in_kibana, "status.applied.savedObjects");
    eprintln!("saved objects: {}", recorded.len());
    let url = format!(
        "http://kibana.mcp-mesh.local/app/dashboards#/view/{}",
        log_dashboard.1
    );
    assert_eq!(
        status.dashboards.and_then(|d| d.url).as_deref(),
        Some(url.as_str())
    );
    let wide = kubectl::run(
        stack.server,
        &["get", "meshlogging", PRODUCTION, "-n", ns, "-o", "wide"],
    );
    assert!(wide.contains("DASHBOARDS") && wide.contains(&url), "{wide}");
    let plain = kubectl::run(stack.server, &["get", "meshlogging", PRODUCTION, "-n", ns]);
    assert!(
        !plain.contains(&url),
        "priority 1: only with -o wide\n{plain}"
    );

    // Idle: passes run (every 2 s here) and write nothing to Kibana or the API server.
    let api_writes = audit::writes(stack.server, &stack.op.identity).len();
    kibana.clear_requests();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let (passes, reads, writes) = counts(kibana);
    eprintln!("no-op: {passes} Kibana passes, {reads} reads, {writes} writes");
    assert!(passes >= 2, "passes ran: {passes}");
    assert_eq!(writes, 0, "{:?}", kibana.requests());
    let new_writes = audit::writes(stack.server, &stack.op.identity)[api_writes..].to_vec();
    assert_eq!(new_writes, Vec::<String>::new(), "API writes while idle");

    // Behind the operator's back: the log dashboard deleted, the data view's time field
    // changed; a user's own dashboard of the same title added. Restored; the user's stays.
    users_dashboard(kibana);
    kibana.with_state(|s| {
        s.objects.remove(&log_dashboard);
        let o = s.objects.get_mut(&data_view).expect("data view");
        o.attributes["timeFieldName"] = json!("@timestamp");
    });
    wait_for(
        WAIT,
        "the deleted dashboard and the data view restored",
        || async {
            let stored = stack.stored();
            (stored.contains_key(&log_dashboard)
                && stored[&data_view]["timeFieldName"] == "timestamp")
                .then_some(())
        },
    )
    .await;
    let mine = ("dashboard".to_string(), "my-own-log-analysis".to_string());
    assert!(
        stack.stored().contains_key(&mine),
        "the user's dashboard stays"
    );
    // Announced: the first import, then what was put back, each an event of its own
    // (events on changes only).
    let put_back = [
        format!("created dashboard {}", log_dashboard.1),
        format!("restored index-pattern {}", data_view.1),
    ];
    let notes = wait_for(WAIT, "the DashboardsConfigured events", || async {
        let notes = events(client, ns, "DashboardsConfigured").await;
        notes
            .iter()
            .any(|n| put_back.iter().all(|p| n.contains(p.as_str())))
            .then_some(notes)
    })
    .await;
    assert!(
        notes.iter().any(|n| n.contains("created 16 saved objects")),
        "{notes:?}"
    );
    // The operator's Kibana password is in its Secret only.
    let ml = stack.api().get(PRODUCTION).await.expect("resource");
    let status = serde_json::to_string(&ml.status).expect("status");
    let all_events = events(client, ns, "").await.join("\n");
    for text in [&status, &all_events] {
        assert!(!text.contains(&password), "the password leaked: {text}");
    }

    // Dashboards off: the operator's objects go, the user's stays; the condition says so.
    stack
        .api()
        .patch(
            PRODUCTION,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"dashboards": {"enabled": false}}})),
        )
        .await
        .expect("turn dashboards off");
    let off = stack
        .dashboards(PRODUCTION, "DashboardsReady=True/Disabled", |c| {
            is(c, "True", "Disabled")
        })
        .await;
    let left: Vec<(String, String)> = stack.stored().into_keys().collect();
    assert_eq!(left, vec![mine], "only the user's object is left");
    assert!(meshlogging_testkit::is_ready(&off));
    let status = off.status.expect("status");
    assert!(
        status.applied.is_none_or(|a| a.saved_objects.is_empty()),
        "no saved objects recorded"
    );
    assert_eq!(status.dashboards, None, "no dashboard URL");
    // And the operator's Kibana user is gone from Elasticsearch with them.
    wait_for(WAIT, "the operator's Kibana user pruned", || async {
        es.get("security.user", &format!("/_security/user/{user}"))
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    stack.op.stop().await;
}

#[tokio::test]
async fn deleting_the_resource_removes_only_its_saved_objects() {
    let stack = Stack::start("dash-del").await;
    users_dashboard(&stack.kibana);
    kubectl::apply_example(stack.server, &stack.ns, "minimal.yaml");
    stack
        .dashboards(MINIMAL, "DashboardsReady=True/Applied", |c| {
            is(c, "True", "Applied")
        })
        .await;
    let ml = stack.api().get(MINIMAL).await.expect("resource");
    let status = ml.status.expect("status");
    assert_eq!(status.dashboards, None, "no Ingress, no URL");
    let recorded = status.applied.expect("applied").saved_objects.len();
    assert_eq!(
        stack.stored().len(),
        recorded + 1,
        "the operator's and the user's"
    );
    resource::delete_and_wait(&stack.client, &stack.ns, MINIMAL, "deleted").await;
    let left: Vec<(String, String)> = stack.stored().into_keys().collect();
    assert_eq!(
        left,
        vec![("dashboard".to_string(), "my-own-log-analysis".to_string())],
        "only the user's object is left"
    );
    stack.op.stop().await;
}

#[tokio::test]
async fn a_starting_kibana_does_not_hold_up_ready_and_is_retried() {
    let stack = Stack::start("dash-503").await;
    stack.kibana.set_availability(Availability::Starting);
    kubectl::apply_example(stack.server, &stack.ns, "minimal.yaml");
    let ml = resource::wait_ready(&stack.client, &stack.ns, MINIMAL, "Ready=True").await;
    assert_eq!(
        ml.status.and_then(|s| s.phase).map(|p| p.as_str()),
        Some("Ready")
    );
    let starting = stack
        .dashboards(MINIMAL, "DashboardsReady=False/KibanaUnavailable", |c| {
            is(c, "False", "KibanaUnavailable")
        })
        .await;
    let c = dashboards_ready(&starting).expect("condition");
    assert!(c.message.contains("503"), "{}", c.message);
    assert!(meshlogging_testkit::is_ready(&starting));
    assert_eq!(stack.kibana.writes(), 0);
    // Retried with backoff: several attempts, then Kibana is up and the objects load.
    let attempts = counts(&stack.kibana).0;
    stack.kibana.set_availability(Availability::Available);
    stack
        .dashboards(MINIMAL, "DashboardsReady=True/Applied", |c| {
            is(c, "True", "Applied")
        })
        .await;
    eprintln!("Kibana starting: {attempts} status probes before it was up");
    assert!(attempts >= 2, "retried: {attempts}");
    let data_view = ("index-pattern".to_string(), stack.id(MINIMAL, "data-view"));
    assert!(stack.stored().contains_key(&data_view));
    stack.op.stop().await;
}

#[tokio::test]
async fn a_partly_refused_import_names_each_refused_object() {
    let stack = Stack::start("dash-refuse").await;
    let message = "saved search refused by a test";
    stack.kibana.with_state(|s| {
        s.refuse.insert("search".into(), message.into());
    });
    kubectl::apply_example(stack.server, &stack.ns, "minimal.yaml");
    let refused = stack
        .dashboards(MINIMAL, "DashboardsReady=False/Rejected", |c| {
            is(c, "False", "Rejected")
        })
        .await;
    assert!(
        meshlogging_testkit::is_ready(&refused),
        "Ready all the same"
    );
    let c = dashboards_ready(&refused).expect("condition");
    let searches: Vec<String> = stack
        .kibana
        .with_state(|s| s.objects.keys().cloned().collect::<Vec<_>>())
        .into_iter()
        .filter(|(t, _)| t == "search")
        .map(|(_, id)| id)
        .collect();
    assert!(searches.is_empty(), "no search imported: {searches:?}");
    let desired = [
        "search-all",
        "search-errors",
        "search-slow-requests",
        "search-trace",
        "search-auth-events",
        "search-auth-failures",
    ];
    assert!(
        c.message
            .starts_with(&format!("Kibana refused {} saved objects", desired.len())),
        "{}",
        c.message
    );
    for slug in desired {
        let id = stack.id(MINIMAL, slug);
        assert!(c.message.contains(&id), "{id} named in: {}", c.message);
    }
    assert!(
        c.message.contains(message),
        "Kibana's error quoted: {}",
        c.message
    );
    // The rest imported.
    let data_view = ("index-pattern".to_string(), stack.id(MINIMAL, "data-view"));
    assert!(stack.stored().contains_key(&data_view));
    // Kibana accepts them again: Applied.
    stack.kibana.with_state(|s| s.refuse.clear());
    stack
        .dashboards(MINIMAL, "DashboardsReady=True/Applied", |c| {
            is(c, "True", "Applied")
        })
        .await;
    stack.op.stop().await;
}
