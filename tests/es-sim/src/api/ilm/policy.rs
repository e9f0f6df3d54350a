//! An ILM policy parsed, validated and normalised the way Elasticsearch's timeseries
//! lifecycle type does it: phases, their actions and timings, time and size values. Pure.

use serde_json::{Map, Value, json};

use crate::error::{EsError, EsResult, json_type};

pub(super) const PHASES: &[&str] = &["hot", "warm", "cold", "frozen", "delete"];

fn allowed_actions(phase: &str) -> &'static [&'static str] {
    match phase {
        "hot" => &[
            "set_priority",
            "unfollow",
            "rollover",
            "readonly",
            "downsample",
            "shrink",
            "forcemerge",
            "searchable_snapshot",
        ],
        "warm" => &[
            "set_priority",
            "unfollow",
            "readonly",
            "allocate",
            "migrate",
            "shrink",
            "forcemerge",
            "downsample",
        ],
        "cold" => &[
            "set_priority",
            "unfollow",
            "readonly",
            "downsample",
            "searchable_snapshot",
            "allocate",
            "migrate",
            "freeze",
        ],
        "frozen" => &["unfollow", "searchable_snapshot"],
        "delete" => &["wait_for_snapshot", "delete"],
        _ => &[],
    }
}

const ROLLOVER_CONDITIONS: &[&str] = &[
    "max_age",
    "max_docs",
    "max_size",
    "max_primary_shard_size",
    "max_primary_shard_docs",
    "min_age",
    "min_docs",
    "min_size",
    "min_primary_shard_size",
    "min_primary_shard_docs",
];

pub(super) fn unknown_field(ctx: &str, field: &str) -> EsError {
    EsError::parse(format!("[1:2] [{ctx}] unknown field [{field}]"))
}

fn expected_object(ctx: &str, v: &Value) -> EsError {
    EsError::parse(format!(
        "[1:2] [{ctx}] Expected START_OBJECT but was: {}",
        json_type(v)
    ))
}

fn wrong_type(ctx: &str, field: &str, v: &Value) -> EsError {
    EsError::parse(format!(
        "[1:2] [{ctx}] {field} doesn't support values of type: {}",
        json_type(v)
    ))
}

pub(super) fn required(field: &str) -> EsError {
    EsError::illegal_argument(format!("Required [{field}]"))
}

/// The required object `field` of `obj`, parsed within `ctx`.
fn object_field<'a>(
    obj: &'a Map<String, Value>,
    ctx: &str,
    field: &str,
) -> EsResult<&'a Map<String, Value>> {
    match obj.get(field) {
        Some(Value::Object(m)) => Ok(m),
        None => Err(required(field)),
        Some(other) => Err(wrong_type(ctx, field, other)),
    }
}

/// A scalar setting value as a string; anything else is a parse error naming its type.
fn setting_string(v: &Value, setting: &str) -> EsResult<String> {
    crate::util::scalar_string(v).ok_or_else(|| {
        EsError::parse(format!(
            "[1:2] {setting} doesn't support values of type: {}",
            json_type(v)
        ))
    })
}

/// A time value as Elasticsearch's `TimeValue.parseTimeValue` reads it (case-insensitive
/// unit, whole numbers only, `0` and `-1` without a unit), in milliseconds.
pub fn es_time_value(v: &Value, setting: &str) -> EsResult<i64> {
    let raw = setting_string(v, setting)?;
    let s = raw.trim().to_ascii_lowercase();
    for (unit, factor) in crate::util::TIME_UNITS {
        if let Some(n) = s.strip_suffix(unit) {
            let n = n.trim();
            return n
                .parse::<i64>()
                .map(|n| (n as f64 * factor) as i64)
                .map_err(|_| {
                    EsError::new(
                        400,
                        "number_format_exception",
                        format!("For input string: \"{n}\""),
                    )
                });
        }
    }
    let all = |c: char, s: &str| !s.is_empty() && s.chars().all(|x| x == c);
    if let Some(rest) = s.strip_prefix('-')
        && rest.ends_with('1')
        && (rest.len() == 1 || all('0', &rest[..rest.len() - 1]))
    {
        return Ok(-1);
    }
    if all('0', &s) {
        return Ok(0);
    }
    Err(EsError::illegal_argument(format!(
        "failed to parse setting [{setting}] with value [{raw}] as a time value: unit is missing or unrecognized"
    )))
}

/// A byte size as Elasticsearch's `ByteSizeValue.parseBytesSizeValue` reads it.
fn es_byte_size(v: &Value, setting: &str) -> EsResult<i64> {
    let raw = setting_string(v, setting)?;
    let s = raw.trim().to_ascii_lowercase();
    let units: [(&str, i64); 11] = [
        ("kb", 1 << 10),
        ("k", 1 << 10),
        ("mb", 1 << 20),
        ("m", 1 << 20),
        ("gb", 1 << 30),
        ("g", 1 << 30),
        ("tb", 1 << 40),
        ("t", 1 << 40),
        ("pb", 1 << 50),
        ("p", 1 << 50),
        ("b", 1),
    ];
    let failed = || {
        EsError::new(
            400,
            "parse_exception",
            format!("failed to parse setting [{setting}] with value [{raw}] as a size in bytes"),
        )
    };
    for (unit, factor) in units {
        if let Some(n) = s.strip_suffix(unit) {
            let n = n.trim();
            if let Ok(n) = n.parse::<i64>() {
                return n.checked_mul(factor).ok_or_else(|| {
                    EsError::illegal_argument(format!(
                        "Values greater than {} bytes are not supported: {raw}",
                        i64::MAX
                    ))
                });
            }
            return n
                .parse::<f64>()
                .map(|f| (f * factor as f64) as i64)
                .map_err(|_| failed());
        }
    }
    match s.as_str() {
        "-1" => Ok(-1),
        "0" => Ok(0),
        _ => Err(EsError::new(
            400,
            "parse_exception",
            format!(
                "failed to parse setting [{setting}] with value [{raw}] as a size in bytes: unit is missing or unrecognized"
            ),
        )),
    }
}

fn es_bool(v: &Value) -> EsResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        other => Err(EsError::illegal_argument(format!(
            "Failed to parse value [{}] as only [true] or [false] are allowed.",
            crate::util::scalar_string(other).unwrap_or_else(|| other.to_string())
        ))),
    }
}

/// An integer field: JSON numbers (fractions truncated, as Jackson does) or numeric strings.
fn es_int(v: &Value) -> EsResult<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| EsError::parse(format!("[1:2] Numeric value ({n}) out of range"))),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| EsError::parse(format!("For input string: \"{s}\""))),
        other => Err(EsError::parse(format!(
            "[1:2] Current token ({}) not numeric",
            json_type(other)
        ))),
    }
}

/// One phase of a parsed policy, actions in body order (normalised).
struct ParsedPhase {
    name: String,
    min_age: String,
    min_age_ms: i64,
    actions: Map<String, Value>,
}

/// Parses `policy` as Elasticsearch's x-content parsers do (field names and types, every
/// action's own parameter checks). The error is the root cause; the caller wraps it.
fn parse_policy(policy: &Value) -> EsResult<Vec<ParsedPhase>> {
    let Value::Object(p) = policy else {
        return Err(wrong_type("put_lifecycle_request", "policy", policy));
    };
    for (k, v) in p {
        match k.as_str() {
            "phases" => {}
            "_meta" if !v.is_object() => return Err(wrong_type("lifecycle_policy", k, v)),
            "deprecated" => {
                es_bool(v)?;
            }
            "_meta" => {}
            _ => return Err(unknown_field("lifecycle_policy", k)),
        }
    }
    let phases = object_field(p, "lifecycle_policy", "phases")?;
    let mut out = Vec::new();
    for (name, phase) in phases {
        let Value::Object(ph) = phase else {
            return Err(expected_object("phase", phase));
        };
        for k in ph.keys() {
            if !matches!(k.as_str(), "min_age" | "actions") {
                return Err(unknown_field("phase", k));
            }
        }
        let (min_age, min_age_ms) = match ph.get("min_age") {
            None => ("0ms".to_string(), 0),
            Some(v) => (
                crate::util::scalar_string(v).unwrap_or_default(),
                es_time_value(v, "min_age")?,
            ),
        };
        let actions = object_field(ph, "phase", "actions")?;
        let mut parsed = Map::new();
        for (aname, aval) in actions {
            if !PHASES
                .iter()
                .any(|p| allowed_actions(p).contains(&aname.as_str()))
            {
                return Err(EsError::new(
                    400,
                    "named_object_not_found_exception",
                    format!("[1:2] unknown field [{aname}]"),
                ));
            }
            parsed.insert(aname.clone(), parse_action(aname, aval)?);
        }
        out.push(ParsedPhase {
            name: name.clone(),
            min_age,
            min_age_ms,
            actions: parsed,
        });
    }
    Ok(out)
}

/// The policy checks of `TimeseriesLifecycleType.validate`, in its order.
fn validate_phases(phases: &[ParsedPhase]) -> Option<String> {
    if let Some(p) = phases.iter().find(|p| !PHASES.contains(&p.name.as_str())) {
        return Some(format!(
            "Timeseries lifecycle does not support phase [{}]",
            p.name
        ));
    }
    for p in phases {
        if let Some(a) = p
            .actions
            .keys()
            .find(|a| !allowed_actions(&p.name).contains(&a.as_str()))
        {
            return Some(format!(
                "invalid action [{a}] defined in phase [{}]",
                p.name
            ));
        }
    }
    if let Some(hot) = phases.iter().find(|p| p.name == "hot")
        && !hot.actions.contains_key("rollover")
    {
        let needs: Vec<&str> = hot
            .actions
            .keys()
            .map(String::as_str)
            .filter(|a| {
                matches!(
                    *a,
                    "readonly" | "shrink" | "forcemerge" | "searchable_snapshot" | "downsample"
                )
            })
            .collect();
        if !needs.is_empty() {
            return Some(format!(
                "the [{}] action(s) may not be used in the [hot] phase without an accompanying [rollover] action",
                needs.join(", ")
            ));
        }
    }
    if phases
        .iter()
        .any(|p| p.name == "frozen" && !p.actions.contains_key("searchable_snapshot"))
    {
        return Some("policy specifies the [frozen] phase without a corresponding [searchable_snapshot] action, but a searchable snapshot action is required in the frozen phase".into());
    }
    // downsampling intervals grow, each a multiple of the previous one
    let mut previous: Option<(&str, String, i64)> = None;
    for name in PHASES {
        let Some(interval) = phases
            .iter()
            .find(|p| p.name == *name)
            .and_then(|p| p.actions.get("downsample"))
            .and_then(|d| d.get("fixed_interval"))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let ms = es_time_value(&json!(interval), "fixed_interval").unwrap_or(0);
        if let Some((prev, prev_s, prev_ms)) = &previous {
            if ms <= *prev_ms {
                return Some(format!(
                    "Downsampling interval [{interval}] for phase [{name}] must be greater than the interval [{prev_s}] for phase [{prev}]"
                ));
            }
            if *prev_ms > 0 && ms % prev_ms != 0 {
                return Some(format!(
                    "Downsampling interval [{interval}] for phase [{name}] must be a multiple of the interval [{prev_s}] for phase [{prev}]"
                ));
            }
        }
        previous = Some((name, interval.to_string(), ms));
    }
    None
}

/// `TimeseriesLifecycleType.validateMonotonicallyIncreasingPhaseTimings`: phases with a
/// min_age above zero must not start before an earlier phase with one (a negative min_age
/// counts as zero).
fn phase_timing_error(phases: &[ParsedPhase]) -> Option<String> {
    let timed: Vec<&ParsedPhase> = PHASES
        .iter()
        .filter_map(|n| phases.iter().find(|p| p.name == *n && p.min_age_ms > 0))
        .collect();
    let mut flagged: Vec<&str> = Vec::new();
    let mut errors = Vec::new();
    for (i, p) in timed.iter().enumerate() {
        if flagged.contains(&p.name.as_str()) {
            continue;
        }
        let bad: Vec<&&ParsedPhase> = timed[i + 1..]
            .iter()
            .filter(|q| q.min_age_ms < p.min_age_ms)
            .collect();
        if bad.is_empty() {
            continue;
        }
        flagged.extend(bad.iter().map(|q| q.name.as_str()));
        let list: Vec<String> = bad
            .iter()
            .map(|q| format!("the {} phase (min_age: {})", q.name, q.min_age))
            .collect();
        errors.push(format!(
            "Your policy is configured to run {} before the {} phase (min_age: {}). You should change the phase timing so that the phases will execute in the order of hot, warm, then cold.",
            list.join(" and "),
            p.name,
            p.min_age
        ));
    }
    (!errors.is_empty()).then(|| errors.join(" "))
}

/// Validates and normalises a `policy` object the way `PUT /_ilm/policy` does: parse
/// (`x_content_parse_exception` wrapping the root cause), then the request's validation
/// (`action_request_validation_exception`). Returns the normalised policy and deprecation
/// warnings.
pub fn normalize_policy(
    policy: &Value,
    deprecate_max_size: bool,
) -> EsResult<(Value, Vec<String>)> {
    let phases = parse_policy(policy).map_err(|root| {
        EsError::parse("[1:2] [put_lifecycle_request] failed to parse field [policy]")
            .caused_by(root)
    })?;
    // PutLifecycleRequest.validate: the policy's own validation, replaced by the phase
    // timing error when there is one
    if let Some(e) = phase_timing_error(&phases).or_else(|| validate_phases(&phases)) {
        return Err(EsError::validation(&[e]));
    }
    let mut warnings = Vec::new();
    let mut out_phases = Map::new();
    for p in phases {
        if deprecate_max_size
            && p.actions
                .get("rollover")
                .is_some_and(|r| r.get("max_size").is_some())
        {
            warnings.push(format!(
                "Use of the [max_size] rollover condition found in phase [{}]. This condition has been deprecated in favour of the [max_primary_shard_size] condition and will be removed in a later version",
                p.name
            ));
        }
        out_phases.insert(p.name, json!({"min_age": p.min_age, "actions": p.actions}));
    }
    let mut out = Map::new();
    out.insert("phases".into(), Value::Object(out_phases));
    if let Some(m) = policy.get("_meta") {
        out.insert("_meta".into(), m.clone());
    }
    if let Some(d) = policy.get("deprecated") {
        out.insert("deprecated".into(), d.clone());
    }
    Ok((Value::Object(out), warnings))
}

/// Parses one action's parameters as the action's own parser does; normalised with the
/// defaults Elasticsearch shows.
fn parse_action(name: &str, v: &Value) -> EsResult<Value> {
    let Value::Object(m) = v else {
        return Err(expected_object(name, v));
    };
    let fields: &[&str] = match name {
        "rollover" => ROLLOVER_CONDITIONS,
        "set_priority" => &["priority"],
        "shrink" => &[
            "number_of_shards",
            "max_primary_shard_size",
            "allow_write_after_shrink",
        ],
        "forcemerge" => &["max_num_segments", "index_codec"],
        "allocate" => &[
            "number_of_replicas",
            "total_shards_per_node",
            "include",
            "exclude",
            "require",
        ],
        "delete" => &["delete_searchable_snapshot"],
        "migrate" => &["enabled"],
        "wait_for_snapshot" => &["policy"],
        "downsample" => &["fixed_interval", "wait_timeout", "force_merge_index"],
        "searchable_snapshot" => &[
            "snapshot_repository",
            "force_merge_index",
            "total_shards_per_node",
            "replicate_for",
        ],
        _ => &[],
    };
    if let Some(k) = m.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(unknown_field(name, k));
    }
    let mut out = m.clone();
    let bad = |msg: &str| EsError::illegal_argument(msg);
    match name {
        "rollover" => {
            for (k, v) in m {
                if k.ends_with("_age") {
                    es_time_value(v, k)?;
                } else if k.ends_with("_size") {
                    es_byte_size(v, k)?;
                } else {
                    es_int(v)?;
                }
            }
            if !m.keys().any(|k| k.starts_with("max_")) {
                return Err(bad("At least one max_* rollover condition must be set."));
            }
        }
        "set_priority" => match m.get("priority") {
            None => return Err(required("priority")),
            Some(Value::Null) => {}
            Some(p) if es_int(p)? < 0 => return Err(bad("[priority] must be 0 or greater")),
            Some(_) => {}
        },
        "shrink" => {
            if let Some(w) = m.get("allow_write_after_shrink") {
                es_bool(w)?;
            }
            let n = m.get("number_of_shards").map(es_int).transpose()?;
            let size = m
                .get("max_primary_shard_size")
                .map(|v| es_byte_size(v, "max_primary_shard_size"))
                .transpose()?;
            match (n, size) {
                (Some(_), Some(_)) => {
                    return Err(bad(
                        "Cannot set both [number_of_shards] and [max_primary_shard_size]",
                    ));
                }
                (None, None) => {
                    return Err(bad(
                        "Either [number_of_shards] or [max_primary_shard_size] must be set",
                    ));
                }
                (Some(n), None) if n <= 0 => {
                    return Err(bad("[number_of_shards] must be greater than 0"));
                }
                (None, Some(s)) if s <= 0 => {
                    return Err(bad("[max_primary_shard_size] must be greater than 0"));
                }
                _ => {}
            }
        }
        "forcemerge" => {
            match m.get("max_num_segments").map(es_int).transpose()? {
                None => return Err(required("max_num_segments")),
                Some(n) if n <= 0 => {
                    return Err(bad("[max_num_segments] must be a positive integer"));
                }
                Some(_) => {}
            }
            if let Some(c) = m.get("index_codec") {
                let c = crate::util::scalar_string(c).unwrap_or_default();
                if c != "best_compression" {
                    return Err(bad(&format!("unknown index codec: [{c}]")));
                }
            }
        }
        "allocate" => {
            let replicas = m.get("number_of_replicas").map(es_int).transpose()?;
            let per_node = m.get("total_shards_per_node").map(es_int).transpose()?;
            let mut attributes = false;
            for k in ["include", "exclude", "require"] {
                match m.get(k) {
                    None => {}
                    Some(Value::Object(o)) => attributes |= !o.is_empty(),
                    Some(other) => return Err(wrong_type("allocate", k, other)),
                }
            }
            if replicas.is_none() && per_node.is_none() && !attributes {
                return Err(bad(
                    "At least one of include, exclude or require must contain attributes for action allocate. Otherwise the number_of_replicas or the total_shards_per_node options must be configured.",
                ));
            }
            if replicas.is_some_and(|r| r < 0) {
                return Err(bad("[number_of_replicas] must be >= 0"));
            }
            if per_node.is_some_and(|t| t < -1) {
                return Err(bad("[total_shards_per_node] must be >= -1"));
            }
            for k in ["include", "exclude", "require"] {
                out.entry(k).or_insert(json!({}));
            }
        }
        "delete" => {
            if let Some(d) = m.get("delete_searchable_snapshot") {
                es_bool(d)?;
            }
            out.entry("delete_searchable_snapshot")
                .or_insert(json!(true));
        }
        "migrate" => {
            if let Some(e) = m.get("enabled") {
                es_bool(e)?;
            }
            out.entry("enabled").or_insert(json!(true));
        }
        "wait_for_snapshot" if !m.contains_key("policy") => return Err(required("policy")),
        "downsample" => match m.get("fixed_interval") {
            None => return Err(required("fixed_interval")),
            Some(v) => {
                es_time_value(v, "fixed_interval")?;
            }
        },
        "searchable_snapshot" => {
            if !m.contains_key("snapshot_repository") {
                return Err(required("snapshot_repository"));
            }
            out.entry("force_merge_index").or_insert(json!(true));
        }
        _ => {}
    }
    Ok(Value::Object(out))
}
