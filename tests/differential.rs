//! Differential tests: the Elasticsearch stand-in (`tests/es-sim`) against a real
//! Elasticsearch (the integration-test distribution the test kit's `elasticsearch` starts
//! once for this binary).
//!
//! The corpus is a list of cases, each a sequence of REST requests:
//! - the operator's own requests: its from-empty pass, a steady pass, drift made behind its
//!   back, and the repair pass, for every example, recorded against a stand-in with every
//!   module (what the operator sends to a full distribution) and against one configured like
//!   the real node (what it sends to this one). `fs` repository locations are moved under the
//!   real node's `path.repo`, which is also the replay stand-in's;
//! - hand-written edge cases: invalid settings, analyzers across templates, unknown analysis
//!   components, index templates of missing component templates, overlapping patterns at
//!   equal priority, alias conflicts, `_meta` round trips, error bodies of missing objects,
//!   repositories, native-realm writes, bulk and search; the scale-down's and the rolling
//!   restart's requests.
//!
//! Every case is replayed, request by request, against a fresh stand-in and against the real
//! node (emptied of the previous case's objects first; names are unique per case as well).
//! The stand-in is configured as the real node is built: [`Modules::INTEG_TEST_DISTRIBUTION`]
//! (no ILM, SLM, `analysis-common`, `rest-root` or repository plugins), the same version and
//! the same `path.repo`.
//!
//! Compared for each request: the status; for errors, `error.type` (or the whole message
//! when Elasticsearch answers with a bare string: `no handler found`, `405`, missing alias);
//! for successes, the body after [`normalize`] (what it drops and why is said there). HEAD
//! answers compare the status only. Requests are sent as the superuser.
//!
//! Disagreements that remain are listed in [`KNOWN_DISAGREEMENTS`] with the reason: a new
//! disagreement fails the test, and so does a listed one that no longer occurs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use es_sim::{EsSim, Modules, SimConfig, SimUser};
use kit::desired;
use kit::elasticsearch::{self, ADMIN_USER, RealEs};
use meshlogging_operator::api::AppliedStatus;
use meshlogging_operator::elastic::{
    ClientConfig, Credentials, DesiredConfig, EsClient, RetryPolicy,
};
use meshlogging_testkit as kit;
use serde_json::{Map, Value, json};

/// Disagreements between the stand-in and the real node that remain, keyed as the test
/// prints them (`case: METHOD path [#n]`, the case's unique name written `{t}`), with why.
const KNOWN_DISAGREEMENTS: &[(&str, &str)] = &[
    (
        "documents and dynamic mappings: POST /_bulk",
        "the reason of a bulk item's strict-mapping error quotes the JSON parser's position of \
         the field ([1:6]); the stand-in does not track positions and says [1:2]",
    ),
    (
        "documents and dynamic mappings: DELETE /{t}-1/_doc/1 #2",
        "deleting a deleted document: Elasticsearch keeps the tombstone's version and answers \
         version + 1, the stand-in forgets deleted documents and answers version 1",
    ),
];

/// One REST request of the corpus.
#[derive(Clone, Debug)]
struct Req {
    method: String,
    /// Raw (percent-encoded) path.
    path: String,
    /// Raw query, without `?`.
    query: String,
    /// JSON body; a JSON string is sent as is (ndjson).
    body: Option<Value>,
}

impl Req {
    fn new(method: &str, path_and_query: &str, body: Option<Value>) -> Req {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Req {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            body,
        }
    }
}

/// A named sequence of requests; `tag` is the case's unique name (written `{t}` in keys).
struct Case {
    name: String,
    tag: String,
    requests: Vec<Req>,
}

/// The answer to one request.
#[derive(Clone, Debug)]
struct Answer {
    status: u16,
    body: Value,
}

/// Where requests go: a stand-in or the real node.
struct Target {
    url: String,
    http: reqwest::Client,
    user: String,
    password: String,
}

impl Target {
    fn new(url: String, ca_pem: Option<&str>, user: &str, password: &str) -> Target {
        let mut b = reqwest::Client::builder().timeout(Duration::from_secs(60));
        if let Some(pem) = ca_pem {
            b = b
                .tls_built_in_root_certs(false)
                .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).expect("CA"));
        }
        Target {
            url,
            http: b.build().expect("HTTP client"),
            user: user.to_string(),
            password: password.to_string(),
        }
    }

    fn real(es: &RealEs) -> Target {
        Target::new(es.url.clone(), Some(&es.ca_pem), ADMIN_USER, &es.password)
    }

    fn sim(sim: &EsSim) -> Target {
        Target::new(sim.url(), sim.ca_pem().as_deref(), ADMIN_USER, SIM_PASSWORD)
    }

    async fn send(&self, r: &Req) -> Answer {
        let mut url = format!("{}{}", self.url, r.path);
        if !r.query.is_empty() {
            url.push('?');
            url.push_str(&r.query);
        }
        let method = reqwest::Method::from_bytes(r.method.as_bytes()).expect("method");
        let mut rb = self
            .http
            .request(method, &url)
            .basic_auth(&self.user, Some(&self.password));
        match &r.body {
            Some(Value::String(ndjson)) => {
                rb = rb
                    .header("content-type", "application/x-ndjson")
                    .body(ndjson.clone());
            }
            Some(v) => {
                rb = rb
                    .header("content-type", "application/json")
                    .body(v.to_string());
            }
            None => {}
        }
        let resp = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} {url}: {e}", r.method));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer { status, body }
    }
}

const SIM_PASSWORD: &str = "differential-Pw-5d1e";

/// A unique name for one case (fixed length, so no case's patterns overlap another's).
fn tag() -> String {
    format!("dx{:08x}", rand::random::<u32>())
}

fn sim_config(es: &RealEs, modules: Modules) -> SimConfig {
    SimConfig {
        version: es.version.clone(),
        users: vec![SimUser::new(ADMIN_USER, SIM_PASSWORD, &["superuser"])],
        path_repo: vec![es.repo_dir.display().to_string()],
        keystore: vec![
            "s3.client.default.access_key".into(),
            "s3.client.default.secret_key".into(),
        ],
        modules,
        ..SimConfig::default()
    }
}

/// A stand-in built like the real node, with its node name (`_cat/shards` shows it).
async fn like_real_sim(es: &RealEs, node_name: &str) -> EsSim {
    let mut cfg = sim_config(es, Modules::INTEG_TEST_DISTRIBUTION);
    // the real node's keystore holds no S3 client settings
    cfg.keystore.clear();
    let sim = EsSim::start_with(cfg).await;
    sim.with_state(|s| s.node_name = node_name.to_string());
    sim
}

/// The real node's name.
async fn node_name(real: &Target) -> String {
    let a = real
        .send(&Req::new(
            "GET",
            "/_nodes/_local?filter_path=nodes.*.name",
            None,
        ))
        .await;
    let nodes = a.body["nodes"].as_object().cloned().unwrap_or_default();
    let name = nodes.values().find_map(|n| n["name"].as_str());
    name.expect("the real node's name").to_string()
}

// ---------------------------------------------------------------------------------------
// (a) the operator's own requests

fn operator_client(sim: &EsSim) -> EsClient {
    EsClient::new(ClientConfig {
        url: sim.url(),
        credentials: Some(Credentials {
            username: ADMIN_USER.into(),
            password: SIM_PASSWORD.into(),
        }),
        ca_pem: sim.ca_pem().map(String::into_bytes),
        request_timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            max_attempts: 1,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
        },
    })
    .expect("client")
}

async fn pass(client: &EsClient, desired: &DesiredConfig, prev: &AppliedStatus) -> AppliedStatus {
    let (report, applied) = kit::sync::pass(client, desired, prev).await;
    assert!(report.aborted.is_none(), "aborted: {:?}", report.aborted);
    applied
}

/// The operator's from-empty, steady, drift and repair passes for `example`, recorded
/// against a stand-in with `modules`.
async fn operator_case(es: &RealEs, example: &str, modules: Modules, mode: &str) -> Case {
    let t = tag();
    let mut spec = kit::example(&format!("{example}.yaml")).spec;
    spec.index.name = t.clone();
    // `fs` repositories live under the real node's `path.repo` (the stand-ins' too)
    if let Some(snapshots) = spec.snapshots.as_mut() {
        for r in &mut snapshots.repositories {
            if let Some(loc) = r.settings.get_mut("location") {
                *loc = format!("{}/{t}{loc}", es.repo_dir.display());
            }
        }
    }
    let owner = format!("diff/{t}");
    let desired = desired(&spec, &owner);

    let sim = EsSim::start_with(sim_config(es, modules)).await;
    let client = operator_client(&sim);
    let direct = Target::sim(&sim);

    let applied = pass(&client, &desired, &AppliedStatus::default()).await;
    pass(&client, &desired, &applied).await;

    // Drift behind the operator's back (marker kept, so the operator repairs it).
    let components = if modules.ilm {
        desired.component_templates.clone()
    } else {
        desired.component_templates_without_lifecycle()
    };
    let settings_name = format!("{t}-settings");
    let mut settings = components[&settings_name].clone();
    settings["template"]["settings"]["index"]["refresh_interval"] = json!("1m");
    let mut index_template = desired.index_templates[&t].clone();
    index_template["priority"] = json!(500);
    let mut drift = vec![
        Req::new(
            "PUT",
            &format!("/_component_template/{settings_name}"),
            Some(settings),
        ),
        Req::new(
            "PUT",
            &format!("/_index_template/{t}"),
            Some(index_template),
        ),
        Req::new(
            "DELETE",
            &format!("/_component_template/{settings_name}"),
            None,
        ),
        Req::new("DELETE", &format!("/{t}-000001/_alias/{t}"), None),
    ];
    for (name, repo) in &desired.repositories {
        if repo.body["type"] == "fs" {
            let mut body = repo.body.clone();
            body["settings"]["location"] = json!(format!("{}/{t}/moved", es.repo_dir.display()));
            drift.push(Req::new("PUT", &format!("/_snapshot/{name}"), Some(body)));
        }
    }
    for r in &drift {
        direct.send(r).await;
    }
    pass(&client, &desired, &applied).await;

    let requests = sim
        .requests()
        .into_iter()
        .map(|r| Req {
            method: r.method,
            path: r.path,
            query: r.query,
            body: r.body,
        })
        .collect();
    sim.stop().await;
    Case {
        name: format!("operator {example} ({mode})"),
        tag: t,
        requests,
    }
}

// ---------------------------------------------------------------------------------------
// (b) hand-written edge cases; `{t}` is the case's unique name, `{repo}` the real node's
// `path.repo`.

type Step = (&'static str, &'static str, Option<Value>);

fn handwritten() -> Vec<(&'static str, Vec<Step>)> {
    let ct = |settings: Value| Some(json!({"template": {"settings": settings}}));
    let analyzer = |def: Value| ct(json!({"index": {"analysis": {"analyzer": {"a": def}}}}));
    let text_with =
        |key: &str, name: &str| json!({"properties": {"msg": {"type": "text", key: name}}});
    let log_analyzer = json!({"analyzer": {"log_analyzer": {
        "type": "custom", "tokenizer": "standard", "filter": ["lowercase", "stop"]}}});
    vec![
        (
            "invalid settings",
            vec![
                ("PUT", "/_component_template/{t}-a", ct(json!({"index": {"refresh_interval": "banana"}}))),
                ("PUT", "/_component_template/{t}-b", ct(json!({"index": {"foo": "bar"}}))),
                ("PUT", "/_component_template/{t}-c", ct(json!({"index": {"number_of_shards": "x"}}))),
                ("PUT", "/_component_template/{t}-d", ct(json!({"index": {"number_of_replicas": -1}}))),
                ("PUT", "/_component_template/{t}-e", ct(json!({"index": {"codec": "nope"}}))),
                ("PUT", "/_component_template/{t}-f", ct(json!({"index": {"lifecycle": {"name": "p"}}}))),
                ("PUT", "/_component_template/{t}-g", ct(json!({"index": {"lifecycle": {"nmae": "p"}}}))),
                ("PUT", "/_component_template/{t}-h", ct(json!({"index": {"lifecycle": {"prefer_ilm": true}}}))),
                ("PUT", "/_component_template/{t}-i", ct(json!({"index": {"refresh_interval": "5s", "number_of_shards": 3}}))),
                ("PUT", "/_component_template/{t}-j", ct(json!({"index.refresh_interval": "-1", "index.number_of_replicas": 0}))),
                ("GET", "/_component_template/{t}-i", None),
                ("GET", "/_component_template/{t}-j?flat_settings=true", None),
                ("PUT", "/{t}-x", Some(json!({"settings": {"refresh_interval": "banana"}}))),
                ("PUT", "/{t}-y", Some(json!({"settings": {"index": {"number_of_replicas": 0, "refresh_interval": "2s"}}}))),
                ("GET", "/{t}-y/_settings", None),
                ("PUT", "/{t}-y/_settings", Some(json!({"index": {"refresh_interval": "banana"}}))),
                ("PUT", "/{t}-y/_settings", Some(json!({"index": {"lifecycle.name": "p"}}))),
                ("PUT", "/{t}-y/_settings", Some(json!({"index": {"refresh_interval": "7s"}}))),
                ("GET", "/{t}-y/_settings?flat_settings=true", None),
                ("GET", "/_component_template", None),
            ],
        ),
        (
            "analyzers across templates",
            vec![
                ("PUT", "/_component_template/{t}-map", Some(json!({"template": {"mappings": text_with("analyzer", "log_analyzer")}}))),
                ("PUT", "/_component_template/{t}-set", Some(json!({"template": {"settings": {"index": {"analysis": log_analyzer}}}}))),
                ("PUT", "/_component_template/{t}-map", Some(json!({"template": {"mappings": text_with("analyzer", "log_analyzer")}}))),
                ("PUT", "/_component_template/{t}-self", Some(json!({"template": {
                    "settings": {"index": {"analysis": log_analyzer}},
                    "mappings": text_with("analyzer", "log_analyzer")}}))),
                ("PUT", "/_component_template/{t}-search", Some(json!({"template": {"mappings": text_with("search_analyzer", "nope")}}))),
                ("PUT", "/_component_template/{t}-quote", Some(json!({"template": {"mappings": {"properties": {"o": {"properties": {"m": {"type": "text", "search_quote_analyzer": "nope"}}}}}}}))),
                ("PUT", "/_component_template/{t}-sub", Some(json!({"template": {"mappings": {"properties": {"m": {"type": "text", "fields": {"k": {"type": "text", "analyzer": "nope"}}}}}}}))),
                ("PUT", "/_component_template/{t}-norm", Some(json!({"template": {"mappings": {"properties": {"k": {"type": "keyword", "normalizer": "nope"}}}}}))),
                ("PUT", "/_component_template/{t}-lcnorm", Some(json!({"template": {"mappings": {"properties": {"k": {"type": "keyword", "normalizer": "lowercase"}}}}}))),
                ("PUT", "/_component_template/{t}-builtin", Some(json!({"template": {"mappings": {"properties": {
                    "a": {"type": "text", "analyzer": "whitespace"},
                    "b": {"type": "text", "analyzer": "simple", "search_analyzer": "standard"},
                    "c": {"type": "text", "analyzer": "keyword"}}}}}))),
                ("PUT", "/_component_template/{t}-english", Some(json!({"template": {"mappings": text_with("analyzer", "english")}}))),
                ("PUT", "/_index_template/{t}", Some(json!({"index_patterns": ["{t}-*"], "composed_of": ["{t}-set"],
                    "template": {"mappings": text_with("analyzer", "log_analyzer")}, "priority": 10}))),
                ("PUT", "/_index_template/{t}-bad", Some(json!({"index_patterns": ["{t}bad-*"], "composed_of": ["{t}-self"],
                    "template": {"mappings": {"properties": {"x": {"type": "text", "analyzer": "nope"}}}}}))),
                ("PUT", "/{t}-000001", None),
                ("GET", "/{t}-000001/_mapping", None),
                ("PUT", "/{t}other", Some(json!({"mappings": text_with("analyzer", "log_analyzer")}))),
                ("PUT", "/{t}other", Some(json!({"settings": {"analysis": log_analyzer}, "mappings": text_with("analyzer", "log_analyzer")}))),
                ("GET", "/{t}other", None),
                ("GET", "/_index_template/{t}", None),
            ],
        ),
        (
            "unknown analysis components",
            vec![
                ("PUT", "/_component_template/{t}-1", analyzer(json!({"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "snowball"]}))),
                ("PUT", "/_component_template/{t}-2", ct(json!({"index": {"analysis": {"filter": {"stem": {"type": "snowball", "language": "English"}}}}}))),
                ("PUT", "/_component_template/{t}-3", analyzer(json!({"tokenizer": "whitespace"}))),
                ("PUT", "/_component_template/{t}-4", analyzer(json!({"tokenizer": "standard", "char_filter": ["html_strip"]}))),
                ("PUT", "/_component_template/{t}-5", analyzer(json!({"type": "snowball"}))),
                ("PUT", "/_component_template/{t}-6", analyzer(json!({"filter": ["lowercase"]}))),
                ("PUT", "/_component_template/{t}-7", analyzer(json!({"type": "custom"}))),
                ("PUT", "/_component_template/{t}-8", ct(json!({"index": {"analysis": {"filter": {"s": {"type": "standard"}}}}}))),
                ("PUT", "/_component_template/{t}-9", analyzer(json!({"tokenizer": "standard", "filter": ["stop", "shingle", "lowercase"]}))),
                ("PUT", "/_component_template/{t}-10", ct(json!({"index": {"analysis": {"filter": {"h": {"type": "hunspell"}}}}}))),
                ("PUT", "/_component_template/{t}-11", ct(json!({"index": {"analysis": {
                    "filter": {"my_stop": {"type": "stop", "stopwords": ["a", "the"]}},
                    "analyzer": {"a": {"tokenizer": "standard", "filter": ["my_stop", "lowercase"]}}}}}))),
                ("PUT", "/_component_template/{t}-12", ct(json!({"index": {"analysis": {"tokenizer": {"tk": {"type": "pattern"}}}}}))),
                ("PUT", "/_component_template/{t}-13", analyzer(json!({"type": "standard", "stopwords": "_english_"}))),
                ("PUT", "/_component_template/{t}-14", analyzer(json!({"tokenizer": "standard", "filter": "lowercase"}))),
                ("PUT", "/{t}", Some(json!({"settings": {"analysis": {"analyzer": {"a": {"tokenizer": "standard", "filter": ["snowball"]}}}}}))),
                ("GET", "/_component_template/{t}-*", None),
            ],
        ),
        (
            "missing component templates",
            vec![
                ("PUT", "/_index_template/{t}", Some(json!({"index_patterns": ["{t}-*"], "composed_of": ["{t}-nope", "{t}-nope2"]}))),
                ("PUT", "/_component_template/{t}-c", ct(json!({"index": {"number_of_replicas": 0}}))),
                ("PUT", "/_index_template/{t}", Some(json!({"index_patterns": ["{t}-*"], "composed_of": ["{t}-c", "{t}-nope"]}))),
                ("PUT", "/_index_template/{t}", Some(json!({"index_patterns": ["{t}-*"], "composed_of": ["{t}-c", "{t}-nope"],
                    "ignore_missing_component_templates": ["{t}-nope"]}))),
                ("GET", "/_index_template/{t}", None),
                ("DELETE", "/_component_template/{t}-c", None),
                ("PUT", "/{t}-1", None),
                ("GET", "/{t}-1/_settings", None),
                ("DELETE", "/_index_template/{t}", None),
                ("DELETE", "/_component_template/{t}-c", None),
                ("GET", "/_component_template/{t}-c", None),
            ],
        ),
        (
            "overlapping patterns",
            vec![
                ("PUT", "/_index_template/{t}-a", Some(json!({"index_patterns": ["{t}-logs-*"], "priority": 10,
                    "template": {"settings": {"index": {"refresh_interval": "10s", "number_of_replicas": 0}}}}))),
                ("PUT", "/_index_template/{t}-b", Some(json!({"index_patterns": ["{t}-logs-app-*"], "priority": 10}))),
                ("PUT", "/_index_template/{t}-b", Some(json!({"index_patterns": ["{t}-logs-app-*"], "priority": 11,
                    "template": {"settings": {"index": {"refresh_interval": "11s", "number_of_replicas": 0}}}}))),
                ("PUT", "/_index_template/{t}-c", Some(json!({"index_patterns": ["{t}-other-*", "{t}-logs-x*"]}))),
                ("PUT", "/_index_template/{t}-c", Some(json!({"index_patterns": ["{t}-other-*"], "priority": 10}))),
                ("PUT", "/_index_template/{t}-d", Some(json!({"index_patterns": ["{t}-*"], "priority": 10}))),
                ("PUT", "/_index_template/{t}-d", Some(json!({"index_patterns": ["{t}-*"], "priority": 5}))),
                ("PUT", "/{t}-logs-app-1", None),
                ("PUT", "/{t}-logs-web-1", None),
                ("GET", "/{t}-logs-app-1/_settings/index.refresh_interval", None),
                ("GET", "/{t}-logs-web-1/_settings/index.refresh_interval", None),
                ("PUT", "/_index_template/{t}-a", Some(json!({"index_patterns": ["{t}-logs-*"], "priority": 11}))),
                ("GET", "/_index_template/{t}-*", None),
                ("GET", "/_index_template", None),
            ],
        ),
        (
            "alias conflicts",
            vec![
                ("PUT", "/{t}-000001", Some(json!({"aliases": {"{t}": {"is_write_index": true}}}))),
                ("PUT", "/{t}", None),
                ("PUT", "/{t}-000002", Some(json!({"aliases": {"{t}": {"is_write_index": true}}}))),
                ("PUT", "/{t}-000003", Some(json!({"aliases": {"{t}-000001": {}}}))),
                ("PUT", "/{t}-000003", Some(json!({"aliases": {"{t}": {}}}))),
                ("POST", "/_aliases", Some(json!({"actions": [{"add": {"index": "{t}-000003", "alias": "{t}", "is_write_index": true}}]}))),
                ("GET", "/_alias/{t}", None),
                ("POST", "/_aliases", Some(json!({"actions": [
                    {"add": {"index": "{t}-000003", "alias": "{t}", "is_write_index": true}},
                    {"add": {"index": "{t}-000001", "alias": "{t}", "is_write_index": false}}]}))),
                ("GET", "/_alias/{t}", None),
                ("PUT", "/{t}-000003/_alias/{t}-000001", None),
                ("DELETE", "/{t}", None),
                ("POST", "/{t}/_rollover", None),
                ("GET", "/_alias/{t}", None),
                ("GET", "/{t}-000003/_alias", None),
                ("DELETE", "/{t}-000001/_alias/{t}-nope", None),
                ("HEAD", "/_alias/{t}", None),
                ("GET", "/_alias", None),
            ],
        ),
        (
            "_meta round trips",
            vec![
                ("PUT", "/_component_template/{t}-c", Some(json!({"template": {"settings": {"number_of_replicas": 0}}, "version": 3,
                    "_meta": {"managed_by": "me", "nested": {"list": [1, "x", true, null, 2.5], "empty": {}}}}))),
                ("GET", "/_component_template/{t}-c", None),
                ("PUT", "/_index_template/{t}", Some(json!({"index_patterns": ["{t}-*"], "composed_of": ["{t}-c"], "version": 7,
                    "_meta": {"owner": "diff/{t}", "n": 1}}))),
                ("GET", "/_index_template/{t}", None),
                ("PUT", "/_index_template/{t}", Some(json!({"index_patterns": ["{t}-*"], "composed_of": ["{t}-c"],
                    "_meta": {"owner": "someone else"}}))),
                ("GET", "/_index_template/{t}", None),
                ("PUT", "/{t}-1", Some(json!({"mappings": {"_meta": {"a": {"b": [1, 2]}}, "properties": {"k": {"type": "keyword"}}}}))),
                ("GET", "/{t}-1/_mapping", None),
                ("PUT", "/{t}-1/_mapping", Some(json!({"_meta": {"c": 1}}))),
                ("GET", "/{t}-1/_mapping", None),
            ],
        ),
        (
            "error bodies of missing objects",
            vec![
                ("GET", "/_component_template/{t}-nope", None),
                ("HEAD", "/_component_template/{t}-nope", None),
                ("DELETE", "/_component_template/{t}-nope", None),
                ("GET", "/_index_template/{t}-nope", None),
                ("HEAD", "/_index_template/{t}-nope", None),
                ("DELETE", "/_index_template/{t}-nope", None),
                ("GET", "/_alias/{t}-nope", None),
                ("HEAD", "/_alias/{t}-nope", None),
                ("GET", "/{t}-nope", None),
                ("HEAD", "/{t}-nope", None),
                ("GET", "/{t}-nope/_alias/x", None),
                ("DELETE", "/{t}-nope", None),
                ("GET", "/{t}-nope/_mapping", None),
                ("GET", "/_snapshot/{t}-nope", None),
                ("DELETE", "/_snapshot/{t}-nope", None),
                ("GET", "/_security/role/{t}-nope", None),
                ("GET", "/_security/user/{t}-nope", None),
                ("DELETE", "/_security/role/{t}-nope", None),
                ("DELETE", "/_security/user/{t}-nope", None),
                ("GET", "/{t}-nope/_doc/1", None),
                ("GET", "/_component_template/{t}-nope*", None),
                ("GET", "/_index_template/{t}-nope*", None),
            ],
        ),
        (
            // What a safe scale-down sends (src/elastic/nodes.rs), on one node: the
            // allocation filter, the shard table, voting exclusions of a node not in the
            // cluster (Elasticsearch records it as `_absent_`), and their clearing.
            "scale-down requests",
            vec![
                ("GET", "/_cluster/settings?flat_settings=true", None),
                ("PUT", "/_cluster/settings", Some(json!({"persistent": {"cluster.routing.allocation.exclude._name": "{t}-gone,{t}-leaving"}}))),
                ("GET", "/_cluster/settings?flat_settings=true", None),
                ("GET", "/_cluster/settings", None),
                ("PUT", "/{t}-1", Some(json!({"settings": {"number_of_shards": 2, "number_of_replicas": 1}}))),
                ("GET", "/_cat/shards/{t}-1?format=json&h=index,shard,prirep,state,node&s=shard,prirep", None),
                ("PUT", "/_cluster/settings", Some(json!({"persistent": {"cluster.routing.allocation.exclude._name": null}}))),
                ("GET", "/_cluster/settings?flat_settings=true", None),
                ("PUT", "/_cluster/settings", Some(json!({"persistent": {"cluster.routing.allocation.nope": "x"}}))),
                ("GET", "/_cluster/state/metadata?filter_path=metadata.cluster_coordination.voting_config_exclusions", None),
                ("POST", "/_cluster/voting_config_exclusions?node_names={t}-gone", None),
                ("GET", "/_cluster/state/metadata?filter_path=metadata.cluster_coordination.voting_config_exclusions", None),
                ("POST", "/_cluster/voting_config_exclusions", None),
                ("DELETE", "/_cluster/voting_config_exclusions", None),
                ("GET", "/_cluster/state/metadata?filter_path=metadata.cluster_coordination.voting_config_exclusions", None),
                ("GET", "/_nodes?filter_path=nodes.*.name", None),
                ("DELETE", "/{t}-1", None),
            ],
        ),
        (
            // What a rolling restart sends (src/elastic/restart.rs), on one node: the
            // nodes with their versions, roles and the elected master, the indices' health
            // (a one-node cluster is yellow for good), allocation `primaries`, a flush, the
            // allocation restored; and a value Elasticsearch refuses.
            "rolling restart requests",
            vec![
                ("GET", "/_cat/nodes?format=json&h=name,version,node.role,master", None),
                ("GET", "/_cluster/settings?flat_settings=true", None),
                ("PUT", "/{t}-1", Some(json!({"settings": {"number_of_shards": 1, "number_of_replicas": 1}}))),
                ("GET", "/_cluster/health?level=indices&filter_path=indices.*.status,indices.*.number_of_replicas", None),
                ("PUT", "/_cluster/settings", Some(json!({"persistent": {"cluster.routing.allocation.enable": "primaries"}}))),
                ("GET", "/_cluster/settings?flat_settings=true", None),
                ("POST", "/_flush", None),
                ("PUT", "/_cluster/settings", Some(json!({"persistent": {"cluster.routing.allocation.enable": null}}))),
                ("GET", "/_cluster/settings?flat_settings=true", None),
                ("PUT", "/_cluster/settings", Some(json!({"persistent": {"cluster.routing.allocation.enable": "sometimes"}}))),
                ("DELETE", "/{t}-1", None),
            ],
        ),
        (
            // What the reload of secure settings sends (src/elastic/reload.rs), on a node
            // whose keystore has no password (the harness's): reloaded without one; an
            // unknown body field refused. (A password-protected keystore, a wrong password
            // and the per-node answer are proven on a node of its own in real_es.)
            "secure settings reload",
            vec![
                ("POST", "/_nodes/reload_secure_settings", Some(json!({}))),
                ("POST", "/_nodes/reload_secure_settings", None),
                ("POST", "/_nodes/reload_secure_settings", Some(json!({"password": "x"}))),
            ],
        ),
        (
            "modules the node lacks",
            vec![
                ("GET", "/", None),
                ("HEAD", "/", None),
                ("GET", "/_nodes/_local?filter_path=nodes.*.version", None),
                ("GET", "/_ilm/policy", None),
                ("GET", "/_ilm/policy/{t}", None),
                ("PUT", "/_ilm/policy/{t}", Some(json!({"policy": {"phases": {"delete": {"min_age": "1d", "actions": {"delete": {}}}}}}))),
                ("DELETE", "/_ilm/policy/{t}", None),
                ("GET", "/_ilm/status", None),
                ("GET", "/{t}/_ilm/explain", None),
                ("GET", "/_slm/policy", None),
                ("PUT", "/_slm/policy/{t}", Some(json!({"schedule": "0 30 1 * * ?", "name": "<s-{now/d}>", "repository": "r", "config": {}}))),
                ("GET", "/_slm/status", None),
                ("PUT", "/_security/role/{t}", Some(json!({"cluster": [], "indices": [{"names": ["{t}-*"], "privileges": ["create_doc"]}]}))),
                ("PUT", "/_security/user/{t}", Some(json!({"password": "long-enough-pw", "roles": ["{t}"]}))),
                ("PUT", "/_security/user/kibana_system/_password", Some(json!({"password": "long-enough-pw"}))),
                // A credential rotation sets the built-in elastic's password as the operator does.
                ("POST", "/_security/user/elastic/_password", Some(json!({"password": "rotated-Elastic-pw-1"}))),
                ("POST", "/_security/user/elastic/_password", Some(json!({"password": "short"}))),
                ("PUT", "/_snapshot/{t}-s3", Some(json!({"type": "s3", "settings": {"bucket": "b"}}))),
                ("PUT", "/_snapshot/{t}-url", Some(json!({"type": "url", "settings": {"url": "https://example.com/r"}}))),
                ("PUT", "/_snapshot/{t}-nope", Some(json!({"type": "nope", "settings": {}}))),
                ("GET", "/{t}/bar", None),
                ("POST", "/{t}/bar", Some(json!({}))),
                ("GET", "/{t}/bar/baz", None),
            ],
        ),
        (
            "fs repositories",
            vec![
                ("PUT", "/_snapshot/{t}", Some(json!({"type": "fs", "settings": {"location": "{repo}/{t}/r1"}}))),
                ("GET", "/_snapshot/{t}", None),
                ("PUT", "/_snapshot/{t}", Some(json!({"type": "fs", "settings": {"location": "{repo}/{t}/r2", "compress": true}}))),
                ("GET", "/_snapshot", None),
                ("PUT", "/_snapshot/{t}-out", Some(json!({"type": "fs", "settings": {"location": "/mnt/{t}"}}))),
                ("PUT", "/_snapshot/{t}-noloc", Some(json!({"type": "fs", "settings": {}}))),
                ("POST", "/_snapshot/{t}/_verify", None),
                ("POST", "/_snapshot/{t}-nope/_verify", None),
                ("DELETE", "/_snapshot/{t}", None),
                ("GET", "/_snapshot/{t}", None),
            ],
        ),
        (
            "templates and indices, more edges",
            vec![
                ("PUT", "/_component_template/{t}-c?create=true", ct(json!({"index": {"number_of_replicas": 0}}))),
                ("PUT", "/_component_template/{t}-c?create=true", ct(json!({"index": {"number_of_replicas": 0}}))),
                ("PUT", "/_component_template/{t}-UP", ct(json!({}))),
                ("PUT", "/_component_template/{t}-f", Some(json!({"template": {}, "nope": 1}))),
                ("PUT", "/_component_template/{t}-n", Some(json!({"version": 1}))),
                ("PUT", "/_index_template/{t}", Some(json!({"index_patterns": ["{t}-*"], "composed_of": ["{t}-c"], "priority": 3,
                    "template": {"aliases": {"{t}-all": {}, "{t}-filtered": {"filter": {"term": {"k": "v"}}, "index_routing": "1"}},
                        "mappings": {"properties": {"k": {"type": "keyword"}, "when": {"type": "date"}}}}}))),
                ("PUT", "/_index_template/{t}-nopat", Some(json!({"composed_of": []}))),
                ("PUT", "/_index_template/{t}-badpat", Some(json!({"index_patterns": ["_{t}", "a b"]}))),
                ("PUT", "/_index_template/{t}-neg", Some(json!({"index_patterns": ["{t}neg-*"], "priority": -1}))),
                ("PUT", "/{t}-1", None),
                ("GET", "/{t}-1", None),
                ("GET", "/_alias/{t}-filtered", None),
                ("GET", "/{t}-1/_settings/index.number_*", None),
                ("PUT", "/{t}-1/_settings", Some(json!({"index": {"number_of_shards": 2}}))),
                ("PUT", "/{t}-1/_settings", Some(json!({"index": {"number_of_replicas": 0, "refresh_interval": null}}))),
                ("PUT", "/{t}-1/_mapping", Some(json!({"properties": {"k": {"type": "long"}}}))),
                ("PUT", "/{t}-1/_mapping", Some(json!({"properties": {"extra": {"type": "integer"}}}))),
                ("GET", "/{t}-1/_mapping", None),
                ("PUT", "/{t}_UP", None),
                ("PUT", "/_{t}", None),
                ("PUT", "/{t}-2", Some(json!({"settings": {"number_of_shards": 0}}))),
                ("PUT", "/{t}-2", Some(json!({"mappings": {"properties": {"x": {"type": "nope"}}}}))),
                ("PUT", "/{t}-2", Some(json!({"nope": {}}))),
                ("GET", "/_cluster/health/{t}-1", None),
                ("DELETE", "/_index_template/{t}", None),
                ("DELETE", "/_component_template/{t}-c", None),
            ],
        ),
        (
            "documents and dynamic mappings",
            vec![
                ("PUT", "/{t}-1", Some(json!({"settings": {"number_of_replicas": 0}}))),
                ("PUT", "/{t}-1/_doc/1?refresh=true", Some(json!({"s": "text here", "n": 1, "f": 1.5, "b": true,
                    "d": "2024-05-01T10:00:00Z", "o": {"inner": "x"}, "arr": [1, 2]}))),
                ("GET", "/{t}-1/_mapping", None),
                ("GET", "/{t}-1/_doc/1", None),
                ("PUT", "/{t}-1/_create/1", Some(json!({"s": "again"}))),
                ("POST", "/{t}-1/_doc?refresh=true", Some(json!({"s": "auto id"}))),
                ("GET", "/{t}-1/_count", None),
                ("POST", "/{t}-1/_search", Some(json!({"query": {"nope": {}}}))),
                ("POST", "/{t}-1/_search", Some(json!({"size": 0, "aggs": {"by": {"terms": {"field": "s.keyword"}}}}))),
                ("POST", "/{t}-1/_search", Some(json!({"query": {"bool": {"must": [{"exists": {"field": "o.inner"}}], "filter": [{"term": {"b": true}}]}}}))),
                ("DELETE", "/{t}-1/_doc/1?refresh=true", None),
                ("DELETE", "/{t}-1/_doc/1", None),
                ("PUT", "/{t}-strict", Some(json!({"settings": {"number_of_replicas": 0}, "mappings": {"dynamic": "strict", "properties": {"a": {"type": "keyword"}}}}))),
                ("PUT", "/{t}-strict/_doc/1", Some(json!({"a": "x", "b": "y"}))),
                ("POST", "/_bulk", Some(Value::String(
                    "{\"index\":{\"_index\":\"{t}-strict\",\"_id\":\"2\"}}\n{\"b\":1}\n{\"delete\":{\"_index\":\"{t}-strict\",\"_id\":\"9\"}}\n".into()))),
                ("POST", "/{t}-auto/_doc/1", Some(json!({"n": 5}))),
                ("GET", "/{t}-auto/_mapping", None),
            ],
        ),
        (
            "bulk and search",
            vec![
                ("PUT", "/_index_template/{t}", Some(json!({"index_patterns": ["{t}-*"], "priority": 10, "template": {
                    "settings": {"number_of_replicas": 0},
                    "mappings": {"properties": {"msg": {"type": "text"}, "level": {"type": "keyword"}, "n": {"type": "long"}}}}}))),
                ("PUT", "/{t}-000001", Some(json!({"aliases": {"{t}": {"is_write_index": true}}}))),
                ("POST", "/_bulk?refresh=true", Some(Value::String(
                    "{\"index\":{\"_index\":\"{t}\",\"_id\":\"1\"}}\n{\"msg\":\"Connection refused by upstream\",\"level\":\"error\",\"n\":3}\n\
                     {\"index\":{\"_index\":\"{t}\",\"_id\":\"2\"}}\n{\"msg\":\"request served\",\"level\":\"info\",\"n\":1}\n\
                     {\"create\":{\"_index\":\"{t}\",\"_id\":\"3\"}}\n{\"msg\":\"upstream timeout\",\"level\":\"error\",\"n\":2}\n\
                     {\"create\":{\"_index\":\"{t}\",\"_id\":\"3\"}}\n{\"msg\":\"duplicate\",\"level\":\"warn\",\"n\":9}\n".into()))),
                ("GET", "/{t}/_count", None),
                ("POST", "/{t}/_search", Some(json!({"query": {"term": {"level": "error"}}, "sort": [{"n": "asc"}]}))),
                ("POST", "/{t}/_search", Some(json!({"query": {"match": {"msg": "UPSTREAM"}}, "sort": [{"n": "desc"}]}))),
                ("POST", "/{t}/_search", Some(json!({"query": {"range": {"n": {"gte": 2}}}, "sort": [{"n": "asc"}], "size": 1}))),
                ("GET", "/{t}-000001/_doc/2", None),
                ("GET", "/{t}-000001/_doc/9", None),
                ("POST", "/{t}/_rollover", None),
                ("POST", "/_bulk?refresh=true", Some(Value::String(
                    "{\"index\":{\"_index\":\"{t}\",\"_id\":\"4\"}}\n{\"msg\":\"after rollover\",\"level\":\"info\",\"n\":4}\n".into()))),
                ("GET", "/{t}-000002/_count", None),
                ("GET", "/{t}-000002/_mapping", None),
                ("GET", "/{t}/_count", None),
                ("POST", "/{t}/_search", Some(json!({"query": {"match_all": {}}, "sort": [{"n": "asc"}]}))),
            ],
        ),
    ]
}

fn substitute(v: &Value, t: &str, repo: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("{t}", t).replace("{repo}", repo)),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, t, repo)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.replace("{t}", t), substitute(x, t, repo)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn handwritten_cases(es: &RealEs) -> Vec<Case> {
    let repo = es.repo_dir.display().to_string();
    handwritten()
        .into_iter()
        .map(|(name, steps)| {
            let t = tag();
            let requests = steps
                .into_iter()
                .map(|(m, p, body)| {
                    Req::new(
                        m,
                        &p.replace("{t}", &t),
                        body.map(|b| substitute(&b, &t, &repo)),
                    )
                })
                .collect();
            Case {
                name: name.to_string(),
                tag: t,
                requests,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// comparison

/// What is compared of an answer. Dropped from bodies, and why:
/// - `uuid`, `index_uuid`, `creation_date`, `version.created` of indices: random per node, or
///   the node's internal version id (the stand-in does not use Elasticsearch's numbering);
/// - `created_date*`, `modified_date*` of templates: timestamps;
/// - `took`, `_shards`, `_seq_no`, `_primary_term`, `_score`, `max_score`: timing, shard
///   bookkeeping and Lucene's scoring, which the stand-in does not simulate;
/// - the `_id` of a document indexed without one (random);
/// - the keys of `nodes` and the node names (random ids; the names are configuration);
/// - the order of listed templates (Elasticsearch lists them in hash order);
/// - cluster health and `/_security/*` bodies (shard counts that depend on allocation
///   timing; the real node's reserved roles and realm names), whose status still counts.
fn normalize(method: &str, path: &str, a: &Answer) -> Value {
    if method == "HEAD" {
        return json!({"status": a.status});
    }
    if a.status >= 400 {
        let error = match &a.body["error"] {
            Value::String(s) => json!(s),
            Value::Object(e) => json!(e.get("type")),
            _ => a.body.clone(),
        };
        return json!({"status": a.status, "error": error});
    }
    if path.starts_with("/_cluster/health") && a.body.get("indices").is_some() {
        // level=indices, filtered to what the rolling restart reads: compared.
        return json!({"status": a.status, "body": a.body});
    }
    if path.starts_with("/_cluster/health") || path.starts_with("/_security/") {
        return json!({"status": a.status});
    }
    if path == "/_cat/nodes" {
        // The node's name is its configuration's; of its roles the operator reads only
        // whether it is master-eligible (the stand-in says `dim`, a default node more).
        let rows = a.body.as_array().cloned().unwrap_or_default();
        let rows: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({"version": r["version"], "master": r["master"],
                    "master_eligible": r["node.role"].as_str().map(|x| x.contains('m'))})
            })
            .collect();
        return json!({"status": a.status, "body": rows});
    }
    if path == "/_nodes/reload_secure_settings" {
        // Node ids and names, and the cluster's name, are each side's own.
        let nodes: Vec<Value> = a.body["nodes"]
            .as_object()
            .map(|n| {
                n.values()
                    .map(|n| json!({"reload_exception": n.get("reload_exception")}))
                    .collect()
            })
            .unwrap_or_default();
        return json!({"status": a.status, "body": {"_nodes": a.body["_nodes"], "nodes": nodes}});
    }
    let mut body = strip(&a.body, "");
    if method == "POST" && path.ends_with("/_doc") {
        // an id Elasticsearch generates at random
        if let Some(m) = body.as_object_mut() {
            m.remove("_id");
        }
    }
    json!({"status": a.status, "body": body})
}

fn strip(v: &Value, parent: &str) -> Value {
    const DROP: &[&str] = &[
        "uuid",
        "index_uuid",
        "creation_date",
        "created_date",
        "created_date_millis",
        "modified_date",
        "modified_date_millis",
        "took",
        "_shards",
        "_seq_no",
        "_primary_term",
        "_score",
        "max_score",
    ];
    // flat-settings forms of the index fields dropped below
    const DROP_FLAT: &[&str] = &["index.uuid", "index.creation_date", "index.version.created"];
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                if DROP.contains(&k.as_str())
                    || DROP_FLAT.contains(&k.as_str())
                    || (k == "version" && parent == "index")
                    || (k == "name" && parent == "<node>")
                {
                    continue;
                }
                let key = if parent == "nodes" {
                    "<node>"
                } else {
                    k.as_str()
                };
                out.insert(key.to_string(), strip(x, key));
            }
            // listed templates come in the node's hash order: compare them by name
            for list in ["component_templates", "index_templates"] {
                if let Some(Value::Array(items)) = out.get_mut(list) {
                    items.sort_by_key(|i| i["name"].as_str().unwrap_or_default().to_string());
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| strip(x, parent)).collect()),
        other => other.clone(),
    }
}

/// Empties the real node of what earlier cases left (everything the corpus makes has a
/// `dx` name).
async fn reset_real(real: &Target) {
    let get = |p: &'static str| Req::new("GET", p, None);
    let a = real.send(&get("/_index_template")).await;
    for t in a.body["index_templates"].as_array().into_iter().flatten() {
        let name = t["name"].as_str().unwrap_or_default();
        real.send(&Req::new(
            "DELETE",
            &format!("/_index_template/{name}"),
            None,
        ))
        .await;
    }
    let a = real.send(&get("/_component_template")).await;
    for t in a.body["component_templates"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = t["name"].as_str().unwrap_or_default();
        real.send(&Req::new(
            "DELETE",
            &format!("/_component_template/{name}"),
            None,
        ))
        .await;
    }
    let a = real.send(&get("/_snapshot")).await;
    for name in a.body.as_object().into_iter().flat_map(|m| m.keys()) {
        real.send(&Req::new("DELETE", &format!("/_snapshot/{name}"), None))
            .await;
    }
    let a = real
        .send(&get(
            "/_cat/indices?h=index&format=json&expand_wildcards=all",
        ))
        .await;
    let names: Vec<String> = a
        .body
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["index"].as_str())
        .filter(|n| n.starts_with("dx"))
        .map(String::from)
        .collect();
    if !names.is_empty() {
        real.send(&Req::new("DELETE", &format!("/{}", names.join(",")), None))
            .await;
    }
}

/// An error reason with the index's random UUID (`index [x/UUID] already exists`) taken out.
fn without_uuid(reason: &Value, body: &Value) -> String {
    let reason = reason.as_str().unwrap_or_default();
    match body.pointer("/error/index_uuid").and_then(Value::as_str) {
        Some(uuid) if uuid != "_na_" => reason.replace(uuid, "<uuid>"),
        _ => reason.to_string(),
    }
}

struct Disagreement {
    key: String,
    sim: Value,
    real: Value,
}

#[tokio::test]
async fn the_stand_in_answers_as_the_real_elasticsearch_does() {
    let started = Instant::now();
    let es = elasticsearch::get();
    let real = Target::real(es);
    let node_name = node_name(&real).await;
    let es_ready = started.elapsed();

    let mut cases = Vec::new();
    for example in ["minimal", "external-elasticsearch", "production"] {
        cases.push(operator_case(es, example, Modules::ALL, "every module").await);
        cases.push(
            operator_case(
                es,
                example,
                Modules::INTEG_TEST_DISTRIBUTION,
                "like the real node",
            )
            .await,
        );
    }
    cases.extend(handwritten_cases(es));

    let mut total = 0usize;
    let mut disagreements: Vec<Disagreement> = Vec::new();
    let mut reasons: Vec<String> = Vec::new();
    for case in &cases {
        reset_real(&real).await;
        let sim = like_real_sim(es, &node_name).await;
        let sim_target = Target::sim(&sim);
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for r in &case.requests {
            let s = sim_target.send(r).await;
            let e = real.send(r).await;
            total += 1;
            let path = r.path.replace(&case.tag, "{t}");
            let base = format!("{}: {} {path}", case.name, r.method);
            let n = seen.entry(base.clone()).or_default();
            *n += 1;
            let key = if *n == 1 {
                base
            } else {
                format!("{base} #{n}")
            };
            let (ns, ne) = (
                normalize(&r.method, &r.path, &s),
                normalize(&r.method, &r.path, &e),
            );
            let untag = |v: &Value| {
                serde_json::from_str::<Value>(&v.to_string().replace(&case.tag, "{t}"))
                    .unwrap_or_default()
            };
            // Reported, not asserted: the wording of an error both sides agree on by type.
            if ns == ne
                && let (Some(rs), Some(re)) = (
                    s.body.pointer("/error/reason"),
                    e.body.pointer("/error/reason"),
                )
                && without_uuid(rs, &s.body) != without_uuid(re, &e.body)
            {
                reasons.push(format!(
                    "{key}\n    stand-in: {}\n    real:     {}",
                    untag(rs),
                    untag(re)
                ));
            }
            if ns != ne {
                disagreements.push(Disagreement {
                    key,
                    sim: untag(&ns),
                    real: untag(&ne),
                });
            }
        }
        sim.stop().await;
    }

    for r in &reasons {
        eprintln!("same error type, other reason: {r}");
    }
    eprintln!(
        "differential: {} cases, {total} requests, {} disagreements ({} known), \
         {} errors of the same type worded differently; \
         Elasticsearch {} ready after {:.1}s, all after {:.1}s",
        cases.len(),
        disagreements.len(),
        KNOWN_DISAGREEMENTS.len(),
        reasons.len(),
        es.version,
        es_ready.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let known: BTreeMap<&str, &str> = KNOWN_DISAGREEMENTS.iter().copied().collect();
    let found: BTreeSet<&str> = disagreements.iter().map(|d| d.key.as_str()).collect();
    let new: Vec<String> = disagreements
        .iter()
        .filter(|d| !known.contains_key(d.key.as_str()))
        .map(|d| {
            format!(
                "{}\n    stand-in: {}\n    real:     {}",
                d.key, d.sim, d.real
            )
        })
        .collect();
    let fixed: Vec<&str> = known
        .keys()
        .filter(|k| !found.contains(*k))
        .copied()
        .collect();
    for d in disagreements
        .iter()
        .filter(|d| known.contains_key(d.key.as_str()))
    {
        eprintln!("known: {} ({})", d.key, known[d.key.as_str()]);
    }
    assert!(
        new.is_empty() && fixed.is_empty(),
        "new disagreements ({}):\n{}\nlisted but no longer disagreeing (remove them): {fixed:#?}",
        new.len(),
        new.join("\n")
    );
}
