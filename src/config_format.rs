//! One rule per configuration format for every value that reaches a configuration file from
//! the spec or the controller (index names, URLs, paths, user fields). Pure.
//!
//! ```text
//! format                 rule                                           who refuses first
//! Fluent Bit (classic)   no escaping exists: refuse what is not inert    validate, with the field
//! Fluentd                single-quoted, \ and ' escaped; no line breaks  validate, with the field
//! YAML (elasticsearch.yml, kibana.yml)  double-quoted, every non-printable escaped   nothing to refuse
//! ```
//!
//! Validation refuses values a format cannot carry, naming the field; the writers here
//! still neutralise such a value (replace what would change the file's structure) so that
//! no input, validated or not, adds a key, a section or an include to a configuration.
//! `tests/render_config_props.rs` parses rendered files back over generated strings.

use std::borrow::Cow;

/// Fluent Bit's classic format has no quoting or escaping: a value is the rest of its line,
/// trimmed, with `${NAME}` replaced from the environment (which holds the collector's
/// password). A value is inert when it is one non-empty line without surrounding
/// whitespace, control characters, `${`, and (for the `Set` of the modify filter, which
/// splits on spaces and reads quotes) `"` or `\`.
pub mod fluent_bit {
    use super::*;

    /// Whether `s` can be written as a Fluent Bit value unchanged.
    pub fn is_inert(s: &str) -> bool {
        !s.is_empty()
            && s.trim() == s
            && !s.chars().any(|c| c.is_control() || matches!(c, '"' | '\\'))
            && !s.contains("${")
    }

    /// `s` as a Fluent Bit value: itself when inert, otherwise with control characters,
    /// quotes and backslashes replaced by `_`, `${` broken up as `$_{`, surrounding
    /// whitespace removed, and `_` for nothing.
    pub fn value(s: &str) -> Cow<'_, str> {
        if is_inert(s) {
            return Cow::Borrowed(s);
        }
        let replaced: String = s
            .chars()
            .map(|c| {
                if c.is_control() || matches!(c, '"' | '\\') {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let replaced = replaced.replace("${", "$_{");
        let trimmed = replaced.trim();
        Cow::Owned(if trimmed.is_empty() {
            "_".to_string()
        } else {
            trimmed.to_string()
        })
    }
}

/// Fluentd reads single-quoted strings with two escapes (`\'`, `\\`) and no interpolation
/// (`#{...}` runs Ruby only in double quotes), but a line break inside one is a parse error.
/// Values of `record_transformer` additionally expand `${...}` placeholders.
pub mod fluentd {
    use super::*;

    /// Whether `s` can be written as a single-quoted Fluentd value meaning exactly `s`:
    /// no control characters (line breaks end the string) and no `${` (a placeholder in
    /// record values).
    pub fn is_inert(s: &str) -> bool {
        !s.chars().any(char::is_control) && !s.contains("${")
    }

    /// `s` as a single-quoted Fluentd string: `\` and `'` escaped; control characters
    /// replaced by `_` and `${` broken up as `$_{` when `s` is not inert.
    pub fn quoted(s: &str) -> String {
        let s: Cow<'_, str> = if is_inert(s) {
            Cow::Borrowed(s)
        } else {
            let replaced: String = s
                .chars()
                .map(|c| if c.is_control() { '_' } else { c })
                .collect();
            Cow::Owned(replaced.replace("${", "$_{"))
        };
        let mut out = String::with_capacity(s.len() + 2);
        out.push('\'');
        for c in s.chars() {
            if matches!(c, '\'' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('\'');
        out
    }
}

/// YAML (`elasticsearch.yml`, `kibana.yml`): every string is a double-quoted scalar in which
/// `"` and `\` are escaped and every character that YAML does not allow raw in a
/// double-quoted scalar or that it folds (control characters, line separators, DEL, C1,
/// the byte-order mark, non-characters) is written as `\uXXXX` / `\UXXXXXXXX`. Any string
/// therefore reads back as itself, on one line.
pub mod yaml {
    use std::fmt::Write as _;

    /// A key written bare: a flat dotted setting name.
    fn is_plain_key(s: &str) -> bool {
        s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    }

    /// Characters YAML does not allow raw inside a double-quoted scalar, or that it reads as
    /// line breaks or white space to fold.
    fn needs_escape(c: char) -> bool {
        let u = c as u32;
        c == '"'
            || c == '\\'
            || c.is_control()
            || matches!(u, 0x2028 | 0x2029 | 0xFEFF | 0xFFFE | 0xFFFF)
            || (0xD800..=0xDFFF).contains(&u)
    }

    /// `s` as a double-quoted YAML scalar.
    pub fn string(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if needs_escape(c) => {
                    let u = c as u32;
                    if u <= 0xFFFF {
                        let _ = write!(out, "\\u{u:04X}");
                    } else {
                        let _ = write!(out, "\\U{u:08X}");
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    /// A mapping key: bare when it is a setting name, otherwise a quoted string.
    pub fn key(s: &str) -> String {
        if is_plain_key(s) {
            s.to_string()
        } else {
            string(s)
        }
    }

    /// A JSON value as a YAML flow value: strings quoted by [`string`], numbers, booleans and
    /// null as themselves, arrays and objects as flow collections (spelled like compact
    /// JSON, which YAML reads the same way).
    pub fn value(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(s) => string(s),
            serde_json::Value::Array(items) => {
                let items: Vec<String> = items.iter().map(value).collect();
                format!("[{}]", items.join(","))
            }
            serde_json::Value::Object(map) => {
                let entries: Vec<String> = map
                    .iter()
                    .map(|(k, v)| format!("{}:{}", string(k), value(v)))
                    .collect();
                format!("{{{}}}", entries.join(","))
            }
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fluent_bit_values() {
        assert_eq!(fluent_bit::value("mcp-mesh-logs"), "mcp-mesh-logs");
        assert_eq!(
            fluent_bit::value("logs\nssl_verify\tfalse\nhost\tlogs.example.net"),
            "logs_ssl_verify_false_host_logs.example.net"
        );
        assert_eq!(
            fluent_bit::value("${COLLECTOR_PASSWORD}"),
            "$_{COLLECTOR_PASSWORD}"
        );
        assert_eq!(fluent_bit::value(" \n "), "_");
        assert!(fluent_bit::is_inert(&fluent_bit::value("a\"b\\c ")));
    }

    #[test]
    fn fluentd_values() {
        assert_eq!(fluentd::quoted("payments"), "'payments'");
        assert_eq!(fluentd::quoted(r"it's a \ test"), r"'it\'s a \\ test'");
        assert_eq!(fluentd::quoted("a\nb"), "'a_b'");
        assert_eq!(fluentd::quoted("#{exit}"), "'#{exit}'");
        assert_eq!(fluentd::quoted("${tag}"), "'$_{tag}'");
    }

    #[test]
    fn yaml_values() {
        assert_eq!(yaml::string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(yaml::string("a\nb: c"), r#""a\u000Ab: c""#);
        assert_eq!(yaml::string("\u{2028}\u{7f}"), r#""\u2028\u007F""#);
        assert_eq!(yaml::key("xpack.ml.enabled"), "xpack.ml.enabled");
        assert_eq!(yaml::key("a: b"), r#""a: b""#);
    }
}
