//! Sync (I/O): bring Elasticsearch to the desired configuration and report what happened.
//!
//! ```text
//! GET /                                   version (8.x or 9.x) and reachability
//! ILM policy, component templates         list all (1 GET per kind), PUT what differs
//! index template                          (after the templates it composes)
//! write alias                             GET /_alias/<alias>; PUT <alias>-000001 once
//! roles, users                            list; PUT; passwords checked by authenticating
//! snapshot repositories, SLM policies     list; PUT (repositories first)
//! prune                                   DELETE what carries this resource's marker (or,
//!                                         unmarked, what it applied before) and is
//!                                         no longer wanted: SLM, repositories, index
//!                                         template, component templates, ILM, users, roles
//! ```
//!
//! Objects are compared after [`normalize`](super::normalize): a sync with nothing to change
//! makes no write at all (rewriting an SLM policy reschedules it). Objects without this
//! resource's marker are never changed or deleted. One failing object does not stop the
//! others; an unreachable Elasticsearch or refused credentials stop the pass.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Value, json};

use super::client::{Credentials, EsClient, EsError, EsVersion};
use super::desired::{DesiredConfig, DesiredUser, PasswordRef, marker_owner, repository_marker};
use super::normalize;
use crate::api::AppliedStatus;

/// The kinds of Elasticsearch objects the operator manages, in apply order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// ILM policies.
    IlmPolicy,
    /// Component templates.
    ComponentTemplate,
    /// Composable index templates.
    IndexTemplate,
    /// The bootstrap index and write alias.
    WriteAlias,
    /// The dead-letter index of refused records.
    DeadLetterIndex,
    /// Security roles.
    Role,
    /// Security users (and the `kibana_system` password).
    User,
    /// Snapshot repositories.
    SnapshotRepository,
    /// SLM policies.
    SlmPolicy,
}

impl Kind {
    /// Every kind, in apply order.
    pub const ALL: [Kind; 9] = [
        Kind::IlmPolicy,
        Kind::ComponentTemplate,
        Kind::IndexTemplate,
        Kind::WriteAlias,
        Kind::DeadLetterIndex,
        Kind::Role,
        Kind::User,
        Kind::SnapshotRepository,
        Kind::SlmPolicy,
    ];

    /// A human name, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::IlmPolicy => "ILM policy",
            Kind::ComponentTemplate => "component template",
            Kind::IndexTemplate => "index template",
            Kind::WriteAlias => "write alias",
            Kind::DeadLetterIndex => "dead-letter index",
            Kind::Role => "role",
            Kind::User => "user",
            Kind::SnapshotRepository => "snapshot repository",
            Kind::SlmPolicy => "SLM policy",
        }
    }

    /// Whether the kind belongs to the snapshot configuration (`SnapshotsConfigured`) rather
    /// than index management (`IndexManagementApplied`).
    pub fn is_snapshot(self) -> bool {
        matches!(self, Kind::SnapshotRepository | Kind::SlmPolicy)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object that could not be brought to its desired state.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// Object name.
    pub name: String,
    /// Bounded reason (`Rejected`, `Conflict`, `CredentialsMissing`, ...).
    pub reason: &'static str,
    /// What happened, quoting Elasticsearch's reason.
    pub message: String,
    /// The object exists in Elasticsearch and belongs to this resource.
    pub exists: bool,
}

/// What happened to one kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KindReport {
    /// Created by this pass.
    pub created: Vec<String>,
    /// Changed by this pass.
    pub updated: Vec<String>,
    /// Deleted by this pass (owned, no longer wanted).
    pub deleted: Vec<String>,
    /// Already as desired.
    pub unchanged: Vec<String>,
    /// Owned and no longer wanted, but kept: (name, why).
    pub retained: Vec<(String, String)>,
    /// Not brought to the desired state.
    pub failed: Vec<Failure>,
}

impl KindReport {
    /// Writes this pass made for the kind.
    pub fn writes(&self) -> usize {
        self.created.len() + self.updated.len() + self.deleted.len()
    }

    /// Names that exist in Elasticsearch and belong to this resource after the pass.
    pub fn owned(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self
            .created
            .iter()
            .chain(&self.updated)
            .chain(&self.unchanged)
            .cloned()
            .collect();
        names.extend(self.retained.iter().map(|(n, _)| n.clone()));
        names.extend(
            self.failed
                .iter()
                .filter(|f| f.exists)
                .map(|f| f.name.clone()),
        );
        names.into_iter().collect()
    }
}

/// The outcome of one sync pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncReport {
    /// Per kind, in apply order.
    pub kinds: BTreeMap<Kind, KindReport>,
    /// The version Elasticsearch reported.
    pub version: Option<EsVersion>,
    /// The index the write alias points to.
    pub write_index: Option<String>,
    /// Why the pass stopped early (unreachable, refused credentials), if it did.
    pub aborted: Option<Failure>,
    /// Kinds whose API this cluster does not serve, with Elasticsearch's words.
    pub unsupported: BTreeMap<Kind, String>,
}

impl SyncReport {
    /// The report of `kind` (empty when the pass never got there).
    pub fn kind(&self, kind: Kind) -> KindReport {
        self.kinds.get(&kind).cloned().unwrap_or_default()
    }

    /// Writes made in total.
    pub fn writes(&self) -> usize {
        self.kinds.values().map(KindReport::writes).sum()
    }

    /// Failures of the kinds `filter` selects, plus the abort reason.
    pub fn failures(&self, filter: impl Fn(Kind) -> bool) -> Vec<(Kind, Failure)> {
        let mut out: Vec<(Kind, Failure)> = self
            .kinds
            .iter()
            .filter(|(k, _)| filter(**k))
            .flat_map(|(k, r)| r.failed.iter().map(|f| (*k, f.clone())))
            .collect();
        if let Some(a) = &self.aborted {
            out.insert(0, (Kind::IlmPolicy, a.clone()));
        }
        out
    }

    /// The names owned after this pass, for `status.applied` (and, for repositories,
    /// as the ownership record of the next pass). A pass that stopped early knows only
    /// part of the picture: it keeps what `previous` recorded, plus what it created, minus
    /// what it deleted.
    pub fn applied(&self, alias: &str, previous: &AppliedStatus) -> AppliedStatus {
        if self.aborted.is_some() {
            return self.applied_over(alias, previous);
        }
        let owned = |k| self.kind(k).owned();
        let users: Vec<String> = owned(Kind::User);
        AppliedStatus {
            ilm_policies: owned(Kind::IlmPolicy),
            component_templates: owned(Kind::ComponentTemplate),
            index_templates: owned(Kind::IndexTemplate),
            write_alias: (!owned(Kind::WriteAlias).is_empty()).then(|| alias.to_string()),
            write_index: self.write_index.clone(),
            snapshot_repositories: owned(Kind::SnapshotRepository),
            slm_policies: owned(Kind::SlmPolicy),
            roles: owned(Kind::Role),
            users,
        }
    }

    fn applied_over(&self, alias: &str, previous: &AppliedStatus) -> AppliedStatus {
        let merge = |kind: Kind, before: &[String]| -> Vec<String> {
            let r = self.kind(kind);
            let mut names: BTreeSet<String> = before.iter().cloned().collect();
            names.extend(r.owned());
            for gone in &r.deleted {
                names.remove(gone);
            }
            names.into_iter().collect()
        };
        let alias_report = self.kind(Kind::WriteAlias);
        let alias_owned = !alias_report.owned().is_empty()
            || (previous.write_alias.is_some() && alias_report.deleted.is_empty());
        AppliedStatus {
            ilm_policies: merge(Kind::IlmPolicy, &previous.ilm_policies),
            component_templates: merge(Kind::ComponentTemplate, &previous.component_templates),
            index_templates: merge(Kind::IndexTemplate, &previous.index_templates),
            write_alias: alias_owned.then(|| alias.to_string()),
            write_index: self
                .write_index
                .clone()
                .or_else(|| previous.write_index.clone()),
            snapshot_repositories: merge(Kind::SnapshotRepository, &previous.snapshot_repositories),
            slm_policies: merge(Kind::SlmPolicy, &previous.slm_policies),
            roles: merge(Kind::Role, &previous.roles),
            users: merge(Kind::User, &previous.users),
        }
    }
}

/// Passwords of the users the operator manages (read from their Secrets).
#[derive(Clone, PartialEq, Eq)]
pub struct Passwords {
    /// The collector user's password.
    pub collector: String,
    /// Kibana's password, when Kibana is enabled.
    pub kibana: Option<String>,
}

impl fmt::Debug for Passwords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passwords(<redacted>)")
    }
}

/// What sync needs besides the desired configuration.
#[derive(Clone, Debug)]
pub struct SyncInput<'a> {
    /// Passwords of managed users.
    pub passwords: &'a Passwords,
    /// What the previous pass applied (status), the ownership record of repositories.
    pub previously_applied: &'a AppliedStatus,
    /// Repositories whose credentials Secret is missing: not applied, reported.
    pub missing_credentials: &'a BTreeMap<String, String>,
}

/// Aborts the pass: the error is not about one object.
struct Abort(EsError);

fn is_global(e: &EsError) -> bool {
    matches!(
        e,
        EsError::Unreachable { .. } | EsError::Unauthorized { .. }
    )
}

/// Brings Elasticsearch to `desired`.
pub async fn sync(client: &EsClient, desired: &DesiredConfig, input: SyncInput<'_>) -> SyncReport {
    let mut report = SyncReport::default();
    if let Err(Abort(e)) = run(client, desired, &input, &mut report).await {
        report.aborted = Some(Failure {
            name: client.url().to_string(),
            reason: e.category(),
            message: e.to_string(),
            exists: false,
        });
    }
    report
}

/// Deletes everything `owner` owns (finalizer): SLM policies, repositories it applied,
/// templates, the ILM policy (kept while indices still use it), users and roles; with
/// `delete_indices`, the backing indices of `alias` first.
pub async fn cleanup(
    client: &EsClient,
    owner: &str,
    alias: &str,
    previously_applied: &AppliedStatus,
    delete_indices: bool,
) -> SyncReport {
    let empty = DesiredConfig {
        owner: owner.to_string(),
        ilm_policies: BTreeMap::new(),
        component_templates: BTreeMap::new(),
        index_templates: BTreeMap::new(),
        write_alias: super::desired::WriteAlias {
            alias: alias.to_string(),
            bootstrap_index: String::new(),
            body: Value::Null,
        },
        deadletter_index: String::new(),
        roles: BTreeMap::new(),
        users: BTreeMap::new(),
        repositories: BTreeMap::new(),
        slm_policies: BTreeMap::new(),
    };
    let mut report = SyncReport::default();
    let result = async {
        report.version = Some(client.version().await.map_err(Abort)?);
        if delete_indices {
            delete_backing_indices(
                client,
                alias,
                owner,
                report.kinds.entry(Kind::WriteAlias).or_default(),
            )
            .await?;
        }
        let mut current = Current::default();
        for ops in [
            &ILM,
            &COMPONENT,
            &INDEX_TEMPLATE,
            &ROLE,
            &USER,
            &REPOSITORY,
            &SLM,
        ] {
            if let Some(listed) = list(client, ops, &mut report).await? {
                current.0.insert(ops.kind, listed);
            }
        }
        prune_all(client, &empty, previously_applied, &current, &mut report).await
    }
    .await;
    if let Err(Abort(e)) = result {
        report.aborted = Some(Failure {
            name: client.url().to_string(),
            reason: e.category(),
            message: e.to_string(),
            exists: false,
        });
    }
    report
}

/// How to list, address, read the marker of, and compare one kind.
struct Ops {
    kind: Kind,
    api: &'static str,
    list_path: &'static str,
    path: &'static str,
    parse: fn(Value) -> BTreeMap<String, Value>,
    marker: fn(&Value) -> Option<Value>,
    normalize: fn(&Value) -> Value,
    /// The part of a desired PUT body that a GET returns.
    comparable: fn(&Value) -> Value,
}

const ILM: Ops = Ops {
    kind: Kind::IlmPolicy,
    api: "ilm",
    list_path: "/_ilm/policy",
    path: "/_ilm/policy/",
    parse: |v| by_key(v, "policy"),
    marker: |b| b.get("_meta").cloned(),
    normalize: normalize::ilm_policy,
    comparable: |b| b.get("policy").cloned().unwrap_or(Value::Null),
};
const COMPONENT: Ops = Ops {
    kind: Kind::ComponentTemplate,
    api: "component_template",
    list_path: "/_component_template",
    path: "/_component_template/",
    parse: |v| named_list(v, "component_templates", "component_template"),
    marker: |b| b.get("_meta").cloned(),
    normalize: normalize::template,
    comparable: Value::clone,
};
const INDEX_TEMPLATE: Ops = Ops {
    kind: Kind::IndexTemplate,
    api: "index_template",
    list_path: "/_index_template",
    path: "/_index_template/",
    parse: |v| named_list(v, "index_templates", "index_template"),
    marker: |b| b.get("_meta").cloned(),
    normalize: normalize::template,
    comparable: Value::clone,
};
const ROLE: Ops = Ops {
    kind: Kind::Role,
    api: "security.role",
    list_path: "/_security/role",
    path: "/_security/role/",
    parse: by_name,
    marker: |b| b.get("metadata").cloned(),
    normalize: normalize::role,
    comparable: Value::clone,
};
const USER: Ops = Ops {
    kind: Kind::User,
    api: "security.user",
    list_path: "/_security/user",
    path: "/_security/user/",
    parse: by_name,
    marker: |b| b.get("metadata").cloned(),
    normalize: Value::clone,
    comparable: Value::clone,
};
const REPOSITORY: Ops = Ops {
    kind: Kind::SnapshotRepository,
    api: "snapshot.repository",
    list_path: "/_snapshot",
    path: "/_snapshot/",
    parse: by_name,
    marker: repository_marker,
    normalize: normalize::repository,
    comparable: Value::clone,
};
const SLM: Ops = Ops {
    kind: Kind::SlmPolicy,
    api: "slm",
    list_path: "/_slm/policy",
    path: "/_slm/policy/",
    parse: |v| by_key(v, "policy"),
    marker: |b| b.pointer("/config/metadata").cloned(),
    normalize: normalize::slm_policy,
    comparable: Value::clone,
};

fn by_name(v: Value) -> BTreeMap<String, Value> {
    match v {
        Value::Object(map) => map.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}

fn by_key(v: Value, key: &str) -> BTreeMap<String, Value> {
    by_name(v)
        .into_iter()
        .map(|(name, mut entry)| {
            let body = entry.get_mut(key).map(Value::take).unwrap_or(Value::Null);
            (name, body)
        })
        .collect()
}

fn named_list(v: Value, list: &str, body: &str) -> BTreeMap<String, Value> {
    v.get(list)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    Some((
                        i.get("name")?.as_str()?.to_string(),
                        i.get(body).cloned().unwrap_or(Value::Null),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Percent-encodes a name for a URL path segment.
fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The objects listed per kind at the start of the pass.
#[derive(Default)]
struct Current(BTreeMap<Kind, BTreeMap<String, Value>>);

impl Current {
    fn get(&self, kind: Kind) -> &BTreeMap<String, Value> {
        static EMPTY: BTreeMap<String, Value> = BTreeMap::new();
        self.0.get(&kind).unwrap_or(&EMPTY)
    }
}

/// The objects of one kind, or `None` (recorded in the report) when the cluster does not
/// serve the kind's API: a distribution without ILM or SLM still gets everything else.
async fn list(
    client: &EsClient,
    ops: &Ops,
    report: &mut SyncReport,
) -> Result<Option<BTreeMap<String, Value>>, Abort> {
    match client.get(ops.api, ops.list_path).await {
        Ok(Some(v)) => Ok(Some((ops.parse)(v))),
        // Some versions answer 404 to listing an empty collection.
        Ok(None) => Ok(Some(BTreeMap::new())),
        Err(e @ EsError::NotSupported { .. }) => {
            report.unsupported.insert(ops.kind, e.to_string());
            Ok(None)
        }
        Err(e) => Err(Abort(e)),
    }
}

/// Records every wanted object of an unsupported kind as not applied, naming the API.
fn not_supported<'a>(
    report: &mut SyncReport,
    kind: Kind,
    wanted: impl Iterator<Item = &'a String>,
) {
    let why = report.unsupported.get(&kind).cloned().unwrap_or_default();
    let kind_report = report.kinds.entry(kind).or_default();
    for name in wanted {
        kind_report.failed.push(failure(
            name,
            "NotSupportedByCluster",
            format!("not applied: {why}"),
            false,
        ));
    }
}

/// Records `e` against `name`, or aborts the pass when it is not about the object.
fn fail(report: &mut KindReport, name: &str, e: EsError, exists: bool) -> Result<(), Abort> {
    if is_global(&e) {
        return Err(Abort(e));
    }
    report.failed.push(Failure {
        name: name.to_string(),
        reason: e.category(),
        message: e.to_string(),
        exists,
    });
    Ok(())
}

fn failure(name: &str, reason: &'static str, message: String, exists: bool) -> Failure {
    Failure {
        name: name.to_string(),
        reason,
        message,
        exists,
    }
}

async fn run(
    client: &EsClient,
    desired: &DesiredConfig,
    input: &SyncInput<'_>,
    report: &mut SyncReport,
) -> Result<(), Abort> {
    report.version = Some(client.version().await.map_err(Abort)?);
    let owner = desired.owner.as_str();
    let prev = input.previously_applied;
    let mut current = Current::default();

    let apply = async |ops: &Ops,
                       wanted: &BTreeMap<String, Value>,
                       skip: &BTreeMap<String, String>,
                       previously: &[String],
                       report: &mut SyncReport,
                       current: &mut Current|
           -> Result<(), Abort> {
        let Some(listed) = list(client, ops, report).await? else {
            not_supported(report, ops.kind, wanted.keys());
            return Ok(());
        };
        let kind_report = report.kinds.entry(ops.kind).or_default();
        for (name, body) in wanted {
            if let Some(why) = skip.get(name) {
                kind_report.failed.push(failure(
                    name,
                    "DependencyFailed",
                    why.clone(),
                    listed.contains_key(name),
                ));
                continue;
            }
            if ops.kind == Kind::IndexTemplate
                && let Some(why) = overlapping(owner, name, body, &listed)
            {
                kind_report
                    .failed
                    .push(failure(name, "Conflict", why, false));
                continue;
            }
            apply_one(
                client,
                ops,
                owner,
                name,
                body,
                listed.get(name),
                previously,
                kind_report,
            )
            .await?;
        }
        current.0.insert(ops.kind, listed);
        Ok(())
    };

    let none = BTreeMap::new();
    apply(
        &ILM,
        &desired.ilm_policies,
        &none,
        &prev.ilm_policies,
        report,
        &mut current,
    )
    .await?;
    // Without ILM the cluster refuses `index.lifecycle.*` settings: the templates go
    // without them (and the ILM policy is reported as not supported).
    let components = if report.unsupported.contains_key(&Kind::IlmPolicy) {
        desired.component_templates_without_lifecycle()
    } else {
        desired.component_templates.clone()
    };
    apply(
        &COMPONENT,
        &components,
        &none,
        &prev.component_templates,
        report,
        &mut current,
    )
    .await?;
    // An index template composed of component templates that did not apply would be
    // refused by Elasticsearch; say why instead.
    let missing_components = not_applied(report, Kind::ComponentTemplate);
    let skip_index: BTreeMap<String, String> = desired
        .index_templates
        .iter()
        .filter_map(|(name, body)| {
            let composed: Vec<&str> = body
                .get("composed_of")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let missing: Vec<&str> = composed
                .into_iter()
                .filter(|c| missing_components.contains(*c))
                .collect();
            (!missing.is_empty()).then(|| {
                (
                    name.clone(),
                    format!(
                        "not applied: component template(s) {} failed",
                        missing.join(", ")
                    ),
                )
            })
        })
        .collect();
    apply(
        &INDEX_TEMPLATE,
        &desired.index_templates,
        &skip_index,
        &prev.index_templates,
        report,
        &mut current,
    )
    .await?;

    let templates_ok = !desired.index_templates.is_empty()
        && not_applied(report, Kind::IndexTemplate).is_empty()
        && (not_applied(report, Kind::IlmPolicy).is_empty()
            || report.unsupported.contains_key(&Kind::IlmPolicy));
    write_alias(
        client,
        desired,
        templates_ok,
        prev.write_alias.as_deref() == Some(desired.write_alias.alias.as_str()),
        report,
    )
    .await?;

    apply(
        &ROLE,
        &desired.roles,
        &none,
        &prev.roles,
        report,
        &mut current,
    )
    .await?;
    deadletter_index(client, desired, report).await?;

    // The collector's user exists only once the alias it writes to is this resource's:
    // before that, its writes could land in someone else's index or make one.
    let alias_ready = report.kind(Kind::WriteAlias).failed.is_empty();
    users(
        client,
        desired,
        input.passwords,
        &prev.users,
        alias_ready,
        report,
        &mut current,
    )
    .await?;

    let repositories: BTreeMap<String, Value> = desired
        .repositories
        .iter()
        .map(|(n, r)| (n.clone(), r.body.clone()))
        .collect();
    apply(
        &REPOSITORY,
        &repositories,
        input.missing_credentials,
        &prev.snapshot_repositories,
        report,
        &mut current,
    )
    .await?;
    let missing_repos = not_applied(report, Kind::SnapshotRepository);
    let skip_slm: BTreeMap<String, String> = desired
        .slm_policies
        .iter()
        .filter_map(|(name, body)| {
            let repo = body.get("repository").and_then(Value::as_str)?;
            missing_repos.contains(repo).then(|| {
                (
                    name.clone(),
                    format!("not applied: snapshot repository {repo} is not applied"),
                )
            })
        })
        .collect();
    apply(
        &SLM,
        &desired.slm_policies,
        &skip_slm,
        &prev.slm_policies,
        report,
        &mut current,
    )
    .await?;

    prune_all(client, desired, prev, &current, report).await
}

/// Another resource's index template whose patterns overlap `body`'s: two resources
/// whose index names are prefixes of each other (`logs`, `logs-prod`) would write into
/// each other's indices, and Elasticsearch refuses overlapping templates of one priority.
fn overlapping(
    owner: &str,
    name: &str,
    body: &Value,
    listed: &BTreeMap<String, Value>,
) -> Option<String> {
    let patterns = |b: &Value| -> Vec<String> {
        b.get("index_patterns")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let ours = patterns(body);
    listed.iter().find_map(|(other, found)| {
        if other == name {
            return None;
        }
        let holder = marker_owner(found.get("_meta"))?;
        if holder == owner {
            return None;
        }
        let theirs = patterns(found);
        let (a, b) = ours
            .iter()
            .flat_map(|a| theirs.iter().map(move |b| (a, b)))
            .find(|(a, b)| patterns_overlap(a, b))?;
        Some(format!(
            "index pattern {a} overlaps {b} of MeshLogging {holder} (index template {other}); choose an index.name that is not a prefix of another's, nor has one as its prefix"
        ))
    })
}

/// Whether two index patterns can match one name. Exact for patterns whose only
/// wildcard is a trailing `*` (the operator's own); otherwise Elasticsearch decides.
fn patterns_overlap(a: &str, b: &str) -> bool {
    let prefix = |p: &str| {
        p.strip_suffix('*')
            .filter(|s| !s.contains('*'))
            .map(str::to_string)
    };
    match (prefix(a), prefix(b)) {
        (Some(x), Some(y)) => x.starts_with(&y) || y.starts_with(&x),
        (Some(x), None) if !b.contains('*') => b.starts_with(&x),
        (None, Some(y)) if !a.contains('*') => a.starts_with(&y),
        (None, None) => a == b,
        _ => false,
    }
}

/// Desired names of `kind` that failed this pass.
fn not_applied(report: &SyncReport, kind: Kind) -> BTreeSet<String> {
    report
        .kind(kind)
        .failed
        .into_iter()
        .map(|f| f.name)
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn apply_one(
    client: &EsClient,
    ops: &Ops,
    owner: &str,
    name: &str,
    body: &Value,
    current: Option<&Value>,
    previously: &[String],
    report: &mut KindReport,
) -> Result<(), Abort> {
    let path = format!("{}{}", ops.path, encode(name));
    let Some(current) = current else {
        return match client.put(ops.api, &path, body).await {
            Ok(_) => {
                report.created.push(name.to_string());
                Ok(())
            }
            Err(e) => fail(report, name, e, false),
        };
    };
    let same = (ops.normalize)(current) == (ops.normalize)(&(ops.comparable)(body));
    let marker = (ops.marker)(current);
    match marker_owner(marker.as_ref()) {
        Some(o) if o == owner => {}
        Some(other) => {
            report.failed.push(failure(
                name,
                "Conflict",
                format!(
                    "{} {name} belongs to MeshLogging {other}; not changed",
                    ops.kind
                ),
                false,
            ));
            return Ok(());
        }
        // Unmarked: ours only if we applied it before (a kind without markers, or an edit
        // that dropped the marker); an identical unmarked object is adopted as is.
        None if previously.iter().any(|p| p == name) || same => {}
        None => {
            report.failed.push(failure(
                name,
                "Conflict",
                format!(
                    "{} {name} already exists and is not managed by this MeshLogging; not changed (rename or delete it)",
                    ops.kind
                ),
                false,
            ));
            return Ok(());
        }
    }
    if same {
        report.unchanged.push(name.to_string());
        return Ok(());
    }
    match client.put(ops.api, &path, body).await {
        Ok(_) => {
            report.updated.push(name.to_string());
            Ok(())
        }
        Err(e) => fail(report, name, e, true),
    }
}

/// Creates the bootstrap index with the write alias once; reports an alias that points
/// elsewhere, or whose write index belongs to someone else, instead of changing it.
async fn write_alias(
    client: &EsClient,
    desired: &DesiredConfig,
    templates_ok: bool,
    previously_ours: bool,
    report: &mut SyncReport,
) -> Result<(), Abort> {
    let alias = &desired.write_alias.alias;
    let index = &desired.write_alias.bootstrap_index;
    let owner = desired.owner.as_str();
    let check = async || -> Result<Option<Result<String, String>>, EsError> {
        let Some(found) = client
            .get("alias", &format!("/_alias/{}", encode(alias)))
            .await?
        else {
            return Ok(None);
        };
        let write_index = match write_index_of(&found, alias) {
            Ok(i) => i,
            Err(why) => return Ok(Some(Err(why))),
        };
        // The name proves nothing: the write index must carry this resource's marker.
        let mapping = client
            .get(
                "indices.get_mapping",
                &format!("/{}/_mapping", encode(&write_index)),
            )
            .await?
            .unwrap_or(Value::Null);
        let meta = mapping
            .get(&write_index)
            .and_then(|m| m.pointer("/mappings/_meta"));
        Ok(Some(match marker_owner(meta) {
            Some(o) if o == owner => Ok(write_index),
            None if previously_ours => Ok(write_index),
            Some(other) => Err(format!(
                "alias {alias} writes to {write_index}, which belongs to MeshLogging {other}; not changed (choose another index.name)"
            )),
            None => Err(format!(
                "alias {alias} writes to {write_index}, which is not managed by this MeshLogging; not changed (choose another index.name)"
            )),
        }))
    };
    let kind_report = report.kinds.entry(Kind::WriteAlias).or_default();
    let outcome = match check().await {
        Err(e) => return fail(kind_report, alias, e, false),
        Ok(o) => o,
    };
    match outcome {
        Some(Ok(write_index)) => {
            kind_report.unchanged.push(alias.clone());
            report.write_index = Some(write_index);
            return Ok(());
        }
        Some(Err(why)) => {
            kind_report
                .failed
                .push(failure(alias, "Conflict", why, false));
            return Ok(());
        }
        None => {}
    }
    if !templates_ok {
        kind_report.failed.push(failure(
            alias,
            "DependencyFailed",
            format!("{index} not created: the ILM policy or index templates are not applied"),
            false,
        ));
        return Ok(());
    }
    match client
        .put(
            "indices.create",
            &format!("/{}", encode(index)),
            &desired.write_alias.body,
        )
        .await
    {
        Ok(_) => {
            kind_report.created.push(alias.clone());
            report.write_index = Some(index.clone());
            Ok(())
        }
        // Created concurrently (another replica, or a pass interrupted after the PUT):
        // success if the alias is there now.
        Err(EsError::Api { kind, reason, .. }) if kind == "resource_already_exists_exception" => {
            match check().await {
                Ok(Some(Ok(write_index))) => {
                    kind_report.unchanged.push(alias.clone());
                    report.write_index = Some(write_index);
                    Ok(())
                }
                Ok(Some(Err(why))) => {
                    kind_report
                        .failed
                        .push(failure(alias, "Conflict", why, false));
                    Ok(())
                }
                Ok(None) => {
                    kind_report.failed.push(failure(
                        alias,
                        "Conflict",
                        format!("index {index} exists without the write alias {alias} ({reason}); add the alias or delete the index"),
                        false,
                    ));
                    Ok(())
                }
                Err(e) => fail(kind_report, alias, e, false),
            }
        }
        Err(e) => fail(kind_report, alias, e, false),
    }
}

/// Creates the dead-letter index once (the collector may not create indices), after its
/// template; an index of that name that is not this resource's is reported, not used.
async fn deadletter_index(
    client: &EsClient,
    desired: &DesiredConfig,
    report: &mut SyncReport,
) -> Result<(), Abort> {
    let index = &desired.deadletter_index;
    let template_ok = report.kind(Kind::IndexTemplate).owned().contains(index);
    let kind_report = report.kinds.entry(Kind::DeadLetterIndex).or_default();
    let path = format!("/{}", encode(index));
    match client
        .get("indices.get_mapping", &format!("{path}/_mapping"))
        .await
    {
        Err(e) => return fail(kind_report, index, e, false),
        Ok(Some(found)) => {
            let meta = found.get(index).and_then(|m| m.pointer("/mappings/_meta"));
            match marker_owner(meta) {
                Some(o) if o == desired.owner => kind_report.unchanged.push(index.clone()),
                holder => kind_report.failed.push(failure(
                    index,
                    "Conflict",
                    format!(
                        "index {index} exists and belongs to {}; not used",
                        holder.map_or("no MeshLogging".to_string(), |h| format!("MeshLogging {h}"))
                    ),
                    false,
                )),
            }
            return Ok(());
        }
        Ok(None) => {}
    }
    if !template_ok {
        kind_report.failed.push(failure(
            index,
            "DependencyFailed",
            format!("{index} not created: its index template is not applied"),
            false,
        ));
        return Ok(());
    }
    match client.put("indices.create", &path, &json!({})).await {
        Ok(_) => {
            kind_report.created.push(index.clone());
            Ok(())
        }
        Err(EsError::Api { kind, .. }) if kind == "resource_already_exists_exception" => {
            kind_report.unchanged.push(index.clone());
            Ok(())
        }
        Err(e) => fail(kind_report, index, e, false),
    }
}

/// The write index of `alias` from a `GET /_alias/<alias>` answer, if it is one of the
/// alias's own rollover indices (`<alias>-NNNNNN`).
fn write_index_of(found: &Value, alias: &str) -> Result<String, String> {
    let indices: Vec<(&String, bool)> = found
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(index, v)| {
                    let is_write = v
                        .pointer(&format!(
                            "/aliases/{}/is_write_index",
                            alias.replace('~', "~0").replace('/', "~1")
                        ))
                        .and_then(Value::as_bool);
                    (index, is_write.unwrap_or(m.len() == 1))
                })
                .collect()
        })
        .unwrap_or_default();
    let write: Vec<&String> = indices
        .iter()
        .filter(|(_, w)| *w)
        .map(|(i, _)| *i)
        .collect();
    let ours = |i: &str| {
        i.strip_prefix(alias)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|n| n.len() >= 6 && n.bytes().all(|b| b.is_ascii_digit()))
    };
    match write.as_slice() {
        [one] if ours(one) => Ok((*one).clone()),
        [one] => Err(format!(
            "alias {alias} exists and writes to {one}, not to a rollover index {alias}-NNNNNN; not changed"
        )),
        _ => Err(format!(
            "alias {alias} exists without a single write index ({}); not changed",
            indices
                .iter()
                .map(|(i, _)| i.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Users: created with their password; an existing user's password is checked by
/// authenticating as it, and reset only when that fails.
async fn users(
    client: &EsClient,
    desired: &DesiredConfig,
    passwords: &Passwords,
    previously: &[String],
    alias_ready: bool,
    report: &mut SyncReport,
    current: &mut Current,
) -> Result<(), Abort> {
    let Some(listed) = list(client, &USER, report).await? else {
        not_supported(report, Kind::User, desired.users.keys());
        return Ok(());
    };
    let kind_report = report.kinds.entry(Kind::User).or_default();
    for (name, user) in &desired.users {
        if user.password == PasswordRef::Collector && !alias_ready {
            kind_report.failed.push(failure(
                name,
                "DependencyFailed",
                format!(
                    "not created: the write alias {} is not applied",
                    desired.write_alias.alias
                ),
                listed.contains_key(name),
            ));
            continue;
        }
        let password = match user.password {
            PasswordRef::Collector => Some(&passwords.collector),
            PasswordRef::Kibana => passwords.kibana.as_ref(),
        };
        let Some(password) = password else {
            kind_report.failed.push(failure(
                name,
                "CredentialsMissing",
                format!("no password for user {name}"),
                false,
            ));
            continue;
        };
        user_one(
            client,
            desired,
            name,
            user,
            password,
            listed.get(name),
            previously,
            kind_report,
        )
        .await?;
    }
    current.0.insert(Kind::User, listed);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn user_one(
    client: &EsClient,
    desired: &DesiredConfig,
    name: &str,
    user: &DesiredUser,
    password: &str,
    current: Option<&Value>,
    previously: &[String],
    report: &mut KindReport,
) -> Result<(), Abort> {
    let path = format!("/_security/user/{}", encode(name));
    let credentials = Credentials {
        username: name.to_string(),
        password: password.to_string(),
    };
    let set_password = async |report: &mut KindReport, created: bool| -> Result<(), Abort> {
        match client.authenticates(&credentials).await {
            Ok(true) => {
                if !created {
                    report.unchanged.push(name.to_string());
                }
                Ok(())
            }
            Ok(false) => {
                let body = json!({ "password": password });
                match client
                    .post("security.password", &format!("{path}/_password"), &body)
                    .await
                {
                    Ok(_) => {
                        if !created {
                            report.updated.push(name.to_string());
                        }
                        Ok(())
                    }
                    Err(e) => fail(report, name, e, true),
                }
            }
            Err(e) => fail(report, name, e, true),
        }
    };
    if user.builtin {
        return set_password(report, false).await;
    }
    let mut body = user.body.clone();
    body["roles"] = json!(user.roles);
    let comparable = |v: &Value| {
        let mut roles: Vec<String> = v
            .get("roles")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        roles.sort();
        json!({
            "roles": roles,
            "full_name": v.get("full_name").cloned().unwrap_or(Value::Null),
            "metadata": v.get("metadata").cloned().unwrap_or(json!({})),
        })
    };
    let Some(current) = current else {
        body["password"] = json!(password);
        return match client.put("security.user", &path, &body).await {
            Ok(_) => {
                report.created.push(name.to_string());
                Ok(())
            }
            Err(e) => fail(report, name, e, false),
        };
    };
    match marker_owner(current.get("metadata")) {
        Some(o) if o == desired.owner => {}
        None if previously.iter().any(|p| p == name) => {}
        Some(other) => {
            report.failed.push(failure(
                name,
                "Conflict",
                format!("user {name} belongs to MeshLogging {other}; not changed"),
                false,
            ));
            return Ok(());
        }
        None => {
            report.failed.push(failure(
                name,
                "Conflict",
                format!(
                    "user {name} already exists and is not managed by this MeshLogging; not changed"
                ),
                false,
            ));
            return Ok(());
        }
    }
    if comparable(current) != comparable(&body) {
        body["password"] = json!(password);
        return match client.put("security.user", &path, &body).await {
            Ok(_) => {
                report.updated.push(name.to_string());
                Ok(())
            }
            Err(e) => fail(report, name, e, true),
        };
    }
    set_password(report, false).await
}

/// Deletes owned objects that are no longer desired, dependents first.
async fn prune_all(
    client: &EsClient,
    desired: &DesiredConfig,
    prev: &AppliedStatus,
    current: &Current,
    report: &mut SyncReport,
) -> Result<(), Abort> {
    let owner = desired.owner.as_str();
    let slm = prune(
        client,
        &SLM,
        owner,
        desired.slm_policies.keys(),
        current,
        report,
    )
    .await?;
    // A repository is kept while any SLM policy (ours or a user's) still uses it.
    let mut used: BTreeMap<String, String> = BTreeMap::new();
    for (id, policy) in current.get(Kind::SlmPolicy) {
        if slm.contains(id) {
            continue;
        }
        if let Some(repo) = policy.get("repository").and_then(Value::as_str) {
            used.insert(repo.to_string(), id.clone());
        }
    }
    let wanted_repos: BTreeSet<&String> = desired.repositories.keys().collect();
    let kind_report = report.kinds.entry(Kind::SnapshotRepository).or_default();
    // Ours: carrying this resource's marker, or unmarked and applied by it before (from
    // before repositories were marked). Another resource's marker: never.
    let listed = current.get(Kind::SnapshotRepository);
    let ours: BTreeSet<&String> = listed
        .iter()
        .filter(
            |(name, body)| match marker_owner(repository_marker(body).as_ref()) {
                Some(o) => o == owner,
                None => prev.snapshot_repositories.contains(name),
            },
        )
        .map(|(name, _)| name)
        .collect();
    for name in ours {
        if wanted_repos.contains(name) {
            continue;
        }
        if let Some(policy) = used.get(name) {
            kind_report
                .retained
                .push((name.clone(), format!("still used by SLM policy {policy}")));
            continue;
        }
        delete(client, &REPOSITORY, name, kind_report).await?;
    }
    prune(
        client,
        &INDEX_TEMPLATE,
        owner,
        desired.index_templates.keys(),
        current,
        report,
    )
    .await?;
    prune(
        client,
        &COMPONENT,
        owner,
        desired.component_templates.keys(),
        current,
        report,
    )
    .await?;
    prune(
        client,
        &ILM,
        owner,
        desired.ilm_policies.keys(),
        current,
        report,
    )
    .await?;
    prune(client, &USER, owner, desired.users.keys(), current, report).await?;
    prune(client, &ROLE, owner, desired.roles.keys(), current, report).await?;
    Ok(())
}

/// Deletes the objects of `ops.kind` that carry `owner`'s marker and are not `wanted`.
/// Returns the names deleted.
async fn prune<'a>(
    client: &EsClient,
    ops: &Ops,
    owner: &str,
    wanted: impl Iterator<Item = &'a String>,
    current: &Current,
    report: &mut SyncReport,
) -> Result<BTreeSet<String>, Abort> {
    let wanted: BTreeSet<&String> = wanted.collect();
    let kind_report = report.kinds.entry(ops.kind).or_default();
    let mut deleted = BTreeSet::new();
    for (name, body) in current.get(ops.kind) {
        if wanted.contains(name) || marker_owner((ops.marker)(body).as_ref()) != Some(owner) {
            continue;
        }
        if delete(client, ops, name, kind_report).await? {
            deleted.insert(name.clone());
        }
    }
    Ok(deleted)
}

/// Deletes one object; Elasticsearch's refusal because it is in use keeps it as retained.
async fn delete(
    client: &EsClient,
    ops: &Ops,
    name: &str,
    report: &mut KindReport,
) -> Result<bool, Abort> {
    match client
        .delete(ops.api, &format!("{}{}", ops.path, encode(name)))
        .await
    {
        Ok(_) => {
            report.deleted.push(name.to_string());
            Ok(true)
        }
        Err(EsError::Api { status, reason, .. }) if status == 400 || status == 409 => {
            report.retained.push((name.to_string(), reason));
            Ok(false)
        }
        Err(e) => fail(report, name, e, true).map(|()| false),
    }
}

/// Deletes the indices behind `alias` (deletionPolicy Delete), found through the alias
/// (rolled-over indices keep it as a read alias): only indices named `<alias>-NNNNNN`
/// whose mappings carry `owner`'s marker. Others are kept and reported.
async fn delete_backing_indices(
    client: &EsClient,
    alias: &str,
    owner: &str,
    report: &mut KindReport,
) -> Result<(), Abort> {
    // No alias (never created, or removed by hand): the dead-letter index may still be there.
    let mut found = match client
        .get(
            "indices.get_mapping",
            &format!("/{}/_mapping", encode(alias)),
        )
        .await
    {
        Ok(Some(found)) => found,
        Ok(None) => json!({}),
        Err(e) => return fail(report, alias, e, false),
    };
    let prefix = format!("{alias}-");
    let deadletter = format!("{alias}-deadletter");
    if let Ok(Some(Value::Object(more))) = client
        .get(
            "indices.get_mapping",
            &format!("/{}/_mapping", encode(&deadletter)),
        )
        .await
        && let Some(map) = found.as_object_mut()
    {
        map.extend(more);
    }
    let mut indices = Vec::new();
    for (index, mapping) in found.as_object().into_iter().flatten() {
        if !index.starts_with(&prefix) {
            continue;
        }
        match marker_owner(mapping.pointer("/mappings/_meta")) {
            Some(o) if o == owner => indices.push(index.clone()),
            Some(other) => report
                .retained
                .push((index.clone(), format!("belongs to MeshLogging {other}"))),
            None => report.retained.push((
                index.clone(),
                "not marked as this MeshLogging's; delete it by hand if it is".to_string(),
            )),
        }
    }
    if indices.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = indices.iter().map(|i| encode(i)).collect();
    match client
        .delete("indices.delete", &format!("/{}", list.join(",")))
        .await
    {
        Ok(_) => {
            report.deleted.extend(indices);
            Ok(())
        }
        Err(e) => fail(report, alias, e, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_patterns_overlap_when_one_prefix_extends_the_other() {
        assert!(patterns_overlap("logs-*", "logs-prod-*"));
        assert!(patterns_overlap("logs-prod-*", "logs-*"));
        assert!(patterns_overlap("logs-*", "logs-000001"));
        assert!(!patterns_overlap("logs-*", "logsprod-*"));
        assert!(!patterns_overlap("app-*", "logs-*"));
        assert!(patterns_overlap("exact", "exact"));
    }

    #[test]
    fn names_are_encoded_for_paths() {
        assert_eq!(encode("mcp-mesh-logs"), "mcp-mesh-logs");
        assert_eq!(encode("a b%"), "a%20b%25");
    }

    #[test]
    fn write_index_must_be_a_rollover_index_of_the_alias() {
        let ok = json!({"logs-000003": {"aliases": {"logs": {"is_write_index": true}}}, "logs-000002": {"aliases": {"logs": {}}}});
        assert_eq!(write_index_of(&ok, "logs").as_deref(), Ok("logs-000003"));
        let single = json!({"logs-000001": {"aliases": {"logs": {}}}});
        assert_eq!(
            write_index_of(&single, "logs").as_deref(),
            Ok("logs-000001")
        );
        let foreign = json!({"other": {"aliases": {"logs": {"is_write_index": true}}}});
        assert!(
            write_index_of(&foreign, "logs")
                .unwrap_err()
                .contains("writes to other")
        );
    }
}
