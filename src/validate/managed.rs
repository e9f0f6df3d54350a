//! The managed Elasticsearch cluster: resources and heap, storage, `elasticsearch.yml`
//! settings, and the keystore (secure settings and snapshot repositories' credentials). Pure.

use std::collections::BTreeSet;

use super::resources::{check_requests_within_limits, default_es_resources, quantity};
use super::{KeystoreSource, ManagedEs, ValidStorage, ValidationErrors};
use crate::api::units::quantity_value;
use crate::api::{MeshLoggingSpec, RepositoryType};
use crate::naming::{CredentialKey, repository_credential_keys, repository_keystore_prefix};

/// Default number of Elasticsearch nodes.
pub const DEFAULT_ES_REPLICAS: i32 = 3;
/// Default size of each Elasticsearch data volume.
pub const DEFAULT_ES_STORAGE: &str = "10Gi";
/// Smallest memory limit an Elasticsearch node may have (half of it is heap).
pub const MIN_ES_MEMORY_BYTES: u128 = 1 << 30;
/// Largest heap the operator gives Elasticsearch: just under the JVM's compressed
/// ordinary object pointers limit, as Elasticsearch recommends.
pub const MAX_HEAP_MIB: u64 = 31 * 1024;
/// Keystore entries the operator sets itself.
const RESERVED_KEYSTORE_SETTINGS: [&str; 1] = ["bootstrap.password"];
/// `elasticsearch.yml` settings the operator sets itself beyond those the schema refuses.
const RESERVED_ES_SETTINGS: [&str; 2] = ["readiness.port", "path.repo"];

/// The managed cluster of `spec` with its defaults (`version` picks the default image).
pub(super) fn managed(
    spec: &MeshLoggingSpec,
    version: &str,
    errs: &mut ValidationErrors,
) -> ManagedEs {
    let es = &spec.elasticsearch;
    let resources = es.resources.clone().unwrap_or_else(default_es_resources);
    let path = "spec.elasticsearch.resources";
    check_requests_within_limits(&resources, path, errs);
    let memory_limit = resources
        .limits
        .as_ref()
        .and_then(|l| l.get("memory"))
        .map(|q| (q, quantity_value(&q.0)));
    let heap_mib = match memory_limit {
        None => {
            errs.push(
                format!("{path}.limits.memory"),
                "is required: the JVM heap is sized from it (half the limit)",
            );
            0
        }
        Some((q, None)) => {
            errs.push(
                format!("{path}.limits.memory"),
                format!("{:?} is not a quantity such as 4Gi", q.0),
            );
            0
        }
        Some((q, Some(bytes))) => {
            let bytes = bytes.max(0.0) as u128;
            if bytes < MIN_ES_MEMORY_BYTES {
                errs.push(
                    format!("{path}.limits.memory"),
                    format!(
                        "{} is too small for Elasticsearch: at least 1Gi (half of it becomes the JVM heap)",
                        q.0
                    ),
                );
            }
            heap_mib(bytes)
        }
    };

    let storage = match &es.storage {
        Some(s) => {
            if !quantity_value(&s.size.0).is_some_and(|b| b > 0.0) {
                errs.push(
                    "spec.elasticsearch.storage.size",
                    format!("{:?} is not a positive quantity such as 100Gi", s.size.0),
                );
            }
            ValidStorage {
                size: s.size.clone(),
                class: s.storage_class_name.clone(),
            }
        }
        None => ValidStorage {
            size: quantity(DEFAULT_ES_STORAGE),
            class: None,
        },
    };

    let config = es.config.clone().unwrap_or_default();
    for key in config.keys() {
        let path = format!("spec.elasticsearch.config[{key:?}]");
        if RESERVED_ES_SETTINGS.contains(&key.as_str()) {
            errs.push(
                path,
                "is set by the operator (readiness.port for the readiness probe, path.repo from the fs snapshot repositories)",
            );
        } else if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            errs.push(
                path,
                "must be a flat dotted setting name (letters, digits, '.', '_' and '-')",
            );
        } else if config[key].contains("${") {
            errs.push(
                path,
                "may not reference the environment (${...}): Elasticsearch would substitute the pod's environment variables",
            );
        }
    }

    let secure_settings = es.secure_settings.clone().unwrap_or_default();
    let mut keystore = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, source) in secure_settings.iter().enumerate() {
        let items = source.entries.as_ref().map(|entries| {
            entries
                .iter()
                .enumerate()
                .map(|(j, e)| {
                    let setting = e.path.clone().unwrap_or_else(|| e.key.clone());
                    let path = format!("spec.elasticsearch.secureSettings[{i}].entries[{j}]");
                    check_keystore_setting(&setting, &path, &mut seen, errs);
                    (e.key.clone(), setting)
                })
                .collect()
        });
        keystore.push(KeystoreSource {
            secret: source.secret_name.clone(),
            items,
            optional: false,
        });
    }
    let repositories = spec
        .snapshots
        .as_ref()
        .map(|s| s.repositories.as_slice())
        .unwrap_or_default();
    let mut repo_paths = Vec::new();
    for (i, repo) in repositories.iter().enumerate() {
        if repo.kind == RepositoryType::Fs {
            let location = repo.settings.get("location").cloned().unwrap_or_default();
            if !location.starts_with('/') {
                errs.push(
                    format!("spec.snapshots.repositories[{i}].settings.location"),
                    format!(
                        "{location:?} must be an absolute path: the operator lists it in path.repo (mount the shared volume there yourself)"
                    ),
                );
            } else if !repo_paths.contains(&location) {
                repo_paths.push(location);
            }
        }
        let Some(secret) = &repo.credentials_secret_ref else {
            continue;
        };
        let prefix = repository_keystore_prefix(repo);
        let items = repository_credential_keys(repo.kind)
            .iter()
            .map(|&CredentialKey { key, .. }| {
                let setting = format!("{prefix}{key}");
                let path = format!("spec.snapshots.repositories[{i}].credentialsSecretRef");
                check_keystore_setting(&setting, &path, &mut seen, errs);
                (key.to_string(), setting)
            })
            .collect();
        keystore.push(KeystoreSource {
            secret: secret.name.clone(),
            items: Some(items),
            optional: true,
        });
    }

    ManagedEs {
        replicas: es.replicas.unwrap_or(DEFAULT_ES_REPLICAS),
        resources,
        heap_mib,
        storage,
        anti_affinity: es.anti_affinity.unwrap_or_default(),
        config,
        secure_settings,
        keystore,
        repo_paths,
        image: es
            .image
            .clone()
            .unwrap_or_else(|| format!("docker.elastic.co/elasticsearch/elasticsearch:{version}")),
    }
}

fn check_keystore_setting(
    setting: &str,
    path: &str,
    seen: &mut BTreeSet<String>,
    errs: &mut ValidationErrors,
) {
    if RESERVED_KEYSTORE_SETTINGS.contains(&setting) {
        errs.push(
            path,
            format!("keystore setting {setting:?} is set by the operator"),
        );
    } else if setting.is_empty()
        || setting.starts_with('.')
        || !setting
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        errs.push(
            path,
            format!(
                "{setting:?} is not a keystore setting name (letters, digits, '.', '_' and '-')"
            ),
        );
    } else if !seen.insert(setting.to_string()) {
        errs.push(
            path,
            format!("keystore setting {setting:?} comes from more than one Secret key"),
        );
    }
}

/// Half of `memory_bytes` in MiB, capped at [`MAX_HEAP_MIB`].
fn heap_mib(memory_bytes: u128) -> u64 {
    let mib = memory_bytes / 2 / (1 << 20);
    u64::try_from(mib).unwrap_or(u64::MAX).min(MAX_HEAP_MIB)
}
