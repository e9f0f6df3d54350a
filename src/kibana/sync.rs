//! Keeping the resource's saved objects in Kibana (I/O): ask `/api/status` whether Kibana
//! is available, read the objects back (`_bulk_get`), compare each with its desired form
//! (what Kibana adds — timestamps, `version`, `namespaces`, migration versions, attributes
//! that migrations fill in — is not a difference), import only those that differ or are
//! missing (`_import?overwrite=true`, one multipart NDJSON file), and delete the objects the
//! resource owns but no longer wants. Zero writes when everything matches.
//!
//! Ownership: an object is the resource's when it references the resource's tag (see
//! [`objects`](super::objects)). An object at one of the operator's ids that lacks the
//! marker is someone else's: it is reported and never overwritten or deleted.

use serde_json::Value;

use super::client::{KibanaClient, KibanaError};
use super::objects::{DesiredObjects, TYPES, key};

/// A saved object named in a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    /// Saved object type.
    pub kind: String,
    /// Id.
    pub id: String,
    /// Title (or name).
    pub title: String,
}

/// An object Kibana refused, with its error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The object.
    pub object: ObjectRef,
    /// Kibana's error: its type (`missing_references`, `unsupported_type`, `conflict`,
    /// `unknown`) and message or the references missing.
    pub error: String,
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KibanaReport {
    /// Imported and absent before.
    pub created: Vec<ObjectRef>,
    /// Imported over a copy that differed (changed or incomplete).
    pub updated: Vec<ObjectRef>,
    /// Deleted: the resource's objects it no longer wants.
    pub deleted: Vec<ObjectRef>,
    /// Objects already as desired.
    pub unchanged: usize,
    /// Objects Kibana refused.
    pub failed: Vec<Failure>,
    /// Objects at one of the operator's ids without its marker: left alone.
    pub not_owned: Vec<ObjectRef>,
}

impl KibanaReport {
    /// Whether every object is in place.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty() && self.not_owned.is_empty()
    }
}

fn object_ref(o: &Value) -> ObjectRef {
    let (kind, id) = key(o);
    let a = &o["attributes"];
    let title = a["title"]
        .as_str()
        .or_else(|| a["name"].as_str())
        .unwrap_or_default()
        .to_string();
    ObjectRef { kind, id, title }
}

/// Brings Kibana's copy of `desired` up to date: creates what is missing, restores what
/// changed, deletes the resource's objects it no longer renders.
pub async fn sync(
    client: &KibanaClient,
    desired: &DesiredObjects,
) -> Result<KibanaReport, KibanaError> {
    client.available().await?;
    let keys = desired.keys();
    let actual = client.bulk_get(&keys).await?;
    let mut report = KibanaReport::default();
    let mut to_import = Vec::new();
    let mut created = Vec::new();
    for (want, have) in desired.objects.iter().zip(actual) {
        match have {
            None => {
                created.push(object_ref(want));
                to_import.push(want.clone());
            }
            Some(have) if !desired.is_owned(&have) => report.not_owned.push(object_ref(&have)),
            Some(have) if matches(&have, want) => report.unchanged += 1,
            Some(_) => {
                report.updated.push(object_ref(want));
                to_import.push(want.clone());
            }
        }
    }
    report.created = created;
    if !to_import.is_empty() {
        let answer = client.import(&to_import).await?;
        let failed = import_failures(&answer);
        let failed_keys: Vec<(String, String)> = failed
            .iter()
            .map(|f| (f.object.kind.clone(), f.object.id.clone()))
            .collect();
        let ok = |r: &ObjectRef| !failed_keys.contains(&(r.kind.clone(), r.id.clone()));
        report.created.retain(ok);
        report.updated.retain(ok);
        report.failed = failed;
    }
    // The resource's objects it no longer renders (a later version dropped them).
    for o in client.find_tagged(&desired.tag_id).await? {
        let k = key(&o);
        if keys.contains(&k) || !desired.is_owned(&o) {
            continue;
        }
        if client.delete(&k.0, &k.1).await? {
            report.deleted.push(object_ref(&o));
        }
    }
    Ok(report)
}

/// Deletes every object of the resource (dashboards turned off, or the resource deleted):
/// what references its tag, then the tag. Objects without the marker are left alone.
pub async fn remove(
    client: &KibanaClient,
    desired: &DesiredObjects,
) -> Result<KibanaReport, KibanaError> {
    client.available().await?;
    let mut report = KibanaReport::default();
    // What references the tag (also objects a later version no longer renders), and every
    // object at the resource's ids (found even when the tag, and the references to it, are
    // gone).
    let mut candidates = client.find_tagged(&desired.tag_id).await?;
    let keys = desired.keys();
    for o in client.bulk_get(&keys).await?.into_iter().flatten() {
        if !candidates.iter().any(|c| key(c) == key(&o)) {
            candidates.push(o);
        }
    }
    let mut owned = Vec::new();
    for o in candidates {
        if desired.is_owned(&o) {
            owned.push(o);
        } else {
            report.not_owned.push(object_ref(&o));
        }
    }
    // Dashboards before what they show, the data view after its users, the tag last.
    owned.sort_by_key(|o| std::cmp::Reverse(TYPES.iter().position(|t| o["type"] == *t)));
    for o in owned {
        let (kind, id) = key(&o);
        if client.delete(&kind, &id).await? {
            report.deleted.push(object_ref(&o));
        }
    }
    Ok(report)
}

/// The objects an import answer names as failed, with Kibana's error.
fn import_failures(answer: &Value) -> Vec<Failure> {
    answer["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let kind = e["error"]["type"].as_str().unwrap_or("unknown");
            let detail = match kind {
                "missing_references" => {
                    let refs: Vec<String> = e["error"]["references"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|r| {
                            format!(
                                "{}/{}",
                                r["type"].as_str().unwrap_or("?"),
                                r["id"].as_str().unwrap_or("?")
                            )
                        })
                        .collect();
                    format!("missing_references: {}", refs.join(", "))
                }
                _ => match e["error"]["message"].as_str() {
                    Some(m) => format!("{kind}: {m}"),
                    None => kind.to_string(),
                },
            };
            Failure {
                object: ObjectRef {
                    kind: e["type"].as_str().unwrap_or_default().to_string(),
                    id: e["id"].as_str().unwrap_or_default().to_string(),
                    title: e["meta"]["title"]
                        .as_str()
                        .or_else(|| e["title"].as_str())
                        .unwrap_or_default()
                        .to_string(),
                },
                error: detail,
            }
        })
        .collect()
}

/// Whether Kibana's copy `have` is the desired object `want`: every desired attribute is
/// there with the same value (attributes Kibana or its migrations add are not a
/// difference; strings holding JSON are compared as JSON), and every desired reference is
/// there. Version fields, timestamps and `namespaces` are Kibana's and not compared.
pub fn matches(have: &Value, want: &Value) -> bool {
    let refs_ok = want["references"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|r| {
            have["references"].as_array().is_some_and(|h| {
                h.iter()
                    .any(|x| x["type"] == r["type"] && x["id"] == r["id"] && x["name"] == r["name"])
            })
        });
    refs_ok && contains(&have["attributes"], &want["attributes"])
}

/// `want` is a part of `have`: objects may have extra keys, arrays must have the same
/// length and match element by element, strings holding JSON objects or arrays compare as
/// JSON.
fn contains(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| h.get(k).is_some_and(|hv| contains(hv, wv))),
        (Value::Array(h), Value::Array(w)) => {
            h.len() == w.len() && h.iter().zip(w).all(|(a, b)| contains(a, b))
        }
        (Value::String(h), Value::String(w)) if h != w => {
            let parse = |s: &str| {
                serde_json::from_str::<Value>(s)
                    .ok()
                    .filter(|v| v.is_object() || v.is_array())
            };
            match (parse(h), parse(w)) {
                (Some(hv), Some(wv)) => contains(&hv, &wv),
                _ => false,
            }
        }
        (Value::Number(h), Value::Number(w)) => h.as_f64() == w.as_f64(),
        _ => have == want,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_kibana_adds_is_no_difference() {
        let want = json!({
            "type": "search", "id": "s",
            "attributes": {"title": "t", "kibanaSavedObjectMeta": {"searchSourceJSON": "{\"query\":{\"query\":\"\"},\"filter\":[]}"}},
            "references": [{"type": "tag", "id": "x", "name": "tag-ref"}],
            "typeMigrationVersion": "7.9.3",
        });
        let have = json!({
            "type": "search", "id": "s", "version": "WzEsMV0=", "updated_at": "2026-01-01T00:00:00Z",
            "attributes": {"title": "t", "hits": 0, "kibanaSavedObjectMeta": {"searchSourceJSON": "{\"filter\":[],\"query\":{\"language\":\"kuery\",\"query\":\"\"}}"}},
            "references": [{"type": "tag", "id": "x", "name": "tag-ref"}],
            "typeMigrationVersion": "8.0.0",
        });
        assert!(matches(&have, &want));
        let mut changed = have.clone();
        changed["attributes"]["title"] = json!("mine now");
        assert!(!matches(&changed, &want));
        let mut untagged = have;
        untagged["references"] = json!([]);
        assert!(!matches(&untagged, &want));
    }

    #[test]
    fn import_errors_name_the_object_and_kibanas_error() {
        let answer = json!({"success": false, "successCount": 0, "errors": [
            {"id": "d", "type": "dashboard", "meta": {"title": "D"}, "error": {"type": "missing_references", "references": [{"type": "lens", "id": "l"}]}},
            {"id": "w", "type": "wibble", "meta": {"title": "W"}, "error": {"type": "unsupported_type"}},
        ]});
        let f = import_failures(&answer);
        assert_eq!(f[0].error, "missing_references: lens/l");
        assert_eq!(f[0].object.title, "D");
        assert_eq!(f[1].error, "unsupported_type");
    }
}
