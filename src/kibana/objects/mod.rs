//! The saved objects the operator keeps in Kibana, rendered purely from the validated
//! resource: a tag (the ownership marker), a data view over the write alias, saved searches,
//! Lens charts and two dashboards ("MCP Mesh Log Analysis" and "MCP Mesh Security Audit").
//! Pure: no client, no clock.
//!
//! Objects are written as Kibana stores them, so they import unchanged into Kibana 8.x and
//! 9.x: `kibanaSavedObjectMeta.searchSourceJSON` and `panelsJSON` are strings holding JSON,
//! a saved search names its data view through a reference (`indexRefName`), each Lens layer
//! references the data view (`indexpattern-datasource-layer-<layer>`), dashboard panels name
//! their object by `panelRefName`, and the version fields say which migrations already apply.
//!
//! Fields are those of the log schema ([`log_schema`](crate::log_schema)): what a
//! service logs is nested under `app.` (`app.level`, `app.msg`, `app.service.name`, ...), and
//! `timestamp` is the time field.
//!
//! Ownership: every object references the resource's tag (`meshlogging.<ns>.<n>.tag`), and
//! descriptions (the tag's too) carry the marker `(MeshLogging <ns>/<n>)`. References are
//! part of the saved object, so Kibana keeps them through import, export and migrations, the
//! tag shows in Kibana's lists, and `_find?has_reference=` lists everything the resource
//! owns, including objects a later version no longer renders. The description marker (and,
//! for the data view, which has no description, its name) keeps the objects recognisable
//! when someone deletes the tag and Kibana drops the references to it.

mod dashboards;
mod lens;
mod searches;

use serde_json::{Map, Value, json};

use crate::log_schema::APP;
use crate::naming::kibana_object_id;
use crate::validate::{StackVersion, Validated};

/// Saved object type of the ownership tag.
pub const TAG: &str = "tag";
/// Saved object type of a data view.
pub const DATA_VIEW: &str = "index-pattern";
/// Saved object type of a saved search.
pub const SEARCH: &str = "search";
/// Saved object type of a Lens chart.
pub const LENS: &str = "lens";
/// Saved object type of a dashboard.
pub const DASHBOARD: &str = "dashboard";
/// Every type the operator writes, in import order (referenced before referencing).
pub const TYPES: [&str; 5] = [TAG, DATA_VIEW, SEARCH, LENS, DASHBOARD];

/// Name of the reference every object carries to the ownership tag.
pub const TAG_REFERENCE: &str = "tag-ref-meshlogging";
/// The time field of the log indices.
pub const TIME_FIELD: &str = "timestamp";
/// Name of the reference from a saved search to its data view.
const SEARCH_INDEX_REF: &str = "kibanaSavedObjectMeta.searchSourceJSON.index";

/// The saved objects of one resource.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredObjects {
    /// `<namespace>/<name>`: what the tag's description names.
    pub owner: String,
    /// Id of the ownership tag.
    pub tag_id: String,
    /// Every object, the tag first; an object comes after every object it references.
    pub objects: Vec<Value>,
}

impl DesiredObjects {
    /// `(type, id)` of every object.
    pub fn keys(&self) -> Vec<(String, String)> {
        self.objects.iter().map(key).collect()
    }

    /// Id of the "MCP Mesh Log Analysis" dashboard (for the URL in status).
    pub fn log_dashboard_id(&self) -> Option<&str> {
        self.objects
            .iter()
            .find(|o| {
                o["type"] == DASHBOARD
                    && o["id"]
                        .as_str()
                        .is_some_and(|i| i.ends_with(&format!(".{LOG_DASHBOARD}")))
            })
            .and_then(|o| o["id"].as_str())
    }

    /// Whether `object` (as Kibana returns it) is this resource's: it references the tag, or
    /// its description carries the owner marker (the tag's too), or it is the data view
    /// (which has no description) at the resource's id under the resource's name. The second
    /// and third keep the objects the resource's when someone deletes the tag, which makes
    /// Kibana drop every reference to it.
    pub fn is_owned(&self, object: &Value) -> bool {
        let tagged = object["references"].as_array().is_some_and(|refs| {
            refs.iter()
                .any(|r| r["type"] == TAG && r["id"] == self.tag_id.as_str())
        });
        let marked = object
            .pointer("/attributes/description")
            .and_then(Value::as_str)
            .is_some_and(|d| d.contains(&owner_marker(&self.owner)));
        let own_data_view = object["type"] == DATA_VIEW
            && self.objects.iter().any(|o| {
                key(o) == key(object) && o["attributes"]["name"] == object["attributes"]["name"]
            });
        tagged || marked || own_data_view
    }
}

/// `(type, id)` of a saved object.
pub fn key(object: &Value) -> (String, String) {
    let s = |k: &str| object[k].as_str().unwrap_or_default().to_string();
    (s("type"), s("id"))
}

/// The words in a description that mark an object as the resource's; the parentheses end
/// the owner, so `ns/logs` is not taken for `ns/logs-2`.
fn owner_marker(owner: &str) -> String {
    format!("(MeshLogging {owner})")
}

/// The saved objects of `v`.
pub fn objects(v: &Validated) -> DesiredObjects {
    let r = Render::new(v);
    let mut objects = vec![r.tag(), r.data_view()];
    objects.extend(r.searches());
    objects.extend(r.charts());
    objects.push(r.log_dashboard());
    objects.push(r.security_dashboard());
    DesiredObjects {
        owner: v.owner(),
        tag_id: r.id("tag"),
        objects,
    }
}

/// Slug of the "MCP Mesh Log Analysis" dashboard.
const LOG_DASHBOARD: &str = "dashboard-logs";

/// Id of `v`'s "MCP Mesh Log Analysis" dashboard (without rendering the objects).
pub fn log_dashboard_id(v: &Validated) -> String {
    kibana_object_id(&v.name, &v.namespace, LOG_DASHBOARD)
}

/// The body of `POST /api/saved_objects/_import`: one object per line (NDJSON), in order.
pub fn import_ndjson(objects: &[Value]) -> String {
    let mut body = String::new();
    for o in objects {
        body.push_str(&o.to_string());
        body.push('\n');
    }
    body
}

/// Where a dashboard opens in Kibana, relative to Kibana's base URL.
pub fn dashboard_path(id: &str) -> String {
    format!("/app/dashboards#/view/{id}")
}

/// The Elasticsearch role of the user the operator imports the objects as: the Kibana
/// feature privileges the saved objects need in the default space, and nothing else (no
/// cluster or index privileges, not `kibana_system`, not a superuser). For the Elasticsearch
/// sync to create (`PUT /_security/role/<name>`).
pub fn operator_role() -> Value {
    json!({
        "cluster": [],
        "indices": [],
        "applications": [{
            "application": "kibana-.kibana",
            "privileges": [
                "feature_discover.all",
                "feature_dashboard.all",
                "feature_visualize.all",
                "feature_indexPatterns.all",
                "feature_savedObjectsManagement.all",
                "feature_savedObjectsTagging.all",
            ],
            "resources": ["space:default"],
        }],
        "metadata": {"meshlogging": "kibana-dashboards"},
    })
}

/// A field of the mesh's log schema: `app.<path>`.
fn app(path: &str) -> String {
    format!("{APP}.{path}")
}

/// KQL matching error and warning records.
fn errors_and_warnings() -> String {
    format!(
        "{} : (\"ERROR\" or \"CRITICAL\" or \"WARNING\")",
        app("level")
    )
}

/// KQL matching authentication failures.
fn auth_failures() -> String {
    format!(
        "{} : \"auth_failure\" or ({} : * and {} : \"failure\")",
        app("audit.action"),
        app("audit.action"),
        app("audit.result")
    )
}

/// A saved search to render.
struct SearchDef {
    slug: &'static str,
    title: &'static str,
    description: &'static str,
    query: String,
    columns: Vec<String>,
    ascending: bool,
}

/// A Lens chart to render: one layer, its columns in order, and how they are drawn.
struct ChartDef {
    slug: &'static str,
    title: &'static str,
    description: &'static str,
    query: String,
    columns: Vec<(&'static str, Value)>,
    visualization: Visual,
}

/// How a chart's columns are drawn.
enum Visual {
    /// An XY chart: series type, x column, y columns, optional split column.
    Xy {
        series: &'static str,
        x: &'static str,
        y: Vec<&'static str>,
        split: Option<&'static str>,
    },
    /// A table of every column.
    Table,
}

/// One dashboard panel: the object's slug and type, and its place on the 48-column grid.
struct Panel {
    slug: &'static str,
    kind: &'static str,
    title: &'static str,
    grid: (u32, u32, u32, u32),
}

struct Render<'a> {
    v: &'a Validated,
    owner: String,
}

impl<'a> Render<'a> {
    fn new(v: &'a Validated) -> Self {
        Self {
            v,
            owner: v.owner(),
        }
    }

    fn id(&self, slug: &str) -> String {
        kibana_object_id(&self.v.name, &self.v.namespace, slug)
    }

    fn alias(&self) -> &str {
        &self.v.index().name
    }

    fn description(&self, what: &str) -> String {
        format!(
            "{what} Managed by the MeshLogging operator {}: changes are overwritten; copy it to keep your own.",
            owner_marker(&self.owner)
        )
    }

    fn tag_reference(&self) -> Value {
        json!({"type": TAG, "id": self.id("tag"), "name": TAG_REFERENCE})
    }

    fn data_view_reference(&self, name: &str) -> Value {
        json!({"type": DATA_VIEW, "id": self.id("data-view"), "name": name})
    }

    /// A saved object of `kind` with the version fields Kibana `version` needs.
    fn object(
        &self,
        kind: &str,
        slug: &str,
        attributes: Value,
        mut references: Vec<Value>,
    ) -> Value {
        if kind != TAG {
            references.push(self.tag_reference());
        }
        let mut o = Map::new();
        o.insert("type".into(), json!(kind));
        o.insert("id".into(), json!(self.id(slug)));
        o.insert("attributes".into(), attributes);
        o.insert("references".into(), Value::Array(references));
        for (k, val) in version_fields(self.v.version, kind) {
            o.insert(k, val);
        }
        Value::Object(o)
    }

    fn tag(&self) -> Value {
        let attributes = json!({
            "name": format!("meshlogging: {}", self.owner),
            "description": format!(
                "Saved objects managed by the MeshLogging operator {}.",
                owner_marker(&self.owner)
            ),
            "color": "#54B399",
        });
        self.object(TAG, "tag", attributes, vec![])
    }

    fn data_view(&self) -> Value {
        // Over the write alias itself: it spans exactly the backing indices (`<i>-*` would
        // also match the dead-letter index `<i>-deadletter`, whose records are not logs).
        let formats = json!({
            app("request.duration_ms"): {"id": "number", "params": {"pattern": "0,0.[00] ms"}},
            app("metrics.duration_ms"): {"id": "number", "params": {"pattern": "0,0.[00] ms"}},
        });
        let attributes = json!({
            "title": self.alias(),
            "name": format!("MCP Mesh logs {}", owner_marker(&self.owner)),
            "timeFieldName": TIME_FIELD,
            "fields": "[]",
            "fieldFormatMap": formats.to_string(),
            "runtimeFieldMap": "{}",
            "sourceFilters": "[]",
            "typeMeta": "{}",
            "allowNoIndex": true,
        });
        self.object(DATA_VIEW, "data-view", attributes, vec![])
    }
}

/// Lens's form-based datasource is `formBased` from Kibana 8.6 on, `indexpattern` before.
fn datasource_key(v: StackVersion) -> &'static str {
    if (v.major, v.minor) >= (8, 6) {
        "formBased"
    } else {
        "indexpattern"
    }
}

/// The version fields of an object of `kind` for Kibana `v`: which migrations its format
/// already has, so Kibana runs only later ones. Kibana 8.8 and later read
/// `coreMigrationVersion` + `typeMigrationVersion`; earlier 8.x read `migrationVersion`.
/// The versions are those of the formats written here (the format Kibana's own sample data
/// uses), never newer than the Kibana reading them: a newer one is refused on import.
/// The tag type has no migrations, so it carries none.
fn version_fields(v: StackVersion, kind: &str) -> Vec<(String, Value)> {
    let type_version = match kind {
        DATA_VIEW => "7.11.0",
        SEARCH => "7.9.3",
        LENS if datasource_key(v) == "formBased" => "8.6.0",
        LENS => "7.14.0",
        // Kibana's own sample dashboards carry 8.7.0; a Kibana before 8.7 would refuse it.
        DASHBOARD if (v.major, v.minor) >= (8, 7) => "8.7.0",
        DASHBOARD => "7.17.3",
        _ => return Vec::new(),
    };
    if (v.major, v.minor) >= (8, 8) {
        vec![
            ("coreMigrationVersion".into(), json!("8.8.0")),
            ("typeMigrationVersion".into(), json!(type_version)),
        ]
    } else {
        vec![("migrationVersion".into(), json!({kind: type_version}))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_fields_follow_the_stack() {
        let v = |s| StackVersion::parse(s).expect("version");
        assert_eq!(version_fields(v("8.15.3"), LENS)[1].1, json!("8.6.0"));
        assert_eq!(
            version_fields(v("8.5.0"), SEARCH),
            vec![("migrationVersion".to_string(), json!({"search": "7.9.3"}))]
        );
        assert!(version_fields(v("9.1.0"), TAG).is_empty());
        assert_eq!(datasource_key(v("8.5.3")), "indexpattern");
    }

    #[test]
    fn the_ndjson_body_is_one_object_per_line() {
        let body = import_ndjson(&[json!({"a": 1}), json!({"b": "x\ny"})]);
        assert_eq!(body, "{\"a\":1}\n{\"b\":\"x\\ny\"}\n");
    }
}
