//! Schema helpers for fields whose Rust type does not give the schema the API server needs.
//!
//! CEL rules over maps are only admitted when the API server can bound their cost, so maps
//! of strings declare how many entries and how long a value may be.

use schemars::{Schema, SchemaGenerator, json_schema};

fn string_map(max_properties: u32, max_value_length: u32) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": max_properties,
        "additionalProperties": { "type": "string", "maxLength": max_value_length }
    })
}

/// Settings maps (`elasticsearch.yml`, repository settings): up to 64 entries.
pub fn settings_map(_: &mut SchemaGenerator) -> Schema {
    string_map(64, 4096)
}

/// Fields added to log records: up to 32 entries.
pub fn fields_map(_: &mut SchemaGenerator) -> Schema {
    string_map(32, 1024)
}

/// Ingress annotations: up to 64 entries (values up to 4096 characters).
pub fn annotations_map(_: &mut SchemaGenerator) -> Schema {
    string_map(64, 4096)
}
