//! Property tests: no string changes the structure of a configuration file the operator
//! writes. For each format (Fluent Bit classic, Fluentd, `elasticsearch.yml`,
//! `kibana.yml`), the values that come from the spec or the controller are replaced by
//! generated strings (line breaks, quotes, `${`, `#{`, section headers, Unicode line
//! separators, ...) *after* validation, as if validation had let them through; the rendered
//! file is parsed back by the format's rules and its sections, directives and keys must be
//! those of the benign rendering. Pure and fast.

use std::collections::BTreeMap;

use meshlogging_operator::api::MeshLogging;
use meshlogging_operator::config_format::{fluent_bit, fluentd};
use meshlogging_operator::naming::Names;
use meshlogging_operator::render::collector::{fluent_bit_config, fluentd_config};
use meshlogging_operator::render::{Child, RenderContext, render};
use meshlogging_operator::validate::{EsMode, Validated, validate};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Strings built to break configuration files.
fn hostile() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        any::<char>().prop_map(String::from),
        Just("\n".to_string()),
        Just("\r".to_string()),
        Just("\t".to_string()),
        Just(" ".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("${COLLECTOR_PASSWORD}".to_string()),
        Just("#{exit}".to_string()),
        Just("\n[OUTPUT]\n    Name stdout\n".to_string()),
        Just("\n@INCLUDE /etc/passwd\n".to_string()),
        Just("\n</match>\n<match **>\n".to_string()),
        Just("\nxpack.security.enabled: false\n".to_string()),
        Just(": ".to_string()),
        Just("- ".to_string()),
        Just("#".to_string()),
        Just(",".to_string()),
        Just("\u{2028}".to_string()),
        Just("\u{85}".to_string()),
        Just("\u{7f}".to_string()),
        Just("\u{feff}".to_string()),
        "[a-z0-9.-]{1,8}",
    ];
    vec(pieces, 0..8).prop_map(|p| p.concat())
}

fn validated(spec: Value) -> Validated {
    let spec = serde_json::from_value(spec).expect("spec");
    let mut ml = MeshLogging::new("logs", spec);
    ml.metadata.namespace = Some("ns".into());
    ml.metadata.uid = Some("6f1c2a3b-0000-4000-8000-000000000001".into());
    validate(&ml).expect("valid")
}

fn benign(kind: &str) -> Validated {
    validated(json!({
        "version": "8.15.3",
        "collector": {
            "type": kind,
            "fields": {"environment": "production", "team": "payments"},
            "excludePaths": ["/var/log/containers/x*"],
        },
        "elasticsearch": {"config": {"xpack.ml.enabled": "false"}},
        "kibana": {"ingress": {"host": "kibana.example.com"}},
        "snapshots": {"repositories": [{"name": "fs", "type": "fs", "settings": {"location": "/snap"}}]},
    }))
}

/// Every value of the collector that comes from the spec, replaced.
fn poison_collector(v: &mut Validated, s: &[String]) {
    v.names = Names::new(&s[0]);
    v.collector.fields = BTreeMap::from([
        ("environment".to_string(), s[1].clone()),
        (format!("a{}", s[2]), s[3].clone()),
    ]);
    v.collector.paths = vec![s[4].clone(), "/var/log/containers/*.log".into()];
    v.collector.exclude_paths = vec![s[5].clone()];
    v.collector.chunk_limit_size = s[6].clone();
    v.collector.total_limit_size = s[7].clone();
    v.collector.flush_interval = s[1].clone();
}

// --- Fluent Bit classic: `[SECTION]` lines, then `key value` lines --------------------

/// Sections and their keys, as Fluent Bit's classic parser reads them (lines split on
/// `\n`, ASCII whitespace trimmed, `#` comments, `@` directives, `[X]` headers).
fn fluent_bit_structure(conf: &str) -> Vec<(String, Vec<String>)> {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for line in conf.split('\n') {
        let t = line.trim_matches(|c: char| c.is_ascii_whitespace());
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t.starts_with('@') || t.starts_with('[') {
            sections.push((t.to_string(), Vec::new()));
            continue;
        }
        let key = t
            .split(|c: char| c.is_ascii_whitespace())
            .next()
            .unwrap_or_default()
            .to_string();
        if let Some(last) = sections.last_mut() {
            last.1.push(key);
        } else {
            sections.push(("<none>".into(), vec![key]));
        }
    }
    sections
}

fn env_references(conf: &str) -> usize {
    conf.matches("${").count()
}

// --- Fluentd: `<directive>` ... `</directive>` and `key value` params ------------------

#[derive(Debug, PartialEq)]
enum Param {
    /// An unquoted value, kept: the operator's own constants.
    Plain(String),
    /// A single-quoted value, decoded.
    Single(String),
    /// A double-quoted value, kept raw (only the operator's password reference).
    Double(String),
}

/// Reads one single-quoted Fluentd string starting after its opening quote, as Fluentd's
/// literal parser does (`\'` and `\\` escapes; a line break before the closing quote is a
/// parse error). Returns the value and what follows the closing quote.
fn single_quoted(s: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' => return Ok((out, &s[i + 1..])),
            '\n' => return Err("line break in a single-quoted string".into()),
            '\\' => match s[i + 1..].chars().next() {
                Some(n @ ('\'' | '\\')) => {
                    out.push(n);
                    chars.next();
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    Err("unterminated single-quoted string".into())
}

type FluentdStructure = Vec<(String, String, Param)>;

fn fluentd_structure(conf: &str) -> Result<FluentdStructure, String> {
    let mut out = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    for line in conf.split('\n') {
        let t = line.trim_start_matches([' ', '\t']);
        if t.trim().is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some(close) = t.strip_prefix("</") {
            let name = close.trim_end().trim_end_matches('>');
            if stack.pop().as_deref() != Some(name) {
                return Err(format!("unbalanced </{name}>"));
            }
            continue;
        }
        if let Some(open) = t.strip_prefix('<') {
            let inner = open.trim_end().trim_end_matches('>');
            let name = inner.split(' ').next().unwrap_or_default().to_string();
            out.push((
                stack.join("/"),
                format!("<{inner}>"),
                Param::Plain(String::new()),
            ));
            stack.push(name);
            continue;
        }
        let (key, value) = t.split_once([' ', '\t']).unwrap_or((t, ""));
        let value = value.trim_start_matches([' ', '\t']);
        let param = if let Some(q) = value.strip_prefix('\'') {
            // Fluentd reads a single-quoted string to its closing quote; a line break
            // before it is a parse error, so the string ends on this line.
            let (decoded, after) = single_quoted(q)?;
            if !after.trim().is_empty() && !after.trim_start().starts_with('#') {
                return Err(format!("text after a quoted value: {after:?}"));
            }
            Param::Single(decoded)
        } else if value.starts_with('"') {
            Param::Double(value.to_string())
        } else {
            Param::Plain(value.to_string())
        };
        out.push((stack.join("/"), key.to_string(), param));
    }
    if !stack.is_empty() {
        return Err(format!("unclosed {stack:?}"));
    }
    Ok(out)
}

/// The shape of a Fluentd structure: where each param is, its key (a field's name counts
/// as `<field>`), and for the operator's own (unquoted or double-quoted) values the value.
fn fluentd_shape(s: &FluentdStructure) -> Vec<(String, String, String)> {
    s.iter()
        .map(|(path, key, p)| {
            let key = match p {
                Param::Single(_) if path == "filter/record" => "<field>".to_string(),
                _ => key.clone(),
            };
            let v = match p {
                Param::Plain(v) | Param::Double(v) => v.clone(),
                Param::Single(_) => "'…'".to_string(),
            };
            (path.clone(), key, v)
        })
        .collect()
}

// --- YAML -------------------------------------------------------------------------------

fn config_map_file(children: &[Child], suffix: &str, file: &str) -> String {
    children
        .iter()
        .find_map(|c| match c {
            Child::ConfigMap(cm) if c.name().ends_with(suffix) => {
                cm.data.as_ref().and_then(|d| d.get(file).cloned())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {file} in a ConfigMap *{suffix}"))
}

fn yaml_map(text: &str) -> BTreeMap<String, Value> {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("YAML does not parse: {e}\n{text}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fluent_bit_config_structure_is_fixed(s in vec(hostile(), 8)) {
        let base = benign("fluentBit");
        let ctx = RenderContext::new(&base);
        let expected = fluent_bit_config(&base, &ctx);
        let mut v = base.clone();
        poison_collector(&mut v, &s);
        let actual = fluent_bit_config(&v, &ctx);
        for file in ["fluent-bit.conf", "parsers.conf"] {
            prop_assert_eq!(
                fluent_bit_structure(&actual[file]),
                fluent_bit_structure(&expected[file]),
                "{}:\n{}", file, actual[file]
            );
            prop_assert_eq!(env_references(&actual[file]), env_references(&expected[file]));
        }
    }

    #[test]
    fn fluentd_config_structure_is_fixed(s in vec(hostile(), 8)) {
        let base = benign("fluentd");
        let ctx = RenderContext::new(&base);
        let expected = fluentd_structure(&fluentd_config(&base, &ctx)["fluent.conf"])
            .expect("the benign configuration parses");
        let mut v = base.clone();
        poison_collector(&mut v, &s);
        let conf = &fluentd_config(&v, &ctx)["fluent.conf"];
        let actual = fluentd_structure(conf);
        prop_assert!(actual.is_ok(), "{:?}\n{}", actual, conf);
        let actual = actual.unwrap_or_default();
        prop_assert_eq!(fluentd_shape(&actual), fluentd_shape(&expected), "{}", conf);
        // An inert field value reads back as itself.
        let field = actual.iter().find_map(|(path, key, p)| match p {
            Param::Single(value) if path.ends_with("record") && key == "environment" => Some(value.clone()),
            _ => None,
        });
        if !s[1].chars().any(char::is_control) && !s[1].contains("${") {
            prop_assert_eq!(field.as_deref(), Some(s[1].as_str()));
        }
    }

    #[test]
    fn elasticsearch_yml_keys_are_fixed(
        config in btree_map(hostile(), hostile(), 0..4),
        repo in hostile(),
    ) {
        let mut v = benign("fluentBit");
        let EsMode::Managed(m) = &mut v.mode else { unreachable!("managed") };
        let mut expected_keys: Vec<String> = Vec::new();
        m.config = config.clone();
        m.repo_paths = vec![repo.clone()];
        let ctx = RenderContext::new(&v);
        let m = v.managed().expect("managed");
        let settings = meshlogging_operator::render::elasticsearch::settings(&v, m, &ctx);
        expected_keys.extend(settings.keys().cloned());
        let yml = config_map_file(&render(&v, &ctx), "-es-config", "elasticsearch.yml");
        let parsed = yaml_map(&yml);
        prop_assert_eq!(parsed.keys().cloned().collect::<Vec<_>>(), expected_keys);
        for (key, value) in &settings {
            prop_assert_eq!(&parsed[key], value, "{}", key);
        }
        prop_assert_eq!(&parsed["path.repo"], &json!([repo]));
    }

    #[test]
    fn kibana_yml_keys_are_fixed(endpoint in hostile(), user in hostile(), host in hostile()) {
        let mut v = benign("fluentBit");
        if let Some(k) = v.kibana.as_mut() {
            k.username = user.clone();
            if let Some(i) = k.ingress.as_mut() {
                i.host = host.clone();
            }
        }
        let ctx = RenderContext { es_endpoint: endpoint.clone(), ..RenderContext::new(&v) };
        let k = v.kibana.as_ref().expect("kibana");
        let settings = meshlogging_operator::render::kibana::settings(&v, k, &ctx);
        let yml = config_map_file(&render(&v, &ctx), "-kibana-config", "kibana.yml");
        let parsed = yaml_map(&yml);
        prop_assert_eq!(
            parsed.keys().cloned().collect::<Vec<_>>(),
            settings.keys().cloned().collect::<Vec<_>>()
        );
        prop_assert_eq!(&parsed["elasticsearch.hosts"], &json!([endpoint]));
        prop_assert_eq!(&parsed["elasticsearch.username"], &json!(user));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Validation and the writers agree: whatever validation admits for the index name and
    /// the fields is written unchanged by both collector formats (nothing is silently
    /// rewritten), and what a format cannot carry is refused naming the field.
    #[test]
    fn validation_admits_only_what_the_writers_carry_unchanged(
        index in prop_oneof![hostile(), "[a-z0-9][a-z0-9._-]{0,30}"],
        value in prop_oneof![hostile(), "[A-Za-z0-9][A-Za-z0-9 .:,'#{}-]{0,20}[A-Za-z0-9]"],
    ) {
        let spec = json!({"version": "8.15.3", "index": {"name": index},
            "collector": {"fields": {"environment": value}}});
        let spec = serde_json::from_value(spec).expect("spec");
        let mut ml = MeshLogging::new("logs", spec);
        ml.metadata.namespace = Some("ns".into());
        ml.metadata.uid = Some("uid".into());
        match validate(&ml) {
            Ok(v) => {
                prop_assert!(fluent_bit::is_inert(&v.names.alias) && fluentd::is_inert(&v.names.alias));
                prop_assert!(fluent_bit::is_inert(&value) && fluentd::is_inert(&value));
                let conf = &fluent_bit_config(&v, &RenderContext::new(&v))["fluent-bit.conf"];
                let index_line = format!("Index                      {index}");
                prop_assert!(conf.lines().any(|l| l.trim() == index_line));
            }
            Err(e) => {
                let paths: Vec<&str> = e.0.iter().map(|f| f.path.as_str()).collect();
                prop_assert!(
                    paths.iter().all(|p| *p == "spec.index.name" || *p == "spec.collector.fields.environment"),
                    "{:?}", paths
                );
            }
        }
    }
}

/// The issue's repro, before validation: an index name that smuggles Fluentd parameters
/// (`ssl_verify false`, another `host`) stays one quoted value.
#[test]
fn index_name_cannot_add_fluentd_parameters() {
    let mut v = benign("fluentd");
    v.names = Names::new("logs\nssl_verify\tfalse\nhost\tlogs.example.net");
    let conf = &fluentd_config(&v, &RenderContext::new(&v))["fluent.conf"];
    let parsed = fluentd_structure(conf).expect("parses");
    let count = |key: &str| parsed.iter().filter(|(_, k, _)| k == key).count();
    assert_eq!(
        count("host"),
        2,
        "main output and dead letters only:\n{conf}"
    );
    assert!(
        !parsed
            .iter()
            .any(|(_, k, p)| k == "ssl_verify" && *p == Param::Plain("false".into())),
        "{conf}"
    );
}

/// The same repro with Fluent Bit, whose pods crash-looped on it.
#[test]
fn index_name_cannot_add_fluent_bit_keys() {
    let base = benign("fluentBit");
    let ctx = RenderContext::new(&base);
    let mut v = base.clone();
    v.names = Names::new("logs\nssl_verify\tfalse\nhost\tlogs.example.net");
    let conf = &fluent_bit_config(&v, &ctx)["fluent-bit.conf"];
    assert_eq!(
        fluent_bit_structure(conf),
        fluent_bit_structure(&fluent_bit_config(&base, &ctx)["fluent-bit.conf"])
    );
    assert!(
        conf.lines().any(|l| l.trim()
            == "Index                      logs_ssl_verify_false_host_logs.example.net"),
        "{conf}"
    );
}
