//! The YAML test files and the skip list.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::specs::walk;

#[derive(Debug, Clone)]
pub(crate) struct TestCase {
    pub(crate) file: String,
    pub(crate) name: String,
    pub(crate) setup: Vec<Value>,
    pub(crate) teardown: Vec<Value>,
    pub(crate) steps: Vec<Value>,
}

pub(crate) fn load_tests(dirs: &[PathBuf]) -> (Vec<TestCase>, Vec<String>) {
    let mut tests = Vec::new();
    let mut errors = Vec::new();
    for dir in dirs {
        for f in walk(dir) {
            if !f.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                continue;
            }
            let rel = f
                .strip_prefix(dir)
                .unwrap_or(&f)
                .to_string_lossy()
                .to_string();
            let text = match std::fs::read_to_string(&f) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(format!("{rel}: {e}"));
                    continue;
                }
            };
            let docs: Vec<Value> = match serde_saphyr::from_multiple::<Value>(&text) {
                Ok(d) => d,
                Err(e) => {
                    errors.push(format!("{rel}: YAML: {e}"));
                    continue;
                }
            };
            let mut setup = Vec::new();
            let mut teardown = Vec::new();
            let mut cases = Vec::new();
            for d in docs {
                let Value::Object(m) = d else { continue };
                for (k, v) in m {
                    let steps = v.as_array().cloned().unwrap_or_default();
                    match k.as_str() {
                        "setup" => setup = steps,
                        "teardown" => teardown = steps,
                        _ => cases.push((k, steps)),
                    }
                }
            }
            for (name, steps) in cases {
                tests.push(TestCase {
                    file: rel.clone(),
                    name,
                    setup: setup.clone(),
                    teardown: teardown.clone(),
                    steps,
                });
            }
        }
    }
    (tests, errors)
}

pub(crate) struct SkipEntry {
    pub(crate) file: String,
    pub(crate) name: String,
    pub(crate) reason: String,
}

pub(crate) fn load_skips(path: &Path) -> Vec<SkipEntry> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut p = l.splitn(3, " :: ");
            Some(SkipEntry {
                file: p.next()?.trim().to_string(),
                name: p.next()?.trim().to_string(),
                reason: p.next().unwrap_or("").trim().to_string(),
            })
        })
        .collect()
}
