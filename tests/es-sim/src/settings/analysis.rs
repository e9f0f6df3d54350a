//! Index analysis components (analyzers, tokenizers, filters, char filters) checked the way
//! Elasticsearch's analysis registry checks them, on a node with or without
//! `analysis-common`. Pure.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::mappings::mapping_error;
use crate::Modules;
use crate::error::{EsError, EsResult};

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
