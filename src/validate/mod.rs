//! Validation: the step between reading a MeshLogging and rendering it. Pure.
//!
//! ```text
//! MeshLogging ──validate──► Validated (owner identity, every default resolved, names,
//!                  │          endpoint parsed, Kibana's user decided; the spec private)
//!                  │                    └──► render, ES desired config, status
//!                  └──► ValidationErrors (field path + what is wrong, for a condition)
//!
//! model.rs      Validated and its resolved parts, with the accessors later steps read
//! managed.rs    the managed cluster: heap, storage, settings, keystore
//! collector.rs  the collector: buffer, paths, fields
//! lifecycle.rs  ILM phase order, SLM cron schedules
//! pipeline.rs   the LogsFlowing threshold
//! resources.rs  default resources; requests within limits
//! policy.rs     the administrator's allow-lists (operator flags)
//! schedule.rs   when an SLM schedule fires, and its interval
//! ```
//!
//! The CRD schema refuses most bad input at admission; this step checks what the schema
//! cannot (phase order, quantities, heap sizing, names that must fit Kubernetes limits)
//! and resolves every default once, so later steps never re-check or re-default.

mod certificates;
mod collector;
mod lifecycle;
mod managed;
mod model;
mod pipeline;
mod policy;
mod resources;
mod schedule;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::api::units::MAX_INDEX_NAME_LEN;
use crate::api::{ExternalElasticsearch, MeshLogging, MeshLoggingSpec};
use crate::endpoint::Endpoint;
use crate::naming::{self, KIBANA_SYSTEM_USER, Names};
use collector::collector;
use lifecycle::{check_lifecycle, check_snapshot_policies};
use managed::managed;
use resources::check_requests_within_limits;

pub use certificates::{CERTIFICATE_VALIDITY, DEFAULT_RENEW_BEFORE, parse_hms};
pub use collector::{DEFAULT_FLUENT_BIT_IMAGE, DEFAULT_FLUENTD_IMAGE};
pub use lifecycle::check_cron;
pub use managed::{DEFAULT_ES_REPLICAS, DEFAULT_ES_STORAGE, MAX_HEAP_MIB, MIN_ES_MEMORY_BYTES};
pub use model::*;
pub use pipeline::DEFAULT_LOGS_FLOWING_THRESHOLD;
pub use policy::AdmissionPolicy;
pub use resources::{default_collector_resources, default_es_resources, default_kibana_resources};
pub use schedule::{Cron, civil_from_days, days_from_civil, schedule_interval};

/// Longest MeshLogging name: the StatefulSet `<name>-es` plus the `-<revision hash>` of its
/// pods' `controller-revision-hash` label must fit in a 63-character label value.
pub const MAX_NAME_LEN: usize = 49;

/// One thing wrong with a MeshLogging: where (`spec.lifecycle.cold.minAge`) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the offending field, for example `spec.lifecycle.cold.minAge`.
    pub path: String,
    /// What is wrong and, where it helps, how to fix it.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Everything wrong with a MeshLogging (never empty when returned as an error).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joined: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&joined.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}

/// Validates `ml` and resolves its defaults, with no [`AdmissionPolicy`] restrictions.
pub fn validate(ml: &MeshLogging) -> Result<Validated, ValidationErrors> {
    validate_with(ml, &AdmissionPolicy::default())
}

/// Validates `ml` against the CRD's rules and the operator's `policy`, and resolves its
/// defaults.
pub fn validate_with(
    ml: &MeshLogging,
    policy: &AdmissionPolicy,
) -> Result<Validated, ValidationErrors> {
    let mut errs = ValidationErrors::default();
    let spec = &ml.spec;

    let name = ml.metadata.name.clone().unwrap_or_default();
    if name.is_empty() {
        errs.push("metadata.name", "is required");
    } else if !is_dns1035_label(&name) || name.len() > MAX_NAME_LEN {
        errs.push(
            "metadata.name",
            format!(
                "{name:?} must be at most {MAX_NAME_LEN} characters of lowercase letters, digits and '-', starting with a letter and ending with a letter or digit (it prefixes Service and pod names)"
            ),
        );
    }
    let namespace = ml.metadata.namespace.clone().unwrap_or_default();
    if namespace.is_empty() {
        errs.push(
            "metadata.namespace",
            "is required (MeshLogging is namespaced)",
        );
    }
    let uid = ml.metadata.uid.clone().unwrap_or_default();
    if uid.is_empty() {
        errs.push(
            "metadata.uid",
            "is required to own the children (read the resource from the API server)",
        );
    }

    let version = StackVersion::parse(&spec.version);
    if version.is_none() {
        errs.push(
            "spec.version",
            format!("{:?} is not a version such as 8.15.3", spec.version),
        );
    }

    check_lifecycle(spec, &mut errs);
    check_snapshot_policies(spec, &mut errs);
    pipeline::check_logs_flowing_threshold(&spec.index, &mut errs);
    certificates::check_renew_before(spec, &mut errs);

    if !is_index_name(&spec.index.name) {
        errs.push(
            "spec.index.name",
            format!(
                "must be 1 to {MAX_INDEX_NAME_LEN} lowercase letters, digits, '.', '_' and '-', starting with a letter or digit"
            ),
        );
    }
    let names = Names::new(&spec.index.name);
    let (mode, endpoint) = match &spec.elasticsearch.external {
        Some(external) => (
            EsMode::External(external.clone()),
            check_external_url(external, &mut errs),
        ),
        None => (
            EsMode::Managed(managed(spec, &spec.version, &mut errs)),
            Some(naming::es_http_endpoint(&name, &namespace)),
        ),
    };

    let kibana = spec
        .kibana
        .enabled
        .then(|| kibana(spec, &mode, &names, &mut errs));

    let collector = collector(spec, &mut errs);

    match (version, endpoint) {
        (Some(version), Some(endpoint)) if errs.0.is_empty() => {
            let v = Validated {
                name,
                namespace,
                uid,
                spec: spec.clone(),
                version,
                names,
                mode,
                endpoint,
                kibana,
                collector,
            };
            policy.check(&v, &mut errs);
            if errs.0.is_empty() { Ok(v) } else { Err(errs) }
        }
        _ => Err(errs),
    }
}

/// `index.name` by the CRD's positive rule: `^[a-z0-9][a-z0-9._-]*$`, at most
/// [`MAX_INDEX_NAME_LEN`] bytes.
pub fn is_index_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_INDEX_NAME_LEN
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        })
}

/// Whether the authority of `url` carries credentials (`scheme://user:pass@host`).
fn has_credentials(url: &str) -> bool {
    let rest = url.split_once("//").map_or(url, |(_, r)| r);
    rest.split('/')
        .next()
        .is_some_and(|authority| authority.contains('@'))
}

/// The external URL: never credentials, a URL the collectors can be configured with, and
/// `https://` unless `insecure` says otherwise. Messages never repeat the URL: it may hold
/// a password.
/// Returns the parsed URL when it passes.
fn check_external_url(e: &ExternalElasticsearch, errs: &mut ValidationErrors) -> Option<Endpoint> {
    let path = "spec.elasticsearch.external.url";
    if has_credentials(&e.url) {
        errs.push(
            path,
            "must not contain credentials (user:password@): put them in the Secret named by credentialsSecretRef",
        );
        return None;
    }
    let endpoint = Endpoint::parse(&e.url);
    if endpoint.is_none() {
        errs.push(
            path,
            "is not a URL such as https://es.example.com:9200 (http(s)://host[:port][/path])",
        );
    } else if !e.url.starts_with("https://") && !e.insecure {
        errs.push(
            path,
            "is http://: the operator's admin credentials and the generated passwords would travel in cleartext; use https://, or set spec.elasticsearch.external.insecure: true to accept that",
        );
    }
    endpoint
}

/// Kibana with its defaults, and the one decision of the user it connects as:
/// `kibana_system` on the managed cluster, `<index>-kibana` on an external one (the
/// built-in user of a shared cluster is not the operator's to change).
fn kibana(
    spec: &MeshLoggingSpec,
    mode: &EsMode,
    names: &Names,
    errs: &mut ValidationErrors,
) -> ValidKibana {
    let k = &spec.kibana;
    let resources = k.resources.clone().unwrap_or_else(default_kibana_resources);
    check_requests_within_limits(&resources, "spec.kibana.resources", errs);
    ValidKibana {
        replicas: k.replicas,
        resources,
        image: k
            .image
            .clone()
            .unwrap_or_else(|| format!("docker.elastic.co/kibana/kibana:{}", spec.version)),
        username: match mode {
            EsMode::Managed(_) => KIBANA_SYSTEM_USER.to_string(),
            EsMode::External(_) => names.external_kibana_user(),
        },
        ingress: k.ingress.clone(),
    }
}

fn is_dns1035_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}
