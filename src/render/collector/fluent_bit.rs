//! Fluent Bit's configuration (`fluent-bit.conf`, `parsers.conf`) of the collector
//! pipeline described in [`super`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::*;
use crate::config_format::fluent_bit;

fn section(out: &mut String, name: &str, entries: &[(&str, String)]) {
    let _ = writeln!(out, "[{name}]");
    for (key, value) in entries {
        let _ = writeln!(out, "    {key:<26} {value}");
    }
    out.push('\n');
}

/// Fluent Bit's `fluent-bit.conf` and `parsers.conf`.
pub fn fluent_bit_config(v: &Validated, ctx: &RenderContext) -> BTreeMap<String, String> {
    let c = &v.collector;
    let es = endpoint(v, ctx);
    let fb = |s: &str| fluent_bit::value(s).into_owned();
    let paths: Vec<String> = c.paths.iter().map(|p| fb(p)).collect();
    let excludes: Vec<String> = exclude_paths(v).iter().map(|p| fb(p)).collect();
    let mut conf = format!(
        "# Fluent Bit configuration of MeshLogging {}/{}, managed by meshlogging-operator.\n\n",
        v.namespace, v.name
    );
    section(
        &mut conf,
        "SERVICE",
        &[
            ("Flush", c.flush_seconds.to_string()),
            ("Log_Level", "info".into()),
            ("Daemon", "off".into()),
            ("Parsers_File", "/fluent-bit/etc/parsers.conf".into()),
            ("HTTP_Server", "On".into()),
            ("HTTP_Listen", "0.0.0.0".into()),
            ("HTTP_Port", FLUENT_BIT_HTTP_PORT.to_string()),
            ("storage.path", format!("{STATE_DIR}/buffer/")),
            ("storage.sync", "normal".into()),
            ("storage.checksum", "off".into()),
            ("storage.backlog.mem_limit", "5M".into()),
            // Chunks the output gave up on stay on the node (`<storage.path>/rejected`).
            ("storage.keep.rejected", "On".into()),
        ],
    );
    section(
        &mut conf,
        "INPUT",
        &[
            ("Name", "tail".into()),
            ("Tag", "kube.*".into()),
            ("Path", comma_list(&paths)),
            ("Exclude_Path", comma_list(&excludes)),
            ("multiline.parser", "cri".into()),
            ("DB", format!("{STATE_DIR}/tail.db")),
            ("DB.locking", "true".into()),
            // The largest line shipped, as chunk_limit_size bounds a record in Fluentd.
            ("Buffer_Max_Size", fb(&c.chunk_limit_size)),
            ("Skip_Long_Lines", "On".into()),
            ("Refresh_Interval", "10".into()),
            ("storage.type", "filesystem".into()),
        ],
    );
    section(
        &mut conf,
        "FILTER",
        &[
            ("Name", "kubernetes".into()),
            ("Match", "kube.*".into()),
            ("Kube_URL", "https://kubernetes.default.svc:443".into()),
            (
                "Kube_CA_File",
                "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt".into(),
            ),
            (
                "Kube_Token_File",
                "/var/run/secrets/kubernetes.io/serviceaccount/token".into(),
            ),
            ("Kube_Tag_Prefix", "kube.var.log.containers.".into()),
            // A JSON line is parsed (its `timestamp` becoming the event time) and nested
            // under `app`; other lines stay in `log`.
            ("Merge_Log", "On".into()),
            ("Merge_Log_Key", APP_KEY.into()),
            ("Merge_Parser", "json_timestamp".into()),
            ("Keep_Log", "Off".into()),
            ("K8S-Logging.Parser", "On".into()),
            ("K8S-Logging.Exclude", "On".into()),
            ("Labels", "On".into()),
            ("Annotations", "Off".into()),
            ("Buffer_Size", "0".into()),
        ],
    );
    if !c.fields.is_empty() {
        let mut entries = vec![("Name", "modify".to_string()), ("Match", "kube.*".into())];
        entries.extend(c.fields.iter().map(|(k, v)| ("Set", format_set(k, v))));
        section(&mut conf, "FILTER", &entries);
    }
    let mut output = vec![
        ("Name", "es".to_string()),
        ("Match", "kube.*".into()),
        ("Host", fb(&es.host)),
        ("Port", es.port.to_string()),
    ];
    if !es.path.is_empty() {
        output.push(("Path", fb(&es.path)));
    }
    output.extend([
        ("Index", fb(&v.names.alias)),
        ("Suppress_Type_Name", "On".into()),
        ("Write_Operation", "create".into()),
        // An id hashed from the record: a chunk sent again is answered 409, not copied.
        ("Generate_ID", "On".into()),
        ("HTTP_User", fb(&v.names.collector_user())),
        ("HTTP_Passwd", format!("${{{PASSWORD_ENV}}}")),
        ("Time_Key", "timestamp".into()),
        ("Replace_Dots", "On".into()),
        ("Trace_Error", "On".into()),
    ]);
    if es.tls {
        output.extend([
            ("tls", "On".to_string()),
            ("tls.verify", "On".into()),
            ("tls.verify_hostname", "On".into()),
            ("tls.vhost", fb(&es.host)),
        ]);
        if crate::render::es_ca_source(v).is_some() {
            output.push(("tls.ca_file", format!("{CA_DIR}/{}", names::CA_CERT_KEY)));
        }
    }
    output.extend([
        ("Retry_Limit", FLUENT_BIT_RETRY_LIMIT.to_string()),
        ("storage.total_limit_size", fb(&c.total_limit_size)),
    ]);
    section(&mut conf, "OUTPUT", &output);

    let mut parsers = String::from(
        "# JSON logs: their `timestamp` (ISO 8601, fractional seconds, Z or offset) becomes the\n# event time, which the output writes back as `timestamp`.\n\n",
    );
    section(
        &mut parsers,
        "PARSER",
        &[
            ("Name", "json_timestamp".into()),
            ("Format", "json".into()),
            ("Time_Key", "timestamp".into()),
            ("Time_Format", "%Y-%m-%dT%H:%M:%S.%L%z".into()),
            ("Time_Keep", "Off".into()),
        ],
    );
    BTreeMap::from([
        (
            "fluent-bit.conf".to_string(),
            conf.trim_end().to_string() + "\n",
        ),
        (
            "parsers.conf".to_string(),
            parsers.trim_end().to_string() + "\n",
        ),
    ])
}

/// `Set key value` of the modify filter, by the Fluent Bit rule; values with spaces are
/// quoted (inert values hold no quotes or backslashes).
fn format_set(key: &str, value: &str) -> String {
    let key = field_key(key);
    let value = fluent_bit::value(value);
    if value.contains(char::is_whitespace) {
        format!("{key} \"{value}\"")
    } else {
        format!("{key} {value}")
    }
}
