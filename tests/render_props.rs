//! Property test: no spec of a valid shape makes validation or rendering panic, and every
//! accepted spec renders deterministically to objects that serialise, with an owner on
//! every namespaced object. Pure and fast (a few hundred cases).

use meshlogging_operator::api::{MeshLogging, MeshLoggingSpec};
use meshlogging_operator::render::{Child, RenderContext, render};
use meshlogging_operator::validate::validate;
use proptest::collection::{btree_map, vec};
use proptest::option::of;
use proptest::prelude::*;
use serde_json::{Value, json};

fn quantity() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[1-9][0-9]?Gi",
        1 => Just("512Mi".to_string()),
        1 => Just("1e10".to_string()),
        1 => Just("lots".to_string()),
        1 => "[0-9]{1,4}(Mi|Gi|M|G|m|k)?",
        1 => "[0-9]{1,2}\\.[0-9](Gi|G)",
    ]
}

fn resources() -> impl Strategy<Value = Value> {
    (
        of(quantity()),
        of(quantity()),
        of("[0-9]{1,3}m?"),
        of("[0-9]{1,3}m?"),
    )
        .prop_map(|(req_mem, lim_mem, req_cpu, lim_cpu)| {
            let mut requests = serde_json::Map::new();
            let mut limits = serde_json::Map::new();
            if let Some(q) = req_mem {
                requests.insert("memory".into(), json!(q));
            }
            if let Some(q) = req_cpu {
                requests.insert("cpu".into(), json!(q));
            }
            if let Some(q) = lim_mem {
                limits.insert("memory".into(), json!(q));
            }
            if let Some(q) = lim_cpu {
                limits.insert("cpu".into(), json!(q));
            }
            json!({"requests": requests, "limits": limits})
        })
}

fn managed() -> impl Strategy<Value = Value> {
    (
        of(1i32..=7),
        of(resources()),
        of("[0-9]{1,3}Gi"),
        of(prop_oneof![Just("hard"), Just("soft")]),
        of(btree_map(
            "[a-z]{1,6}(\\.[a-z_]{1,6}){0,3}",
            "[ -~]{0,16}",
            0..4,
        )),
        of(vec(
            (
                "[a-z]{1,8}",
                of(vec(("[a-z_]{1,6}", of("[a-z._-]{1,12}")), 0..3)),
            ),
            0..3,
        )),
    )
        .prop_map(|(replicas, resources, size, anti, config, secure)| {
            let mut es = serde_json::Map::new();
            if let Some(r) = replicas {
                es.insert("replicas".into(), json!(r));
            }
            if let Some(r) = resources {
                es.insert("resources".into(), r);
            }
            if let Some(s) = size {
                es.insert(
                    "storage".into(),
                    json!({"size": s, "storageClassName": "fast"}),
                );
            }
            if let Some(a) = anti {
                es.insert("antiAffinity".into(), json!(a));
            }
            if let Some(c) = config {
                es.insert("config".into(), json!(c));
            }
            if let Some(s) = secure {
                let sources: Vec<Value> = s
                    .into_iter()
                    .map(|(secret, entries)| match entries {
                        None => json!({"secretName": secret}),
                        Some(entries) => json!({"secretName": secret, "entries": entries
                            .into_iter()
                            .map(|(key, path)| match path {
                                Some(p) => json!({"key": key, "path": p}),
                                None => json!({"key": key}),
                            })
                            .collect::<Vec<_>>()}),
                    })
                    .collect();
                es.insert("secureSettings".into(), json!(sources));
            }
            Value::Object(es)
        })
}

fn external() -> impl Strategy<Value = Value> {
    (
        "https?://[a-z]{1,10}(\\.[a-z]{2,5})?(:[0-9]{1,5})?(/[a-z]{0,5})?",
        of("[a-z]{1,8}"),
    )
        .prop_map(|(url, ca)| {
            let mut e = json!({"url": url, "credentialsSecretRef": {"name": "admin"}});
            if let Some(ca) = ca {
                e["caSecretRef"] = json!({"name": ca});
            }
            json!({"external": e})
        })
}

fn kibana() -> impl Strategy<Value = Value> {
    (
        any::<bool>(),
        0i32..4,
        of(resources()),
        of((
            of("[a-z]{1,6}"),
            "[a-z]{1,10}\\.example\\.com",
            of("[a-z]{1,8}"),
        )),
    )
        .prop_map(|(enabled, replicas, resources, ingress)| {
            let mut k = json!({"enabled": enabled, "replicas": replicas});
            if let Some(r) = resources {
                k["resources"] = r;
            }
            if let Some((class, host, tls)) = ingress {
                let mut i = json!({"host": host, "annotations": {"a": "b"}});
                if let Some(c) = class {
                    i["className"] = json!(c);
                }
                if let Some(t) = tls {
                    i["tlsSecretName"] = json!(t);
                }
                k["ingress"] = i;
            }
            k
        })
}

fn collector() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just("fluentBit"), Just("fluentd")],
        vec("/var/log/[a-z*]{1,10}\\.log", 1..3),
        prop_oneof![
            4 => vec("/var/log/containers/[a-z*]{1,12}", 0..3),
            1 => vec("/[a-z*,'$/]{1,12}", 0..3),
        ],
        prop_oneof![
            4 => btree_map("[a-z_]{1,8}", "[a-zA-Z0-9.:-]([a-zA-Z0-9 ,.:-]{0,10}[a-z])?", 0..3),
            1 => btree_map("[a-z_]{1,8}", "[a-zA-Z0-9 ,.:${}#-]{0,12}", 0..3),
        ],
        (
            "[0-9]{1,3}(s|m|h)?",
            prop_oneof![3 => "[1-9][0-9]?M", 1 => "[0-9]{1,4}[kKmMgG]?"],
            prop_oneof![3 => "[1-9]G", 1 => "[0-9]{1,4}[kKmMgG]?"],
        ),
        of(resources()),
    )
        .prop_map(|(kind, paths, excludes, fields, (flush, chunk, total), resources)| {
            let mut c = json!({
                "type": kind, "paths": paths, "excludePaths": excludes, "fields": fields,
                "buffer": {"flushInterval": flush, "chunkLimitSize": chunk, "totalLimitSize": total},
                "tolerations": [{"operator": "Exists"}],
            });
            if let Some(r) = resources {
                c["resources"] = r;
            }
            c
        })
}

fn lifecycle() -> impl Strategy<Value = Value> {
    let age = "[0-9]{1,3}(d|h|m|s|ms)";
    // Mostly in order (warm <= cold <= delete, same unit), sometimes anything.
    let ordered = (of(0u32..10), of(10u32..20), of(20u32..40)).prop_map(|(w, c, d)| {
        (
            w.map(|n| format!("{n}d")),
            c.map(|n| format!("{n}d")),
            d.map(|n| format!("{n}d")),
        )
    });
    let any_order = (of(age), of(age), of(age));
    prop_oneof![3 => ordered, 1 => any_order].prop_map(|(warm, cold, delete)| {
        let mut l = json!({});
        if let Some(a) = warm {
            l["warm"] = json!({"minAge": a, "shrinkTo": 1});
        }
        if let Some(a) = cold {
            l["cold"] = json!({"minAge": a});
        }
        if let Some(a) = delete {
            l["delete"] = json!({"minAge": a});
        }
        l
    })
}

fn repositories() -> impl Strategy<Value = Value> {
    vec(
        (
            prop_oneof![
                Just("fs"),
                Just("s3"),
                Just("gcs"),
                Just("azure"),
                Just("url")
            ],
            "[a-z_]{1,8}",
            of("[a-z]{1,6}"),
            of("[a-z]{1,8}"),
            prop_oneof![Just("/mnt/snap".to_string()), "[a-z/]{1,8}"],
        ),
        0..4,
    )
    .prop_map(|repos| {
        let repos: Vec<Value> = repos
            .into_iter()
            .map(|(kind, name, client, secret, location)| {
                let mut settings = serde_json::Map::new();
                match kind {
                    "fs" => {
                        settings.insert("location".into(), json!(location));
                    }
                    "url" => {
                        settings.insert("url".into(), json!("https://example.com/repo"));
                    }
                    _ => {
                        settings.insert("bucket".into(), json!("b"));
                    }
                }
                if let Some(c) = client {
                    settings.insert("client".into(), json!(c));
                }
                let mut r = json!({"name": name, "type": kind, "settings": settings});
                if let (Some(s), "s3" | "gcs" | "azure") = (secret, kind) {
                    r["credentialsSecretRef"] = json!({"name": s});
                }
                r
            })
            .collect();
        json!({"repositories": repos})
    })
}

fn spec() -> impl Strategy<Value = Value> {
    (
        (8u32..10, 0u32..20, 0u32..20),
        prop_oneof![managed(), external()],
        kibana(),
        collector(),
        "[a-z][a-z0-9-]{0,20}",
        lifecycle(),
        repositories(),
    )
        .prop_map(
            |((ma, mi, pa), es, kibana, collector, index, lifecycle, snapshots)| {
                json!({
                    "version": format!("{ma}.{mi}.{pa}"),
                    "elasticsearch": es,
                    "kibana": kibana,
                    "collector": collector,
                    "index": {"name": index},
                    "lifecycle": lifecycle,
                    "snapshots": snapshots,
                    "dashboards": {"enabled": false},
                })
            },
        )
}

fn namespaced_owned(child: &Child) -> bool {
    matches!(child, Child::ClusterRoleBinding(_))
        || child
            .meta()
            .owner_references
            .as_ref()
            .is_some_and(|o| o.len() == 1)
}

fn serialises(child: &Child) -> bool {
    match child {
        Child::StatefulSet(o) => serde_json::to_string(o).is_ok(),
        Child::Deployment(o) => serde_json::to_string(o).is_ok(),
        Child::DaemonSet(o) => serde_json::to_string(o).is_ok(),
        Child::Service(o) => serde_json::to_string(o).is_ok(),
        Child::ConfigMap(o) => serde_json::to_string(o).is_ok(),
        Child::PodDisruptionBudget(o) => serde_json::to_string(o).is_ok(),
        Child::ServiceAccount(o) => serde_json::to_string(o).is_ok(),
        Child::Ingress(o) => serde_json::to_string(o).is_ok(),
        Child::ClusterRoleBinding(o) => serde_json::to_string(o).is_ok(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn validate_and_render_never_panic(
        spec in spec(),
        name in prop_oneof![4 => "[a-z]([a-z0-9-]{0,40}[a-z0-9])?", 1 => "[a-z0-9-]{0,60}"],
        bootstrapped in any::<bool>(),
    ) {
        let spec: MeshLoggingSpec = serde_json::from_value(spec).expect("valid-shaped spec");
        let mut ml = MeshLogging::new(&name, spec);
        ml.metadata.namespace = Some("ns".into());
        ml.metadata.uid = Some("uid".into());
        let Ok(v) = validate(&ml) else { return Ok(()) };
        let ctx = RenderContext { es_bootstrapped: bootstrapped, ..RenderContext::new(&v) };
        let children = render(&v, &ctx);
        prop_assert_eq!(&children, &render(&v, &ctx));
        prop_assert!(children.iter().any(|c| matches!(c, Child::DaemonSet(_))));
        prop_assert_eq!(
            children.iter().any(|c| matches!(c, Child::StatefulSet(_))),
            v.managed().is_some()
        );
        for child in &children {
            prop_assert!(namespaced_owned(child), "{} {}", child.kind(), child.name());
            prop_assert!(serialises(child));
            prop_assert!(!child.name().is_empty());
        }
    }
}
