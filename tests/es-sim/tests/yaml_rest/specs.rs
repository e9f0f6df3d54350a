//! The REST API specs: which HTTP calls a `do:` API name maps to.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

#[derive(Debug, Clone, Default)]
pub(crate) struct SpecPath {
    pub(crate) path: String,
    pub(crate) methods: Vec<String>,
    pub(crate) parts: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Spec {
    pub(crate) paths: Vec<SpecPath>,
    pub(crate) params: BTreeSet<String>,
}

pub(crate) fn parts_of(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(p, _)| p.to_string()))
        .collect()
}

impl SpecPath {
    /// A path of an API spec, with the methods a JSON array lists (none when missing).
    pub(crate) fn new(path: &str, methods: Option<&Value>) -> SpecPath {
        let methods = methods
            .and_then(Value::as_array)
            .map(|m| {
                m.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        SpecPath {
            path: path.to_string(),
            methods,
            parts: parts_of(path),
        }
    }
}

pub(crate) fn parse_spec(v: &Value) -> Option<(String, Spec)> {
    let (name, body) = v.as_object()?.iter().next()?;
    let url = body.get("url")?;
    let mut spec = Spec::default();
    if let Some(paths) = url.get("paths").and_then(Value::as_array) {
        for p in paths {
            if let Some(s) = p.as_str() {
                // old layout: methods at the top level
                spec.paths.push(SpecPath::new(s, body.get("methods")));
            } else if let Some(path) = p.get("path").and_then(Value::as_str) {
                spec.paths.push(SpecPath::new(path, p.get("methods")));
            }
        }
    }
    for params in [body.get("params"), url.get("params")]
        .into_iter()
        .flatten()
    {
        if let Some(m) = params.as_object() {
            spec.params.extend(m.keys().cloned());
        }
    }
    Some((name.clone(), spec))
}

pub(crate) const GET: &[&str] = &["GET"];
pub(crate) const HEAD: &[&str] = &["HEAD"];
pub(crate) const PUT: &[&str] = &["PUT"];
pub(crate) const POST: &[&str] = &["POST"];
pub(crate) const DELETE: &[&str] = &["DELETE"];
pub(crate) const PUT_POST: &[&str] = &["PUT", "POST"];
pub(crate) const GET_POST: &[&str] = &["GET", "POST"];

/// APIs the copied tests call whose spec files are not in the conformance folder:
/// `(api name, methods, path)`, one row per path.
#[rustfmt::skip] // a table: one row a line
pub(crate) const BUILTIN_SPECS: &[(&str, &[&str], &str)] = &[
    ("index", PUT_POST, "/{index}/_doc/{id}"),
    ("index", POST, "/{index}/_doc"),
    ("create", PUT_POST, "/{index}/_create/{id}"),
    ("get", GET, "/{index}/_doc/{id}"),
    ("exists", HEAD, "/{index}/_doc/{id}"),
    ("delete", DELETE, "/{index}/_doc/{id}"),
    ("search", GET_POST, "/_search"),
    ("search", GET_POST, "/{index}/_search"),
    ("count", GET_POST, "/_count"),
    ("count", GET_POST, "/{index}/_count"),
    ("indices.refresh", POST, "/_refresh"),
    ("indices.refresh", POST, "/{index}/_refresh"),
    ("indices.close", POST, "/{index}/_close"),
    ("indices.open", POST, "/{index}/_open"),
    ("indices.get_mapping", GET, "/_mapping"),
    ("indices.get_mapping", GET, "/{index}/_mapping"),
    ("indices.put_mapping", PUT, "/{index}/_mapping"),
    ("indices.get_settings", GET, "/_settings"),
    ("indices.get_settings", GET, "/{index}/_settings"),
    ("indices.get_settings", GET, "/{index}/_settings/{name}"),
    ("indices.put_settings", PUT, "/_settings"),
    ("indices.put_settings", PUT, "/{index}/_settings"),
    ("indices.delete_alias", DELETE, "/{index}/_alias/{name}"),
    ("indices.put_template", PUT, "/_template/{name}"),
    ("indices.create_data_stream", PUT, "/_data_stream/{name}"),
    ("cluster.exists_component_template", HEAD, "/_component_template/{name}"),
    ("ilm.remove_policy", POST, "/{index}/_ilm/remove"),
    ("ilm.get_status", GET, "/_ilm/status"),
    ("slm.execute_lifecycle", PUT, "/_slm/policy/{policy_id}/_execute"),
    ("slm.get_status", GET, "/_slm/status"),
    ("snapshot.create", PUT, "/_snapshot/{repository}/{snapshot}"),
    ("snapshot.get", GET, "/_snapshot/{repository}/{snapshot}"),
    ("snapshot.delete", DELETE, "/_snapshot/{repository}/{snapshot}"),
    ("snapshot.cleanup_repository", POST, "/_snapshot/{repository}/_cleanup"),
    ("security.put_role", PUT, "/_security/role/{name}"),
    ("security.get_role", GET, "/_security/role"),
    ("security.get_role", GET, "/_security/role/{name}"),
    ("security.delete_role", DELETE, "/_security/role/{name}"),
    ("security.put_user", PUT, "/_security/user/{username}"),
    ("security.delete_user", DELETE, "/_security/user/{username}"),
    ("security.authenticate", GET, "/_security/_authenticate"),
    ("capabilities", GET, "/_capabilities"),
];

pub(crate) fn load_specs(dirs: &[PathBuf]) -> BTreeMap<String, Spec> {
    let mut specs: BTreeMap<String, Spec> = BTreeMap::new();
    for &(name, methods, path) in BUILTIN_SPECS {
        let spec = specs.entry(name.to_string()).or_insert_with(|| Spec {
            paths: Vec::new(),
            params: BTreeSet::new(),
        });
        spec.paths.push(SpecPath {
            path: path.to_string(),
            methods: methods.iter().map(|s| s.to_string()).collect(),
            parts: parts_of(path),
        });
    }
    for dir in dirs {
        for f in walk(dir) {
            if f.extension().is_some_and(|e| e == "json")
                && f.parent()
                    .and_then(|p| p.file_name())
                    .is_some_and(|n| n == "api")
                && let Ok(text) = std::fs::read_to_string(&f)
                && let Ok(v) = serde_json::from_str::<Value>(&text)
                && let Some((name, spec)) = parse_spec(&v)
            {
                specs.insert(name, spec);
            }
        }
    }
    specs
}

pub(crate) fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
