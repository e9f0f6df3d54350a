//! What the `_cat` APIs share: the columns a request asks for (`h`), the error for one
//! Elasticsearch does not know, and the answer as JSON rows (`format=json`) or text lines.

use serde_json::{Map, Value};

use super::{Ctx, Reply};
use crate::error::EsError;

/// The columns of `h`, or `default` (comma-separated).
pub fn columns(ctx: &Ctx<'_>, default: &str) -> Vec<String> {
    ctx.q("h")
        .unwrap_or(default)
        .split(',')
        .map(str::to_string)
        .collect()
}

/// Elasticsearch's answer to a column it does not know.
pub fn unknown_column(name: &str) -> EsError {
    EsError::illegal_argument(format!("header name [{name}] does not exist"))
}

/// `rows` as JSON (`format=json`) or as text, a line per row with the `columns`' string
/// values separated by spaces (a null cell is empty).
pub fn reply(ctx: &Ctx<'_>, columns: &[String], rows: Vec<Map<String, Value>>) -> Reply {
    if ctx.q("format") == Some("json") {
        return Reply::ok(Value::Array(rows.into_iter().map(Value::Object).collect()));
    }
    let text: String = rows
        .iter()
        .map(|row| {
            let cells: Vec<&str> = columns
                .iter()
                .map(|c| row.get(c).and_then(Value::as_str).unwrap_or_default())
                .collect();
            format!("{}\n", cells.join(" "))
        })
        .collect();
    Reply::ok(Value::String(text))
}
