//! Generators of `MeshLogging` specs for the property tests: mostly valid shapes with
//! some values admission or validation refuses. Shared by `render_props` and
//! `policy_oracle`.

use proptest::collection::{btree_map, vec};
use proptest::option::of;
use proptest::prelude::*;
use serde_json::{Value, json};

/// A Kubernetes quantity, mostly valid.
pub fn quantity() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[1-9][0-9]?Gi",
        1 => Just("512Mi".to_string()),
        1 => Just("1e10".to_string()),
        1 => Just("lots".to_string()),
        1 => "[0-9]{1,4}(Mi|Gi|M|G|m|k)?",
        1 => "[0-9]{1,2}\\.[0-9](Gi|G)",
    ]
}

/// Container resources: requests and limits, each part optional.
pub fn resources() -> impl Strategy<Value = Value> {
    (
        of(quantity()),
        of(quantity()),
        of("[0-9]{1,3}m?"),
        of("[0-9]{1,3}m?"),
    )
        .prop_map(|(req_mem, lim_mem, req_cpu, lim_cpu)| {
            let (mut requests, mut limits) = (json!({}), json!({}));
            put(
                &mut requests,
                [
                    ("memory", req_mem.map(Value::from)),
                    ("cpu", req_cpu.map(Value::from)),
                ],
            );
            put(
                &mut limits,
                [
                    ("memory", lim_mem.map(Value::from)),
                    ("cpu", lim_cpu.map(Value::from)),
                ],
            );
            json!({"requests": requests, "limits": limits})
        })
}

/// `spec.elasticsearch` of a managed cluster.
pub fn managed() -> impl Strategy<Value = Value> {
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
            let mut es = json!({});
            put(
                &mut es,
                [
                    ("replicas", replicas.map(Value::from)),
                    ("resources", resources),
                    (
                        "storage",
                        size.map(|s| json!({"size": s, "storageClassName": "fast"})),
                    ),
                    ("antiAffinity", anti.map(Value::from)),
                    ("config", config.map(|c| json!(c))),
                ],
            );
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
                es["secureSettings"] = json!(sources);
            }
            es
        })
}

/// `spec.elasticsearch` of an external cluster.
pub fn external() -> impl Strategy<Value = Value> {
    (
        "https://[a-z]{1,10}(\\.[a-z]{2,5})?(:[0-9]{1,5})?(/[a-z]{0,5})?",
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

/// `spec.kibana`.
pub fn kibana() -> impl Strategy<Value = Value> {
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

/// `spec.collector`: either collector, paths, fields, buffer.
pub fn collector() -> impl Strategy<Value = Value> {
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

/// Rollover conditions: at least one, Elasticsearch's units.
pub fn rollover() -> impl Strategy<Value = Value> {
    (
        of("[1-9][0-9]{0,2}(d|h|m|s)"),
        of(prop_oneof!["[1-9][0-9]{0,2}(mb|gb|tb)", "[1-9]\\.[0-9]gb"]),
        of("[1-9][0-9]{0,2}(gb|tb)"),
        of(1i64..1_000_000_000),
        of(1i64..1_000_000_000),
    )
        .prop_map(|(age, shard_size, size, docs, shard_docs)| {
            let mut r = json!({});
            put(
                &mut r,
                [
                    ("maxAge", age.map(Value::from)),
                    ("maxPrimaryShardSize", shard_size.map(Value::from)),
                    ("maxSize", size.map(Value::from)),
                    ("maxDocs", docs.map(Value::from)),
                    ("maxPrimaryShardDocs", shard_docs.map(Value::from)),
                ],
            );
            if r.as_object().is_some_and(|m| m.is_empty()) {
                r["maxAge"] = json!("1d");
            }
            r
        })
}

/// A lifecycle: phases mostly in order (same unit), sometimes in any order and unit.
pub fn lifecycle() -> impl Strategy<Value = Value> {
    let age = "[0-9]{1,3}(d|h|m|s|ms)";
    let ordered = (of(0u32..10), of(10u32..20), of(20u32..40)).prop_map(|(w, c, d)| {
        (
            w.map(|n| format!("{n}d")),
            c.map(|n| format!("{n}d")),
            d.map(|n| format!("{n}d")),
        )
    });
    let any_order = (of(age), of(age), of(age));
    let hot = of((of(rollover()), of(0i32..=200)));
    let warm = (of(1i32..=4), of(1i32..=5), of(0i32..=100), of(0i32..=3));
    let cold = (of(0i32..=100), of(0i32..=3));
    (prop_oneof![3 => ordered, 1 => any_order], hot, warm, cold).prop_map(
        |(
            (warm_age, cold_age, delete_age),
            hot,
            (shrink, merge, warm_prio, warm_repl),
            (cold_prio, cold_repl),
        )| {
            let mut l = json!({});
            if let Some((rollover, priority)) = hot {
                let mut h = json!({});
                put(
                    &mut h,
                    [
                        ("rollover", rollover),
                        ("priority", priority.map(Value::from)),
                    ],
                );
                l["hot"] = h;
            }
            if let Some(a) = warm_age {
                let mut w = json!({"minAge": a});
                let fields = [
                    ("shrinkTo", shrink),
                    ("forceMergeSegments", merge),
                    ("priority", warm_prio),
                    ("replicas", warm_repl),
                ];
                put(&mut w, fields.map(|(k, v)| (k, v.map(Value::from))));
                l["warm"] = w;
            }
            if let Some(a) = cold_age {
                let mut c = json!({"minAge": a});
                let fields = [("priority", cold_prio), ("replicas", cold_repl)];
                put(&mut c, fields.map(|(k, v)| (k, v.map(Value::from))));
                l["cold"] = c;
            }
            if let Some(a) = delete_age {
                l["delete"] = json!({"minAge": a});
            }
            l
        },
    )
}

/// Quartz cron expressions Elasticsearch accepts, at most every 15 minutes.
pub const GOOD_CRONS: &[&str] = &[
    "0 30 1 * * ?",
    "0 0 */6 * * ?",
    "0 0/30 * * * ?",
    "0 15 10 ? * MON-FRI",
    "0 0 12 1 * ?",
    "0 0 0 L * ?",
    "0 0 1 ? * 6#3",
    "0 0 2 ? * SUN",
    "0 0 3 1,15 * ?",
    "0 45 23 * * ? 2099",
];

/// SLM policies into the repositories named `repos`.
pub fn slm_policies(repos: Vec<String>) -> impl Strategy<Value = Vec<Value>> {
    let n = if repos.is_empty() { 0..1 } else { 0..4 };
    vec(
        (
            "[a-z][a-z0-9-]{0,10}",
            proptest::sample::select(GOOD_CRONS),
            of(prop_oneof![
                "<[a-z]{1,8}-\\{now/d\\}>",
                "<[a-z]{1,8}-\\{now/M\\{yyyy\\.MM\\}\\}>",
                "[a-z][a-z0-9-]{0,8}",
            ]),
            proptest::sample::select(if repos.is_empty() {
                vec![String::new()]
            } else {
                repos
            }),
            of(vec("[a-z][a-z0-9-]{0,6}\\*?", 1..3)),
            any::<bool>(),
            any::<bool>(),
            of((of("[1-9][0-9]{0,2}(d|h)"), of(1i32..5), of(5i32..50))),
        ),
        n,
    )
    .prop_map(|policies| {
        let mut seen = std::collections::BTreeSet::new();
        policies
            .into_iter()
            .filter(|p| seen.insert(p.0.clone()))
            .map(
                |(
                    name,
                    schedule,
                    snapshot_name,
                    repository,
                    indices,
                    global,
                    partial,
                    retention,
                )| {
                    let mut p = json!({"name": name, "schedule": schedule, "repository": repository,
                    "includeGlobalState": global, "partial": partial});
                    put(
                        &mut p,
                        [
                            ("snapshotName", snapshot_name.map(Value::from)),
                            ("indices", indices.map(Value::from)),
                            ("retention", retention.map(slm_retention)),
                        ],
                    );
                    p
                },
            )
            .collect()
    })
}

/// `spec.snapshots`: repositories and SLM policies into them.
pub fn repositories() -> impl Strategy<Value = Value> {
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
        let mut seen = std::collections::BTreeSet::new();
        let repos: Vec<Value> = repos
            .into_iter()
            .filter(|r| seen.insert(r.1.clone()))
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
        repos
    })
    .prop_flat_map(|repos: Vec<Value>| {
        let names: Vec<String> = repos
            .iter()
            .filter_map(|r| r["name"].as_str().map(String::from))
            .collect();
        (Just(repos), slm_policies(names))
    })
    .prop_map(|(repos, policies)| json!({"repositories": repos, "policies": policies}))
}

/// A whole spec, as JSON (mostly valid shapes; some values admission refuses).
pub fn spec() -> impl Strategy<Value = Value> {
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
                    "index": {"name": index, "shards": shards(&lifecycle)},
                    "lifecycle": lifecycle,
                    "snapshots": snapshots,
                    "dashboards": {"enabled": false},
                })
            },
        )
}

/// Sets `obj[key]` for each `(key, Some(value))` of `fields`.
fn put<const N: usize>(obj: &mut Value, fields: [(&str, Option<Value>); N]) {
    for (key, value) in fields {
        if let Some(value) = value {
            obj[key] = value;
        }
    }
}

/// An SLM policy's `retention` from its optional parts.
fn slm_retention((expire, min, max): (Option<String>, Option<i32>, Option<i32>)) -> Value {
    let mut r = json!({});
    put(
        &mut r,
        [
            ("expireAfter", expire.map(Value::from)),
            ("minCount", min.map(Value::from)),
            ("maxCount", max.map(Value::from)),
        ],
    );
    r
}

/// Primary shards a multiple of `lifecycle.warm.shrinkTo` (admission requires it).
fn shards(lifecycle: &Value) -> i64 {
    lifecycle
        .pointer("/warm/shrinkTo")
        .and_then(Value::as_i64)
        .map_or(3, |n| n * 3)
}

/// A time value of the schema's shape, sometimes below a millisecond or beyond a long.
pub fn edgy_time() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[0-9]{1,3}(d|h|m|s|ms)",
        1 => "[0-9]{1,4}(micros|nanos)",
        1 => "[1-9][0-9]{15,20}(d|h|ms|nanos)",
    ]
}

/// A byte size of the schema's shape, sometimes fractional or beyond a long.
pub fn edgy_bytes() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[1-9][0-9]{0,2}(b|kb|mb|gb|tb|pb)",
        1 => "[1-9][0-9]{6,11}(gb|tb|pb)",
        1 => "[0-9]{1,2}\\.[0-9]{1,3}(b|kb|gb)",
    ]
}

/// Six or seven cron fields (the schema's shape), valid for Elasticsearch or not.
pub fn edgy_cron() -> impl Strategy<Value = String> {
    let f = |v: &[&'static str]| proptest::sample::select(v.to_vec());
    (
        f(&["0", "0", "30", "*", "0/5", "59", "60"]),
        f(&["0", "30", "15", "*", "*/5", "0/30", "61"]),
        f(&["1", "23", "*/6", "*", "24", "0-5"]),
        f(&["?", "?", "*", "1", "L", "15W", "31", "32", "L-3", "1,15"]),
        f(&["*", "*", "JAN", "1-6", "12", "13", "JAN-MAR"]),
        f(&["?", "?", "*", "MON", "MON-FRI", "6#3", "8", "5L", "SUN#6"]),
        of(f(&["2099", "1999", "*"])),
    )
        .prop_map(|(s, mi, h, dom, mo, dow, y)| {
            let mut c = format!("{s} {mi} {h} {dom} {mo} {dow}");
            if let Some(y) = y {
                c.push(' ');
                c.push_str(y);
            }
            c
        })
}

/// A snapshot name: date math or not, valid for Elasticsearch or not.
pub fn edgy_snapshot_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "<[a-z]{1,6}-\\{now/[dMyhHmw]\\}>",
        1 => "<[a-zA-Z]{1,6}-\\{now/d\\}>",
        1 => "[a-zA-Z0-9_#,* <>-]{1,10}",
        1 => "<[a-z]{1,5}-\\{now/[a-z]\\}>",
        1 => "<[a-z]{1,5}-\\{now/M\\{yyyy[.MdU'*]MM\\}\\}>",
    ]
}

/// A spec whose lifecycle and snapshot policy take edge values of the schema's shape: what
/// admission must refuse when Elasticsearch does.
pub fn edgy_spec() -> impl Strategy<Value = Value> {
    let lifecycle = (
        of((of(edgy_time()), of(edgy_bytes()), of(edgy_bytes()))),
        of(edgy_time()),
        of(edgy_time()),
        of(edgy_time()),
    )
        .prop_map(|(rollover, warm, cold, delete)| {
            let mut l = json!({});
            if let Some((age, shard, size)) = rollover {
                let mut r = json!({});
                put(
                    &mut r,
                    [
                        ("maxAge", age.map(Value::from)),
                        ("maxPrimaryShardSize", shard.map(Value::from)),
                        ("maxSize", size.map(Value::from)),
                    ],
                );
                if r.as_object().is_some_and(|m| m.is_empty()) {
                    r["maxDocs"] = json!(1000);
                }
                l["hot"] = json!({"rollover": r});
            }
            for (phase, age) in [("warm", warm), ("cold", cold), ("delete", delete)] {
                if let Some(a) = age {
                    l[phase] = json!({"minAge": a});
                }
            }
            l
        });
    let policy = (
        edgy_cron(),
        of(edgy_snapshot_name()),
        // counts in any order: minCount > maxCount is refused at admission (CEL) too
        of((of(edgy_time()), of(1i32..9), of(1i32..9))),
    )
        .prop_map(|(schedule, name, retention)| {
            let mut p = json!({"name": "nightly", "schedule": schedule, "repository": "backups"});
            put(
                &mut p,
                [
                    ("snapshotName", name.map(Value::from)),
                    ("retention", retention.map(slm_retention)),
                ],
            );
            p
        });
    // Everything else is plain, so an admission refusal is about these values.
    (lifecycle, of(policy)).prop_map(|(lifecycle, policy)| {
        json!({
            "version": "8.15.3",
            "lifecycle": lifecycle,
            "snapshots": {
                "repositories": [{"name": "backups", "type": "fs", "settings": {"location": "/snapshots"}}],
                "policies": policy.into_iter().collect::<Vec<_>>(),
            },
        })
    })
}
