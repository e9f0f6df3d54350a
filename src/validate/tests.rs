//! Validation cases: defaults, refusals naming their field, cron, allow-lists.

use serde_json::json;

use super::lifecycle::cron_more_often_than_15m;
use super::*;
use crate::api::{AntiAffinity, MeshLoggingSpec, RESERVED_FIELD_KEYS};

fn ml(spec: serde_json::Value) -> MeshLogging {
    let spec: MeshLoggingSpec = serde_json::from_value(spec).expect("spec");
    let mut ml = MeshLogging::new("logs", spec);
    ml.metadata.namespace = Some("ns".into());
    ml.metadata.uid = Some("uid-1".into());
    ml
}

fn errors(spec: serde_json::Value) -> Vec<String> {
    match validate(&ml(spec)) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.into_iter().map(|e| e.path).collect(),
    }
}

/// Each `(patch, path)`: the patch over version 8.15.3 is refused naming only `path`.
fn assert_each_refused_naming(cases: &[(serde_json::Value, &str)]) {
    for (patch, path) in cases {
        let mut spec = patch.clone();
        spec["version"] = json!("8.15.3");
        assert_eq!(errors(spec), vec![*path], "{patch}");
    }
}

#[test]
fn minimal_spec_gets_every_default() {
    let v = validate(&ml(json!({"version": "8.15.3"}))).expect("valid");
    let m = v.managed().expect("managed");
    assert_eq!(m.replicas, 3);
    assert_eq!(m.heap_mib, 2048);
    assert_eq!(m.storage.size.0, "10Gi");
    assert_eq!(m.anti_affinity, AntiAffinity::Soft);
    assert_eq!(
        m.image,
        "docker.elastic.co/elasticsearch/elasticsearch:8.15.3"
    );
    let k = v.kibana.as_ref().expect("kibana");
    assert_eq!(k.image, "docker.elastic.co/kibana/kibana:8.15.3");
    assert_eq!(k.username, "kibana_system");
    assert_eq!(v.collector.image, DEFAULT_FLUENT_BIT_IMAGE);
    assert_eq!(v.collector.flush_seconds, 5);
    assert_eq!(v.es_url(), "https://logs-es-http.ns.svc:9200");
    assert_eq!(Some(&v.endpoint), Endpoint::parse(&v.es_url()).as_ref());
    assert!(!v.snapshots_wanted());
    assert_eq!(v.deletion_policy(), crate::api::DeletionPolicy::Retain);
}

#[test]
fn external_mode_has_no_managed_cluster() {
    let v = validate(&ml(
        json!({"version": "8.15.3", "elasticsearch": {"external": {
        "url": "https://es.example.com", "credentialsSecretRef": {"name": "admin"}}}}),
    ))
    .expect("valid");
    assert!(v.managed().is_none());
    assert_eq!(
        v.kibana.as_ref().expect("kibana").username,
        "mcp-mesh-logs-kibana"
    );
    assert_eq!(v.es_url(), "https://es.example.com");
    assert_eq!(
        (v.endpoint.host.as_str(), v.endpoint.port),
        ("es.example.com", 443)
    );
}

#[test]
fn phase_order_cases() {
    let cases = [
        (
            json!({"warm": {"minAge": "2d"}, "cold": {"minAge": "7d"}, "delete": {"minAge": "30d"}}),
            vec![],
        ),
        (
            json!({"warm": {"minAge": "2d"}, "cold": {"minAge": "1d"}}),
            vec!["spec.lifecycle.cold.minAge"],
        ),
        (
            json!({"warm": {"minAge": "48h"}, "delete": {"minAge": "2d"}}),
            vec![],
        ),
        (
            json!({"warm": {"minAge": "10d"}, "delete": {"minAge": "1d"}}),
            vec!["spec.lifecycle.delete.minAge"],
        ),
        (
            json!({"cold": {"minAge": "7d"}, "delete": {"minAge": "6d"}}),
            vec!["spec.lifecycle.delete.minAge"],
        ),
        (
            json!({"delete": {"minAge": "3w"}}),
            vec!["spec.lifecycle.delete.minAge"],
        ),
    ];
    for (lifecycle, want) in cases {
        let got = errors(json!({"version": "8.15.3", "lifecycle": lifecycle}));
        assert_eq!(got, want, "lifecycle {lifecycle}");
    }
}

#[test]
fn memory_cases() {
    let cases = [
        (json!({"limits": {"memory": "4Gi"}}), vec![], 2048),
        (
            json!({"limits": {"memory": "512Mi"}}),
            vec!["spec.elasticsearch.resources.limits.memory"],
            256,
        ),
        (
            json!({"requests": {"memory": "2Gi"}}),
            vec!["spec.elasticsearch.resources.limits.memory"],
            0,
        ),
        (
            json!({"limits": {"memory": "lots"}}),
            vec!["spec.elasticsearch.resources.limits.memory"],
            0,
        ),
        (json!({"limits": {"memory": "128Gi"}}), vec![], MAX_HEAP_MIB),
        (json!({"limits": {"memory": "3G"}}), vec![], 1430),
        (
            json!({"requests": {"memory": "8Gi"}, "limits": {"memory": "4Gi"}}),
            vec!["spec.elasticsearch.resources.requests.memory"],
            2048,
        ),
    ];
    for (resources, want, heap) in cases {
        let spec = json!({"version": "8.15.3", "elasticsearch": {"resources": resources}});
        assert_eq!(errors(spec.clone()), want, "resources {resources}");
        if want.is_empty() {
            let v = validate(&ml(spec)).expect("valid");
            assert_eq!(v.managed().expect("managed").heap_mib, heap, "{resources}");
        }
    }
}

#[test]
fn identity_is_required() {
    let mut m = ml(json!({"version": "8.15.3"}));
    m.metadata.uid = None;
    m.metadata.namespace = None;
    let err = validate(&m).expect_err("invalid");
    let paths: Vec<_> = err.0.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["metadata.namespace", "metadata.uid"]);
    assert!(err.to_string().contains("metadata.uid: is required"));

    let mut m = ml(json!({"version": "8.15.3"}));
    m.metadata.name = Some("a".repeat(50));
    assert!(validate(&m).is_err());
    m.metadata.name = Some("1logs".into());
    assert!(validate(&m).is_err());
}

#[test]
fn keystore_sources_from_secure_settings_and_repositories() {
    let v = validate(&ml(json!({"version": "8.15.3",
        "elasticsearch": {"secureSettings": [
            {"secretName": "realm"},
            {"secretName": "other", "entries": [{"key": "k", "path": "xpack.notification.slack.account.a.secure_url"}]}
        ]},
        "snapshots": {"repositories": [
            {"name": "b", "type": "s3", "settings": {"bucket": "x", "client": "backup"}, "credentialsSecretRef": {"name": "s3"}},
            {"name": "f", "type": "fs", "settings": {"location": "/mnt/snap"}}
        ]}})))
    .expect("valid");
    let m = v.managed().expect("managed");
    assert_eq!(m.keystore.len(), 3);
    assert_eq!(m.keystore[0].items, None);
    let s3 = &m.keystore[2];
    assert!(s3.optional);
    assert_eq!(
        s3.items.as_ref().expect("items")[0],
        (
            "access_key".to_string(),
            "s3.client.backup.access_key".to_string()
        )
    );
    assert_eq!(m.repo_paths, ["/mnt/snap"]);
}

#[test]
fn refused_settings_and_collector_values() {
    let cases = [
        (
            json!({"elasticsearch": {"config": {"readiness.port": "9000"}}}),
            "spec.elasticsearch.config[\"readiness.port\"]",
        ),
        (
            json!({"elasticsearch": {"config": {"a: b": "x"}}}),
            "spec.elasticsearch.config[\"a: b\"]",
        ),
        (
            json!({"elasticsearch": {"secureSettings": [{"secretName": "s", "entries": [{"key": "k", "path": "bootstrap.password"}]}]}}),
            "spec.elasticsearch.secureSettings[0].entries[0]",
        ),
        (
            json!({"elasticsearch": {"secureSettings": [{"secretName": "s", "entries": [{"key": "a", "path": "x"}, {"key": "b", "path": "x"}]}]}}),
            "spec.elasticsearch.secureSettings[0].entries[1]",
        ),
        (
            json!({"snapshots": {"repositories": [{"name": "f", "type": "fs", "settings": {"location": "rel"}}]}}),
            "spec.snapshots.repositories[0].settings.location",
        ),
        (
            json!({"collector": {"buffer": {"flushInterval": "0s"}}}),
            "spec.collector.buffer.flushInterval",
        ),
        (
            json!({"collector": {"fields": {"env": "${HOME}"}}}),
            "spec.collector.fields.env",
        ),
        (
            json!({"collector": {"paths": ["/var/log/a,b"]}}),
            "spec.collector.paths[0]",
        ),
        (
            json!({"collector": {"paths": ["/data/app.log"]}}),
            "spec.collector.paths[0]",
        ),
        (
            json!({"collector": {"buffer": {"chunkLimitSize": "1k"}}}),
            "spec.collector.buffer.chunkLimitSize",
        ),
        (
            json!({"collector": {"buffer": {"chunkLimitSize": "8M", "totalLimitSize": "4M"}}}),
            "spec.collector.buffer.totalLimitSize",
        ),
        (
            json!({"kibana": {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}}),
            "spec.kibana.resources.requests.cpu",
        ),
        (
            json!({"elasticsearch": {"storage": {"size": "0"}}}),
            "spec.elasticsearch.storage.size",
        ),
    ];
    assert_each_refused_naming(&cases);
}

/// Issue 11 items 5-7 and the smaller ones: each repro is refused naming its field.
#[test]
fn issue_11_repros_are_refused_naming_the_field() {
    let cases = [
        (
            json!({"collector": {"type": "fluentd"}, "index": {"name": "logs\nssl_verify\tfalse\nhost\tlogs.example.net"}}),
            "spec.index.name",
        ),
        (
            json!({"index": {"name": "l".repeat(201)}}),
            "spec.index.name",
        ),
        (
            json!({"collector": {"fields": {"service": "payments"}}}),
            "spec.collector.fields.service",
        ),
        (
            json!({"collector": {"fields": {"_id": "x"}}}),
            "spec.collector.fields._id",
        ),
        (
            json!({"elasticsearch": {"external": {"url": "http://es.example.com:9200", "credentialsSecretRef": {"name": "a"}}}}),
            "spec.elasticsearch.external.url",
        ),
        (
            json!({"elasticsearch": {"external": {"url": "https://es.example.com/${COLLECTOR_PASSWORD}", "credentialsSecretRef": {"name": "a"}}}}),
            "spec.elasticsearch.external.url",
        ),
        (
            json!({"lifecycle": {"delete": {"minAge": "9999999999999999999999999d"}}}),
            "spec.lifecycle.delete.minAge",
        ),
        (
            json!({"collector": {"buffer": {"chunkLimitSize": "99999999999999999999k"}}}),
            "spec.collector.buffer.chunkLimitSize",
        ),
        (
            json!({"elasticsearch": {"config": {"node.attr.x": "${ELASTIC_PASSWORD}"}}}),
            "spec.elasticsearch.config[\"node.attr.x\"]",
        ),
        (
            json!({"snapshots": {"repositories": [{"name": "b", "type": "fs", "settings": {"location": "/s"}}],
                "policies": [{"name": "p", "schedule": "0 75 1 * * ?", "repository": "b"}]}}),
            "spec.snapshots.policies[0].schedule",
        ),
    ];
    assert_each_refused_naming(&cases);
}

/// The issue's repro: the URL (with its password) was repeated in the condition.
#[test]
fn credentials_in_the_url_are_refused_and_never_repeated() {
    let err = validate(&ml(json!({"version": "8.15.3", "elasticsearch": {"external": {
        "url": "https://admin:hunter2@es.example.com:9200", "credentialsSecretRef": {"name": "a"}}}})))
    .expect_err("refused");
    assert_eq!(err.0[0].path, "spec.elasticsearch.external.url");
    assert!(err.to_string().contains("credentials"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = validate(&ml(json!({"version": "8.15.3", "elasticsearch": {"external": {
        "url": "https://es.example.com:port/x?token=hunter2", "credentialsSecretRef": {"name": "a"}}}})))
    .expect_err("refused");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

/// Elasticsearch orders phases by nanoseconds: rounding both ages to 0ms let this pass.
#[test]
fn phases_out_of_order_below_a_millisecond_are_refused() {
    let errs = errors(json!({
        "version": "8.15.3",
        "lifecycle": {
            "hot": { "rollover": { "maxAge": "1d" } },
            "warm": { "minAge": "929micros" },
            "cold": { "minAge": "5micros" },
        },
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains("spec.lifecycle.cold.minAge")),
        "{errs:?}"
    );
}

#[test]
fn http_needs_insecure() {
    let external = |insecure: bool| {
        json!({"version": "8.15.3", "elasticsearch": {"external": {
            "url": "http://es.example.com:9200", "insecure": insecure,
            "credentialsSecretRef": {"name": "a"}}}})
    };
    assert_eq!(errors(external(false)), ["spec.elasticsearch.external.url"]);
    let v = validate(&ml(external(true))).expect("insecure: true admits http://");
    assert_eq!(v.es_url(), "http://es.example.com:9200");
}

#[test]
fn cron_fields_are_checked_like_quartz() {
    for ok in [
        "0 30 1 * * ?",
        "0 0/15 * ? * MON-FRI",
        "0 0 12 L * ?",
        "0 0 12 15W * ?",
        "0 0 12 ? JAN,JUL 6#3 2030",
        "*/5 * * ? * 2L",
    ] {
        assert_eq!(check_cron(ok), Ok(()), "{ok}");
    }
    // Elasticsearch refuses schedules running more often than every 15 minutes
    // (checked against its own SnapshotLifecyclePolicy validation).
    for (expr, frequent) in [
        ("*/5 * * ? * 2L", true),
        ("0 0/15 * ? * MON-FRI", false),
        ("0 0/10 * ? * *", true),
        ("0 * * * * ?", true),
        ("0 0,50 1 * * ?", false),
        ("0 0,50 * * * ?", true),
        ("0 10-20 1 * * ?", true),
        ("0 30 1 * * ?", false),
        ("0 0 * * * ?", false),
    ] {
        assert_eq!(cron_more_often_than_15m(expr), frequent, "{expr}");
    }
    for bad in [
        "0 75 1 * * ?",
        "60 0 1 * * ?",
        "0 0 24 * * ?",
        "0 0 1 32 * ?",
        "0 0 1 ? 13 *",
        "0 0 1 ? * 8",
        "0 0 1 ? * MON#6",
        "0 0/0 1 * * ?",
        "0 0 1 * * ? 1969",
        "0 0 1 * *",
    ] {
        assert!(check_cron(bad).is_err(), "{bad}");
    }
}

#[test]
fn allow_lists_are_off_by_default_and_name_the_field() {
    let spec = json!({"version": "8.15.3",
        "collector": {"image": "evil.example.com/miner:1"},
        "kibana": {"ingress": {"host": "k.example.com", "annotations": {
            "cert-manager.io/cluster-issuer": "le",
            "nginx.ingress.kubernetes.io/configuration-snippet": "x"}}}});
    assert!(validate(&ml(spec.clone())).is_ok());
    let policy = AdmissionPolicy {
        collector_images: Some(vec!["cr.fluentbit.io/fluent/fluent-bit:*".into()]),
        ingress_annotation_keys: Some(vec!["cert-manager.io/*".into()]),
    };
    let err = validate_with(&ml(spec), &policy).expect_err("refused");
    let paths: Vec<&str> = err.0.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "spec.collector.image",
            "spec.kibana.ingress.annotations[\"nginx.ingress.kubernetes.io/configuration-snippet\"]"
        ]
    );
    // The operator's own pinned image is always allowed.
    assert!(validate_with(&ml(json!({"version": "8.15.3"})), &policy).is_ok());
}

/// `collector.fields` may not reuse a top-level field of the log schema.
#[test]
fn reserved_field_keys_cover_the_log_schema() {
    let mappings = crate::log_schema::mappings();
    let properties = mappings["properties"].as_object().expect("properties");
    for key in properties.keys() {
        assert!(
            RESERVED_FIELD_KEYS.contains(&key.as_str()),
            "{key} is not reserved"
        );
    }
}

/// The bound on `index.name` keeps every derived Elasticsearch name within 255 bytes
/// (users and roles allow more).
#[test]
fn every_name_derived_from_the_longest_index_name_fits() {
    let n = Names::new(&"a".repeat(MAX_INDEX_NAME_LEN));
    for name in [
        n.ilm_policy(),
        n.settings_template(),
        n.mappings_template(),
        n.index_template(),
        n.bootstrap_index(),
        format!("{}-1000000", n.alias),
        n.deadletter_index(),
        n.collector_user(),
        n.external_kibana_user(),
    ] {
        assert!(name.len() <= 255, "{} bytes: {name}", name.len());
    }
    assert!(is_index_name(&n.alias));
    assert!(!is_index_name(&format!("{}a", n.alias)));
}

#[test]
fn versions() {
    let v = StackVersion::parse("8.15.3").expect("version");
    assert!(v.has_readiness_port());
    assert!(
        !StackVersion::parse("8.1.0")
            .expect("version")
            .has_readiness_port()
    );
    assert!(
        StackVersion::parse("9.0.0")
            .expect("version")
            .has_readiness_port()
    );
    assert_eq!(StackVersion::parse("8.15"), None);
    assert_eq!(StackVersion::parse("8.15.3.1"), None);
}

#[test]
fn the_dashboard_url_needs_dashboards_and_a_real_ingress_host() {
    let url = |spec: serde_json::Value| {
        let v = validate(&ml(spec)).expect("valid");
        v.dashboard_url("d")
    };
    let ingress = |host: &str, tls: bool| {
        let mut i = json!({"host": host});
        if tls {
            i["tlsSecretName"] = json!("kibana-tls");
        }
        json!({"version": "8.15.3", "kibana": {"ingress": i}})
    };
    assert_eq!(
        url(ingress("kibana.example.com", false)).as_deref(),
        Some("http://kibana.example.com/app/dashboards#/view/d")
    );
    assert_eq!(
        url(ingress("kibana.example.com", true)).as_deref(),
        Some("https://kibana.example.com/app/dashboards#/view/d")
    );
    assert_eq!(url(ingress("*.example.com", true)), None, "a wildcard host");
    assert_eq!(url(json!({"version": "8.15.3"})), None, "no Ingress");
    let mut off = ingress("kibana.example.com", true);
    off["dashboards"] = json!({"enabled": false});
    assert_eq!(url(off), None, "dashboards off");
    let v = validate(&ml(
        json!({"version": "8.15.3", "kibana": {"enabled": false}, "dashboards": {"enabled": true}}),
    ))
    .expect("valid without admission's rule");
    assert!(!v.dashboards_enabled(), "no Kibana, no dashboards");
}
