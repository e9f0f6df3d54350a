//! Validation: the step between reading a MeshLogging and rendering it. Pure.
//!
//! ```text
//! MeshLogging ──validate──► Validated (owner identity + spec + every default resolved)
//!                  │                    └──► render, ES desired config, status
//!                  └──► ValidationErrors (field path + what is wrong, for a condition)
//! ```
//!
//! The CRD schema refuses most bad input at admission; this step checks what the schema
//! cannot (phase order, quantities, heap sizing, names that must fit Kubernetes limits)
//! and resolves every default once, so later steps never re-check or re-default.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::api::RESERVED_FIELD_KEYS;
use crate::api::units::{
    MAX_INDEX_NAME_LEN, collector_size, interval_seconds, quantity_value, time_to_nanos,
};
use crate::api::{
    AntiAffinity, CollectorType, ExternalElasticsearch, KibanaIngress, MeshLogging,
    MeshLoggingSpec, RepositoryType, SecureSettingsSource,
};
use crate::elastic::desired::{KIBANA_SYSTEM_USER, Names, repository_keystore_prefix};
use crate::render::config_format::{fluent_bit, fluentd};
use crate::render::endpoint::Endpoint;

/// Default Fluent Bit image (pinned; Fluent Bit 4.2).
pub const DEFAULT_FLUENT_BIT_IMAGE: &str = "cr.fluentbit.io/fluent/fluent-bit:4.2.0";
/// Default Fluentd image (pinned; Fluentd 1.19 with the Elasticsearch 8 output plugin).
pub const DEFAULT_FLUENTD_IMAGE: &str =
    "fluent/fluentd-kubernetes-daemonset:v1.19.3-debian-elasticsearch8-1.1";
/// Default number of Elasticsearch nodes.
pub const DEFAULT_ES_REPLICAS: i32 = 3;
/// Default size of each Elasticsearch data volume.
pub const DEFAULT_ES_STORAGE: &str = "10Gi";
/// Smallest memory limit an Elasticsearch node may have (half of it is heap).
pub const MIN_ES_MEMORY_BYTES: u128 = 1 << 30;
/// Largest heap the operator gives Elasticsearch: just under the JVM's compressed
/// ordinary object pointers limit, as Elasticsearch recommends.
pub const MAX_HEAP_MIB: u64 = 31 * 1024;
/// Longest MeshLogging name: the StatefulSet `<name>-es` plus the `-<revision hash>` of its
/// pods' `controller-revision-hash` label must fit in a 63-character label value.
pub const MAX_NAME_LEN: usize = 49;
/// Keystore entries the operator sets itself.
const RESERVED_KEYSTORE_SETTINGS: [&str; 1] = ["bootstrap.password"];
/// `elasticsearch.yml` settings the operator sets itself beyond those the schema refuses.
const RESERVED_ES_SETTINGS: [&str; 2] = ["readiness.port", "path.repo"];

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

/// An Elastic Stack version, `major.minor.patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StackVersion {
    /// Major version (8 or 9).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version.
    pub patch: u32,
}

impl StackVersion {
    fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split('.').map(|p| p.parse::<u32>().ok());
        let v = Self {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next()??,
        };
        parts.next().is_none().then_some(v)
    }

    /// Elasticsearch has the readiness TCP port (`readiness.port`) from 8.2.0 on.
    pub fn has_readiness_port(self) -> bool {
        (self.major, self.minor) >= (8, 2)
    }
}

impl fmt::Display for StackVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A MeshLogging that passed validation, with every default resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Validated {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.uid`, for owner references.
    pub uid: String,
    /// The spec as written (with the schema's defaults).
    pub spec: MeshLoggingSpec,
    /// `spec.version`, parsed.
    pub version: StackVersion,
    /// Names derived from the index (alias, collector user, ...).
    pub names: Names,
    /// Managed or external Elasticsearch.
    pub mode: EsMode,
    /// Kibana, when enabled.
    pub kibana: Option<ValidKibana>,
    /// The collector.
    pub collector: ValidCollector,
}

impl Validated {
    /// `<namespace>/<name>`, the owner marker of Elasticsearch objects.
    pub fn owner(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The managed cluster, if the operator deploys one.
    pub fn managed(&self) -> Option<&ManagedEs> {
        match &self.mode {
            EsMode::Managed(m) => Some(m),
            EsMode::External(_) => None,
        }
    }

    /// The URL Kibana and the collector use: the HTTP Service of the managed cluster, or
    /// the external cluster's URL.
    pub fn es_url(&self) -> String {
        match &self.mode {
            EsMode::Managed(_) => crate::render::names::es_http_url(&self.name, &self.namespace),
            EsMode::External(e) => e.url.clone(),
        }
    }
}

/// Where Elasticsearch runs.
#[derive(Clone, Debug, PartialEq)]
pub enum EsMode {
    /// The operator deploys and owns the cluster.
    Managed(ManagedEs),
    /// An existing cluster; the operator deploys no Elasticsearch.
    External(ExternalElasticsearch),
}

/// A managed Elasticsearch cluster, defaults resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedEs {
    /// Number of nodes (default 3).
    pub replicas: i32,
    /// Resources of each node (default requests 1 CPU / 2Gi, limits 2 CPU / 4Gi).
    pub resources: ResourceRequirements,
    /// JVM heap in MiB: half the memory limit, at most [`MAX_HEAP_MIB`].
    pub heap_mib: u64,
    /// Data volume of each node (default 10Gi, default class).
    pub storage: ValidStorage,
    /// Spreading over Kubernetes nodes (default soft).
    pub anti_affinity: AntiAffinity,
    /// Extra `elasticsearch.yml` settings.
    pub config: BTreeMap<String, String>,
    /// Secrets whose keys go into the keystore, as written.
    pub secure_settings: Vec<SecureSettingsSource>,
    /// Every keystore source: `secure_settings`, then each snapshot repository's
    /// credentials Secret.
    pub keystore: Vec<KeystoreSource>,
    /// `path.repo`: the locations of the `fs` snapshot repositories.
    pub repo_paths: Vec<String>,
    /// Container image (default `docker.elastic.co/elasticsearch/elasticsearch:<version>`).
    pub image: String,
}

/// The data volume of each Elasticsearch node.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidStorage {
    /// Requested size.
    pub size: Quantity,
    /// StorageClass; the cluster default when `None`.
    pub class: Option<String>,
}

/// A Secret whose keys become keystore settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeystoreSource {
    /// Secret name.
    pub secret: String,
    /// `(key, keystore setting)` pairs; every key under its own name when `None`.
    pub items: Option<Vec<(String, String)>>,
    /// Absent Secret or keys are skipped rather than blocking the pods.
    pub optional: bool,
}

/// Kibana, defaults resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidKibana {
    /// Number of replicas.
    pub replicas: i32,
    /// Resources (default requests 500m / 1Gi, limits 1 CPU / 2Gi).
    pub resources: ResourceRequirements,
    /// Container image (default `docker.elastic.co/kibana/kibana:<version>`).
    pub image: String,
    /// The user Kibana connects as: `kibana_system` (managed) or `<index>-kibana` (external).
    pub username: String,
    /// The Ingress, when wanted.
    pub ingress: Option<KibanaIngress>,
}

/// The collector, defaults resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidCollector {
    /// Fluent Bit or Fluentd.
    pub kind: CollectorType,
    /// Container image (default [`DEFAULT_FLUENT_BIT_IMAGE`] or [`DEFAULT_FLUENTD_IMAGE`]).
    pub image: String,
    /// Files to tail.
    pub paths: Vec<String>,
    /// Files never to read.
    pub exclude_paths: Vec<String>,
    /// Fields added to every record.
    pub fields: BTreeMap<String, String>,
    /// Flush interval in whole seconds (at least 1).
    pub flush_seconds: u64,
    /// `buffer.flushInterval` as written (`5s`).
    pub flush_interval: String,
    /// `buffer.chunkLimitSize` (`2M`).
    pub chunk_limit_size: String,
    /// `buffer.totalLimitSize` (`1G`).
    pub total_limit_size: String,
    /// Resources (default requests 100m / 200Mi, limit 512Mi memory).
    pub resources: ResourceRequirements,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
}

fn quantity(s: &str) -> Quantity {
    Quantity(s.to_string())
}

fn requirements(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> ResourceRequirements {
    let map = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), quantity(v)))
            .collect::<BTreeMap<_, _>>()
    };
    ResourceRequirements {
        requests: Some(map(requests)),
        limits: Some(map(limits)),
        ..ResourceRequirements::default()
    }
}

/// Default resources of an Elasticsearch node.
pub fn default_es_resources() -> ResourceRequirements {
    requirements(
        &[("cpu", "1"), ("memory", "2Gi")],
        &[("cpu", "2"), ("memory", "4Gi")],
    )
}

/// Default resources of a Kibana replica.
pub fn default_kibana_resources() -> ResourceRequirements {
    requirements(
        &[("cpu", "500m"), ("memory", "1Gi")],
        &[("cpu", "1"), ("memory", "2Gi")],
    )
}

/// Default resources of a collector pod (no CPU limit: throttling a collector only grows
/// its backlog).
pub fn default_collector_resources() -> ResourceRequirements {
    requirements(
        &[("cpu", "100m"), ("memory", "200Mi")],
        &[("memory", "512Mi")],
    )
}

/// Restrictions the cluster's administrator puts on what a MeshLogging may ask for,
/// beyond the CRD (operator flags; none by default). Each entry is an exact value or a
/// prefix ending in `*`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdmissionPolicy {
    /// Collector images a MeshLogging may run on every node (`--allowed-collector-image`);
    /// the operator's own pinned images are always allowed. Any image when `None`.
    pub collector_images: Option<Vec<String>>,
    /// Ingress annotation keys a MeshLogging may set (`--allowed-ingress-annotation`);
    /// any key when `None`.
    pub ingress_annotation_keys: Option<Vec<String>>,
}

impl AdmissionPolicy {
    fn allows(list: &Option<Vec<String>>, value: &str) -> bool {
        list.as_ref().is_none_or(|list| {
            list.iter().any(|entry| match entry.strip_suffix('*') {
                Some(prefix) => value.starts_with(prefix),
                None => value == entry,
            })
        })
    }

    fn check(&self, v: &Validated, errs: &mut ValidationErrors) {
        let image = &v.collector.image;
        let pinned = [DEFAULT_FLUENT_BIT_IMAGE, DEFAULT_FLUENTD_IMAGE].contains(&image.as_str());
        if !pinned && !Self::allows(&self.collector_images, image) {
            errs.push(
                "spec.collector.image",
                format!(
                    "{image:?} is not among the collector images this operator allows (--allowed-collector-image): the collector runs on every node and reads every container's logs"
                ),
            );
        }
        if let Some(ingress) = v.kibana.as_ref().and_then(|k| k.ingress.as_ref()) {
            for key in ingress.annotations.keys() {
                if !Self::allows(&self.ingress_annotation_keys, key) {
                    errs.push(
                        format!("spec.kibana.ingress.annotations[{key:?}]"),
                        "is not among the Ingress annotation keys this operator allows (--allowed-ingress-annotation)",
                    );
                }
            }
        }
    }
}

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
    let version_str = spec.version.clone();

    check_lifecycle(spec, &mut errs);
    check_snapshot_policies(spec, &mut errs);

    if !is_index_name(&spec.index.name) {
        errs.push(
            "spec.index.name",
            format!(
                "must be 1 to {MAX_INDEX_NAME_LEN} lowercase letters, digits, '.', '_' and '-', starting with a letter or digit"
            ),
        );
    }
    let names = Names::new(&spec.index.name);
    let mode = match &spec.elasticsearch.external {
        Some(external) => {
            check_external_url(external, &mut errs);
            EsMode::External(external.clone())
        }
        None => EsMode::Managed(managed(spec, &version_str, &mut errs)),
    };

    let kibana = spec.kibana.enabled.then(|| {
        let resources = spec
            .kibana
            .resources
            .clone()
            .unwrap_or_else(default_kibana_resources);
        check_requests_within_limits(&resources, "spec.kibana.resources", &mut errs);
        ValidKibana {
            replicas: spec.kibana.replicas,
            resources,
            image: spec
                .kibana
                .image
                .clone()
                .unwrap_or_else(|| format!("docker.elastic.co/kibana/kibana:{version_str}")),
            username: match mode {
                EsMode::Managed(_) => KIBANA_SYSTEM_USER.to_string(),
                EsMode::External(_) => names.external_kibana_user(),
            },
            ingress: spec.kibana.ingress.clone(),
        }
    });

    let collector = collector(spec, &mut errs);

    match version {
        Some(version) if errs.0.is_empty() => {
            let v = Validated {
                name,
                namespace,
                uid,
                spec: spec.clone(),
                version,
                names,
                mode,
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
fn check_external_url(e: &ExternalElasticsearch, errs: &mut ValidationErrors) {
    let path = "spec.elasticsearch.external.url";
    if has_credentials(&e.url) {
        errs.push(
            path,
            "must not contain credentials (user:password@): put them in the Secret named by credentialsSecretRef",
        );
    } else if Endpoint::parse(&e.url).is_none() {
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

/// Phases must not go back in time: `warm.minAge <= cold.minAge <= delete.minAge`.
fn check_lifecycle(spec: &MeshLoggingSpec, errs: &mut ValidationErrors) {
    let l = &spec.lifecycle;
    let phases = [
        ("warm", l.warm.as_ref().map(|p| p.min_age.as_str())),
        ("cold", l.cold.as_ref().map(|p| p.min_age.as_str())),
        ("delete", l.delete.as_ref().map(|p| p.min_age.as_str())),
    ];
    let mut previous: Option<(&str, &str, u128)> = None;
    for (phase, min_age) in phases {
        let Some(min_age) = min_age else { continue };
        let path = format!("spec.lifecycle.{phase}.minAge");
        // Compared at Elasticsearch's precision: 5micros is before 929micros.
        let Some(ns) = time_to_nanos(min_age) else {
            errs.push(
                path,
                format!("{min_age:?} is not a time value such as 2d or 12h"),
            );
            continue;
        };
        if let Some((prev_phase, prev_age, prev_ns)) = previous
            && ns < prev_ns
        {
            errs.push(
                path,
                format!(
                    "{min_age} is earlier than spec.lifecycle.{prev_phase}.minAge ({prev_age}); phases run in order, so warm.minAge <= cold.minAge <= delete.minAge"
                ),
            );
        }
        previous = Some((phase, min_age, ns));
    }
}

/// What the schema's pattern for SLM schedules cannot say: the numbers of each cron field
/// are within its range (Elasticsearch's Quartz `Cron` refuses `0 75 1 * * ?`).
fn check_snapshot_policies(spec: &MeshLoggingSpec, errs: &mut ValidationErrors) {
    let Some(snapshots) = &spec.snapshots else {
        return;
    };
    for (i, policy) in snapshots.policies.iter().enumerate() {
        let path = format!("spec.snapshots.policies[{i}].schedule");
        if let Err(why) = check_cron(&policy.schedule) {
            errs.push(path, why);
        } else if cron_more_often_than_15m(&policy.schedule) {
            errs.push(
                path,
                "runs more often than every 15 minutes, which Elasticsearch refuses (its slm.minimum_interval, 15m by default)",
            );
        }
    }
}

/// Whether a (checked) cron expression fires twice within 15 minutes: more than once a
/// minute (the seconds field is not one number), or two minutes of an hour closer than 15
/// (across the hour too when every hour runs). Elasticsearch measures the next two runs.
fn cron_more_often_than_15m(expr: &str) -> bool {
    let fields: Vec<&str> = expr.split(' ').collect();
    let (Some(seconds), Some(minutes), Some(hours)) =
        (fields.first(), fields.get(1), fields.get(2))
    else {
        return false;
    };
    if seconds.parse::<u32>().is_err() {
        return true;
    }
    let mut set = BTreeSet::new();
    for item in minutes.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((b, s)) => (b, s.parse::<u32>().unwrap_or(0)),
            None => (item, 0),
        };
        let (from, to) = match base {
            "*" => (0, 59),
            b => match b.split_once('-') {
                Some((a, z)) => (a.parse().unwrap_or(0), z.parse().unwrap_or(0)),
                None => {
                    let a = b.parse().unwrap_or(0);
                    (a, if step > 0 { 59 } else { a })
                }
            },
        };
        let mut m = from;
        while m <= to.min(59) {
            set.insert(m);
            if step == 0 && from == to {
                break;
            }
            m += step.max(1);
        }
    }
    let minutes: Vec<u32> = set.into_iter().collect();
    let close = minutes.windows(2).any(|w| w[1] - w[0] < 15);
    let across_hours = *hours == "*"
        && minutes.len() > 1
        && minutes
            .first()
            .zip(minutes.last())
            .is_some_and(|(f, l)| f + 60 - l < 15);
    close || across_hours
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A Quartz cron expression as Elasticsearch's `Cron` reads it: every number within its
/// field's range, names only where the field takes them.
pub fn check_cron(expr: &str) -> Result<(), String> {
    let fields: Vec<&str> = expr.split(' ').collect();
    if !(6..=7).contains(&fields.len()) {
        return Err("must have six or seven space-separated fields (seconds first)".into());
    }
    let spec: [(&str, u32, u32, &[&str]); 7] = [
        ("seconds", 0, 59, &[]),
        ("minutes", 0, 59, &[]),
        ("hours", 0, 23, &[]),
        ("day-of-month", 1, 31, &[]),
        ("month", 1, 12, &MONTHS),
        ("day-of-week", 1, 7, &DAYS),
        ("year", 1970, 2099, &[]),
    ];
    for (field, (name, min, max, names)) in fields.iter().zip(spec) {
        let value = |v: &str| -> Result<(), String> {
            let ok = match v.parse::<u32>() {
                Ok(n) => (min..=max).contains(&n),
                Err(_) => names.contains(&v.to_ascii_uppercase().as_str()),
            };
            if ok {
                Ok(())
            } else {
                Err(format!("{name} value {v:?} is not within {min}-{max}"))
            }
        };
        for item in field.split(',') {
            let (base, step) = match item.split_once('/') {
                Some((b, s)) => (b, Some(s)),
                None => (item, None),
            };
            if let Some(step) = step
                && !step.parse::<u32>().is_ok_and(|n| n >= 1 && n <= max)
            {
                return Err(format!("{name} step {step:?} is not within 1-{max}"));
            }
            match base {
                "*" => {}
                "?" if matches!(name, "day-of-month" | "day-of-week") => {}
                "L" | "LW" if name == "day-of-month" => {}
                "L" if name == "day-of-week" => {}
                b if name == "day-of-month" && b.starts_with("L-") => {
                    if !b[2..].parse::<u32>().is_ok_and(|n| n <= 30) {
                        return Err(format!("{name} offset {b:?} is not within L-0 to L-30"));
                    }
                }
                b if name == "day-of-month" && b.len() > 1 && b.ends_with('W') => {
                    value(&b[..b.len() - 1])?
                }
                b if name == "day-of-week" && b.len() > 1 && b.ends_with('L') => {
                    value(&b[..b.len() - 1])?
                }
                b if name == "day-of-week" && b.contains('#') => {
                    let (d, k) = b.split_once('#').unwrap_or((b, ""));
                    value(d)?;
                    if !k.parse::<u32>().is_ok_and(|n| (1..=5).contains(&n)) {
                        return Err(format!("{name} {b:?}: the week after # must be 1-5"));
                    }
                }
                b => match b.split_once('-') {
                    Some((from, to)) => {
                        value(from)?;
                        value(to)?;
                    }
                    None => value(b)?,
                },
            }
        }
    }
    Ok(())
}

fn managed(spec: &MeshLoggingSpec, version: &str, errs: &mut ValidationErrors) -> ManagedEs {
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
        let items = credential_keys(repo.kind)
            .iter()
            .map(|key| {
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

/// The keys of a repository's credentials Secret that Elasticsearch reads from the keystore.
pub fn credential_keys(kind: RepositoryType) -> &'static [&'static str] {
    match kind {
        RepositoryType::S3 => &["access_key", "secret_key", "session_token"],
        RepositoryType::Gcs => &["credentials_file"],
        RepositoryType::Azure => &["account", "key", "sas_token"],
        RepositoryType::Fs | RepositoryType::Url => &[],
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

fn collector(spec: &MeshLoggingSpec, errs: &mut ValidationErrors) -> ValidCollector {
    let c = &spec.collector;
    let flush_seconds = interval_seconds(&c.buffer.flush_interval).unwrap_or(0);
    if flush_seconds == 0 {
        errs.push(
            "spec.collector.buffer.flushInterval",
            format!(
                "{:?} must be at least one second, such as 5s or 1m",
                c.buffer.flush_interval
            ),
        );
    }
    for (field, paths) in [("paths", &c.paths), ("excludePaths", &c.exclude_paths)] {
        for (i, p) in paths.iter().enumerate() {
            if p.chars()
                .any(|ch| ch.is_control() || matches!(ch, ',' | '"' | '\'' | '\\' | '#' | '$'))
            {
                errs.push(
                    format!("spec.collector.{field}[{i}]"),
                    format!("{p:?} may not contain , \" ' \\ # $ or control characters"),
                );
            }
        }
    }
    for (i, p) in c.paths.iter().enumerate() {
        if !p.starts_with("/var/log/") {
            errs.push(
                format!("spec.collector.paths[{i}]"),
                format!("{p:?} is outside /var/log/, the only host directory the collector mounts"),
            );
        }
    }
    let chunk = collector_size(&c.buffer.chunk_limit_size);
    let total = collector_size(&c.buffer.total_limit_size);
    for (field, value, parsed) in [
        ("chunkLimitSize", &c.buffer.chunk_limit_size, chunk),
        ("totalLimitSize", &c.buffer.total_limit_size, total),
    ] {
        if parsed.is_none() {
            errs.push(
                format!("spec.collector.buffer.{field}"),
                format!("{value:?} is not a size such as 512k, 2M or 1G"),
            );
        }
    }
    if chunk.is_some_and(|b| b < MIN_CHUNK_BYTES) {
        errs.push(
            "spec.collector.buffer.chunkLimitSize",
            format!(
                "{} is too small: at least 32k (the collectors read log lines in 32k blocks)",
                c.buffer.chunk_limit_size
            ),
        );
    }
    if let (Some(chunk), Some(total)) = (chunk, total)
        && total < chunk
    {
        errs.push(
            "spec.collector.buffer.totalLimitSize",
            format!(
                "{} is smaller than chunkLimitSize {}",
                c.buffer.total_limit_size, c.buffer.chunk_limit_size
            ),
        );
    }
    for (key, value) in &c.fields {
        let path = format!("spec.collector.fields.{key}");
        if RESERVED_FIELD_KEYS.contains(&key.as_str()) {
            errs.push(
                path,
                "is a field the collector or the log schema already sets: choose another name",
            );
        } else if !is_field_key(key) {
            errs.push(
                path,
                "field names must be identifiers (letters, digits and _, starting with a letter)",
            );
        } else if !(fluent_bit::is_inert(value) && fluentd::is_inert(value)) {
            errs.push(
                path,
                "must be a non-empty single-line value without surrounding spaces, double quotes, backslashes or \"${\" (they are collector configuration syntax)",
            );
        }
    }
    let resources = c
        .resources
        .clone()
        .unwrap_or_else(default_collector_resources);
    check_requests_within_limits(&resources, "spec.collector.resources", errs);
    ValidCollector {
        kind: c.kind,
        image: c.image.clone().unwrap_or_else(|| {
            match c.kind {
                CollectorType::FluentBit => DEFAULT_FLUENT_BIT_IMAGE,
                CollectorType::Fluentd => DEFAULT_FLUENTD_IMAGE,
            }
            .to_string()
        }),
        paths: c.paths.clone(),
        exclude_paths: c.exclude_paths.clone(),
        fields: c.fields.clone(),
        flush_seconds,
        flush_interval: c.buffer.flush_interval.clone(),
        chunk_limit_size: c.buffer.chunk_limit_size.clone(),
        total_limit_size: c.buffer.total_limit_size.clone(),
        resources,
        tolerations: c.tolerations.clone(),
    }
}

/// A `collector.fields` key: `^[A-Za-z][A-Za-z0-9_]*$`.
fn is_field_key(key: &str) -> bool {
    key.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Smallest collector buffer chunk: the read block of both collectors.
const MIN_CHUNK_BYTES: u64 = 32 << 10;

/// Every resource requested must not exceed its limit (the API server would refuse the
/// pods only when the workload creates them; saying so here names the field).
fn check_requests_within_limits(r: &ResourceRequirements, path: &str, errs: &mut ValidationErrors) {
    let (Some(requests), Some(limits)) = (&r.requests, &r.limits) else {
        return;
    };
    for (resource, request) in requests {
        let Some(limit) = limits.get(resource) else {
            continue;
        };
        let (Some(req), Some(lim)) = (quantity_value(&request.0), quantity_value(&limit.0)) else {
            for (kind, q) in [("requests", request), ("limits", limit)] {
                if quantity_value(&q.0).is_none() {
                    errs.push(
                        format!("{path}.{kind}.{resource}"),
                        format!("{:?} is not a quantity", q.0),
                    );
                }
            }
            continue;
        };
        if req > lim {
            errs.push(
                format!("{path}.requests.{resource}"),
                format!("{} exceeds the limit {}", request.0, limit.0),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::MeshLoggingSpec;
    use serde_json::json;

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
        for (patch, path) in cases {
            let mut spec = patch.clone();
            spec["version"] = json!("8.15.3");
            assert_eq!(errors(spec), vec![path], "{patch}");
        }
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
        for (patch, path) in cases {
            let mut spec = patch.clone();
            spec["version"] = json!("8.15.3");
            assert_eq!(errors(spec), vec![path], "{patch}");
        }
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
        let mappings = crate::elastic::log_schema::mappings();
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
}
