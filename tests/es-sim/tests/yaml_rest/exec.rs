//! Running one test: the steps (`do`, `match`, `set`, ...) against a stand-in.

use std::collections::BTreeMap;
use std::sync::Arc;

use es_sim::util::string_list;
use serde_json::{Map, Value};

use crate::specs::{Spec, SpecPath};
use crate::{ADMIN_PASSWORD, ADMIN_USER, RENAMED_PARTS};

#[derive(Debug, Clone)]
pub(crate) struct Resp {
    pub(crate) body: Value,
}

pub(crate) struct Exec {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
    pub(crate) specs: Arc<BTreeMap<String, Spec>>,
    pub(crate) stash: Map<String, Value>,
    pub(crate) response: Option<Resp>,
    pub(crate) version: String,
}

/// `(method, path and query, optional (content type, body))`
pub(crate) type BuiltRequest = (String, String, Option<(String, String)>);

pub(crate) enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

pub(crate) const RUNNER_FEATURES: &[&str] = &[
    "headers",
    "allowed_warnings",
    "allowed_warnings_regex",
    "warnings",
    "warnings_regex",
    "catch_unauthorized",
    "default_shards",
    "regex",
    "contains",
    "transform_and_set",
    "stash_in_key",
    "stash_in_path",
    "embedded_stash_key",
    "arbitrary_key",
    "capabilities",
    "close_to",
    "is_after",
    "xpack",
    "fips_140",
    "skip_os",
    "stash_path_replace",
];

/// Why the runner cannot run a test that needs `features` (a string or a list), if it cannot.
pub(crate) fn lacks_features(features: Option<&Value>) -> Option<String> {
    let missing: Vec<String> = string_list(features)
        .into_iter()
        .filter(|f| !RUNNER_FEATURES.contains(&f.as_str()))
        .collect();
    (!missing.is_empty()).then(|| format!("runner lacks features {missing:?}"))
}

pub(crate) fn version_tuple(v: &str) -> (u32, u32, u32) {
    es_sim::version::parse(v)
}

pub(crate) fn in_version_ranges(spec: &str, version: &str) -> bool {
    let v = version_tuple(version);
    spec.split(',').any(|range| {
        let range = range.trim();
        if range == "all" {
            return true;
        }
        let (lo, hi) = range
            .split_once('-')
            .map(|(a, b)| (a.trim(), b.trim()))
            .unwrap_or((range, range));
        let lo_ok = lo.is_empty() || version_tuple(lo) <= v;
        let hi_ok = hi.is_empty() || v <= version_tuple(hi);
        lo_ok && hi_ok
    })
}

impl Exec {
    pub(crate) async fn capabilities_supported(&self, caps: &Value) -> Result<bool, String> {
        for c in caps.as_array().cloned().unwrap_or_default() {
            let method = c.get("method").and_then(Value::as_str).unwrap_or("GET");
            let path = c.get("path").and_then(Value::as_str).unwrap_or("/");
            let names = string_list(c.get("capabilities")).join(",");
            let params = string_list(c.get("parameters")).join(",");
            let mut req = self
                .client
                .get(format!("{}/_capabilities", self.base))
                .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
                .query(&[
                    ("method", method),
                    ("path", path),
                    ("capabilities", names.as_str()),
                ]);
            if !params.is_empty() {
                req = req.query(&[("parameters", params.as_str())]);
            }
            let r = req.send().await.map_err(|e| format!("capabilities: {e}"))?;
            let v: Value = r.json().await.map_err(|e| format!("capabilities: {e}"))?;
            if v.get("supported") != Some(&Value::Bool(true)) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// `Some(reason)` when a `skip` or `requires` section excludes the test.
    pub(crate) async fn skip_reason(&self, steps: &[Value]) -> Result<Option<String>, String> {
        for step in steps {
            if let Some(req) = step.get("requires") {
                if let Some(why) = lacks_features(req.get("test_runner_features")) {
                    return Ok(Some(why));
                }
                for f in string_list(req.get("cluster_features")) {
                    if !es_sim::version::has_cluster_feature(&self.version, &f) {
                        return Ok(Some(format!("requires cluster feature [{f}]")));
                    }
                }
                if let Some(caps) = req.get("capabilities")
                    && !self.capabilities_supported(caps).await?
                {
                    return Ok(Some(format!("requires capabilities {caps}")));
                }
            }
            if let Some(skip) = step.get("skip") {
                if let Some(why) = lacks_features(skip.get("features")) {
                    return Ok(Some(why));
                }
                if let Some(v) = skip.get("version").and_then(Value::as_str)
                    && in_version_ranges(v, &self.version)
                {
                    return Ok(Some(format!("skip version [{v}]")));
                }
                if skip.get("awaits_fix").is_some() {
                    return Ok(Some("awaits_fix".into()));
                }
                for f in string_list(skip.get("cluster_features")) {
                    if es_sim::version::has_cluster_feature(&self.version, &f) {
                        return Ok(Some(format!("skip when cluster feature [{f}]")));
                    }
                }
                for ki in skip
                    .get("known_issues")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                {
                    let has = |k: &str| {
                        ki.get(k)
                            .and_then(Value::as_str)
                            .is_some_and(|f| es_sim::version::has_cluster_feature(&self.version, f))
                    };
                    if has("cluster_feature") && !has("fixed_by") {
                        return Ok(Some("known issue".into()));
                    }
                }
                if let Some(caps) = skip.get("capabilities")
                    && self.capabilities_supported(caps).await?
                {
                    return Ok(Some(format!("skip when capabilities {caps}")));
                }
            }
        }
        Ok(None)
    }

    pub(crate) fn stash_lookup(&self, key: &str) -> Option<Value> {
        if key == "body" {
            return self.response.as_ref().map(|r| r.body.clone());
        }
        self.stash.get(key).cloned()
    }

    pub(crate) fn stash_string(&self, key: &str) -> Option<String> {
        self.stash_lookup(key).map(|v| match v {
            Value::String(s) => s,
            other => other.to_string(),
        })
    }

    /// Replaces `$name` / `${name}` stash references in a value.
    pub(crate) fn resolve(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => {
                if let Some(key) = s.strip_prefix('$') {
                    let key = key
                        .strip_prefix('{')
                        .and_then(|k| k.strip_suffix('}'))
                        .unwrap_or(key);
                    if !key.is_empty()
                        && key.chars().all(|c| c.is_alphanumeric() || c == '_')
                        && let Some(val) = self.stash_lookup(key)
                    {
                        return val;
                    }
                }
                Value::String(self.interpolate(s))
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| self.resolve(x)).collect()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| {
                        let key = match k.strip_prefix('$').and_then(|kk| self.stash_string(kk)) {
                            Some(s) => s,
                            None => self.interpolate(k),
                        };
                        (key, self.resolve(x))
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    pub(crate) fn interpolate(&self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            match after.find('}') {
                Some(j) => {
                    let key = &after[..j];
                    match self.stash_string(key) {
                        Some(v) => out.push_str(&v),
                        None => out.push_str(&rest[i..i + 3 + j]),
                    }
                    rest = &after[j + 1..];
                }
                None => {
                    out.push_str(&rest[i..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }

    pub(crate) fn split_path(&self, path: &str) -> Vec<String> {
        let mut parts = Vec::new();
        let mut cur = String::new();
        let mut chars = path.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' && chars.peek() == Some(&'.') {
                cur.push('.');
                chars.next();
            } else if c == '.' {
                parts.push(std::mem::take(&mut cur));
            } else {
                cur.push(c);
            }
        }
        parts.push(cur);
        parts
            .into_iter()
            .map(
                |p| match p.strip_prefix('$').and_then(|k| self.stash_string(k)) {
                    Some(v) => v,
                    None => self.interpolate(&p),
                },
            )
            .collect()
    }

    /// Looks a dotted path up in the last response (or the stash for `$name`).
    pub(crate) fn eval(&self, path: &str) -> Option<Value> {
        if let Some(key) = path.strip_prefix('$')
            && !key.contains('.')
        {
            return self.stash_lookup(key);
        }
        let mut cur = self.response.as_ref()?.body.clone();
        if path.is_empty() {
            return Some(cur);
        }
        for seg in self.split_path(path) {
            cur = match cur {
                Value::Object(mut m) => {
                    if seg == "_arbitrary_key_" {
                        Value::String(m.keys().next()?.clone())
                    } else {
                        m.remove(&seg)?
                    }
                }
                Value::Array(mut a) => {
                    let i: usize = seg.parse().ok()?;
                    if i < a.len() {
                        a.swap_remove(i)
                    } else {
                        return None;
                    }
                }
                _ => return None,
            };
        }
        Some(cur)
    }

    pub(crate) fn build_request(&self, api: &str, args: &Value) -> Result<BuiltRequest, String> {
        let spec = self
            .specs
            .get(api)
            .ok_or_else(|| format!("no spec for API [{api}]"))?;
        let Value::Object(args) = self.resolve(args) else {
            return Err(format!("arguments of [{api}] must be a map"));
        };
        let mut params: BTreeMap<String, String> = BTreeMap::new();
        let mut body: Option<Value> = None;
        for (k, v) in &args {
            if k == "body" {
                body = Some(v.clone());
                continue;
            }
            if k == "ignore" {
                continue;
            }
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Array(a) => a
                    .iter()
                    .map(|x| match x {
                        Value::String(s) => s.clone(),
                        o => o.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                o => o.to_string(),
            };
            params.insert(k.clone(), s);
        }
        // choose the path using the most provided parts; path parts renamed between the
        // spec and test versions (see the conformance README) are mapped by `RENAMED_PARTS`
        for (from, to) in RENAMED_PARTS {
            if !spec.paths.iter().any(|p| p.parts.iter().any(|x| x == from))
                && spec.paths.iter().any(|p| p.parts.iter().any(|x| x == to))
                && let Some(v) = params.remove(*from)
            {
                params.entry(to.to_string()).or_insert(v);
            }
        }
        let mut best: Option<(&SpecPath, BTreeMap<String, String>)> = None;
        for p in &spec.paths {
            let mut bound = BTreeMap::new();
            let mut ok = true;
            for part in &p.parts {
                if params.contains_key(part) {
                    bound.insert(part.clone(), part.clone());
                } else {
                    ok = false;
                    break;
                }
            }
            if ok
                && best
                    .as_ref()
                    .is_none_or(|(b, _)| p.parts.len() > b.parts.len())
            {
                best = Some((p, bound));
            }
        }
        let Some((sp, bound)) = best else {
            return Err(format!(
                "param: no path of [{api}] can be built from {:?}",
                params.keys().collect::<Vec<_>>()
            ));
        };
        let mut path = sp.path.clone();
        for (part, source) in &bound {
            let v = params.remove(source).unwrap_or_default();
            path = path.replace(&format!("{{{part}}}"), &encode(&v, true));
        }
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k, false), encode(v, false)))
            .collect();
        let methods = &sp.methods;
        let method = if body.is_some() {
            methods
                .iter()
                .find(|m| *m == "PUT" || *m == "POST")
                .or(methods.first())
                .cloned()
                .unwrap_or_else(|| "GET".into())
        } else {
            methods.first().cloned().unwrap_or_else(|| "GET".into())
        };
        let url = if query.is_empty() {
            path
        } else {
            format!("{path}?{}", query.join("&"))
        };
        let body = body.map(|b| {
            let ndjson = api == "bulk" || api.ends_with("msearch");
            match b {
                Value::Array(items) if ndjson => {
                    let mut s = String::new();
                    for it in items {
                        match it {
                            Value::String(line) => s.push_str(line.trim_end()),
                            o => s.push_str(&o.to_string()),
                        }
                        s.push('\n');
                    }
                    ("application/x-ndjson".to_string(), s)
                }
                Value::String(s) if ndjson => {
                    let mut s = s;
                    if !s.ends_with('\n') {
                        s.push('\n');
                    }
                    ("application/x-ndjson".to_string(), s)
                }
                Value::String(s) => ("application/json".to_string(), s),
                o => ("application/json".to_string(), o.to_string()),
            }
        });
        Ok((method, url, body))
    }

    pub(crate) async fn do_step(&mut self, spec: &Value) -> Result<(), String> {
        let Value::Object(m) = spec else {
            return Err("do must be a map".into());
        };
        let mut catch: Option<String> = None;
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut warnings: Vec<String> = Vec::new();
        let mut allowed: Vec<String> = Vec::new();
        let mut warnings_re: Vec<String> = Vec::new();
        let mut allowed_re: Vec<String> = Vec::new();
        let mut call: Option<(&String, &Value)> = None;
        for (k, v) in m {
            match k.as_str() {
                "catch" => catch = v.as_str().map(String::from),
                "headers" => {
                    if let Value::Object(h) = self.resolve(v) {
                        for (hk, hv) in h {
                            headers.push((
                                hk,
                                hv.as_str()
                                    .map(String::from)
                                    .unwrap_or_else(|| hv.to_string()),
                            ));
                        }
                    }
                }
                "warnings" => warnings = string_list(Some(v)),
                "allowed_warnings" => allowed = string_list(Some(v)),
                "warnings_regex" => warnings_re = string_list(Some(v)),
                "allowed_warnings_regex" => allowed_re = string_list(Some(v)),
                "node_selector" => {}
                _ => call = Some((k, v)),
            }
        }
        let (api, args) = call.ok_or("do without an API call")?;
        let built = self.build_request(api, args);
        let (method, url, body) = match built {
            Ok(b) => b,
            Err(e) if e.starts_with("param:") => {
                self.response = None;
                return if catch.as_deref() == Some("param") {
                    Ok(())
                } else {
                    Err(e)
                };
            }
            Err(e) => return Err(e),
        };
        if catch.as_deref() == Some("param") {
            return Err(format!(
                "expected a client-side param error for [{api}] but the request could be built"
            ));
        }
        let method_h = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = self
            .client
            .request(method_h, format!("{}{}", self.base, url));
        let has_auth = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        if !has_auth {
            req = req.basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD));
        }
        let mut has_ct = false;
        for (k, v) in &headers {
            has_ct |= k.eq_ignore_ascii_case("content-type");
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some((ct, b)) = body {
            if !has_ct {
                req = req.header("content-type", ct);
            }
            req = req.body(b);
        }
        let r = req.send().await.map_err(|e| format!("{api}: {e}"))?;
        let status = r.status().as_u16();
        let warn_values: Vec<String> = r
            .headers()
            .get_all("warning")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(warning_text)
            .collect();
        let text = r.text().await.map_err(|e| e.to_string())?;
        let body = if method == "HEAD" {
            Value::Bool(status == 200)
        } else if text.is_empty() {
            Value::String(String::new())
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text.clone()))
        };
        self.response = Some(Resp { body });
        // warnings
        for w in &warnings {
            if !warn_values.contains(w) {
                return Err(format!(
                    "expected warning [{w}] not found in {warn_values:?}"
                ));
            }
        }
        for w in &warnings_re {
            let re = regex::Regex::new(w).map_err(|e| e.to_string())?;
            if !warn_values.iter().any(|x| re.is_match(x)) {
                return Err(format!(
                    "expected warning matching [{w}] not found in {warn_values:?}"
                ));
            }
        }
        for w in &warn_values {
            let expected = warnings.contains(w) || allowed.contains(w);
            let by_re = warnings_re
                .iter()
                .chain(&allowed_re)
                .any(|p| regex::Regex::new(p).is_ok_and(|re| re.is_match(w)));
            if !expected && !by_re {
                return Err(format!("unexpected warning [{w}]"));
            }
        }
        let is_error = status >= 400 && !(method == "HEAD" && status == 404);
        match catch.as_deref() {
            None if is_error => Err(format!("{method} {url} -> {status}: {text}")),
            None => Ok(()),
            Some(c) => {
                if status < 400 {
                    return Err(format!("expected error [{c}] but got {status}: {text}"));
                }
                let ok = match c {
                    "bad_request" => status == 400,
                    "unauthorized" => status == 401,
                    "forbidden" => status == 403,
                    "missing" => status == 404,
                    "request_timeout" => status == 408,
                    "conflict" => status == 409,
                    "unavailable" => status == 503,
                    "request" => ![400, 401, 403, 404, 408, 409].contains(&status),
                    re if re.len() > 1 && re.starts_with('/') && re.ends_with('/') => {
                        let re =
                            regex::Regex::new(&re[1..re.len() - 1]).map_err(|e| e.to_string())?;
                        re.is_match(&text)
                    }
                    other => return Err(format!("unknown catch [{other}]")),
                };
                if ok {
                    Ok(())
                } else {
                    Err(format!("catch [{c}] did not match {status}: {text}"))
                }
            }
        }
    }

    pub(crate) async fn run_steps(&mut self, steps: &[Value]) -> Result<(), String> {
        for step in steps {
            let Some((kind, spec)) = step.as_object().and_then(|m| m.iter().next()) else {
                continue;
            };
            match kind.as_str() {
                "skip" | "requires" => {}
                "do" => self.do_step(spec).await?,
                k => self.assert_step(k, spec)?,
            }
        }
        Ok(())
    }
}

pub(crate) fn warning_text(h: &str) -> String {
    let Some(start) = h.find('"') else {
        return h.to_string();
    };
    let mut out = String::new();
    let mut chars = h[start + 1..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '"' => break,
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn encode(s: &str, _path: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        // `,` and `*` stay readable in paths and query values (ES decodes either form)
        let keep = b.is_ascii_alphanumeric() || b"-._~,*".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
