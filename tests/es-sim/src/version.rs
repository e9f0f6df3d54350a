//! Version arithmetic, the version-info body, and the capabilities and cluster
//! features the stand-in claims for a given version. Pure.

/// `"8.15.3"` -> `(8, 15, 3)`; missing parts are 0, suffixes (`-SNAPSHOT`) ignored.
pub fn parse(v: &str) -> (u32, u32, u32) {
    let mut it = v
        .split(['.', '-'])
        .map(|p| p.trim().parse::<u32>().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

/// Elasticsearch's numeric version id (`8.15.3` -> `8150399`).
pub fn version_id(v: &str) -> u64 {
    let (a, b, c) = parse(v);
    u64::from(a) * 1_000_000 + u64::from(b) * 10_000 + u64::from(c) * 100 + 99
}

pub fn lucene_version(v: &str) -> &'static str {
    match parse(v) {
        (9, ..) => "10.2.2",
        (8, m, _) if m >= 15 => "9.11.1",
        (8, m, _) if m >= 10 => "9.8.0",
        (8, ..) => "9.4.2",
        _ => "8.11.3",
    }
}

pub fn minimum_wire_compatibility_version(v: &str) -> &'static str {
    match parse(v).0 {
        9 => "8.18.0",
        8 => "7.17.0",
        _ => "6.8.0",
    }
}

pub fn minimum_index_compatibility_version(v: &str) -> &'static str {
    match parse(v).0 {
        9 => "8.0.0",
        8 => "7.0.0",
        _ => "6.0.0-beta1",
    }
}

/// A capability the stand-in implements, with the first version that has it.
/// The `since` versions are the stand-in's best knowledge, not authoritative.
pub struct Capability {
    pub method: &'static str,
    pub path: &'static str,
    pub name: &'static str,
    pub since: &'static str,
}

pub const CAPABILITIES: &[Capability] = &[
    Capability {
        method: "GET",
        path: "/_cluster/health",
        name: "unassigned_pri_shard_count",
        since: "8.16.0",
    },
    Capability {
        method: "PUT",
        path: "/{index}",
        name: "lookup_index_mode",
        since: "8.18.0",
    },
    Capability {
        method: "POST",
        path: "/{index}/_rollover",
        name: "return-404-on-missing-target",
        since: "8.18.0",
    },
    Capability {
        method: "POST",
        path: "/{index}/_rollover",
        name: "max_size_deprecation",
        since: "9.1.0",
    },
    Capability {
        method: "PUT",
        path: "/_ilm/policy/{name}",
        name: "max_size_deprecation",
        since: "9.1.0",
    },
    Capability {
        method: "GET",
        path: "/_component_template",
        name: "local_param_deprecated",
        since: "9.0.0",
    },
    Capability {
        method: "PUT",
        path: "/_component_template/{name}",
        name: "component_template_tracking_info",
        since: "9.2.0",
    },
    Capability {
        method: "PUT",
        path: "/_index_template/{name}",
        name: "index_template_tracking_info",
        since: "9.2.0",
    },
    Capability {
        method: "PUT",
        path: "/_component_template/{name}",
        name: "dlm.downsampling_method",
        since: "9.3.0",
    },
    Capability {
        method: "PUT",
        path: "/_component_template/{name}",
        name: "dlm.frozen_after",
        since: "9.4.0",
    },
    Capability {
        method: "PUT",
        path: "/_index_template/{name}",
        name: "index_template_managed_field",
        since: "9.4.0",
    },
    Capability {
        method: "PUT",
        path: "/_index_template/{name}",
        name: "index_template_registry_installed_field",
        since: "9.4.0",
    },
    Capability {
        method: "PUT",
        path: "/_component_template/{name}",
        name: "failure_store.lifecycle.frozen_after_rejected",
        since: "9.5.1",
    },
];

/// Behaviour switches keyed by capability name (so behaviour and the capability claim agree).
pub fn has_capability_named(version: &str, name: &str) -> bool {
    CAPABILITIES
        .iter()
        .any(|c| c.name == name && parse(version) >= parse(c.since))
}

/// Answers `GET /_capabilities`: are all `names` supported for `method` + `path`?
/// Paths are compared after normalising `{placeholders}`; concrete paths match
/// a route pattern segment by segment.
pub fn supports(version: &str, method: &str, path: &str, names: &[&str]) -> bool {
    let norm = |p: &str| -> Vec<String> {
        p.trim_matches('/')
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "{}".to_string()
                } else {
                    s.to_string()
                }
            })
            .collect()
    };
    let want = norm(path);
    let path_matches = |cap: &Capability| {
        let have = norm(cap.path);
        have.len() == want.len()
            && have
                .iter()
                .zip(&want)
                .all(|(h, w)| h == w || h == "{}" || (w == "{}" && !h.starts_with('_')))
    };
    names.iter().all(|n| {
        CAPABILITIES.iter().any(|c| {
            c.name == *n
                && c.method.eq_ignore_ascii_case(method)
                && path_matches(c)
                && parse(version) >= parse(c.since)
        })
    })
}

/// Named cluster features the stand-in has (besides the synthetic `gte_vX.Y.Z`).
pub const CLUSTER_FEATURES: &[(&str, &str)] = &[
    ("indices_alias_date_math", "7.13.0"),
    ("ingest.dynamic_strings.auto_text_setting", "9.4.0"),
];

/// Does a node of `version` have cluster feature `name`?
pub fn has_cluster_feature(version: &str, name: &str) -> bool {
    if let Some(v) = name.strip_prefix("gte_v") {
        return parse(version) >= parse(v);
    }
    CLUSTER_FEATURES
        .iter()
        .any(|(n, since)| *n == name && parse(version) >= parse(since))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse("8.15.3"), (8, 15, 3));
        assert_eq!(parse("9.1.0-SNAPSHOT"), (9, 1, 0));
        assert!(parse("8.15.3") < parse("9.0.0"));
        assert_eq!(version_id("8.15.3"), 8_150_399);
        assert!(has_cluster_feature("8.15.3", "gte_v7.8.0"));
        assert!(!has_cluster_feature("8.15.3", "gte_v8.16.0"));
        assert!(supports(
            "9.1.0",
            "GET",
            "/_cluster/health",
            &["unassigned_pri_shard_count"]
        ));
        assert!(!supports(
            "8.15.3",
            "GET",
            "/_cluster/health",
            &["unassigned_pri_shard_count"]
        ));
        assert!(supports(
            "9.1.0",
            "POST",
            "/logs_search/_rollover",
            &["max_size_deprecation"]
        ));
        assert!(supports(
            "9.5.1",
            "PUT",
            "/_index_template/{id}",
            &["index_template_tracking_info"]
        ));
    }
}
