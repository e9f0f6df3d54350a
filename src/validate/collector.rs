//! The collector: buffer sizes and interval, paths, and the fields added to every record
//! (which reach Fluent Bit and Fluentd configuration files). Pure.

use super::resources::{check_requests_within_limits, default_collector_resources};
use super::{ValidCollector, ValidationErrors};
use crate::api::units::{collector_size, interval_seconds};
use crate::api::{CollectorType, MeshLoggingSpec, RESERVED_FIELD_KEYS};
use crate::config_format::{fluent_bit, fluentd};

/// Default Fluent Bit image (pinned; Fluent Bit 4.2).
pub const DEFAULT_FLUENT_BIT_IMAGE: &str = "cr.fluentbit.io/fluent/fluent-bit:4.2.0";
/// Default Fluentd image (pinned; Fluentd 1.19 with the Elasticsearch 8 output plugin).
pub const DEFAULT_FLUENTD_IMAGE: &str =
    "fluent/fluentd-kubernetes-daemonset:v1.19.3-debian-elasticsearch8-1.1";

/// The collector of `spec` with its defaults.
pub(super) fn collector(spec: &MeshLoggingSpec, errs: &mut ValidationErrors) -> ValidCollector {
    let c = &spec.collector;
    let flush_seconds = interval_seconds(&c.buffer.flush_interval).unwrap_or(0);
    if flush_seconds == 0 {
        errs.push(
            "spec.collector.buffer.flushInterval",
            format!(
                "{:?} must be at least one second, such as 5s or 1m",
                c.buffer.flush_interval
            ),
        );
    }
    for (field, paths) in [("paths", &c.paths), ("excludePaths", &c.exclude_paths)] {
        for (i, p) in paths.iter().enumerate() {
            if p.chars()
                .any(|ch| ch.is_control() || matches!(ch, ',' | '"' | '\'' | '\\' | '#' | '$'))
            {
                errs.push(
                    format!("spec.collector.{field}[{i}]"),
                    format!("{p:?} may not contain , \" ' \\ # $ or control characters"),
                );
            }
        }
    }
    for (i, p) in c.paths.iter().enumerate() {
        if !p.starts_with("/var/log/") {
            errs.push(
                format!("spec.collector.paths[{i}]"),
                format!("{p:?} is outside /var/log/, the only host directory the collector mounts"),
            );
        }
    }
    let chunk = collector_size(&c.buffer.chunk_limit_size);
    let total = collector_size(&c.buffer.total_limit_size);
    for (field, value, parsed) in [
        ("chunkLimitSize", &c.buffer.chunk_limit_size, chunk),
        ("totalLimitSize", &c.buffer.total_limit_size, total),
    ] {
        if parsed.is_none() {
            errs.push(
                format!("spec.collector.buffer.{field}"),
                format!("{value:?} is not a size such as 512k, 2M or 1G"),
            );
        }
    }
    if chunk.is_some_and(|b| b < MIN_CHUNK_BYTES) {
        errs.push(
            "spec.collector.buffer.chunkLimitSize",
            format!(
                "{} is too small: at least 32k (the collectors read log lines in 32k blocks)",
                c.buffer.chunk_limit_size
            ),
        );
    }
    if let (Some(chunk), Some(total)) = (chunk, total)
        && total < chunk
    {
        errs.push(
            "spec.collector.buffer.totalLimitSize",
            format!(
                "{} is smaller than chunkLimitSize {}",
                c.buffer.total_limit_size, c.buffer.chunk_limit_size
            ),
        );
    }
    for (key, value) in &c.fields {
        let path = format!("spec.collector.fields.{key}");
        if RESERVED_FIELD_KEYS.contains(&key.as_str()) {
            errs.push(
                path,
                "is a field the collector or the log schema already sets: choose another name",
            );
        } else if !is_field_key(key) {
            errs.push(
                path,
                "field names must be identifiers (letters, digits and _, starting with a letter)",
            );
        } else if !(fluent_bit::is_inert(value) && fluentd::is_inert(value)) {
            errs.push(
                path,
                "must be a non-empty single-line value without surrounding spaces, double quotes, backslashes or \"${\" (they are collector configuration syntax)",
            );
        }
    }
    let resources = c
        .resources
        .clone()
        .unwrap_or_else(default_collector_resources);
    check_requests_within_limits(&resources, "spec.collector.resources", errs);
    ValidCollector {
        kind: c.kind,
        image: c.image.clone().unwrap_or_else(|| {
            match c.kind {
                CollectorType::FluentBit => DEFAULT_FLUENT_BIT_IMAGE,
                CollectorType::Fluentd => DEFAULT_FLUENTD_IMAGE,
            }
            .to_string()
        }),
        paths: c.paths.clone(),
        exclude_paths: c.exclude_paths.clone(),
        fields: c.fields.clone(),
        flush_seconds,
        flush_interval: c.buffer.flush_interval.clone(),
        chunk_limit_size: c.buffer.chunk_limit_size.clone(),
        total_limit_size: c.buffer.total_limit_size.clone(),
        resources,
        tolerations: c.tolerations.clone(),
    }
}

/// A `collector.fields` key: `^[A-Za-z][A-Za-z0-9_]*$`.
fn is_field_key(key: &str) -> bool {
    key.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Smallest collector buffer chunk: the read block of both collectors.
const MIN_CHUNK_BYTES: u64 = 32 << 10;
