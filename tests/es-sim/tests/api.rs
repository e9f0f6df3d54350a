//! Elasticsearch behaviour the operator depends on that the stored YAML tests
//! do not cover: security, repository rules, SLM, ILM no-ops, template rules,
//! writes through aliases, routing errors.

use std::time::Duration;

use es_sim::{EsSim, Health, SimConfig, SimUser};
use serde_json::{Value, json};

struct Es {
    sim: EsSim,
    c: reqwest::Client,
}

impl Es {
    async fn new(cfg: SimConfig) -> Es {
        let c = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        Es {
            sim: EsSim::start_with(cfg).await,
            c,
        }
    }

    async fn secured() -> Es {
        Es::new(SimConfig {
            users: vec![SimUser::elastic("changeme")],
            path_repo: vec!["/tmp/es-sim-api-repo".into()],
            ..SimConfig::default()
        })
        .await
    }

    async fn call_as(
        &self,
        user: Option<(&str, &str)>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut r = self.c.request(m, format!("{}{path}", self.sim.url()));
        if let Some((u, p)) = user {
            r = r.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("send");
        let s = resp.status().as_u16();
        let text = resp.text().await.expect("text");
        (
            s,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(Some(("elastic", "changeme")), method, path, body)
            .await
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (s, b) = self.call(method, path, body).await;
        assert!(s < 300, "{method} {path} -> {s}: {b}");
        b
    }

    /// Calls as `elastic`, asserts the status and returns the body.
    async fn answers(&self, status: u16, method: &str, path: &str, body: Option<Value>) -> Value {
        let (s, b) = self.call(method, path, body).await;
        assert_eq!(s, status, "{method} {path}: {b}");
        b
    }

    async fn bulk_as(&self, user: (&str, &str), nd: &str) -> (u16, Value) {
        let r = self
            .c
            .post(format!("{}/_bulk", self.sim.url()))
            .basic_auth(user.0, Some(user.1))
            .header("content-type", "application/x-ndjson")
            .body(nd.to_string())
            .send()
            .await
            .expect("bulk");
        (r.status().as_u16(), r.json().await.expect("json"))
    }
}

#[tokio::test]
async fn authentication_errors_look_like_elasticsearch() {
    let es = Es::secured().await;
    let r =
        es.c.get(format!("{}/_cluster/health", es.sim.url()))
            .send()
            .await
            .expect("send");
    assert_eq!(r.status().as_u16(), 401);
    let www: Vec<&str> = r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        www.iter()
            .any(|h| h.starts_with("Basic realm=\"security\"")),
        "{www:?}"
    );
    let b: Value = r.json().await.expect("json");
    assert_eq!(b["error"]["type"], "security_exception");
    assert_eq!(
        b["error"]["reason"],
        "missing authentication credentials for REST request [/_cluster/health]"
    );
    let (s, b) = es
        .call_as(Some(("elastic", "wrong")), "GET", "/", None)
        .await;
    assert_eq!(s, 401);
    assert_eq!(
        b["error"]["reason"],
        "unable to authenticate user [elastic] for REST request [/]"
    );
    let b = es.ok("GET", "/_security/_authenticate", None).await;
    assert_eq!(b["username"], "elastic");
    assert_eq!(b["roles"], json!(["superuser"]));
    assert_eq!(b["authentication_realm"]["type"], "reserved");
    es.sim.stop().await;
}

#[tokio::test]
async fn roles_separate_index_writers_from_admins() {
    let es = Es::secured().await;
    es.ok(
        "PUT",
        "/_security/role/log_writer",
        Some(json!({
            "cluster": ["monitor"],
            "indices": [{"names": ["logs-*"], "privileges": ["create_doc", "auto_configure"]}]
        })),
    )
    .await;
    es.ok(
        "PUT",
        "/_security/user/collector",
        Some(json!({"password": "collector-pw", "roles": ["log_writer"]})),
    )
    .await;
    let writer = Some(("collector", "collector-pw"));
    // cluster admin is refused
    let (s, b) = es
        .call_as(
            writer,
            "PUT",
            "/_ilm/policy/p",
            Some(json!({"policy": {"phases": {}}})),
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(
        b["error"]["reason"],
        "action [cluster:admin/ilm/put] is unauthorized for user [collector] with effective roles [log_writer], this action is granted by the cluster privileges [manage_ilm,manage,all]"
    );
    // writes to its indices work, elsewhere they fail per item
    let (s, b) = es
        .bulk_as(("collector", "collector-pw"), "{\"create\":{\"_index\":\"logs-app\"}}\n{\"m\":1}\n{\"create\":{\"_index\":\"other\"}}\n{\"m\":2}\n")
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["errors"], true);
    assert_eq!(b["items"][0]["create"]["status"], 201);
    assert_eq!(b["items"][1]["create"]["status"], 403);
    assert_eq!(
        b["items"][1]["create"]["error"]["type"],
        "security_exception"
    );
    // index op (not create) is not granted by create_doc
    let (_, b) = es
        .bulk_as(
            ("collector", "collector-pw"),
            "{\"index\":{\"_index\":\"logs-app\",\"_id\":\"1\"}}\n{\"m\":1}\n",
        )
        .await;
    assert_eq!(b["items"][0]["index"]["status"], 403);
    // the reserved kibana_system user can log in once its password is set
    assert_eq!(
        es.call_as(Some(("kibana_system", "kibana-pw")), "GET", "/", None)
            .await
            .0,
        401
    );
    es.ok(
        "POST",
        "/_security/user/kibana_system/_password",
        Some(json!({"password": "kibana-pw"})),
    )
    .await;
    assert_eq!(
        es.call_as(Some(("kibana_system", "kibana-pw")), "GET", "/", None)
            .await
            .0,
        200
    );
    let b = es
        .answers(
            400,
            "PUT",
            "/_security/user/elastic",
            Some(json!({"password": "xxxxxx", "roles": []})),
        )
        .await;
    assert_eq!(
        b["error"]["reason"],
        "Validation Failed: 1: Username [elastic] is reserved and may not be used.;"
    );
    es.answers(
        400,
        "POST",
        "/_security/user/kibana_system/_password",
        Some(json!({"password": "123"})),
    )
    .await;
    let b = es.ok("GET", "/_security/user/collector", None).await;
    assert_eq!(b["collector"]["roles"], json!(["log_writer"]));
    let b = es.ok("GET", "/_security/role/log_writer", None).await;
    assert_eq!(
        b["log_writer"]["indices"][0]["privileges"],
        json!(["create_doc", "auto_configure"])
    );
    let b = es
        .answers(
            400,
            "PUT",
            "/_security/role/bad",
            Some(json!({"cluster": ["manage_everything"]})),
        )
        .await;
    assert!(
        b["error"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("unknown cluster privilege [manage_everything]")
    );
    es.sim.stop().await;
}

#[tokio::test]
async fn snapshot_repositories_follow_path_repo_and_keystore_rules() {
    let es = Es::secured().await;
    let b = es
        .answers(
            500,
            "PUT",
            "/_snapshot/outside",
            Some(json!({"type": "fs", "settings": {"location": "/etc/x"}})),
        )
        .await;
    assert_eq!(b["error"]["type"], "repository_exception");
    // as Elasticsearch: the location is the cause of a failed creation
    assert_eq!(
        b["error"]["reason"],
        "[outside] failed to create repository"
    );
    assert_eq!(
        b["error"]["caused_by"]["reason"],
        "[outside] location [/etc/x] doesn't match any of the locations specified by path.repo"
    );
    es.ok(
        "PUT",
        "/_snapshot/local",
        Some(json!({"type": "fs", "settings": {"location": "backups", "compress": true}})),
    )
    .await;
    let b = es.ok("GET", "/_snapshot/local", None).await;
    assert_eq!(
        b["local"]["settings"],
        json!({"location": "backups", "compress": "true"})
    );
    let b = es.answers(500, "PUT", "/_snapshot/s3", Some(json!({"type": "s3", "settings": {"bucket": "b", "access_key": "AK", "secret_key": "SK"}}))).await;
    assert_eq!(
        b["error"]["caused_by"]["reason"],
        "Setting [access_key] is insecure, but property [allow_insecure_settings] is not set"
    );
    let b = es
        .answers(
            500,
            "PUT",
            "/_snapshot/s3",
            Some(json!({"type": "s3", "settings": {"bucket": "b"}})),
        )
        .await;
    assert_eq!(b["error"]["type"], "repository_verification_exception");
    es.sim.with_state(|st| {
        st.keystore.insert("s3.client.default.access_key".into());
        st.keystore.insert("s3.client.default.secret_key".into());
    });
    let b = es.ok("POST", "/_snapshot/s3/_verify", None).await;
    assert!(b["nodes"].as_object().is_some_and(|m| m.len() == 1));
    let b = es
        .answers(
            500,
            "PUT",
            "/_snapshot/x",
            Some(json!({"type": "nfs", "settings": {}})),
        )
        .await;
    assert_eq!(
        b["error"]["reason"],
        json!("[x] repository type [nfs] does not exist")
    );
    assert_eq!(es.call("GET", "/_snapshot/missing", None).await.0, 404);
    es.sim.stop().await;
}

#[tokio::test]
async fn slm_validates_schedule_repository_and_retention() {
    let es = Es::secured().await;
    let policy = |schedule: &str, repo: &str| {
        json!({"schedule": schedule, "name": "<nightly-{now/d}>", "repository": repo,
               "config": {"indices": ["*"]}, "retention": {"expire_after": "30d", "min_count": 1, "max_count": 10}})
    };
    let b = es
        .answers(
            400,
            "PUT",
            "/_slm/policy/nightly",
            Some(policy("0 30 1 * * ?", "nope")),
        )
        .await;
    assert_eq!(b["error"]["reason"], json!("no such repository [nope]"));
    es.ok(
        "PUT",
        "/_snapshot/repo",
        Some(json!({"type": "fs", "settings": {"location": "r"}})),
    )
    .await;
    let b = es
        .answers(
            400,
            "PUT",
            "/_slm/policy/nightly",
            Some(policy("every day", "repo")),
        )
        .await;
    assert!(
        b["error"]["reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("Validation Failed: 1: invalid schedule [every day]: ")
    );
    let (s, _) = es
        .call(
            "PUT",
            "/_slm/policy/nightly",
            Some(policy("0 0/5 * * * ?", "repo")),
        )
        .await;
    assert_eq!(s, 400, "more often than every 15m is refused");
    let mut bad = policy("0 30 1 * * ?", "repo");
    bad["retention"]["min_count"] = json!(20);
    let b = es
        .answers(400, "PUT", "/_slm/policy/nightly", Some(bad))
        .await;
    // as in Elasticsearch: a parse error whose cause says why
    assert_eq!(b["error"]["type"], "x_content_parse_exception");
    assert!(
        b["error"]["caused_by"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("minimum snapshot count 20 cannot be larger than maximum snapshot count 10")
    );
    es.ok(
        "PUT",
        "/_slm/policy/nightly",
        Some(policy("0 30 1 * * ?", "repo")),
    )
    .await;
    es.ok(
        "PUT",
        "/_slm/policy/nightly",
        Some(policy("0 30 1 * * ?", "repo")),
    )
    .await;
    let b = es.ok("GET", "/_slm/policy/nightly?human", None).await;
    assert_eq!(b["nightly"]["version"], 1, "an identical PUT is a no-op");
    assert!(b["nightly"]["modified_date"].is_string());
    assert!(
        b["nightly"]["next_execution"]
            .as_str()
            .is_some_and(|s| s.ends_with("01:30:00.000Z"))
    );
    assert_eq!(b["nightly"]["policy"]["schedule"], "0 30 1 * * ?");
    let b = es.ok("POST", "/_slm/policy/nightly/_execute", None).await;
    assert!(
        b["snapshot_name"]
            .as_str()
            .is_some_and(|n| n.starts_with("nightly-"))
    );
    let b = es.ok("GET", "/_slm/policy/nightly", None).await;
    assert_eq!(b["nightly"]["stats"]["snapshots_taken"], 1);
    assert!(
        b["nightly"].get("modified_date").is_none(),
        "dates only as *_millis without ?human"
    );
    es.sim.stop().await;
}

#[tokio::test]
async fn ilm_versions_usage_and_explain() {
    let es = Es::secured().await;
    let p = json!({"policy": {"phases": {"hot": {"actions": {"rollover": {"max_age": "1d"}}}, "delete": {"min_age": "7d", "actions": {"delete": {}}}}}});
    es.ok("PUT", "/_ilm/policy/logs", Some(p.clone())).await;
    es.ok("PUT", "/_ilm/policy/logs", Some(p.clone())).await;
    let b = es.ok("GET", "/_ilm/policy/logs", None).await;
    assert_eq!(b["logs"]["version"], 1);
    assert_eq!(b["logs"]["policy"]["phases"]["hot"]["min_age"], "0ms");
    assert_eq!(
        b["logs"]["policy"]["phases"]["delete"]["actions"]["delete"],
        json!({"delete_searchable_snapshot": true})
    );
    let mut p2 = p.clone();
    p2["policy"]["phases"]["delete"]["min_age"] = json!("14d");
    es.ok("PUT", "/_ilm/policy/logs", Some(p2)).await;
    es.ok("PUT", "/logs-000001", Some(json!({"settings": {"index.lifecycle.name": "logs"}, "aliases": {"logs": {"is_write_index": true}}}))).await;
    let b = es.ok("GET", "/_ilm/policy/logs", None).await;
    assert_eq!(b["logs"]["version"], 2);
    assert_eq!(b["logs"]["in_use_by"]["indices"], json!(["logs-000001"]));
    let b = es.ok("GET", "/logs-000001/_ilm/explain", None).await;
    assert_eq!(b["indices"]["logs-000001"]["managed"], true);
    assert_eq!(b["indices"]["logs-000001"]["policy"], "logs");
    assert_eq!(b["indices"]["logs-000001"]["phase"], "hot");
    let b = es.answers(400, "DELETE", "/_ilm/policy/logs", None).await;
    assert_eq!(
        b["error"]["reason"],
        "Cannot delete policy [logs]. It is in use by one or more indices: [logs-000001]"
    );
    es.sim.stop().await;
}

#[tokio::test]
async fn template_rules() {
    let es = Es::secured().await;
    es.ok("PUT", "/_component_template/base", Some(json!({"template": {"settings": {"number_of_shards": 2}}, "_meta": {"managed_by": "op"}, "version": 3}))).await;
    let b = es
        .answers(
            400,
            "PUT",
            "/_index_template/t1",
            Some(json!({"index_patterns": ["logs-*"], "composed_of": ["base", "missing"]})),
        )
        .await;
    assert_eq!(b["error"]["type"], "invalid_index_template_exception");
    es.ok("PUT", "/_index_template/t1", Some(json!({"index_patterns": ["logs-*"], "composed_of": ["base"], "priority": 10, "_meta": {"a": 1}}))).await;
    let b = es
        .answers(
            400,
            "PUT",
            "/_index_template/t2",
            Some(json!({"index_patterns": ["logs-app-*"], "priority": 10})),
        )
        .await;
    assert!(
        b["error"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("that have the same priority [10]")
    );
    es.ok(
        "PUT",
        "/_index_template/t2",
        Some(json!({"index_patterns": ["logs-app-*"], "priority": 20})),
    )
    .await;
    es.answers(
        400,
        "PUT",
        "/_index_template/t2?create=true",
        Some(json!({"index_patterns": ["logs-app-*"], "priority": 20})),
    )
    .await;
    let b = es
        .answers(400, "DELETE", "/_component_template/base", None)
        .await;
    assert_eq!(
        b["error"]["reason"],
        "component templates [base] cannot be removed as they are still in use by index templates [t1]"
    );
    let b = es.ok("GET", "/_index_template/t1", None).await;
    assert_eq!(
        b["index_templates"][0]["index_template"]["_meta"],
        json!({"a": 1})
    );
    let b = es.ok("GET", "/_component_template/base", None).await;
    assert_eq!(
        b["component_templates"][0]["component_template"]["version"],
        3
    );
    es.ok("PUT", "/logs-web-1", None).await;
    let b = es.ok("GET", "/logs-web-1/_settings", None).await;
    assert_eq!(
        b["logs-web-1"]["settings"]["index"]["number_of_shards"],
        "2"
    );
    es.sim.stop().await;
}

#[tokio::test]
async fn writes_through_the_write_alias_land_in_the_write_index() {
    let es = Es::secured().await;
    es.ok(
        "PUT",
        "/app-000001",
        Some(json!({"aliases": {"app": {"is_write_index": true}}})),
    )
    .await;
    let nd = "{\"index\":{\"_index\":\"app\"}}\n{\"level\":\"info\",\"msg\":\"hello world\"}\n";
    let (s, b) = es.bulk_as(("elastic", "changeme"), nd).await;
    assert_eq!(
        (s, b["items"][0]["index"]["_index"].clone()),
        (200, json!("app-000001"))
    );
    let b = es
        .ok(
            "POST",
            "/app/_rollover",
            Some(json!({"conditions": {"max_docs": 1}})),
        )
        .await;
    assert_eq!(
        (b["rolled_over"].clone(), b["new_index"].clone()),
        (json!(true), json!("app-000002"))
    );
    let b = es.ok("GET", "/_alias/app", None).await;
    assert_eq!(b["app-000001"]["aliases"]["app"]["is_write_index"], false);
    assert_eq!(b["app-000002"]["aliases"]["app"]["is_write_index"], true);
    es.bulk_as(
        ("elastic", "changeme"),
        "{\"create\":{\"_index\":\"app\"}}\n{\"level\":\"warn\",\"msg\":\"second\"}\n",
    )
    .await;
    let b = es
        .ok(
            "POST",
            "/app/_search",
            Some(json!({"query": {"term": {"level": "warn"}}})),
        )
        .await;
    assert_eq!(b["hits"]["total"]["value"], 1);
    assert_eq!(b["hits"]["hits"][0]["_index"], "app-000002");
    let b = es.ok("GET", "/app/_count", None).await;
    assert_eq!(b["count"], 2);
    let b = es
        .ok(
            "POST",
            "/app/_count",
            Some(json!({"query": {"match": {"msg": "hello"}}})),
        )
        .await;
    assert_eq!(b["count"], 1);
    // a second write index is refused
    let b = es.answers(500, "POST", "/_aliases", Some(json!({"actions": [{"add": {"index": "app-000001", "alias": "app", "is_write_index": true}}]}))).await;
    assert_eq!(b["error"]["type"], "illegal_state_exception");
    es.sim.stop().await;
}

#[tokio::test]
async fn routing_errors_and_head() {
    let es = Es::secured().await;
    // Like Elasticsearch 8.x (checked against the real node in tests/differential.rs): the
    // 7.x typed routes (`POST /{index}/{type}`, `/{index}/{type}/{id}`) exist for REST
    // compatibility only, so an unknown two-segment path gets 405 naming POST, and a method
    // one of them has gets `no handler found`.
    let b = es.answers(405, "GET", "/idx/_nothing_here", None).await;
    assert_eq!(
        b["error"],
        "Incorrect HTTP method for uri [/idx/_nothing_here] and method [GET], allowed: [POST]"
    );
    let b = es.answers(400, "POST", "/idx/_nothing_here", None).await;
    assert_eq!(
        b["error"],
        "no handler found for uri [/idx/_nothing_here] and method [POST]"
    );
    assert!(b.get("status").is_none(), "{b}");
    let b = es.answers(400, "POST", "/_ilm/policy/p", None).await;
    assert_eq!(
        b["error"],
        "no handler found for uri [/_ilm/policy/p] and method [POST]"
    );
    let b = es.answers(405, "PATCH", "/_ilm/policy/p", None).await;
    assert!(b["error"].as_str().unwrap_or("").starts_with(
        "Incorrect HTTP method for uri [/_ilm/policy/p] and method [PATCH], allowed:"
    ));
    let b = es
        .answers(400, "GET", "/_cluster/health?wait_for_statuz=green", None)
        .await;
    assert_eq!(
        b["error"]["reason"],
        "request [/_cluster/health] contains unrecognized parameter: [wait_for_statuz]"
    );
    let b = es.answers(400, "PUT", "/Upper", None).await;
    assert_eq!(b["error"]["type"], json!("invalid_index_name_exception"));
    let r =
        es.c.head(format!("{}/_index_template/none", es.sim.url()))
            .basic_auth("elastic", Some("changeme"))
            .send()
            .await
            .expect("head");
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.text().await.expect("text").is_empty());
    es.ok("PUT", "/idx", None).await;
    assert_eq!(
        es.call("PUT", "/idx", None).await.1["error"]["type"],
        "resource_already_exists_exception"
    );
    es.sim.stop().await;
}

#[tokio::test]
async fn health_waits_until_status_reached() {
    let es = Es::new(SimConfig::default()).await;
    es.sim.set_health(Health::Yellow);
    let url = format!(
        "{}/_cluster/health?wait_for_status=green&timeout=5s",
        es.sim.url()
    );
    let waiter = tokio::spawn({
        let c = es.c.clone();
        async move {
            c.get(url)
                .send()
                .await
                .expect("send")
                .json::<Value>()
                .await
                .expect("json")
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    es.sim.set_health(Health::Green);
    let b = waiter.await.expect("join");
    assert_eq!(
        (b["status"].clone(), b["timed_out"].clone()),
        (json!("green"), json!(false))
    );
    // security APIs answer like a node without security
    let (s, b) = es
        .call_as(None, "GET", "/_security/_authenticate", None)
        .await;
    assert_eq!((s, b["error"]["type"].clone()), (500, json!("exception")));
    // a replica that cannot be assigned on one node makes the cluster yellow
    es.sim.clear_health();
    es.call_as(
        None,
        "PUT",
        "/r1",
        Some(json!({"settings": {"number_of_replicas": 1}})),
    )
    .await;
    assert_eq!(
        es.call_as(None, "GET", "/_cluster/health", None).await.1["status"],
        "yellow"
    );
    es.sim.stop().await;
}

/// `POST _security/user/<user>/_password`, as a credential rotation sends it for the
/// built-in `elastic`: a new password is taken (the old one no longer logs in); a short
/// one is refused with a `validation_exception`, as the real node answers
/// (tests/differential.rs).
#[tokio::test]
async fn a_built_in_users_password_changes_and_a_short_one_is_refused() {
    let es = Es::secured().await;
    es.ok(
        "POST",
        "/_security/user/kibana_system/_password",
        Some(json!({"password": "kibana-Pw-123"})),
    )
    .await;
    let (s, b) = es
        .call(
            "POST",
            "/_security/user/kibana_system/_password",
            Some(json!({"password": "short"})),
        )
        .await;
    assert_eq!(
        (s, &b["error"]["type"]),
        (400, &json!("validation_exception")),
        "{b}"
    );
    es.ok(
        "POST",
        "/_security/user/elastic/_password",
        Some(json!({"password": "rotated-Pw-1"})),
    )
    .await;
    let (s, _) = es
        .call_as(
            Some(("elastic", "changeme")),
            "GET",
            "/_security/_authenticate",
            None,
        )
        .await;
    assert_eq!(s, 401, "the old password no longer logs in");
    let (s, _) = es
        .call_as(
            Some(("elastic", "rotated-Pw-1")),
            "GET",
            "/_security/_authenticate",
            None,
        )
        .await;
    assert_eq!(s, 200);
}
