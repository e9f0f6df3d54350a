//! Component templates (`/_component_template`) and composable index templates
//! (`/_index_template`): validation, no-op detection, overlap checks,
//! rendering, and the resolution used when an index is created.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::aliases::{parse_alias_meta, render_alias, validate_alias_name};
use super::{Ctx, Reply};
use crate::Modules;
use crate::error::{EsError, EsResult};
use crate::settings::{
    merge_mappings, normalize_index_settings, normalize_mappings, render_settings,
    validate_index_settings, validate_mapping_analysis, validate_setting_values,
};
use crate::state::{AliasMeta, ComponentTemplate, IndexTemplate, State, TemplateBody};
use crate::util::{insert_date, is_pattern, now_millis, simple_match};
use crate::version::has_capability_named;

fn unknown_field(obj: &str, field: &str) -> EsError {
    EsError::parse(format!("[1:2] [{obj}] unknown field [{field}]"))
}

/// How much of a template body can be validated on its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// A component template: Elasticsearch validates it alone, so its mappings may only use
    /// analyzers its own settings define (or the node has built in).
    Alone,
    /// An index template's own `template`: validated once composed with its components.
    Composed,
}

/// Parses the `template` object shared by both kinds of templates.
fn parse_template_body(
    v: &Value,
    owner: &str,
    version: &str,
    modules: &Modules,
    scope: Scope,
) -> EsResult<TemplateBody> {
    let Value::Object(m) = v else {
        return Err(EsError::parse(
            "[1:2] [template] failed to parse field [template]",
        ));
    };
    let mut body = TemplateBody::default();
    for (k, val) in m {
        match k.as_str() {
            "settings" => {
                let flat = normalize_index_settings(val)?;
                if scope == Scope::Alone {
                    validate_index_settings(&flat, modules)?;
                }
                body.settings = Some(flat);
            }
            "mappings" => body.mappings = Some(normalize_mappings(val)?),
            "aliases" => {
                let Value::Object(al) = val else {
                    return Err(EsError::parse(
                        "[1:2] [template] failed to parse field [aliases]",
                    ));
                };
                let mut out = BTreeMap::new();
                for (name, def) in al {
                    validate_alias_name(name)?;
                    out.insert(name.clone(), parse_alias_meta(def)?);
                }
                body.aliases = Some(out);
            }
            "lifecycle" => {
                let mut l = val.as_object().cloned().unwrap_or_default();
                l.entry("enabled").or_insert(json!(true));
                body.lifecycle = Some(Value::Object(l));
            }
            "data_stream_options" => {
                let frozen = val
                    .pointer("/failure_store/lifecycle/frozen_after")
                    .is_some();
                if frozen
                    && has_capability_named(
                        version,
                        "failure_store.lifecycle.frozen_after_rejected",
                    )
                {
                    return Err(EsError::illegal_argument(
                        "Failure store lifecycle does not support freezing",
                    ));
                }
                body.data_stream_options = Some(val.clone());
            }
            other => return Err(unknown_field(owner, other)),
        }
    }
    if scope == Scope::Alone
        && let Some(m) = &body.mappings
    {
        validate_mapping_analysis(m, &body.settings.clone().unwrap_or_default(), modules)?;
    }
    Ok(body)
}

fn render_template_body(b: &TemplateBody, flat: bool, include_defaults: bool) -> Value {
    let mut m = Map::new();
    if let Some(s) = &b.settings {
        m.insert("settings".into(), render_settings(s, flat));
    }
    if let Some(mp) = &b.mappings {
        m.insert("mappings".into(), mp.clone());
    }
    if let Some(a) = &b.aliases {
        let al: Map<String, Value> = a
            .iter()
            .map(|(k, v)| (k.clone(), render_alias(v)))
            .collect();
        m.insert("aliases".into(), Value::Object(al));
    }
    if let Some(l) = &b.lifecycle {
        let mut l = l.clone();
        if include_defaults && l.get("rollover").is_none() {
            l["rollover"] = json!({
                "max_age": "30d [automatic]",
                "max_primary_shard_docs": 200_000_000,
                "min_docs": 1,
                "max_primary_shard_size": "50gb"
            });
        }
        m.insert("lifecycle".into(), l);
    }
    if let Some(d) = &b.data_stream_options {
        m.insert("data_stream_options".into(), d.clone());
    }
    Value::Object(m)
}

fn validate_template_name(kind: &str, name: &str) -> EsResult<()> {
    let mut errors = Vec::new();
    if name.contains(' ') {
        errors.push("name must not contain a space".to_string());
    }
    if name.contains(',') {
        errors.push("name must not contain a ','".to_string());
    }
    if name.contains('#') {
        errors.push("name must not contain a '#'".to_string());
    }
    if name.contains('*') {
        errors.push("name must not contain a '*'".to_string());
    }
    if name.starts_with('_') {
        errors.push("name must not start with '_'".to_string());
    }
    if name.to_lowercase() != name {
        errors.push("name must be lower cased".to_string());
    }
    if errors.is_empty() {
        return Ok(());
    }
    let v = EsError::validation(&errors);
    Err(EsError::new(
        400,
        "invalid_index_template_exception",
        format!("{kind} [{name}] invalid, cause [{}]", v.reason),
    ))
}

fn names_param(ctx: &Ctx<'_>) -> Vec<String> {
    match ctx.param("name") {
        None | Some("" | "*" | "_all") => vec!["*".into()],
        Some(n) => n.split(',').map(|s| s.trim().to_string()).collect(),
    }
}

/// The templates of kind `T` the `{name}` parameter selects (sorted, without repeats) and the
/// plain names in it that name no template.
fn select<T: TemplateKind>(ctx: &Ctx<'_>) -> (Vec<String>, Vec<String>) {
    let map = T::all(ctx.state);
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for n in names_param(ctx) {
        if is_pattern(&n) {
            found.extend(map.keys().filter(|k| simple_match(&n, k)).cloned());
        } else if map.contains_key(&n) {
            found.push(n);
        } else {
            missing.push(n);
        }
    }
    found.sort();
    found.dedup();
    (found, missing)
}

/// A kind of template (component or index template), for the handlers the two kinds share.
pub trait TemplateKind: Sized {
    /// The key one template is rendered under: `component_template` or `index_template`.
    const KIND: &'static str;
    /// Whether a `GET` of a plain name (no wildcard, such as `_all`) that selects nothing is
    /// refused with "matching [] not found", as the component-template action does.
    const REFUSES_UNMATCHED_PLAIN_NAME: bool;
    /// Every template of this kind, by name.
    fn all(state: &State) -> &BTreeMap<String, Self>;
    /// Every template of this kind, to change.
    fn all_mut(state: &mut State) -> &mut BTreeMap<String, Self>;
    /// The template as `GET` shows it.
    fn render(&self, ctx: &Ctx<'_>) -> Value;
    /// What a PUT compares to tell an unchanged template (everything but the dates).
    fn content(&self) -> Option<Value>;
}

/// Stores a PUT template under `name`, unless the same one is there already: then nothing
/// changes, the dates included.
fn store<T: TemplateKind>(state: &mut State, name: String, new: T) -> Reply {
    let all = T::all_mut(state);
    if all.get(&name).is_none_or(|e| e.content() != new.content()) {
        all.insert(name, new);
    }
    Reply::ack()
}

/// `GET` of one kind of template: the templates the `{name}` parameter selects, each
/// rendered under the kind's key, in a list under `<kind>s`; a name that selects nothing
/// is a 404.
pub fn get<T: TemplateKind>(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let ctx: &Ctx<'_> = ctx;
    let templates = T::all(ctx.state);
    let (found, missing) = select::<T>(ctx);
    let kind = T::KIND;
    let what = kind.replace('_', " ");
    if let Some(m) = missing.first() {
        return Err(EsError::resource_not_found(format!(
            "{what} matching [{m}] not found"
        )));
    }
    if T::REFUSES_UNMATCHED_PLAIN_NAME
        && found.is_empty()
        && ctx.param("name").is_some_and(|n| !is_pattern(n))
    {
        return Err(EsError::resource_not_found(format!(
            "{what} matching [] not found"
        )));
    }
    let list_key = format!("{kind}s");
    if found.is_empty() && ctx.param("name").is_some() {
        // a name or pattern that matches nothing: 404 with the empty list
        return Err(EsError::raw(404, json!({ list_key: [] })));
    }
    let list: Vec<Value> = found
        .iter()
        .map(|n| json!({"name": n, kind: templates[n].render(ctx)}))
        .collect();
    Ok(local_warning(ctx, Reply::ok(json!({ list_key: list }))))
}

/// `HEAD` of one kind of template: 200 when every name exists and something matched.
pub fn exists<T: TemplateKind>(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let (found, missing) = select::<T>(ctx);
    Ok(Reply::empty(if missing.is_empty() && !found.is_empty() {
        200
    } else {
        404
    }))
}

// ---- component templates ----

pub fn put_component(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let name = ctx.param("name").unwrap_or_default().to_string();
    validate_template_name("component_template", &name)?;
    let create = ctx.q_bool("create")?;
    let version = ctx.state.version.clone();
    let tracking = has_capability_named(&version, "component_template_tracking_info");
    let body = ctx.body_json()?;
    let Value::Object(m) = body else {
        return Err(EsError::parse(
            "[1:1] [component_template] expected an object",
        ));
    };
    let mut template = None;
    let mut tversion = None;
    let mut meta = None;
    let mut deprecated = None;
    let mut managed = Vec::new();
    for (k, v) in m {
        match k.as_str() {
            "template" => {
                template = Some(parse_template_body(
                    v,
                    "template",
                    &version,
                    &ctx.state.modules,
                    Scope::Alone,
                )?)
            }
            "version" => {
                tversion = Some(v.as_i64().ok_or_else(|| {
                    EsError::parse("[1:2] [component_template] failed to parse field [version]")
                })?)
            }
            "_meta" => meta = Some(v.clone()),
            "deprecated" => deprecated = crate::util::parse_bool_value(v),
            "created_date" | "modified_date" if tracking => managed.push(k.clone()),
            other => return Err(unknown_field("component_template", other)),
        }
    }
    if !managed.is_empty() {
        let errs: Vec<String> = managed
            .iter()
            .map(|f| format!("Provided a template property which is managed by the system: {f}"))
            .collect();
        return Err(EsError::validation(&errs));
    }
    let template = template.ok_or_else(|| EsError::illegal_argument("Required [template]"))?;
    let now = now_millis();
    let existing = ctx.state.component_templates.get(&name);
    if create && existing.is_some() {
        return Err(EsError::illegal_argument(format!(
            "component template [{name}] already exists"
        )));
    }
    let created = existing.map(|e| e.created_date_millis).unwrap_or(now);
    let new = ComponentTemplate {
        template,
        version: tversion,
        meta,
        deprecated,
        created_date_millis: created,
        modified_date_millis: now,
    };
    Ok(store(ctx.state, name, new))
}

impl TemplateKind for ComponentTemplate {
    const KIND: &'static str = "component_template";
    const REFUSES_UNMATCHED_PLAIN_NAME: bool = true;
    fn all(state: &State) -> &BTreeMap<String, Self> {
        &state.component_templates
    }
    fn all_mut(state: &mut State) -> &mut BTreeMap<String, Self> {
        &mut state.component_templates
    }
    fn render(&self, ctx: &Ctx<'_>) -> Value {
        let t = self;
        let flat = ctx.q_bool("flat_settings").unwrap_or(false);
        let defaults = ctx.q_bool("include_defaults").unwrap_or(false);
        let mut m = Map::new();
        m.insert(
            "template".into(),
            render_template_body(&t.template, flat, defaults),
        );
        if let Some(v) = t.version {
            m.insert("version".into(), json!(v));
        }
        if let Some(v) = &t.meta {
            m.insert("_meta".into(), v.clone());
        }
        if let Some(d) = t.deprecated {
            m.insert("deprecated".into(), json!(d));
        }
        if has_capability_named(&ctx.state.version, "component_template_tracking_info") {
            insert_date(&mut m, "created_date", t.created_date_millis, true);
            insert_date(&mut m, "modified_date", t.modified_date_millis, true);
        }
        Value::Object(m)
    }
    fn content(&self) -> Option<Value> {
        serde_json::to_value((&self.template, self.version, &self.meta, self.deprecated)).ok()
    }
}

fn local_warning(ctx: &Ctx<'_>, mut r: Reply) -> Reply {
    if ctx.q("local").is_some()
        && ctx.compat_major != Some(8)
        && has_capability_named(&ctx.state.version, "local_param_deprecated")
    {
        r = r.warn("the [?local] query parameter to this API has no effect, is now deprecated, and will be removed in a future version");
    }
    r
}

pub fn delete_component(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let (found, missing) = select::<ComponentTemplate>(ctx);
    if let Some(m) = missing.first() {
        // Elasticsearch names only the template
        return Err(EsError::resource_not_found(m.clone()));
    }
    let mut users: Vec<String> = Vec::new();
    let mut used: Vec<String> = Vec::new();
    for (tn, t) in &ctx.state.index_templates {
        for c in &t.composed_of {
            if found.contains(c) {
                if !users.contains(tn) {
                    users.push(tn.clone());
                }
                if !used.contains(c) {
                    used.push(c.clone());
                }
            }
        }
    }
    if !users.is_empty() {
        used.sort();
        return Err(EsError::illegal_argument(format!(
            "component templates [{}] cannot be removed as they are still in use by index templates [{}]",
            used.join(", "),
            users.join(", ")
        )));
    }
    for n in found {
        ctx.state.component_templates.remove(&n);
    }
    Ok(Reply::ack())
}

// ---- composable index templates ----

/// Do two `*`-patterns match a common string?
pub fn patterns_overlap(a: &str, b: &str) -> bool {
    fn ov(a: &[u8], b: &[u8], memo: &mut BTreeMap<(usize, usize), bool>) -> bool {
        let key = (a.len(), b.len());
        if let Some(v) = memo.get(&key) {
            return *v;
        }
        let r = match (a.first(), b.first()) {
            (None, None) => true,
            (Some(b'*'), _) => ov(&a[1..], b, memo) || (!b.is_empty() && ov(a, &b[1..], memo)),
            (_, Some(b'*')) => ov(a, &b[1..], memo) || (!a.is_empty() && ov(&a[1..], b, memo)),
            (Some(x), Some(y)) => x == y && ov(&a[1..], &b[1..], memo),
            _ => false,
        };
        memo.insert(key, r);
        r
    }
    ov(a.as_bytes(), b.as_bytes(), &mut BTreeMap::new())
}

fn invalid_template(name: &str, cause: &str) -> EsError {
    EsError::new(
        400,
        "invalid_index_template_exception",
        format!("index_template [{name}] invalid, cause [{cause}]"),
    )
}

pub fn put_index_template(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let name = ctx.param("name").unwrap_or_default().to_string();
    validate_template_name("index_template", &name)?;
    let create = ctx.q_bool("create")?;
    let version = ctx.state.version.clone();
    let tracking = has_capability_named(&version, "index_template_tracking_info");
    let state_modules = ctx.state.modules;
    let body = ctx.body_json()?;
    let Value::Object(m) = body else {
        return Err(EsError::parse("[1:1] [index_template] expected an object"));
    };
    let mut t = IndexTemplate {
        index_patterns: Vec::new(),
        template: None,
        composed_of: Vec::new(),
        priority: None,
        version: None,
        meta: None,
        data_stream: None,
        allow_auto_create: None,
        ignore_missing_component_templates: None,
        deprecated: None,
        created_date_millis: 0,
        modified_date_millis: 0,
    };
    let mut has_patterns = false;
    for (k, v) in m {
        match k.as_str() {
            "index_patterns" => {
                has_patterns = true;
                t.index_patterns = match v {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(a) => a
                        .iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect(),
                    _ => {
                        return Err(EsError::parse(
                            "[1:2] [index_template] failed to parse field [index_patterns]",
                        ));
                    }
                }
            }
            "template" => {
                t.template = Some(parse_template_body(
                    v,
                    "template",
                    &version,
                    &state_modules,
                    Scope::Composed,
                )?)
            }
            "composed_of" => {
                t.composed_of = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            }
            "priority" => {
                t.priority = Some(v.as_i64().ok_or_else(|| {
                    EsError::parse("[1:2] [index_template] failed to parse field [priority]")
                })?)
            }
            "version" => {
                t.version = Some(v.as_i64().ok_or_else(|| {
                    EsError::parse("[1:2] [index_template] failed to parse field [version]")
                })?)
            }
            "_meta" => t.meta = Some(v.clone()),
            "data_stream" => t.data_stream = Some(v.clone()),
            "allow_auto_create" => t.allow_auto_create = crate::util::parse_bool_value(v),
            "deprecated" => t.deprecated = crate::util::parse_bool_value(v),
            "ignore_missing_component_templates" => {
                t.ignore_missing_component_templates = Some(
                    v.as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default(),
                )
            }
            "created_date_millis" | "modified_date_millis" if tracking => {
                let field = k.trim_end_matches("_millis");
                return Err(invalid_template(
                    &name,
                    &format!(
                        "provided a template property which is managed by the system: {field}"
                    ),
                ));
            }
            "created_date" | "modified_date" if tracking => {
                return Err(EsError::parse(format!(
                    "[1:2] [index_template] unknown field [{k}] did you mean [{k}_millis]?"
                )));
            }
            "managed" if has_capability_named(&version, "index_template_managed_field") => {
                return Err(EsError::illegal_argument(
                    "[managed] is a system-managed field and cannot be set by a user",
                ));
            }
            "registry_installed"
                if has_capability_named(&version, "index_template_registry_installed_field") =>
            {
                return Err(EsError::illegal_argument(
                    "[registry_installed] is a system-managed field and cannot be set by a user",
                ));
            }
            other => return Err(unknown_field("index_template", other)),
        }
    }
    if !has_patterns {
        return Err(EsError::illegal_argument("Required [index_patterns]"));
    }
    // the request's own validation comes before the template's
    if t.priority.is_some_and(|p| p < 0) {
        return Err(EsError::validation(&[
            "index template priority must be >= 0".to_string(),
        ]));
    }
    let mut errors = Vec::new();
    if t.index_patterns.is_empty() {
        errors.push("index patterns are missing".to_string());
    }
    for p in &t.index_patterns {
        if p.contains(' ') {
            errors.push(format!("index_pattern [{p}] must not contain a space"));
        }
        if p.contains(',') {
            errors.push(format!("index_pattern [{p}] must not contain a ','"));
        }
        if p.contains('#') {
            errors.push(format!("index_pattern [{p}] must not contain a '#'"));
        }
        if p.starts_with('_') {
            errors.push(format!("index_pattern [{p}] must not start with '_'"));
        }
    }
    if let Some(settings) = t.template.as_ref().and_then(|b| b.settings.as_ref())
        && let Err(e) = validate_setting_values(settings, &state_modules)
    {
        errors.push(e.reason);
    }
    if !errors.is_empty() {
        return Err(invalid_template(
            &name,
            &EsError::validation(&errors).reason,
        ));
    }
    let state = &*ctx.state;
    let existing = state.index_templates.get(&name);
    if create && existing.is_some() {
        return Err(EsError::illegal_argument(format!(
            "index template [{name}] already exists"
        )));
    }
    let ignored = t
        .ignore_missing_component_templates
        .clone()
        .unwrap_or_default();
    let missing: Vec<&String> = t
        .composed_of
        .iter()
        .filter(|c| !state.component_templates.contains_key(*c) && !ignored.contains(c))
        .collect();
    if !missing.is_empty() {
        let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        let cause = if t.ignore_missing_component_templates.is_none() {
            format!(
                "index template [{name}] specifies component templates [{}] that do not exist",
                list.join(", ")
            )
        } else {
            format!(
                "index template [{name}] specifies a missing component templates [{}] that does not exist",
                list.join(", ")
            )
        };
        return Err(invalid_template(&name, &cause));
    }
    // overlapping patterns with the same priority are refused
    let prio = t.priority.unwrap_or(0);
    let mut overlaps: Vec<(String, Vec<String>)> = Vec::new();
    for (on, ot) in &state.index_templates {
        if *on == name || ot.priority.unwrap_or(0) != prio {
            continue;
        }
        let hit = t
            .index_patterns
            .iter()
            .any(|p| ot.index_patterns.iter().any(|q| patterns_overlap(p, q)));
        if hit {
            overlaps.push((on.clone(), ot.index_patterns.clone()));
        }
    }
    if !overlaps.is_empty() {
        let names: Vec<&str> = overlaps.iter().map(|(n, _)| n.as_str()).collect();
        let detail: Vec<String> = overlaps
            .iter()
            .map(|(n, p)| format!("{n} => [{}]", p.join(", ")))
            .collect();
        return Err(EsError::illegal_argument(format!(
            "index template [{name}] has index patterns [{}] matching patterns from existing templates [{}] with patterns ({}) that have the same priority [{prio}], multiple index templates may not match during index creation, please use a different priority",
            t.index_patterns.join(", "),
            names.join(","),
            detail.join(",")
        )));
    }
    // the composite must be a valid index configuration
    let (settings, mappings, _) = compose(state, &t);
    validate_index_settings(&settings, &state.modules)?;
    validate_mapping_analysis(&mappings, &settings, &state.modules).map_err(|e| {
        let with = if t.composed_of.is_empty() {
            String::new()
        } else {
            format!(" with component templates [{}]", t.composed_of.join(", "))
        };
        EsError::illegal_argument(format!(
            "composable template [{name}] template after composition{with} is invalid"
        ))
        .caused_by(
            EsError::illegal_argument(format!("invalid composite mappings for [{name}]"))
                .caused_by(e),
        )
    })?;
    let now = now_millis();
    t.created_date_millis = existing.map(|e| e.created_date_millis).unwrap_or(now);
    t.modified_date_millis = now;
    Ok(store(ctx.state, name, t))
}

impl TemplateKind for IndexTemplate {
    const KIND: &'static str = "index_template";
    const REFUSES_UNMATCHED_PLAIN_NAME: bool = false;
    fn all(state: &State) -> &BTreeMap<String, Self> {
        &state.index_templates
    }
    fn all_mut(state: &mut State) -> &mut BTreeMap<String, Self> {
        &mut state.index_templates
    }
    fn render(&self, ctx: &Ctx<'_>) -> Value {
        let t = self;
        let flat = ctx.q_bool("flat_settings").unwrap_or(false);
        let defaults = ctx.q_bool("include_defaults").unwrap_or(false);
        let mut m = Map::new();
        m.insert("index_patterns".into(), json!(t.index_patterns));
        if let Some(b) = &t.template {
            m.insert("template".into(), render_template_body(b, flat, defaults));
        }
        m.insert("composed_of".into(), json!(t.composed_of));
        if let Some(p) = t.priority {
            m.insert("priority".into(), json!(p));
        }
        if let Some(v) = t.version {
            m.insert("version".into(), json!(v));
        }
        if let Some(v) = &t.meta {
            m.insert("_meta".into(), v.clone());
        }
        if let Some(v) = &t.data_stream {
            let mut ds = v.as_object().cloned().unwrap_or_default();
            ds.entry("hidden").or_insert(json!(false));
            ds.entry("allow_custom_routing").or_insert(json!(false));
            m.insert("data_stream".into(), Value::Object(ds));
        }
        if let Some(v) = t.allow_auto_create {
            m.insert("allow_auto_create".into(), json!(v));
        }
        if let Some(v) = &t.ignore_missing_component_templates {
            m.insert("ignore_missing_component_templates".into(), json!(v));
        }
        if let Some(d) = t.deprecated {
            m.insert("deprecated".into(), json!(d));
        }
        if has_capability_named(&ctx.state.version, "index_template_tracking_info") {
            let human = ctx.human();
            insert_date(&mut m, "created_date", t.created_date_millis, human);
            insert_date(&mut m, "modified_date", t.modified_date_millis, human);
        }
        Value::Object(m)
    }
    fn content(&self) -> Option<Value> {
        let mut t = self.clone();
        t.created_date_millis = 0;
        t.modified_date_millis = 0;
        serde_json::to_value(t).ok()
    }
}

pub fn delete_index_template(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let (found, missing) = select::<IndexTemplate>(ctx);
    if let Some(m) = missing.first() {
        return Err(EsError::new(
            404,
            "index_template_missing_exception",
            format!("index_template [{m}] missing"),
        ));
    }
    for n in found {
        ctx.state.index_templates.remove(&n);
    }
    Ok(Reply::ack())
}

/// The composable template that applies to a new index name: the matching one with the highest priority.
pub fn find_template<'a>(state: &'a State, index: &str) -> Option<(&'a String, &'a IndexTemplate)> {
    let mut best: Option<(&String, &IndexTemplate)> = None;
    for (n, t) in &state.index_templates {
        if !t.index_patterns.iter().any(|p| simple_match(p, index)) {
            continue;
        }
        // hidden indices only match templates with explicit (non-global) patterns
        if index.starts_with('.') && t.index_patterns.iter().all(|p| p == "*") {
            continue;
        }
        if best.is_none_or(|(_, b)| t.priority.unwrap_or(0) > b.priority.unwrap_or(0)) {
            best = Some((n, t));
        }
    }
    best
}

/// Settings, mappings and aliases of a template after composing its component templates (in order) and its own template.
pub fn compose(
    state: &State,
    t: &IndexTemplate,
) -> (BTreeMap<String, Value>, Value, BTreeMap<String, AliasMeta>) {
    let mut settings = BTreeMap::new();
    let mut mappings = json!({});
    let mut aliases = BTreeMap::new();
    let mut apply = |b: &TemplateBody| {
        if let Some(s) = &b.settings {
            settings.extend(s.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        if let Some(m) = &b.mappings {
            merge_mappings(&mut mappings, m);
        }
        if let Some(a) = &b.aliases {
            aliases.extend(a.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    };
    for c in &t.composed_of {
        if let Some(ct) = state.component_templates.get(c) {
            apply(&ct.template);
        }
    }
    if let Some(b) = &t.template {
        apply(b);
    }
    (settings, mappings, aliases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap() {
        assert!(patterns_overlap("logs-*", "logs-app-*"));
        assert!(patterns_overlap("*", "abc"));
        assert!(patterns_overlap("a*c", "ab*"));
        assert!(!patterns_overlap("logs-*", "metrics-*"));
        assert!(!patterns_overlap("foo", "bar-*"));
    }
}
