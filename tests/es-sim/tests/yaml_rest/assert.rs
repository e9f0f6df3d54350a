//! The assertion steps (`match`, `length`, `is_true`, `gt`, ...) on the last response.

use base64::Engine;
use serde_json::Value;

use crate::exec::Exec;

impl Exec {
    pub(crate) fn assert_step(&mut self, kind: &str, spec: &Value) -> Result<(), String> {
        match kind {
            "set" => {
                for (path, name) in spec.as_object().cloned().unwrap_or_default() {
                    let v = self
                        .eval(&path)
                        .ok_or_else(|| format!("set: no value at [{path}]"))?;
                    let name = name.as_str().unwrap_or_default().to_string();
                    self.stash.insert(name, v);
                }
                Ok(())
            }
            "transform_and_set" => {
                for (name, expr) in spec.as_object().cloned().unwrap_or_default() {
                    let e = expr.as_str().unwrap_or_default();
                    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
                    let val = if let Some(arg) = e
                        .strip_prefix("#base64EncodeCredentials(")
                        .and_then(|s| s.strip_suffix(')'))
                    {
                        let (u, p) = arg.split_once(',').ok_or("bad base64EncodeCredentials")?;
                        let u = self
                            .eval(u.trim())
                            .and_then(|v| v.as_str().map(String::from))
                            .unwrap_or_default();
                        let p = self
                            .eval(p.trim())
                            .and_then(|v| v.as_str().map(String::from))
                            .unwrap_or_default();
                        b64(&format!("{u}:{p}"))
                    } else if let Some(arg) = e
                        .strip_prefix("#base64Encode(")
                        .and_then(|s| s.strip_suffix(')'))
                    {
                        b64(arg)
                    } else {
                        e.to_string()
                    };
                    self.stash.insert(name, Value::String(val));
                }
                Ok(())
            }
            "match" => {
                for (path, expected) in spec.as_object().cloned().unwrap_or_default() {
                    let actual = if path == "$body" {
                        self.response.as_ref().map(|r| r.body.clone())
                    } else {
                        self.eval(&path)
                    };
                    let expected = self.resolve(&expected);
                    match_values(&expected, actual.as_ref())
                        .map_err(|e| format!("match [{path}]: {e}"))?;
                }
                Ok(())
            }
            "is_true" | "is_false" => {
                let path = spec.as_str().unwrap_or_default();
                let v = self.eval(path);
                let truthy = match &v {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(Value::String(s)) => !s.is_empty() && s != "false",
                    Some(Value::Number(n)) => n.as_f64() != Some(0.0),
                    Some(_) => true,
                };
                if truthy == (kind == "is_true") {
                    Ok(())
                } else {
                    Err(format!("{kind} [{path}] failed, value: {v:?}"))
                }
            }
            "exists" => {
                let path = spec.as_str().unwrap_or_default();
                match self.eval(path) {
                    Some(Value::Null) | None => Err(format!("exists [{path}] failed")),
                    Some(_) => Ok(()),
                }
            }
            "length" => {
                for (path, n) in spec.as_object().cloned().unwrap_or_default() {
                    let n = self.resolve(&n).as_u64().ok_or("length must be a number")? as usize;
                    let len = match self.eval(&path) {
                        Some(Value::Array(a)) => a.len(),
                        Some(Value::Object(m)) => m.len(),
                        Some(Value::String(s)) => s.chars().count(),
                        other => return Err(format!("length [{path}]: not measurable: {other:?}")),
                    };
                    if len != n {
                        return Err(format!("length [{path}] is {len}, expected {n}"));
                    }
                }
                Ok(())
            }
            "gt" | "gte" | "lt" | "lte" => {
                for (path, bound) in spec.as_object().cloned().unwrap_or_default() {
                    let bound = num(&self.resolve(&bound)).ok_or("bound must be a number")?;
                    let actual = self
                        .eval(&path)
                        .as_ref()
                        .and_then(num)
                        .ok_or_else(|| format!("{kind} [{path}]: no number"))?;
                    let ok = match kind {
                        "gt" => actual > bound,
                        "gte" => actual >= bound,
                        "lt" => actual < bound,
                        _ => actual <= bound,
                    };
                    if !ok {
                        return Err(format!("{kind} [{path}]: {actual} vs {bound}"));
                    }
                }
                Ok(())
            }
            "contains" => {
                for (path, expected) in spec.as_object().cloned().unwrap_or_default() {
                    let expected = self.resolve(&expected);
                    let ok = match (self.eval(&path), &expected) {
                        (Some(Value::String(s)), Value::String(e)) => s.contains(e.as_str()),
                        (Some(Value::Array(a)), e) => a.iter().any(|x| contains_value(x, e)),
                        _ => false,
                    };
                    if !ok {
                        return Err(format!("contains [{path}] {expected} failed"));
                    }
                }
                Ok(())
            }
            "close_to" => {
                for (path, spec) in spec.as_object().cloned().unwrap_or_default() {
                    let v = spec.get("value").and_then(num).ok_or("close_to value")?;
                    let e = spec.get("error").and_then(num).ok_or("close_to error")?;
                    let a = self
                        .eval(&path)
                        .as_ref()
                        .and_then(num)
                        .ok_or("close_to: no number")?;
                    if (a - v).abs() > e {
                        return Err(format!("close_to [{path}]: {a} vs {v}±{e}"));
                    }
                }
                Ok(())
            }
            "is_after" => {
                for (path, other) in spec.as_object().cloned().unwrap_or_default() {
                    let a = self
                        .eval(&path)
                        .and_then(|v| v.as_str().and_then(es_sim::util::parse_date));
                    let b = self
                        .resolve(&other)
                        .as_str()
                        .and_then(es_sim::util::parse_date);
                    match (a, b) {
                        (Some(a), Some(b)) if a > b => {}
                        _ => return Err(format!("is_after [{path}] failed")),
                    }
                }
                Ok(())
            }
            other => Err(format!("unsupported step [{other}]")),
        }
    }
}

pub(crate) fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

pub(crate) fn contains_value(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|x| contains_value(x, v))),
        _ => match_values(expected, Some(actual)).is_ok(),
    }
}

pub(crate) fn match_values(expected: &Value, actual: Option<&Value>) -> Result<(), String> {
    if let Value::String(s) = expected {
        let t = s.trim();
        if t.len() > 1 && t.starts_with('/') && t.ends_with('/') {
            let re = regex::Regex::new(&format!("(?x){}", &t[1..t.len() - 1]))
                .map_err(|e| format!("bad regex: {e}"))?;
            let text = match actual {
                Some(Value::String(a)) => a.clone(),
                Some(other) => other.to_string(),
                None => return Err(format!("expected match of {t} but value is missing")),
            };
            return if re.is_match(&text) {
                Ok(())
            } else {
                Err(format!("[{text}] does not match {t}"))
            };
        }
    }
    let actual = actual.unwrap_or(&Value::Null);
    if values_equal(expected, actual) {
        Ok(())
    } else {
        Err(format!("expected {expected} but was {actual}"))
    }
}

pub(crate) fn values_equal(e: &Value, a: &Value) -> bool {
    match (e, a) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| values_equal(v, w))
        }
        _ => e == a,
    }
}
