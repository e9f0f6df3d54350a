//! Desired Elasticsearch configuration, rendered purely from the validated resource: the ILM policy,
//! component and index templates, the bootstrap index with its write alias, the collector's
//! role and user, snapshot repositories and SLM policies. No I/O, no secrets.
//!
//! Every object that can carry metadata carries the ownership marker
//! `{managed_by: meshlogging-operator, meshlogging: <namespace>/<name>}` (`_meta` for ILM
//! and templates, `config.metadata` for SLM, `metadata` for roles and users), so sync can
//! tell this resource's objects from everyone else's.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::api::{LifecycleSpec, SnapshotPolicy, SnapshotRepository};
use crate::log_schema;
use crate::naming::{KIBANA_SYSTEM_ROLE, Names};
use crate::validate::Validated;

/// Value of the `managed_by` marker key.
pub const MANAGED_BY: &str = "meshlogging-operator";
/// Priority of the index template: above Elasticsearch's built-in templates (100).
pub const INDEX_TEMPLATE_PRIORITY: i64 = 200;
/// The ownership marker of `owner` (`<namespace>/<name>`).
pub fn marker(owner: &str) -> Value {
    json!({ "managed_by": MANAGED_BY, "meshlogging": owner })
}

/// Who owns an object, read from its marker.
pub fn marker_owner(marker: Option<&Value>) -> Option<&str> {
    let m = marker?;
    (m.get("managed_by")?.as_str()? == MANAGED_BY)
        .then(|| m.get("meshlogging")?.as_str())
        .flatten()
}

/// Which generated password a user gets (the passwords themselves live in Secrets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordRef {
    /// The collector's password.
    Collector,
    /// Kibana's password.
    Kibana,
    /// The password of the operator's own Kibana user (the dashboards).
    Dashboards,
    /// The `elastic` superuser's (managed mode, once its Secret was rotated).
    Elastic,
}

/// A security user.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredUser {
    /// Roles, sorted.
    pub roles: Vec<String>,
    /// `full_name` and `metadata` (the marker), without the password.
    pub body: Value,
    /// Whose password.
    pub password: PasswordRef,
    /// A built-in user (only its password is set).
    pub builtin: bool,
}

/// A snapshot repository.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredRepository {
    /// `{type, settings}` as `PUT /_snapshot/<name>` takes it.
    pub body: Value,
    /// Secret with the client credentials, when the spec names one.
    pub credentials_secret: Option<String>,
}

/// The bootstrap index and its write alias.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteAlias {
    /// Alias name.
    pub alias: String,
    /// The first backing index, `<alias>-000001`.
    pub bootstrap_index: String,
    /// `PUT /<bootstrap_index>` body.
    pub body: Value,
}

/// Everything the operator wants in Elasticsearch for one MeshLogging.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredConfig {
    /// `<namespace>/<name>`.
    pub owner: String,
    /// ILM policies: name -> `PUT /_ilm/policy/<name>` body.
    pub ilm_policies: BTreeMap<String, Value>,
    /// Component templates: name -> body.
    pub component_templates: BTreeMap<String, Value>,
    /// Composable index templates: name -> body.
    pub index_templates: BTreeMap<String, Value>,
    /// The write alias.
    pub write_alias: WriteAlias,
    /// The dead-letter index the collectors write refused records to (created once; its
    /// template is among `index_templates`).
    pub deadletter_index: String,
    /// Roles: name -> body.
    pub roles: BTreeMap<String, Value>,
    /// Users: name -> user.
    pub users: BTreeMap<String, DesiredUser>,
    /// Snapshot repositories: name -> repository.
    pub repositories: BTreeMap<String, DesiredRepository>,
    /// SLM policies: id -> body.
    pub slm_policies: BTreeMap<String, Value>,
}

/// Renders the desired configuration of the validated resource `v`, owned by
/// [`Validated::owner`].
pub fn desired(v: &Validated) -> DesiredConfig {
    let owner = &v.owner();
    let names = &v.names;
    let index = v.index();
    let meta = marker(owner);

    let ilm_policies = BTreeMap::from([(names.ilm_policy(), ilm_policy(v.lifecycle(), owner))]);

    let settings = json!({
        "index": {
            "number_of_shards": index.shards,
            "number_of_replicas": index.replicas,
            "refresh_interval": index.refresh_interval,
            "lifecycle": { "name": names.ilm_policy(), "rollover_alias": names.alias },
        }
    });
    let component_templates = BTreeMap::from([
        (
            names.settings_template(),
            json!({ "template": { "settings": settings }, "_meta": meta }),
        ),
        // Elasticsearch validates each component template on its own: the analyzer the
        // mappings use is defined beside them, not in the settings template.
        (
            names.mappings_template(),
            json!({
                "template": {
                    "settings": { "index": { "analysis": log_schema::analysis() } },
                    "mappings": with_meta(log_schema::mappings(), &meta),
                },
                "_meta": meta,
            }),
        ),
    ]);
    let deadletter = names.deadletter_index();
    let index_templates = BTreeMap::from([
        (
            names.index_template(),
            json!({
                "index_patterns": [names.index_pattern()],
                "composed_of": [names.settings_template(), names.mappings_template()],
                "priority": INDEX_TEMPLATE_PRIORITY,
                "_meta": meta,
            }),
        ),
        // The dead-letter index also matches `<index>-*`; a template of higher priority
        // keeps the log indices' rollover alias and ILM policy off it (Elasticsearch
        // applies only the highest-priority matching template).
        (
            deadletter.clone(),
            json!({
                "index_patterns": [deadletter.clone()],
                // As Elasticsearch returns it, so a no-op pass compares equal.
                "composed_of": [],
                "priority": INDEX_TEMPLATE_PRIORITY + 1,
                "template": {
                    "settings": { "index": {
                        "number_of_shards": 1,
                        "number_of_replicas": index.replicas,
                    } },
                    "mappings": with_meta(log_schema::deadletter_mappings(), &meta),
                },
                "_meta": meta,
            }),
        ),
    ]);
    let write_alias = WriteAlias {
        alias: names.alias.clone(),
        bootstrap_index: names.bootstrap_index(),
        // The marker in the index's own mappings: an alias or index with the expected name
        // is not proof of ownership (another resource on a shared cluster may use it).
        body: json!({
            "aliases": { names.alias.clone(): { "is_write_index": true } },
            "mappings": { "_meta": meta },
        }),
    };

    let collector = names.collector_user();
    let roles = BTreeMap::from([(
        collector.clone(),
        json!({
            "cluster": [],
            "indices": [{
                "names": [names.alias, names.index_pattern()],
                // No `auto_configure`: the collector never creates an index (a write to a
                // missing name must fail, not make a concrete index under the alias's name).
                "privileges": ["create_doc"],
            }],
            "metadata": meta,
        }),
    )]);
    let mut users = BTreeMap::from([(
        collector.clone(),
        DesiredUser {
            roles: vec![collector],
            body: json!({ "full_name": format!("MeshLogging collector of {owner}"), "metadata": meta }),
            password: PasswordRef::Collector,
            builtin: false,
        },
    )]);
    // Which user Kibana connects as was decided by validation; a user of its own on an
    // external cluster, the built-in one (only its password set) on the managed cluster.
    if let Some(kibana) = &v.kibana {
        if v.managed().is_none() {
            users.insert(
                kibana.username.clone(),
                DesiredUser {
                    roles: vec![KIBANA_SYSTEM_ROLE.to_string()],
                    body: json!({ "full_name": format!("MeshLogging Kibana of {owner}"), "metadata": meta }),
                    password: PasswordRef::Kibana,
                    builtin: false,
                },
            );
        } else {
            users.insert(
                kibana.username.clone(),
                DesiredUser {
                    roles: Vec::new(),
                    body: Value::Null,
                    password: PasswordRef::Kibana,
                    builtin: true,
                },
            );
        }
    }

    let repositories = v
        .repositories()
        .iter()
        .map(|r| (r.name.clone(), repository(r, owner)))
        .collect();
    let slm_policies = v
        .snapshot_policies()
        .iter()
        .map(|p| (p.name.clone(), slm_policy(p, names, owner)))
        .collect();

    let mut config = DesiredConfig {
        owner: owner.to_string(),
        ilm_policies,
        component_templates,
        index_templates,
        write_alias,
        deadletter_index: deadletter,
        roles,
        users,
        repositories,
        slm_policies,
    };
    if v.dashboards_enabled() {
        config.add_dashboards_identity(v);
    }
    config
}

/// `mappings` with the ownership marker as their `_meta`, so every backing index, the
/// rolled-over ones too, says whose it is.
fn with_meta(mut mappings: Value, meta: &Value) -> Value {
    mappings["_meta"] = meta.clone();
    mappings
}

impl DesiredConfig {
    /// Adds the operator's Kibana identity: the role `<index>-kibana-dashboards` with only
    /// the Kibana feature privileges the saved objects need ([`crate::kibana::operator_role`])
    /// and the user of that name, whose password is in the generated Secret
    /// `<n>-kibana-dashboards-user`. Part of the desired configuration while dashboards are
    /// enabled, and while the objects of dashboards just turned off are still to be removed
    /// (the operator signs in as this user to remove them).
    pub fn add_dashboards_identity(&mut self, v: &Validated) {
        let meta = marker(&self.owner);
        let name = v.names.dashboards_user();
        let mut role = crate::kibana::operator_role();
        role["metadata"] = meta.clone();
        self.roles.insert(name.clone(), role);
        self.users.insert(
            name.clone(),
            DesiredUser {
                roles: vec![name],
                body: json!({
                    "full_name": format!("MeshLogging operator's Kibana dashboards of {}", self.owner),
                    "metadata": meta,
                }),
                password: PasswordRef::Dashboards,
                builtin: false,
            },
        );
    }

    /// The built-in `elastic` user, only its password set: part of the desired
    /// configuration of a managed cluster once its Secret was rotated (before, the
    /// keystore's `bootstrap.password` set it, and a check each pass would cost a request).
    pub fn add_elastic_password(&mut self) {
        self.users.insert(
            crate::naming::ELASTIC_USER.to_string(),
            DesiredUser {
                roles: Vec::new(),
                body: Value::Null,
                password: PasswordRef::Elastic,
                builtin: true,
            },
        );
    }

    /// The component templates without `index.lifecycle.*` settings, for a cluster that
    /// does not serve ILM (it refuses those settings as unknown).
    pub fn component_templates_without_lifecycle(&self) -> BTreeMap<String, Value> {
        let mut templates = self.component_templates.clone();
        for body in templates.values_mut() {
            if let Some(index) = body
                .pointer_mut("/template/settings/index")
                .and_then(Value::as_object_mut)
            {
                index.remove("lifecycle");
            }
        }
        templates
    }
}

fn insert_some(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        map.insert(key.to_string(), v);
    }
}

/// `PUT /_ilm/policy/<name>` body of `lifecycle`, owned by `owner`. Public (with
/// [`slm_policy`]) for checking the bodies of specs that validation may refuse.
pub fn ilm_policy(lifecycle: &LifecycleSpec, owner: &str) -> Value {
    let priority = |p: Option<i32>| p.map(|p| json!({ "priority": p }));
    let replicas = |r: Option<i32>| r.map(|r| json!({ "number_of_replicas": r }));

    let mut phases = Map::new();
    let mut hot = Map::new();
    if let Some(r) = &lifecycle.hot.rollover {
        let mut conditions = Map::new();
        insert_some(
            &mut conditions,
            "max_age",
            r.max_age.clone().map(Value::from),
        );
        insert_some(
            &mut conditions,
            "max_primary_shard_size",
            r.max_primary_shard_size.clone().map(Value::from),
        );
        insert_some(
            &mut conditions,
            "max_size",
            r.max_size.clone().map(Value::from),
        );
        insert_some(&mut conditions, "max_docs", r.max_docs.map(Value::from));
        insert_some(
            &mut conditions,
            "max_primary_shard_docs",
            r.max_primary_shard_docs.map(Value::from),
        );
        hot.insert("rollover".into(), Value::Object(conditions));
    }
    insert_some(&mut hot, "set_priority", priority(lifecycle.hot.priority));
    phases.insert("hot".into(), json!({ "min_age": "0ms", "actions": hot }));

    if let Some(w) = &lifecycle.warm {
        let mut actions = Map::new();
        insert_some(&mut actions, "allocate", replicas(w.replicas));
        insert_some(
            &mut actions,
            "shrink",
            w.shrink_to.map(|n| json!({ "number_of_shards": n })),
        );
        insert_some(
            &mut actions,
            "forcemerge",
            w.force_merge_segments
                .map(|n| json!({ "max_num_segments": n })),
        );
        insert_some(&mut actions, "set_priority", priority(w.priority));
        phases.insert(
            "warm".into(),
            json!({ "min_age": w.min_age, "actions": actions }),
        );
    }
    if let Some(c) = &lifecycle.cold {
        let mut actions = Map::new();
        insert_some(&mut actions, "allocate", replicas(c.replicas));
        insert_some(&mut actions, "set_priority", priority(c.priority));
        phases.insert(
            "cold".into(),
            json!({ "min_age": c.min_age, "actions": actions }),
        );
    }
    if let Some(d) = &lifecycle.delete {
        phases.insert(
            "delete".into(),
            json!({ "min_age": d.min_age, "actions": { "delete": { "delete_searchable_snapshot": true } } }),
        );
    }
    json!({ "policy": { "phases": phases, "_meta": marker(owner) } })
}

/// Settings keys of a repository's ownership marker: repositories have no `_meta`, and
/// Elasticsearch keeps settings a repository type does not use.
pub const REPOSITORY_MANAGED_BY: &str = "meshlogging_managed_by";
/// See [`REPOSITORY_MANAGED_BY`].
pub const REPOSITORY_OWNER: &str = "meshlogging_owner";

/// The marker of a repository (`{type, settings}`), in the shape of the other kinds'.
pub fn repository_marker(body: &Value) -> Option<Value> {
    let settings = body.get("settings")?;
    Some(json!({
        "managed_by": settings.get(REPOSITORY_MANAGED_BY)?,
        "meshlogging": settings.get(REPOSITORY_OWNER)?,
    }))
}

fn repository(r: &SnapshotRepository, owner: &str) -> DesiredRepository {
    let mut settings = serde_json::to_value(&r.settings).unwrap_or_else(|_| json!({}));
    settings[REPOSITORY_MANAGED_BY] = json!(MANAGED_BY);
    settings[REPOSITORY_OWNER] = json!(owner);
    DesiredRepository {
        body: json!({ "type": r.kind.as_str(), "settings": settings }),
        credentials_secret: r.credentials_secret_ref.as_ref().map(|s| s.name.clone()),
    }
}

/// `PUT /_slm/policy/<id>` body of `p` for the index of `names`, owned by `owner`.
pub fn slm_policy(p: &SnapshotPolicy, names: &Names, owner: &str) -> Value {
    let snapshot_name = p
        .snapshot_name
        .clone()
        .unwrap_or_else(|| format!("<{}-{{now/d}}>", p.name));
    let indices = p
        .indices
        .clone()
        .unwrap_or_else(|| vec![names.index_pattern()]);
    let mut body = json!({
        "schedule": p.schedule,
        "name": snapshot_name,
        "repository": p.repository,
        "config": {
            "indices": indices,
            "include_global_state": p.include_global_state,
            "partial": p.partial,
            "metadata": marker(owner),
        },
    });
    if let Some(r) = &p.retention {
        let mut retention = Map::new();
        insert_some(
            &mut retention,
            "expire_after",
            r.expire_after.clone().map(Value::from),
        );
        insert_some(&mut retention, "min_count", r.min_count.map(Value::from));
        insert_some(&mut retention, "max_count", r.max_count.map(Value::from));
        body["retention"] = Value::Object(retention);
    }
    body
}
