//! The simulated cluster state. Every map is a `BTreeMap`, so responses are
//! deterministic. Tests may edit it directly (`EsSim::with_state`) to simulate
//! drift. Pure data plus small lookups; no I/O.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::{Health, Modules};

/// The whole simulated cluster.
#[derive(Debug, Clone, Serialize)]
pub struct State {
    pub version: String,
    pub cluster_name: String,
    pub cluster_uuid: String,
    pub node_name: String,
    pub node_id: String,
    /// Nodes in the simulated cluster; replicas beyond `nodes - 1` stay unassigned (yellow).
    pub nodes: u32,
    /// Forced health colour (`None` = computed from the indices' shards).
    pub health_override: Option<Health>,
    /// `path.repo` of the node.
    pub path_repo: Vec<String>,
    /// Secure setting names present in the keystore.
    pub keystore: BTreeSet<String>,
    /// The optional modules the node has.
    pub modules: Modules,
    pub ilm_policies: BTreeMap<String, IlmPolicy>,
    pub component_templates: BTreeMap<String, ComponentTemplate>,
    pub index_templates: BTreeMap<String, IndexTemplate>,
    pub indices: BTreeMap<String, Index>,
    pub repositories: BTreeMap<String, Repository>,
    /// Contents of snapshot repositories, keyed by `type:location` (survives unregistering a repo).
    pub repository_storage: BTreeMap<String, RepositoryStorage>,
    pub slm_policies: BTreeMap<String, SlmPolicy>,
    /// Test control: repositories whose verification fails, with the cause
    /// (`EsSim::break_repository`): `_verify`, a verifying PUT and snapshots fail.
    pub broken_repositories: BTreeMap<String, String>,
    /// Roles created through the API (built-in roles are in `security::builtin_role`).
    pub roles: BTreeMap<String, Role>,
    /// All users: reserved ones, the configured ones and those created through the API.
    pub users: BTreeMap<String, User>,
    /// The nodes' names when a test set them ([`State::set_node_names`]); else
    /// `node_name`, `es-sim-1`, ... (`nodes` of them).
    pub member_names: Option<Vec<String>>,
    /// Persistent cluster settings (flat).
    pub persistent_settings: BTreeMap<String, Value>,
    /// Transient cluster settings (flat).
    pub transient_settings: BTreeMap<String, Value>,
    /// Voting configuration exclusions: (node id, node name).
    pub voting_exclusions: Vec<(String, String)>,
    /// Test control: copies on excluded nodes stay there (`RELOCATING`) until released.
    pub relocation_held: bool,
    /// The version each node runs, where it differs from [`State::version`] (a node that
    /// rejoined after an upgrade; see `api::nodes`).
    pub node_versions: BTreeMap<String, String>,
    /// The elected master, once a node left or a test chose it (`None`: the first node).
    pub elected_master: Option<String>,
    /// The password of each node's keystore, where a test set one (a node whose keystore
    /// sidecar rebuilt it); a node without one accepts any reload (tests that do not model
    /// the keystore). See `api::nodes::reload_secure_settings`.
    pub keystore_passwords: BTreeMap<String, String>,
    /// Test control: every node refuses a reload with this `illegal_argument_exception`
    /// reason (a setting it does not know).
    pub keystore_reload_error: Option<String>,
    /// Where each shard copy lives (see `api::allocation`).
    #[serde(skip)]
    pub allocation: BTreeMap<crate::api::allocation::CopyKey, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IlmPolicy {
    /// The normalised `policy` object (`phases`, `_meta`).
    pub policy: Value,
    pub version: u64,
    pub modified_date_millis: u64,
}

/// A policy Elasticsearch versions (ILM, SLM): stored whole, with a version that starts at 1
/// and the time of its last change.
pub trait VersionedPolicy: Sized {
    /// A new policy at version 1, modified `now`.
    fn created(policy: Value, now: u64) -> Self;
    /// The stored policy, its version and its modified date, to update in place.
    fn versioned(&mut self) -> (&mut Value, &mut u64, &mut u64);
}

/// Stores `policy` under `name` as Elasticsearch's policy PUTs do: an identical policy is a
/// no-op (version and modified date stay), a different one bumps the version.
pub fn put_versioned<P: VersionedPolicy>(
    policies: &mut BTreeMap<String, P>,
    name: String,
    policy: Value,
    now: u64,
) {
    match policies.get_mut(&name) {
        Some(existing) => {
            let (stored, version, modified) = existing.versioned();
            if *stored != policy {
                *stored = policy;
                *version += 1;
                *modified = now;
            }
        }
        None => {
            policies.insert(name, P::created(policy, now));
        }
    }
}

impl VersionedPolicy for IlmPolicy {
    fn created(policy: Value, now: u64) -> Self {
        IlmPolicy {
            policy,
            version: 1,
            modified_date_millis: now,
        }
    }

    fn versioned(&mut self) -> (&mut Value, &mut u64, &mut u64) {
        (
            &mut self.policy,
            &mut self.version,
            &mut self.modified_date_millis,
        )
    }
}

impl VersionedPolicy for SlmPolicy {
    fn created(policy: Value, now: u64) -> Self {
        SlmPolicy {
            policy,
            version: 1,
            modified_date_millis: now,
            last_success: None,
            last_failure: None,
            fail_next: None,
            snapshots_taken: 0,
            snapshots_failed: 0,
        }
    }

    fn versioned(&mut self) -> (&mut Value, &mut u64, &mut u64) {
        (
            &mut self.policy,
            &mut self.version,
            &mut self.modified_date_millis,
        )
    }
}

/// The `template` part of component and index templates.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TemplateBody {
    /// Flat, normalised settings (`index.number_of_shards` -> `"1"`).
    pub settings: Option<BTreeMap<String, Value>>,
    pub mappings: Option<Value>,
    pub aliases: Option<BTreeMap<String, AliasMeta>>,
    pub lifecycle: Option<Value>,
    pub data_stream_options: Option<Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentTemplate {
    pub template: TemplateBody,
    pub version: Option<i64>,
    pub meta: Option<Value>,
    pub deprecated: Option<bool>,
    pub created_date_millis: u64,
    pub modified_date_millis: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct IndexTemplate {
    pub index_patterns: Vec<String>,
    pub template: Option<TemplateBody>,
    pub composed_of: Vec<String>,
    pub priority: Option<i64>,
    pub version: Option<i64>,
    pub meta: Option<Value>,
    pub data_stream: Option<Value>,
    pub allow_auto_create: Option<bool>,
    pub ignore_missing_component_templates: Option<Vec<String>>,
    pub deprecated: Option<bool>,
    pub created_date_millis: u64,
    pub modified_date_millis: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AliasMeta {
    pub filter: Option<Value>,
    pub index_routing: Option<String>,
    pub search_routing: Option<String>,
    pub is_write_index: Option<bool>,
    pub is_hidden: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Index {
    pub uuid: String,
    /// Flat, normalised settings, including the ones ES adds (`index.uuid`, `index.creation_date`, ...).
    pub settings: BTreeMap<String, Value>,
    /// The mapping object (`{"properties": {...}}`, `dynamic`, ...); `{}` when empty.
    pub mappings: Value,
    pub aliases: BTreeMap<String, AliasMeta>,
    pub docs: BTreeMap<String, Doc>,
    pub closed: bool,
    pub next_seq_no: u64,
    /// ILM: when the index entered its current state.
    pub lifecycle_date_millis: u64,
    /// ILM: the step that failed, while the index is in the `ERROR` step.
    pub ilm_error: Option<IlmStepError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Doc {
    pub source: Value,
    pub version: u64,
    pub seq_no: u64,
    pub primary_term: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Repository {
    pub kind: String,
    /// Settings as given, values rendered as strings (as GET shows them).
    pub settings: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RepositoryStorage {
    pub uuid: Option<String>,
    pub snapshots: BTreeMap<String, Snapshot>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub name: String,
    pub uuid: String,
    pub indices: Vec<String>,
    pub include_global_state: bool,
    pub metadata: Option<Value>,
    pub start_time_millis: u64,
    pub end_time_millis: u64,
    pub shards: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlmPolicy {
    /// The policy as given (`name`, `schedule`, `repository`, `config`, `retention`).
    pub policy: Value,
    pub version: u64,
    pub modified_date_millis: u64,
    pub last_success: Option<(String, u64)>,
    /// The last failed run, as `GET _slm/policy` shows it.
    pub last_failure: Option<SlmFailure>,
    /// Test control: the next run of the policy fails with this reason
    /// (`EsSim::slm_fail_next`).
    pub fail_next: Option<String>,
    pub snapshots_taken: u64,
    pub snapshots_failed: u64,
}

/// A failed SLM run: the snapshot it tried to take, when, and Elasticsearch's error as
/// `last_failure.details` carries it (the exception as a JSON string).
#[derive(Debug, Clone, Serialize)]
pub struct SlmFailure {
    pub snapshot_name: String,
    pub time_millis: u64,
    pub details: String,
}

/// An index stuck in ILM's `ERROR` step (a test control: `EsSim::ilm_fail_step`), until
/// `POST <index>/_ilm/retry` moves it back to the failed step.
#[derive(Debug, Clone, Serialize)]
pub struct IlmStepError {
    /// The step that failed (`failed_step`).
    pub failed_step: String,
    /// `step_info.type`.
    pub kind: String,
    /// `step_info.reason`.
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Role {
    pub cluster: Vec<String>,
    pub indices: Vec<IndicesPrivileges>,
    pub applications: Vec<Value>,
    pub run_as: Vec<String>,
    pub metadata: Value,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IndicesPrivileges {
    pub names: Vec<String>,
    pub privileges: Vec<String>,
    pub field_security: Option<Value>,
    pub query: Option<Value>,
    pub allow_restricted_indices: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub username: String,
    /// `None` for reserved users whose password was never set: they cannot log in.
    pub password: Option<String>,
    pub roles: Vec<String>,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub metadata: Value,
    pub enabled: bool,
    /// Which realm authenticates the user: `reserved`, `file` (from `SimConfig`) or `native` (API).
    pub realm: Realm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Realm {
    Reserved,
    File,
    Native,
}

/// The reserved users every secured ES node has.
pub const RESERVED_USERS: &[(&str, &str)] = &[
    ("elastic", "superuser"),
    ("kibana", "kibana_system"),
    ("kibana_system", "kibana_system"),
    ("logstash_system", "logstash_system"),
    ("beats_system", "beats_system"),
    ("apm_system", "apm_system"),
    ("remote_monitoring_user", "remote_monitoring_collector"),
];

impl State {
    /// The names of the nodes in the cluster, in order.
    pub fn node_names(&self) -> Vec<String> {
        match &self.member_names {
            Some(names) => names.clone(),
            None => (0..self.nodes)
                .map(|i| {
                    if i == 0 {
                        self.node_name.clone()
                    } else {
                        format!("es-sim-{i}")
                    }
                })
                .collect(),
        }
    }

    /// The nodes of the cluster are now `names` (nodes that left lose their shard copies;
    /// when the elected master left, the first remaining node is elected).
    pub fn set_node_names(&mut self, names: &[&str]) {
        let master = self.master_node();
        self.member_names = Some(names.iter().map(|n| n.to_string()).collect());
        self.nodes = names.len().max(1) as u32;
        self.elected_master = if names.contains(&master.as_str()) {
            Some(master)
        } else {
            names.first().map(|n| n.to_string())
        };
    }

    /// The elected master's name.
    pub fn master_node(&self) -> String {
        let names = self.node_names();
        self.elected_master
            .clone()
            .filter(|m| names.contains(m))
            .or_else(|| names.first().cloned())
            .unwrap_or_default()
    }

    /// The version node `name` runs.
    pub fn node_version(&self, name: &str) -> String {
        self.node_versions
            .get(name)
            .cloned()
            .unwrap_or_else(|| self.version.clone())
    }

    /// The id of node `name` (the first node keeps the state's own id).
    pub fn node_id_of(&self, name: &str) -> String {
        if self.node_names().first().map(String::as_str) == Some(name) {
            self.node_id.clone()
        } else {
            crate::api::allocation::node_id(name)
        }
    }

    pub fn new(version: &str) -> State {
        State {
            version: version.to_string(),
            cluster_name: "es-sim".to_string(),
            cluster_uuid: crate::util::random_id(22),
            node_name: "es-sim-0".to_string(),
            node_id: crate::util::random_id(22),
            nodes: 1,
            health_override: None,
            path_repo: Vec::new(),
            keystore: BTreeSet::new(),
            modules: Modules::ALL,
            ilm_policies: BTreeMap::new(),
            component_templates: BTreeMap::new(),
            index_templates: BTreeMap::new(),
            indices: BTreeMap::new(),
            repositories: BTreeMap::new(),
            repository_storage: BTreeMap::new(),
            slm_policies: BTreeMap::new(),
            broken_repositories: BTreeMap::new(),
            roles: BTreeMap::new(),
            member_names: None,
            persistent_settings: BTreeMap::new(),
            transient_settings: BTreeMap::new(),
            voting_exclusions: Vec::new(),
            relocation_held: false,
            node_versions: BTreeMap::new(),
            keystore_passwords: BTreeMap::new(),
            keystore_reload_error: None,
            elected_master: None,
            allocation: BTreeMap::new(),
            users: BTreeMap::new(),
        }
    }

    /// `(major, minor, patch)` of the simulated version.
    pub fn version_tuple(&self) -> (u32, u32, u32) {
        crate::version::parse(&self.version)
    }

    pub fn version_at_least(&self, v: &str) -> bool {
        self.version_tuple() >= crate::version::parse(v)
    }

    /// Indices an alias points to.
    pub fn alias_indices(&self, alias: &str) -> Vec<String> {
        self.indices
            .iter()
            .filter(|(_, ix)| ix.aliases.contains_key(alias))
            .map(|(n, _)| n.clone())
            .collect()
    }

    pub fn alias_exists(&self, alias: &str) -> bool {
        self.indices
            .values()
            .any(|ix| ix.aliases.contains_key(alias))
    }

    /// All alias names, sorted.
    pub fn alias_names(&self) -> BTreeSet<String> {
        self.indices
            .values()
            .flat_map(|ix| ix.aliases.keys().cloned())
            .collect()
    }

    /// The write index of an alias: the one flagged `is_write_index`, or the only
    /// index when there is one and it is not flagged `false`.
    pub fn write_index(&self, alias: &str) -> Option<String> {
        let members: Vec<(&String, &AliasMeta)> = self
            .indices
            .iter()
            .filter_map(|(n, ix)| ix.aliases.get(alias).map(|a| (n, a)))
            .collect();
        if let Some((n, _)) = members.iter().find(|(_, a)| a.is_write_index == Some(true)) {
            return Some((*n).clone());
        }
        if members.len() == 1 && members[0].1.is_write_index.is_none() {
            return Some(members[0].0.clone());
        }
        None
    }
}

impl Index {
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings.get(key).and_then(|v| v.as_str())
    }

    pub fn number_of_shards(&self) -> u64 {
        self.setting("index.number_of_shards")
            .and_then(|s| s.parse().ok())
            .unwrap_or(1)
    }

    /// Replicas wanted (honours `index.auto_expand_replicas` against the node count).
    pub fn number_of_replicas(&self, nodes: u32) -> u64 {
        if let Some(ae) = self.setting("index.auto_expand_replicas")
            && ae != "false"
            && let Some((lo, hi)) = ae.split_once('-')
        {
            let lo: u64 = lo.parse().unwrap_or(0);
            let avail = u64::from(nodes.saturating_sub(1));
            let hi: u64 = if hi == "all" {
                avail
            } else {
                hi.parse().unwrap_or(avail)
            };
            return avail.clamp(lo, hi.max(lo));
        }
        self.setting("index.number_of_replicas")
            .and_then(|s| s.parse().ok())
            .unwrap_or(1)
    }

    /// Approximate store size: the bytes of the stored sources.
    pub fn size_bytes(&self) -> u64 {
        self.docs
            .values()
            .map(|d| {
                serde_json::to_vec(&d.source)
                    .map(|v| v.len() as u64)
                    .unwrap_or(0)
            })
            .sum()
    }
}
