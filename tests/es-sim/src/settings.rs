//! Pure normalisation the way Elasticsearch stores and returns things:
//! index settings (flattened, `index.` prefix, string values), mappings
//! (dotted names expanded, merged by composable-template rules, validated),
//! and dynamic mapping of new document fields.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::Modules;
use crate::error::{EsError, EsResult};

/// Flattens a settings object into `a.b.c -> "value"` (values as strings, arrays as arrays of strings).
pub fn flatten_settings(v: &Value) -> EsResult<BTreeMap<String, Value>> {
    fn go(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) -> EsResult<()> {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    go(&key, v, out)?;
                }
            }
            Value::Array(a) => {
                let items: Vec<Value> = a
                    .iter()
                    .map(|x| {
                        crate::util::scalar_string(x)
                            .map(Value::String)
                            .unwrap_or_else(|| x.clone())
                    })
                    .collect();
                out.insert(prefix.to_string(), Value::Array(items));
            }
            Value::Null => {
                out.insert(prefix.to_string(), Value::Null);
            }
            other => {
                let s = crate::util::scalar_string(other).unwrap_or_default();
                out.insert(prefix.to_string(), Value::String(s));
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    if !v.is_object() && !v.is_null() {
        return Err(EsError::parse("settings must be an object"));
    }
    go("", v, &mut out)?;
    Ok(out)
}

/// Flattens and adds the `index.` prefix to every key that lacks it.
pub fn normalize_index_settings(v: &Value) -> EsResult<BTreeMap<String, Value>> {
    Ok(flatten_settings(v)?
        .into_iter()
        .map(|(k, v)| {
            if k.starts_with("index.") {
                (k, v)
            } else {
                (format!("index.{k}"), v)
            }
        })
        .collect())
}

/// Nests flat settings back into objects (`index.a.b` -> `{"index":{"a":{"b":..}}}`).
pub fn nest_settings(flat: &BTreeMap<String, Value>) -> Value {
    fn insert(map: &mut Map<String, Value>, parts: &[&str], v: &Value) {
        match parts {
            [] => {}
            [last] => {
                map.insert(last.to_string(), v.clone());
            }
            [first, rest @ ..] => {
                let entry = map
                    .entry(first.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    // a scalar and a deeper key share a prefix: the object wins
                    *entry = Value::Object(Map::new());
                }
                if let Value::Object(m) = entry {
                    insert(m, rest, v);
                }
            }
        }
    }
    let mut root = Map::new();
    for (k, v) in flat {
        if !v.is_null() {
            let parts: Vec<&str> = k.split('.').collect();
            insert(&mut root, &parts, v);
        }
    }
    Value::Object(root)
}

pub fn render_settings(flat: &BTreeMap<String, Value>, flat_output: bool) -> Value {
    if flat_output {
        Value::Object(
            flat.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    } else {
        nest_settings(flat)
    }
}

const KNOWN_INDEX_SETTINGS: &[&str] = &[
    "index.number_of_shards",
    "index.number_of_replicas",
    "index.auto_expand_replicas",
    "index.refresh_interval",
    "index.codec",
    "index.hidden",
    "index.priority",
    "index.mode",
    "index.max_result_window",
    "index.max_inner_result_window",
    "index.max_rescore_window",
    "index.max_docvalue_fields_search",
    "index.max_script_fields",
    "index.max_ngram_diff",
    "index.max_shingle_diff",
    "index.max_refresh_listeners",
    "index.max_terms_count",
    "index.max_regex_length",
    "index.max_slices_per_scroll",
    "index.default_pipeline",
    "index.final_pipeline",
    "index.number_of_routing_shards",
    "index.load_fixed_bitset_filters_eagerly",
    "index.gc_deletes",
    "index.format",
    "index.provided_name",
    "index.creation_date",
    "index.uuid",
    "index.look_ahead_time",
    "index.look_back_time",
    "index.routing_path",
    "index.dimensions",
    "index.frozen",
    "index.soft_deletes.enabled",
    "index.soft_deletes.retention_lease.period",
    "index.verified_before_close",
    "index.data_path",
    "index.routing_partition_size",
    "index.auto_expand_replicas",
    "index.logsdb.sort_on_host_name",
];

const KNOWN_INDEX_SETTING_PREFIXES: &[&str] = &[
    "index.routing.",
    "index.mapping.",
    "index.analysis.",
    "index.blocks.",
    "index.sort.",
    "index.translog.",
    "index.query.",
    "index.store.",
    "index.merge.",
    "index.search.",
    "index.indexing.",
    "index.similarity.",
    "index.highlight.",
    "index.unassigned.",
    "index.write.",
    "index.allocation.",
    "index.shard.",
    "index.version.",
    "index.time_series.",
    "index.plugin.",
    "index.xpack.",
    "index.history.",
    "index.resize.",
    "index.queries.",
    "index.recovery.",
    "index.requests.",
    "index.ccr.",
    "index.fielddata.",
    "index.shard_limit.",
    "index.downsample.",
    "index.rollup.",
    "index.source.",
    "index.default_allocation.",
    "index.bloom_filter_for_id_field.",
];

/// The `index.lifecycle.*` settings the ILM module defines.
const ILM_SETTINGS: &[&str] = &[
    "index.lifecycle.name",
    "index.lifecycle.rollover_alias",
    "index.lifecycle.indexing_complete",
    "index.lifecycle.origination_date",
    "index.lifecycle.parse_origination_date",
    "index.lifecycle.step.wait_time_threshold",
    "index.lifecycle.skip",
];

/// Index settings whose values are time values (`30s`, `-1`).
const TIME_SETTINGS: &[&str] = &[
    "index.refresh_interval",
    "index.gc_deletes",
    "index.translog.sync_interval",
    "index.search.idle.after",
    "index.unassigned.node_left.delayed_timeout",
    "index.lifecycle.step.wait_time_threshold",
];

fn known_setting(key: &str, modules: &Modules) -> bool {
    if key.starts_with("index.lifecycle.") {
        // `prefer_ilm` is the server's (data stream lifecycle); the rest are ILM's
        return key == "index.lifecycle.prefer_ilm" || (modules.ilm && ILM_SETTINGS.contains(&key));
    }
    KNOWN_INDEX_SETTINGS.contains(&key)
        || KNOWN_INDEX_SETTING_PREFIXES
            .iter()
            .any(|p| key.starts_with(p))
}

/// Whether `v` parses as Elasticsearch's `TimeValue` (`-1`, `0`, or a whole number with one of
/// the units `nanos`, `micros`, `ms`, `s`, `m`, `h`, `d`).
pub fn is_time_value(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    if v == "-1" || v == "0" {
        return true;
    }
    for unit in ["nanos", "micros", "ms", "s", "m", "h", "d"] {
        if let Some(n) = v.strip_suffix(unit) {
            return !n.is_empty() && n.trim().parse::<i64>().is_ok_and(|n| n >= 0);
        }
    }
    false
}

/// Validates index settings as index creation (or a template) does, on a node with
/// `modules`: the settings themselves, then the analysis components they define.
pub fn validate_index_settings(flat: &BTreeMap<String, Value>, modules: &Modules) -> EsResult<()> {
    validate_setting_values(flat, modules)?;
    validate_analysis(flat, modules)
}

/// Validates that every setting is known and its value parses (no analysis).
pub fn validate_setting_values(flat: &BTreeMap<String, Value>, modules: &Modules) -> EsResult<()> {
    let unknown: Vec<&String> = flat.keys().filter(|k| !known_setting(k, modules)).collect();
    if let Some(k) = unknown.first() {
        return Err(EsError::illegal_argument(format!(
            "unknown setting [{k}] please check that any required plugins are installed, or check the breaking changes documentation for removed settings"
        )));
    }
    for key in TIME_SETTINGS {
        if let Some(v) = flat.get(*key).and_then(|v| v.as_str())
            && !is_time_value(v)
        {
            return Err(EsError::illegal_argument(format!(
                "failed to parse setting [{key}] with value [{v}] as a time value: unit is missing or unrecognized"
            )));
        }
    }
    if let Some(v) = flat.get("index.codec").and_then(|v| v.as_str())
        && !matches!(
            v,
            "default"
                | "best_compression"
                | "legacy_default"
                | "legacy_best_compression"
                | "lucene_default"
        )
    {
        return Err(EsError::illegal_argument(format!(
            "unknown value for [index.codec] must be one of [default, best_compression] but was: {v}"
        )));
    }
    let int = |key: &str, min: i64, max: i64| -> EsResult<()> {
        if let Some(v) = flat.get(key).and_then(|v| v.as_str()) {
            let n: i64 = v.parse().map_err(|_| {
                EsError::illegal_argument(format!(
                    "Failed to parse value [{v}] for setting [{key}]"
                ))
            })?;
            if n < min {
                return Err(EsError::illegal_argument(format!(
                    "Failed to parse value [{v}] for setting [{key}] must be >= {min}"
                )));
            }
            if n > max {
                return Err(EsError::illegal_argument(format!(
                    "Failed to parse value [{v}] for setting [{key}] must be <= {max}"
                )));
            }
        }
        Ok(())
    };
    int("index.number_of_shards", 1, 1024)?;
    int("index.number_of_replicas", 0, i64::from(i32::MAX))?;
    int("index.priority", 0, i64::from(i32::MAX))?;
    if flat
        .get("index.soft_deletes.enabled")
        .and_then(|v| v.as_str())
        == Some("false")
    {
        return Err(EsError::illegal_argument(
            "Creating indices with soft-deletes disabled is no longer supported. Please do not specify a value for setting [index.soft_deletes.enabled].",
        ));
    }
    for key in ["index.hidden", "index.mapping.dynamic_strings.auto_text"] {
        if let Some(v) = flat.get(key).and_then(|v| v.as_str())
            && v != "true"
            && v != "false"
        {
            return Err(EsError::illegal_argument(format!(
                "Failed to parse value [{v}] as only [true] or [false] are allowed."
            )));
        }
    }
    if let Some(mode) = flat.get("index.mode").and_then(|v| v.as_str()) {
        match mode {
            "standard" | "time_series" | "logsdb" => {}
            "lookup" => {
                let shards = flat.get("index.number_of_shards").and_then(|v| v.as_str());
                if shards.is_some_and(|s| s != "1") {
                    return Err(EsError::illegal_argument(
                        "index with [lookup] mode must have [index.number_of_shards] set to 1 or unset",
                    ));
                }
            }
            other => {
                return Err(EsError::illegal_argument(format!(
                    "[{other}] is an invalid index mode, valid modes are: [standard, time_series, logsdb, lookup]"
                )));
            }
        }
    }
    Ok(())
}

// ---- analysis ----

/// What a node's analysis registry knows: the server's own components, plus
/// `analysis-common`'s when the node has it.
struct AnalysisCatalog {
    /// Filter types a definition may name.
    filter_types: Vec<&'static str>,
    /// Filters a custom analyzer may use by name without defining them.
    filters: Vec<&'static str>,
    tokenizers: Vec<&'static str>,
    char_filters: Vec<&'static str>,
    analyzer_types: Vec<&'static str>,
    /// Analyzers a mapping may name without defining them.
    analyzers: Vec<&'static str>,
}

const SERVER_FILTER_TYPES: &[&str] = &["stop", "shingle", "hunspell"];
const SERVER_FILTERS: &[&str] = &["lowercase", "stop", "shingle"];
const SERVER_TOKENIZERS: &[&str] = &["standard"];
const SERVER_ANALYZER_TYPES: &[&str] = &["standard", "custom", "default"];
const SERVER_ANALYZERS: &[&str] = &[
    "standard",
    "default",
    "simple",
    "whitespace",
    "stop",
    "keyword",
    "classic",
];
const COMMON_FILTERS: &[&str] = &[
    "apostrophe",
    "arabic_normalization",
    "arabic_stem",
    "asciifolding",
    "bengali_normalization",
    "brazilian_stem",
    "cjk_bigram",
    "cjk_width",
    "classic",
    "common_grams",
    "condition",
    "czech_stem",
    "decimal_digit",
    "delimited_payload",
    "dictionary_decompounder",
    "dutch_stem",
    "edge_ngram",
    "elision",
    "estonian_stem",
    "fingerprint",
    "flatten_graph",
    "french_stem",
    "german_normalization",
    "german_stem",
    "hindi_normalization",
    "hyphenation_decompounder",
    "indic_normalization",
    "keep",
    "keep_types",
    "keyword_marker",
    "kstem",
    "length",
    "limit",
    "lowercase",
    "min_hash",
    "multiplexer",
    "ngram",
    "pattern_capture",
    "pattern_replace",
    "persian_normalization",
    "persian_stem",
    "porter_stem",
    "predicate_token_filter",
    "remove_duplicates",
    "reverse",
    "russian_stem",
    "scandinavian_folding",
    "scandinavian_normalization",
    "serbian_normalization",
    "snowball",
    "sorani_normalization",
    "stemmer",
    "stemmer_override",
    "synonym",
    "synonym_graph",
    "telugu_normalization",
    "telugu_stem",
    "trim",
    "truncate",
    "unique",
    "uppercase",
    "word_delimiter",
    "word_delimiter_graph",
];
const COMMON_TOKENIZERS: &[&str] = &[
    "whitespace",
    "keyword",
    "letter",
    "lowercase",
    "classic",
    "uax_url_email",
    "path_hierarchy",
    "ngram",
    "edge_ngram",
    "pattern",
    "simple_pattern",
    "simple_pattern_split",
    "char_group",
    "thai",
];
const COMMON_CHAR_FILTERS: &[&str] = &["html_strip", "mapping", "pattern_replace"];
const COMMON_ANALYZERS: &[&str] = &[
    "simple",
    "whitespace",
    "stop",
    "keyword",
    "pattern",
    "fingerprint",
    "snowball",
    "arabic",
    "armenian",
    "basque",
    "bengali",
    "brazilian",
    "bulgarian",
    "catalan",
    "cjk",
    "czech",
    "danish",
    "dutch",
    "english",
    "estonian",
    "finnish",
    "french",
    "galician",
    "german",
    "greek",
    "hindi",
    "hungarian",
    "indonesian",
    "irish",
    "italian",
    "latvian",
    "lithuanian",
    "norwegian",
    "persian",
    "portuguese",
    "romanian",
    "russian",
    "serbian",
    "sorani",
    "spanish",
    "swedish",
    "thai",
    "turkish",
];

impl AnalysisCatalog {
    fn of(modules: &Modules) -> AnalysisCatalog {
        let with = |server: &[&'static str], common: &[&'static str]| {
            let mut v = server.to_vec();
            if modules.analysis_common {
                v.extend_from_slice(common);
            }
            v
        };
        AnalysisCatalog {
            filter_types: with(SERVER_FILTER_TYPES, COMMON_FILTERS),
            filters: with(SERVER_FILTERS, COMMON_FILTERS),
            tokenizers: with(SERVER_TOKENIZERS, COMMON_TOKENIZERS),
            char_filters: with(&[], COMMON_CHAR_FILTERS),
            analyzer_types: with(SERVER_ANALYZER_TYPES, COMMON_ANALYZERS),
            analyzers: with(SERVER_ANALYZERS, COMMON_ANALYZERS),
        }
    }
}

/// `index.analysis.<group>.<name>.<key>` of flat settings, as `name -> key -> value`.
fn analysis_group<'a>(
    flat: &'a BTreeMap<String, Value>,
    group: &str,
) -> BTreeMap<&'a str, BTreeMap<&'a str, &'a Value>> {
    let prefix = format!("index.analysis.{group}.");
    let mut out: BTreeMap<&str, BTreeMap<&str, &Value>> = BTreeMap::new();
    for (k, v) in flat {
        if let Some(rest) = k.strip_prefix(&prefix)
            && let Some((name, key)) = rest.split_once('.')
        {
            out.entry(name).or_default().insert(key, v);
        }
    }
    out
}

fn names_of(v: Option<&&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(crate::util::scalar_string).collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

/// Builds the index's analysis components the way Elasticsearch's analysis registry does,
/// refusing unknown component types and custom analyzers that use components that exist
/// neither in these settings nor in the node's registry.
pub fn validate_analysis(flat: &BTreeMap<String, Value>, modules: &Modules) -> EsResult<()> {
    let cat = AnalysisCatalog::of(modules);
    let type_of =
        |def: &BTreeMap<&str, &Value>| def.get("type").and_then(|t| t.as_str()).map(str::to_string);
    // A group whose every `type` must be one the node has.
    let known_types = |group: &str, known: &[&str]| {
        let defs = analysis_group(flat, group);
        for (name, def) in &defs {
            if let Some(t) = type_of(def)
                && !known.contains(&t.as_str())
            {
                return Err(EsError::illegal_argument(format!(
                    "Unknown {group} type [{t}] for [{name}]"
                )));
            }
        }
        Ok(defs)
    };
    let char_filters = known_types("char_filter", &cat.char_filters)?;
    let tokenizers = known_types("tokenizer", &cat.tokenizers)?;
    let filters = analysis_group(flat, "filter");
    for (name, def) in &filters {
        let Some(t) = type_of(def) else { continue };
        if t == "standard" {
            return Err(EsError::illegal_argument(
                "The [standard] token filter has been removed.",
            ));
        }
        if !cat.filter_types.contains(&t.as_str()) {
            return Err(EsError::illegal_argument(format!(
                "Unknown filter type [{t}] for [{name}]"
            )));
        }
        if t == "hunspell"
            && !["locale", "language", "lang"]
                .iter()
                .any(|k| def.contains_key(k))
        {
            return Err(EsError::illegal_argument(
                "missing [locale | language | lang] configuration for hunspell token filter",
            ));
        }
    }
    for (name, def) in analysis_group(flat, "analyzer") {
        let custom = match type_of(&def) {
            Some(t) if t == "custom" => true,
            Some(t) if cat.analyzer_types.contains(&t.as_str()) => false,
            Some(t) => {
                return Err(EsError::illegal_argument(format!(
                    "Unknown analyzer type [{t}] for [{name}]"
                )));
            }
            None if def.contains_key("tokenizer") => true,
            None => {
                return Err(EsError::illegal_argument(format!(
                    "analyzer [{name}] must specify either an analyzer type, or a tokenizer"
                )));
            }
        };
        if !custom {
            continue;
        }
        let Some(tokenizer) = def
            .get("tokenizer")
            .and_then(|t| crate::util::scalar_string(t))
        else {
            return Err(EsError::illegal_argument(format!(
                "Custom Analyzer [{name}] must be configured with a tokenizer"
            )));
        };
        if !tokenizers.contains_key(tokenizer.as_str())
            && !cat.tokenizers.contains(&tokenizer.as_str())
        {
            return Err(EsError::illegal_argument(format!(
                "Custom Analyzer [{name}] failed to find tokenizer under name [{tokenizer}]"
            )));
        }
        for cf in names_of(def.get("char_filter")) {
            if !char_filters.contains_key(cf.as_str()) && !cat.char_filters.contains(&cf.as_str()) {
                return Err(EsError::illegal_argument(format!(
                    "Custom Analyzer [{name}] failed to find char_filter under name [{cf}]"
                )));
            }
        }
        for f in names_of(def.get("filter")) {
            if !filters.contains_key(f.as_str()) && !cat.filters.contains(&f.as_str()) {
                return Err(EsError::illegal_argument(format!(
                    "Custom Analyzer [{name}] failed to find filter under name [{f}]"
                )));
            }
        }
    }
    Ok(())
}

type FieldCheck<'a> = dyn Fn(&str, &Map<String, Value>) -> EsResult<()> + 'a;

/// Refuses a mapping whose fields name analyzers or normalizers that neither `settings`
/// (flat index settings) define nor the node's registry has, as Elasticsearch does when it
/// parses the mapping — for a component template, against its own settings only.
pub fn validate_mapping_analysis(
    mappings: &Value,
    settings: &BTreeMap<String, Value>,
    modules: &Modules,
) -> EsResult<()> {
    let cat = AnalysisCatalog::of(modules);
    let analyzers = analysis_group(settings, "analyzer");
    let normalizers = analysis_group(settings, "normalizer");
    fn walk(props: &Value, check: &FieldCheck<'_>) -> EsResult<()> {
        let Some(props) = props.as_object() else {
            return Ok(());
        };
        for (name, def) in props {
            let Some(def) = def.as_object() else { continue };
            check(name, def)?;
            for sub in ["properties", "fields"] {
                if let Some(p) = def.get(sub) {
                    walk(p, check)?;
                }
            }
        }
        Ok(())
    }
    let check = |field: &str, def: &Map<String, Value>| -> EsResult<()> {
        for key in ["analyzer", "search_analyzer", "search_quote_analyzer"] {
            if let Some(a) = def.get(key).and_then(Value::as_str)
                && !analyzers.contains_key(a)
                && !cat.analyzers.contains(&a)
            {
                let reason = format!("analyzer [{a}] has not been configured in mappings");
                return Err(EsError::new(
                    400,
                    "mapper_parsing_exception",
                    format!("Failed to parse mapping: {reason}"),
                )
                .caused_by(EsError::illegal_argument(reason)));
            }
        }
        if let Some(n) = def.get("normalizer").and_then(Value::as_str)
            && !normalizers.contains_key(n)
            && n != "lowercase"
        {
            return Err(mapping_error(format!(
                "normalizer [{n}] not found for field [{field}]"
            )));
        }
        Ok(())
    };
    match mappings.get("properties") {
        Some(p) => walk(p, &check),
        None => Ok(()),
    }
}

const FIELD_TYPES: &[&str] = &[
    "text",
    "keyword",
    "long",
    "integer",
    "short",
    "byte",
    "double",
    "float",
    "half_float",
    "scaled_float",
    "unsigned_long",
    "date",
    "date_nanos",
    "boolean",
    "binary",
    "object",
    "nested",
    "flattened",
    "ip",
    "geo_point",
    "geo_shape",
    "shape",
    "point",
    "completion",
    "search_as_you_type",
    "token_count",
    "alias",
    "constant_keyword",
    "wildcard",
    "match_only_text",
    "dense_vector",
    "sparse_vector",
    "rank_feature",
    "rank_features",
    "histogram",
    "integer_range",
    "float_range",
    "long_range",
    "double_range",
    "date_range",
    "ip_range",
    "version",
    "murmur3",
    "annotated_text",
    "semantic_text",
    "passthrough",
    "percolator",
    "join",
    "aggregate_metric_double",
    "counted_keyword",
    "exponential_histogram",
];

fn mapping_error(reason: String) -> EsError {
    EsError::new(
        400,
        "mapper_parsing_exception",
        format!("Failed to parse mapping: {reason}"),
    )
    .caused_by(EsError::new(400, "mapper_parsing_exception", reason))
}

/// Normalises a mapping: unwraps a `_doc` type wrapper, expands dotted field
/// names into objects and validates field names and types.
pub fn normalize_mappings(v: &Value) -> EsResult<Value> {
    let mut m = match v {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        _ => return Err(EsError::parse("mappings must be an object")),
    };
    if m.len() == 1
        && let Some(Value::Object(inner)) = m.get("_doc")
    {
        m = inner.clone();
    }
    if let Some(props) = m.remove("properties") {
        let props = normalize_properties(&props, "")?;
        m.insert("properties".into(), props);
    }
    for k in m.keys() {
        const TOP: &[&str] = &[
            "properties",
            "dynamic",
            "dynamic_templates",
            "_source",
            "_meta",
            "_routing",
            "date_detection",
            "numeric_detection",
            "dynamic_date_formats",
            "runtime",
            "_field_names",
            "enabled",
            "subobjects",
            "_data_stream_timestamp",
            "_size",
            "_all",
            "_index",
            "_id",
            "_doc_count",
            "_ignored",
            "_tier",
            "_seq_no",
        ];
        if !TOP.contains(&k.as_str()) {
            return Err(EsError::new(
                400,
                "mapper_parsing_exception",
                format!(
                    "Root mapping definition has unsupported parameters:  [{k} : {}]",
                    m[k]
                ),
            ));
        }
    }
    Ok(Value::Object(m))
}

/// An index's mappings as Elasticsearch prints them: parameters at their default value are
/// left out (a `date` field's default `format`), unlike a template's, which are printed as
/// given.
pub fn render_index_mappings(mappings: &Value) -> Value {
    fn strip(v: &mut Value) {
        let Some(map) = v.as_object_mut() else { return };
        if map.get("type").and_then(Value::as_str) == Some("date")
            && map.get("format").and_then(Value::as_str)
                == Some("strict_date_optional_time||epoch_millis")
        {
            map.remove("format");
        }
        for key in ["properties", "fields"] {
            if let Some(props) = map.get_mut(key).and_then(Value::as_object_mut) {
                props.values_mut().for_each(strip);
            }
        }
    }
    let mut out = mappings.clone();
    if let Some(props) = out.get_mut("properties").and_then(Value::as_object_mut) {
        props.values_mut().for_each(strip);
    }
    out
}

fn normalize_properties(props: &Value, path: &str) -> EsResult<Value> {
    let Value::Object(props) = props else {
        return Err(mapping_error(format!(
            "Expected map for property [properties] on field [{path}] but got a class java.lang.String"
        )));
    };
    let mut out = Map::new();
    for (name, def) in props {
        if name.is_empty() || name.split('.').any(str::is_empty) {
            let e = EsError::illegal_argument("field name cannot be an empty string");
            return Err(EsError::new(
                400,
                "mapper_parsing_exception",
                "Failed to parse mapping: field name cannot be an empty string",
            )
            .caused_by(e));
        }
        let Value::Object(def) = def else {
            return Err(mapping_error(format!(
                "Expected map for property [fields] on field [{name}] but got a class java.lang.String"
            )));
        };
        let full = field_path(path, name);
        let mut def = def.clone();
        if let Some(t) = def.get("type").and_then(|t| t.as_str())
            && !FIELD_TYPES.contains(&t)
        {
            return Err(mapping_error(format!(
                "The mapper type [{t}] declared on field [{name}] does not exist. It might have been created within a future version or requires a plugin to be installed. Check the documentation."
            )));
        }
        if let Some(p) = def.remove("properties") {
            def.insert("properties".into(), normalize_properties(&p, &full)?);
        }
        // dotted names become objects: "a.b": {..} -> "a": {"properties": {"b": {..}}}
        let parts: Vec<&str> = name.split('.').collect();
        let mut leaf = Value::Object(def);
        for p in parts[1..].iter().rev() {
            let mut obj = Map::new();
            obj.insert(p.to_string(), leaf);
            leaf = json!({ "properties": Value::Object(obj) });
        }
        let mut single = Map::new();
        single.insert(parts[0].to_string(), leaf);
        merge_properties(&mut out, &single);
    }
    Ok(Value::Object(out))
}

fn is_object_field(def: &Map<String, Value>) -> bool {
    match def.get("type").and_then(|t| t.as_str()) {
        None => true,
        Some(t) => t == "object" || t == "nested",
    }
}

/// Merges `over` into `base` by composable-template rules: object fields merge
/// recursively, leaf fields are replaced whole.
pub fn merge_properties(base: &mut Map<String, Value>, over: &Map<String, Value>) {
    for (name, def) in over {
        match (base.get_mut(name), def) {
            (Some(Value::Object(b)), Value::Object(o))
                if is_object_field(b) && is_object_field(o) =>
            {
                for (k, v) in o {
                    if k == "properties" {
                        merge_properties_field(b, v);
                    } else {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
            _ => {
                base.insert(name.clone(), def.clone());
            }
        }
    }
}

/// The dotted path of field `name` inside the object at `path` (empty at the top).
pub fn field_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// Merges `over`, a `properties` value, into the `properties` of `object` (made an empty
/// object first when missing or not an object).
fn merge_properties_field(object: &mut Map<String, Value>, over: &Value) {
    let mut properties = match object.remove("properties") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if let Value::Object(over) = over {
        merge_properties(&mut properties, over);
    }
    object.insert("properties".into(), Value::Object(properties));
}

/// Merges a later mapping into an earlier one (templates in order, then the request).
pub fn merge_mappings(base: &mut Value, over: &Value) {
    let (Value::Object(b), Value::Object(o)) = (base, over) else {
        return;
    };
    for (k, v) in o {
        match k.as_str() {
            "properties" => merge_properties_field(b, v),
            "dynamic_templates" => {
                // later templates with the same name replace earlier ones, new ones are appended
                let mut list = b
                    .remove("dynamic_templates")
                    .and_then(|v| v.as_array().cloned())
                    .unwrap_or_default();
                for t in v.as_array().cloned().unwrap_or_default() {
                    let name = t.as_object().and_then(|m| m.keys().next().cloned());
                    if let Some(pos) = list
                        .iter()
                        .position(|x| x.as_object().and_then(|m| m.keys().next().cloned()) == name)
                    {
                        list[pos] = t;
                    } else {
                        list.push(t);
                    }
                }
                b.insert(k.clone(), Value::Array(list));
            }
            "_meta" | "_source" => {
                let mut cur = b.remove(k).unwrap_or(Value::Object(Map::new()));
                if let (Value::Object(c), Value::Object(n)) = (&mut cur, v) {
                    for (kk, vv) in n {
                        c.insert(kk.clone(), vv.clone());
                    }
                } else {
                    cur = v.clone();
                }
                b.insert(k.clone(), cur);
            }
            _ => {
                b.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Looks up the mapping of a dotted field path.
pub fn field_mapping<'a>(mappings: &'a Value, path: &str) -> Option<&'a Map<String, Value>> {
    let mut cur = mappings;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        let f = cur.get("properties")?.get(*p)?;
        if i == parts.len() - 1 {
            return f.as_object();
        }
        cur = f;
    }
    None
}

fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b[..4].iter().all(u8::is_ascii_digit)
        && crate::util::parse_date(s).is_some()
}

/// Adds mappings for fields of `source` that are not mapped yet, as dynamic mapping does.
/// Returns an error for `dynamic: strict`.
pub fn dynamic_map(mappings: &mut Value, source: &Value, auto_text: bool) -> EsResult<()> {
    if !mappings.is_object() {
        *mappings = json!({});
    }
    let dynamic = mappings
        .get("dynamic")
        .map(|d| crate::util::scalar_string(d).unwrap_or_default())
        .unwrap_or_else(|| "true".into());
    let date_detection = mappings
        .get("date_detection")
        .and_then(crate::util::parse_bool_value)
        .unwrap_or(true);
    let templates = mappings
        .get("dynamic_templates")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    let Some(Value::Object(src)) = Some(source) else {
        return Ok(());
    };
    let root = mappings
        .as_object_mut()
        .ok_or_else(|| EsError::parse("mapping"))?;
    let props = root
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    let ctx = DynCtx {
        dynamic: &dynamic,
        date_detection,
        templates: &templates,
        auto_text,
    };
    map_object(props, src, "", &ctx)?;
    if props.as_object().is_some_and(Map::is_empty) {
        root.remove("properties");
    }
    Ok(())
}

struct DynCtx<'a> {
    dynamic: &'a str,
    date_detection: bool,
    templates: &'a [Value],
    auto_text: bool,
}

fn map_object(
    props: &mut Value,
    src: &Map<String, Value>,
    path: &str,
    ctx: &DynCtx<'_>,
) -> EsResult<()> {
    let Value::Object(props) = props else {
        return Ok(());
    };
    for (name, value) in src {
        let full = field_path(path, name);
        let value = match value {
            Value::Array(a) => match a.iter().find(|x| !x.is_null()) {
                Some(v) => v,
                None => continue,
            },
            Value::Null => continue,
            v => v,
        };
        if let Some(existing) = props.get_mut(name) {
            if let (Some(sub), Value::Object(obj)) = (
                existing.as_object_mut().filter(|d| is_object_field(d)),
                value,
            ) {
                let child = sub
                    .entry("properties")
                    .or_insert_with(|| Value::Object(Map::new()));
                map_object(child, obj, &full, ctx)?;
            }
            continue;
        }
        match ctx.dynamic {
            "false" | "runtime" => continue,
            "strict" => {
                let within = if path.is_empty() { "_doc" } else { path };
                return Err(EsError::new(
                    400,
                    "strict_dynamic_mapping_exception",
                    format!(
                        "[1:2] mapping set to strict, dynamic introduction of [{name}] within [{within}] is not allowed"
                    ),
                ));
            }
            _ => {}
        }
        let kind = match value {
            Value::String(s) if ctx.date_detection && looks_like_date(s) => "date",
            Value::String(_) => "string",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_f64() => "double",
            Value::Number(_) => "long",
            Value::Object(_) => "object",
            _ => "string",
        };
        if let Some(def) = matching_dynamic_template(ctx.templates, name, &full, kind) {
            props.insert(name.clone(), def);
            continue;
        }
        let def = match (kind, value) {
            ("object", Value::Object(obj)) => {
                let mut child = Value::Object(Map::new());
                map_object(&mut child, obj, &full, ctx)?;
                json!({ "properties": child })
            }
            ("string", _) if ctx.auto_text => {
                json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}})
            }
            ("string", _) => json!({"type": "keyword"}),
            ("double", _) => json!({"type": "float"}),
            (k, _) => json!({ "type": k }),
        };
        props.insert(name.clone(), def);
    }
    Ok(())
}

fn matching_dynamic_template(
    templates: &[Value],
    name: &str,
    path: &str,
    kind: &str,
) -> Option<Value> {
    for t in templates {
        let Some((_, def)) = t.as_object().and_then(|m| m.iter().next()) else {
            continue;
        };
        let matches = |key: &str, subject: &str, negate: bool| {
            let pats = crate::util::string_list(def.get(key));
            if pats.is_empty() {
                return true;
            }
            let hit = pats.iter().any(|p| crate::util::simple_match(p, subject));
            if negate { !hit } else { hit }
        };
        let mmt = crate::util::string_list(def.get("match_mapping_type"));
        let type_ok = mmt.is_empty()
            || mmt
                .iter()
                .any(|t| t == "*" || t == kind || (t == "double" && kind == "double"));
        if type_ok
            && matches("match", name, false)
            && matches("unmatch", name, true)
            && matches("path_match", path, false)
            && matches("path_unmatch", path, true)
        {
            let mut mapping = def.get("mapping").cloned().unwrap_or(json!({}));
            if let Some(m) = mapping.as_object_mut() {
                let dynamic = m.get("type").and_then(|t| t.as_str()) == Some("{dynamic_type}");
                if dynamic || !m.contains_key("type") {
                    m.insert(
                        "type".into(),
                        json!(if kind == "string" { "keyword" } else { kind }),
                    );
                }
            }
            return Some(mapping);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_roundtrip() {
        let flat = normalize_index_settings(
            &json!({"number_of_shards": 1, "index": {"number_of_replicas": 0}}),
        )
        .expect("ok");
        assert_eq!(flat["index.number_of_shards"], "1");
        assert_eq!(flat["index.number_of_replicas"], "0");
        assert_eq!(
            nest_settings(&flat),
            json!({"index": {"number_of_shards": "1", "number_of_replicas": "0"}})
        );
        let all = Modules::ALL;
        let check = |v: Value, m: &Modules| {
            validate_index_settings(&normalize_index_settings(&v).expect("ok"), m)
        };
        assert!(check(json!({"foo": 1}), &all).is_err());
        assert!(check(json!({"refresh_interval": "banana"}), &all).is_err());
        assert!(check(json!({"refresh_interval": "5s"}), &all).is_ok());
        assert!(check(json!({"lifecycle": {"name": "p"}}), &all).is_ok());
        assert!(check(json!({"lifecycle": {"nmae": "p"}}), &all).is_err());
        let bare = Modules::INTEG_TEST_DISTRIBUTION;
        assert!(check(json!({"lifecycle": {"name": "p"}}), &bare).is_err());
        assert!(check(json!({"lifecycle": {"prefer_ilm": true}}), &bare).is_ok());
        let snowball = json!({"analysis": {"analyzer": {"a": {"tokenizer": "standard", "filter": ["lowercase", "snowball"]}}}});
        assert!(check(snowball.clone(), &all).is_ok());
        assert!(check(snowball, &bare).is_err());
        let flat = normalize_index_settings(
            &json!({"analysis": {"analyzer": {"a": {"tokenizer": "standard"}}}}),
        )
        .expect("ok");
        let uses = |a: &str| json!({"properties": {"m": {"type": "text", "analyzer": a}}});
        assert!(validate_mapping_analysis(&uses("a"), &flat, &bare).is_ok());
        assert!(validate_mapping_analysis(&uses("whitespace"), &flat, &bare).is_ok());
        assert!(validate_mapping_analysis(&uses("b"), &flat, &all).is_err());
    }

    #[test]
    fn mapping_merge() {
        let mut a =
            normalize_mappings(&json!({"properties": {"object2.red": {"type": "keyword"}}}))
                .expect("ok");
        let b = normalize_mappings(&json!({"properties": {"object2.red": {"type": "text"}, "object2.blue": {"type": "text"}}}))
            .expect("ok");
        merge_mappings(&mut a, &b);
        assert_eq!(
            a["properties"]["object2"]["properties"]["red"]["type"],
            "text"
        );
        assert_eq!(
            a["properties"]["object2"]["properties"]["blue"]["type"],
            "text"
        );
        assert!(normalize_mappings(&json!({"properties": {"": {"type": "keyword"}}})).is_err());
    }

    #[test]
    fn dynamic() {
        let mut m = json!({});
        dynamic_map(
            &mut m,
            &json!({"a": "x", "n": 1, "d": "2024-01-01T00:00:00Z", "o": {"b": true}}),
            true,
        )
        .expect("ok");
        assert_eq!(m["properties"]["a"]["fields"]["keyword"]["type"], "keyword");
        assert_eq!(m["properties"]["n"]["type"], "long");
        assert_eq!(m["properties"]["d"]["type"], "date");
        assert_eq!(m["properties"]["o"]["properties"]["b"]["type"], "boolean");
    }
}
