//! The saved objects API over the in-memory state: pure handlers, one per route, answering
//! with Kibana's status codes and error bodies (`{"statusCode", "error", "message"}`).
//!
//! Checks, as Kibana's documentation describes the API: writes need the `kbn-xsrf` header;
//! the import takes a multipart `file` ending in `.ndjson`, refuses malformed NDJSON as a
//! whole (400), and reports per object `unsupported_type`, `conflict` (without `overwrite`),
//! `missing_references` (a reference to a data view or saved search neither in the file nor
//! in Kibana: Kibana checks no other reference type) and `unknown` (an attribute Kibana
//! stores as a string holding JSON that is not one, or a version newer than this Kibana
//! knows). What imports is stored as Kibana stores it: with `namespaces`, `updated_at`,
//! `version`, `managed` and the type's current `typeMigrationVersion`.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use serde_json::{Map, Value, json};

/// Importable types and the newest migration version this stand-in knows for each. A
/// document claiming a newer one is refused, as Kibana refuses documents from a newer Kibana.
pub const TYPES: &[(&str, &str)] = &[
    ("config", "8.9.0"),
    ("dashboard", "10.2.0"),
    ("index-pattern", "8.0.0"),
    ("lens", "8.9.0"),
    ("map", "8.4.0"),
    ("query", "8.0.0"),
    ("search", "8.0.0"),
    ("tag", "8.0.0"),
    ("visualization", "8.5.0"),
];

/// Types whose references the import checks (`missing_references`); others are not checked.
pub const VALIDATED_REFERENCES: &[&str] = &["index-pattern", "search"];

/// Attributes (JSON pointers) Kibana stores as strings holding JSON.
const JSON_STRINGS: &[&str] = &[
    "/kibanaSavedObjectMeta/searchSourceJSON",
    "/panelsJSON",
    "/optionsJSON",
    "/visState",
    "/uiStateJSON",
    "/fields",
    "/fieldFormatMap",
    "/runtimeFieldMap",
    "/sourceFilters",
];

/// One stored saved object.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The object's attributes.
    pub attributes: Value,
    /// Its references (`type`, `id`, `name`).
    pub references: Vec<Value>,
    /// `managed` as imported.
    pub managed: bool,
    /// Write counter value of its last write (gives `version` and `updated_at`).
    pub seq: u64,
    /// Write counter value of its creation.
    pub created: u64,
}

/// The saved objects of the default space, by `(type, id)`.
#[derive(Debug, Default, Clone)]
pub struct State {
    /// Every object.
    pub objects: BTreeMap<(String, String), Stored>,
    /// Counts writes, for `version` and timestamps.
    pub seq: u64,
    /// Test control: the import refuses every object of these types with an `unknown`
    /// error carrying the message (as Kibana refuses an object its validation or a
    /// migration rejects), the others of the same file still import.
    pub refuse: BTreeMap<String, String>,
}

/// An answer: status and body (JSON, or NDJSON text for the export).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A JSON body.
    Json(u16, Value),
    /// An NDJSON body.
    Ndjson(u16, String),
}

/// Kibana's error body.
pub fn error(status: u16, message: impl Into<String>) -> Reply {
    let name = match status {
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        415 => "Unsupported Media Type",
        503 => "Service Unavailable",
        _ => "Error",
    };
    Reply::Json(
        status,
        json!({"statusCode": status, "error": name, "message": message.into()}),
    )
}

fn latest(kind: &str) -> Option<&'static str> {
    TYPES.iter().find(|(t, _)| *t == kind).map(|(_, v)| *v)
}

fn icon(kind: &str) -> &'static str {
    match kind {
        "dashboard" => "dashboardApp",
        "index-pattern" => "indexPatternApp",
        "search" => "discoverApp",
        "lens" => "lensApp",
        "tag" => "tag",
        _ => "questionInCircle",
    }
}

fn semver(v: &str) -> Option<(u64, u64, u64)> {
    let mut p = v.split('.').map(|x| x.parse::<u64>().ok());
    Some((p.next()??, p.next()??, p.next()??))
}

/// `version` as Kibana shows it: base64 of `[seq,1]`.
fn version_of(seq: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("[{seq},1]"))
}

/// A fixed clock: one second per write from 2026-01-01, so answers are reproducible.
fn timestamp(seq: u64) -> String {
    let (m, s) = ((seq / 60) % 60, seq % 60);
    let h = (seq / 3600) % 24;
    format!("2026-01-01T{h:02}:{m:02}:{s:02}.000Z")
}

impl State {
    /// The object as the API returns it.
    pub fn render(&self, kind: &str, id: &str) -> Option<Value> {
        let o = self.objects.get(&(kind.to_string(), id.to_string()))?;
        Some(json!({
            "id": id,
            "type": kind,
            "namespaces": ["default"],
            "updated_at": timestamp(o.seq),
            "created_at": timestamp(o.created),
            "version": version_of(o.seq),
            "attributes": o.attributes,
            "references": o.references,
            "managed": o.managed,
            "coreMigrationVersion": "8.8.0",
            "typeMigrationVersion": latest(kind).unwrap_or("8.0.0"),
        }))
    }

    fn title(attributes: &Value) -> Option<String> {
        attributes
            .get("title")
            .or_else(|| attributes.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// `POST /api/saved_objects/_import`: `file` is the uploaded file's name and content.
    pub fn import(&mut self, file: Option<(String, String)>, overwrite: bool) -> Reply {
        let Some((name, content)) = file else {
            return error(
                400,
                "[request body.file]: expected value of type [Stream] but got [undefined]",
            );
        };
        let extension = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        if extension != "ndjson" {
            return error(400, format!("Invalid file extension .{extension}"));
        }
        let mut docs = Vec::new();
        for (i, line) in content.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(o)) if o.contains_key("exportedCount") => {}
                Ok(Value::Object(o)) => docs.push(o),
                Ok(_) => return error(400, format!("line {}: not a saved object", i + 1)),
                Err(e) => {
                    return error(
                        400,
                        format!("Unexpected token in JSON at line {}: {e}", i + 1),
                    );
                }
            }
        }
        let in_file: BTreeSet<(String, String)> = docs
            .iter()
            .map(|d| (str_of(d, "type"), str_of(d, "id")))
            .collect();
        let mut errors = Vec::new();
        let mut results = Vec::new();
        for d in docs {
            let (kind, id) = (str_of(&d, "type"), str_of(&d, "id"));
            let attributes = d.get("attributes").cloned().unwrap_or(json!({}));
            let title = Self::title(&attributes);
            let meta = json!({"title": title, "icon": icon(&kind)});
            let fail = |e: Value| json!({"id": id, "type": kind, "title": title, "meta": meta, "error": e});
            let Some(latest) = latest(&kind) else {
                errors.push(fail(json!({"type": "unsupported_type"})));
                continue;
            };
            if id.is_empty() || !attributes.is_object() {
                errors.push(fail(json!({"type": "unknown", "message": "a saved object needs an id and attributes", "statusCode": 400})));
                continue;
            }
            if let Some(message) = self.refuse.get(&kind) {
                errors.push(fail(
                    json!({"type": "unknown", "message": message, "statusCode": 400}),
                ));
                continue;
            }
            if let Some(message) = check_document(&d, &kind, latest) {
                errors.push(fail(
                    json!({"type": "unknown", "message": message, "statusCode": 400}),
                ));
                continue;
            }
            let references: Vec<Value> = d
                .get("references")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            // Kibana checks only references to data views and saved searches (a dashboard
            // panel pointing nowhere imports, and shows an error when opened).
            let missing: Vec<Value> = references
                .iter()
                .filter(|r| VALIDATED_REFERENCES.contains(&r["type"].as_str().unwrap_or("")))
                .filter(|r| {
                    let k = (str_of_v(r, "type"), str_of_v(r, "id"));
                    !in_file.contains(&k) && !self.objects.contains_key(&k)
                })
                .map(|r| json!({"type": r["type"], "id": r["id"]}))
                .collect();
            if !missing.is_empty() {
                errors.push(fail(
                    json!({"type": "missing_references", "references": missing}),
                ));
                continue;
            }
            let k = (kind.clone(), id.clone());
            let existed = self.objects.contains_key(&k);
            if existed && !overwrite {
                errors.push(fail(json!({"type": "conflict"})));
                continue;
            }
            self.seq += 1;
            let created = self.objects.get(&k).map_or(self.seq, |o| o.created);
            self.objects.insert(
                k,
                Stored {
                    attributes,
                    references,
                    managed: d.get("managed").and_then(Value::as_bool).unwrap_or(false),
                    seq: self.seq,
                    created,
                },
            );
            let mut r = json!({"type": kind, "id": id, "meta": meta, "managed": false});
            if existed {
                r["overwrite"] = json!(true);
            }
            results.push(r);
        }
        let mut body = json!({
            "success": errors.is_empty(),
            "successCount": results.len(),
            "warnings": [],
        });
        if !results.is_empty() {
            body["successResults"] = Value::Array(results);
        }
        if !errors.is_empty() {
            body["errors"] = Value::Array(errors);
        }
        Reply::Json(200, body)
    }

    /// `POST /api/saved_objects/_bulk_get`.
    pub fn bulk_get(&self, body: &Value) -> Reply {
        let Some(items) = body.as_array() else {
            return error(400, "[request body]: expected value of type [array]");
        };
        let mut out = Vec::new();
        for item in items {
            let (kind, id) = (str_of_v(item, "type"), str_of_v(item, "id"));
            if latest(&kind).is_none() {
                out.push(json!({"id": id, "type": kind, "error": {"statusCode": 400, "error": "Bad Request", "message": format!("Unsupported saved object type: '{kind}': Bad Request")}}));
                continue;
            }
            out.push(self.render(&kind, &id).unwrap_or_else(|| {
                json!({"id": id, "type": kind, "error": {"statusCode": 404, "error": "Not Found", "message": format!("Saved object [{kind}/{id}] not found")}})
            }));
        }
        Reply::Json(200, json!({"saved_objects": out}))
    }

    /// `GET /api/saved_objects/<type>/<id>`.
    pub fn get(&self, kind: &str, id: &str) -> Reply {
        if latest(kind).is_none() {
            return error(
                400,
                format!("Unsupported saved object type: '{kind}': Bad Request"),
            );
        }
        match self.render(kind, id) {
            Some(o) => Reply::Json(200, o),
            None => error(404, format!("Saved object [{kind}/{id}] not found")),
        }
    }

    /// `DELETE /api/saved_objects/<type>/<id>`.
    pub fn delete(&mut self, kind: &str, id: &str) -> Reply {
        if latest(kind).is_none() {
            return error(
                400,
                format!("Unsupported saved object type: '{kind}': Bad Request"),
            );
        }
        match self.objects.remove(&(kind.to_string(), id.to_string())) {
            Some(_) => Reply::Json(200, json!({})),
            None => error(404, format!("Saved object [{kind}/{id}] not found")),
        }
    }

    /// `GET /api/saved_objects/_find`: `type` (one or more), `search` with `search_fields`
    /// (a prefix `*` or an exact phrase), `has_reference` (JSON object or array), `page`,
    /// `per_page`.
    pub fn find(&self, query: &[(String, String)]) -> Reply {
        let all = |k: &str| -> Vec<&str> {
            query
                .iter()
                .filter(|(q, _)| q == k)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        let one = |k: &str| all(k).first().map(|s| s.to_string());
        let types: Vec<&str> = all("type").iter().flat_map(|t| t.split(',')).collect();
        if types.is_empty() {
            return error(
                400,
                "[request query.type]: expected at least one defined value but got [undefined]",
            );
        }
        if let Some(bad) = types.iter().find(|t| latest(t).is_none()) {
            return error(400, format!("This type {bad} is not allowed: Bad Request"));
        }
        let refs: Vec<(String, String)> = match one("has_reference") {
            None => Vec::new(),
            Some(s) => match serde_json::from_str::<Value>(&s) {
                Ok(Value::Array(a)) => a
                    .iter()
                    .map(|r| (str_of_v(r, "type"), str_of_v(r, "id")))
                    .collect(),
                Ok(r @ Value::Object(_)) => vec![(str_of_v(&r, "type"), str_of_v(&r, "id"))],
                _ => {
                    return error(
                        400,
                        "[request query.has_reference]: could not parse object value from json input",
                    );
                }
            },
        };
        let search = one("search");
        let fields: Vec<String> = all("search_fields").iter().map(|s| s.to_string()).collect();
        let per_page: usize = one("per_page").and_then(|s| s.parse().ok()).unwrap_or(20);
        let page: usize = one("page").and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
        let hits: Vec<Value> = self
            .objects
            .iter()
            .filter(|((kind, _), _)| types.contains(&kind.as_str()))
            .filter(|(_, o)| {
                refs.is_empty()
                    || o.references
                        .iter()
                        .any(|r| refs.contains(&(str_of_v(r, "type"), str_of_v(r, "id"))))
            })
            .filter(|(_, o)| match &search {
                None => true,
                Some(s) => {
                    let fields = if fields.is_empty() {
                        vec!["title".to_string()]
                    } else {
                        fields.clone()
                    };
                    let needle = s.trim_matches('"');
                    fields.iter().any(|f| {
                        let v = o.attributes.get(f).and_then(Value::as_str).unwrap_or("");
                        match needle.strip_suffix('*') {
                            Some(prefix) => v
                                .to_lowercase()
                                .split_whitespace()
                                .any(|w| w.starts_with(&prefix.to_lowercase())),
                            None => v.to_lowercase().contains(&needle.to_lowercase()),
                        }
                    })
                }
            })
            .filter_map(|((kind, id), _)| {
                let mut o = self.render(kind, id)?;
                o["score"] = json!(0);
                Some(o)
            })
            .collect();
        let total = hits.len();
        let page_hits: Vec<Value> = hits
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        Reply::Json(
            200,
            json!({"page": page, "per_page": per_page, "total": total, "saved_objects": page_hits}),
        )
    }

    /// `POST /api/saved_objects/_export`: `type` (string or array) or `objects`; NDJSON with
    /// the export summary as the last line.
    pub fn export(&self, body: &Value) -> Reply {
        let mut keys: Vec<(String, String)> = Vec::new();
        let mut missing = Vec::new();
        if let Some(objects) = body.get("objects").and_then(Value::as_array) {
            for o in objects {
                let k = (str_of_v(o, "type"), str_of_v(o, "id"));
                if self.objects.contains_key(&k) {
                    keys.push(k);
                } else {
                    missing.push(json!({"type": k.0, "id": k.1}));
                }
            }
        } else {
            let types: Vec<String> = match body.get("type") {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                _ => return error(400, "Either `type` or `objects` are required."),
            };
            if let Some(bad) = types.iter().find(|t| latest(t).is_none()) {
                return error(
                    400,
                    format!("Trying to export non-exportable type(s): {bad}"),
                );
            }
            keys = self
                .objects
                .keys()
                .filter(|(t, _)| types.contains(t))
                .cloned()
                .collect();
        }
        if !missing.is_empty() {
            return Reply::Json(
                400,
                json!({"statusCode": 400, "error": "Bad Request", "message": "Error fetching objects to export", "attributes": {"objects": missing}}),
            );
        }
        let mut text = String::new();
        for (t, id) in &keys {
            if let Some(o) = self.render(t, id) {
                text.push_str(&o.to_string());
                text.push('\n');
            }
        }
        if body.get("excludeExportDetails").and_then(Value::as_bool) != Some(true) {
            let summary = json!({"excludedObjects": [], "excludedObjectsCount": 0, "exportedCount": keys.len(), "missingRefCount": 0, "missingReferences": []});
            text.push_str(&summary.to_string());
            text.push('\n');
        }
        Reply::Ndjson(200, text)
    }
}

/// Why Kibana would refuse this document, if it would: an attribute it stores as a string
/// holding JSON is anything else, or the document comes from a newer Kibana.
fn check_document(d: &Map<String, Value>, kind: &str, latest: &str) -> Option<String> {
    let attributes = d.get("attributes")?;
    for p in JSON_STRINGS {
        match attributes.pointer(p) {
            None => {}
            Some(Value::String(s)) if serde_json::from_str::<Value>(s).is_err() => {
                return Some(format!("attribute {} of {kind} must hold JSON", &p[1..]));
            }
            Some(Value::String(_)) => {}
            Some(_) => {
                return Some(format!(
                    "[attributes{}]: expected value of type [string]",
                    p.replace('/', ".")
                ));
            }
        }
    }
    let claimed = d
        .get("typeMigrationVersion")
        .and_then(Value::as_str)
        .or_else(|| d.get("migrationVersion")?.get(kind)?.as_str());
    if let Some(v) = claimed {
        match (semver(v), semver(latest)) {
            (Some(a), Some(b)) if a > b => {
                return Some(format!(
                    "Document \"{}\" belongs to a more recent version of Kibana [{v}] when the last known version is [{latest}].",
                    str_of(d, "id")
                ));
            }
            (None, _) => {
                return Some(format!(
                    "Invalid version [{v}] in document \"{}\"",
                    str_of(d, "id")
                ));
            }
            _ => {}
        }
    }
    None
}

fn str_of(m: &Map<String, Value>, k: &str) -> String {
    m.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn str_of_v(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}
