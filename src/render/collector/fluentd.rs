//! Fluentd's configuration (`fluent.conf`) of the collector pipeline described in
//! [`super`]: the same pipeline as Fluent Bit's.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::*;
use crate::config_format::fluentd;

/// Fluentd's `fluent.conf`: the same pipeline as Fluent Bit's.
pub fn fluentd_config(v: &Validated, ctx: &RenderContext) -> BTreeMap<String, String> {
    let c = &v.collector;
    let es = endpoint(v, ctx);
    let paths = fluentd::quoted(&comma_list(&c.paths));
    let exclude = fluentd::quoted(&comma_list(&exclude_paths(v)));
    let mut conf = format!(
        "# Fluentd configuration of MeshLogging {}/{}, managed by meshlogging-operator.\n",
        v.namespace, v.name
    );
    let _ = write!(
        conf,
        r#"
<system>
  log_level info
</system>

<label @FLUENT_LOG>
  <match fluent.**>
    @type stdout
  </match>
</label>

<source>
  @type monitor_agent
  bind 0.0.0.0
  port {FLUENTD_MONITOR_PORT}
</source>

<source>
  @type tail
  @id in_tail_container_logs
  path {paths}
  exclude_path {exclude}
  pos_file {STATE_DIR}/containers.log.pos
  tag kubernetes.*
  read_from_head true
  follow_inodes true
  refresh_interval 10
  <parse>
    @type cri
  </parse>
</source>

# CRI splits long lines into partial records (logtag P); join them.
<filter kubernetes.**>
  @type concat
  key log
  use_partial_cri_logtag true
  partial_cri_logtag_key logtag
  partial_cri_stream_key stream
  separator ""
</filter>

# A JSON log line is nested under `{APP_KEY}` (so no application can clash with the
# schema); its `timestamp` becomes the event time. Other lines stay in `log`.
<filter kubernetes.**>
  @type parser
  key_name log
  reserve_data true
  remove_key_name_field true
  emit_invalid_record_to_error false
  hash_value_field {APP_KEY}
  <parse>
    @type json
    time_key timestamp
    time_type string
    keep_time_key false
  </parse>
</filter>

<filter kubernetes.**>
  @type kubernetes_metadata
  @id filter_kube_metadata
  skip_labels false
  skip_container_metadata false
  skip_master_url true
  skip_namespace_metadata true
</filter>

# Every document gets exactly one `timestamp`: the event time, as the index mapping reads it.
<filter kubernetes.**>
  @type record_transformer
  enable_ruby true
  <record>
    timestamp ${{Time.at(time).utc.strftime('%Y-%m-%dT%H:%M:%S.%LZ')}}
  </record>
</filter>
"#,
    );
    if !c.fields.is_empty() {
        conf.push_str("\n<filter kubernetes.**>\n  @type record_transformer\n  <record>\n");
        for (key, value) in &c.fields {
            let _ = writeln!(conf, "    {} {}", field_key(key), fluentd::quoted(value));
        }
        conf.push_str("  </record>\n</filter>\n");
    }
    conf.push_str(
        r#"
# A document id hashed from the whole record, its tag and time: a retried chunk is
# answered 409 for what was already indexed, never indexed twice.
<filter kubernetes.**>
  @type elasticsearch_genid
  hash_id_key _hash
  use_record_as_seed true
  use_entire_record true
  include_tag_in_seed true
  include_time_in_seed true
  hash_type sha256
</filter>
"#,
    );
    let deadletter = v.names.deadletter_index();
    let output = |id: &str, index: &str, buffer: &str| {
        let mut out = format!(
            "  @type elasticsearch\n  @id {id}\n  host {host}\n  port {port}\n  scheme {scheme}\n",
            host = fluentd::quoted(&es.host),
            port = es.port,
            scheme = es.scheme(),
        );
        if !es.path.is_empty() {
            let _ = writeln!(out, "  path {}", fluentd::quoted(&es.path));
        }
        if es.tls {
            out.push_str("  ssl_verify true\n");
            if crate::render::es_ca_source(v).is_some() {
                let _ = writeln!(out, "  ca_file {CA_DIR}/{}", names::CA_CERT_KEY);
            }
        }
        let _ = write!(
            out,
            r##"  user {user}
  password "#{{ENV['{PASSWORD_ENV}']}}"
  index_name {index}
  logstash_format false
  include_timestamp false
  write_operation create
  id_key _hash
  remove_keys _hash
  suppress_type_name true
  verify_es_version_at_startup false
  default_elasticsearch_version 8
  reconnect_on_error true
  reload_connections false
  log_es_400_reason true
  <buffer>
    @type file
    path {STATE_DIR}/{buffer}
    flush_mode interval
    flush_interval {flush}
    flush_thread_count 2
    chunk_limit_size {chunk}
    total_limit_size {total}
    overflow_action block
    retry_type exponential_backoff
    retry_max_interval 30
    retry_forever true
  </buffer>
"##,
            user = fluentd::quoted(&v.names.collector_user()),
            index = fluentd::quoted(index),
            flush = fluentd::quoted(&c.flush_interval),
            chunk = fluentd::quoted(&c.chunk_limit_size),
            total = fluentd::quoted(&c.total_limit_size),
        );
        out
    };
    let _ = write!(
        conf,
        r#"
# Network errors, 429 and 5xx are retried forever from the disk buffer; a record
# Elasticsearch refuses (400) goes to the @ERROR label below instead of blocking the buffer.
<match kubernetes.**>
{main}</match>

# Refused records, kept whole as a JSON string (so they cannot be refused again) with
# their tag and time, in the dead-letter index <index>-deadletter.
<label @ERROR>
  <filter **>
    @type record_transformer
    enable_ruby true
    renew_record true
    <record>
      timestamp ${{Time.at(time).utc.strftime('%Y-%m-%dT%H:%M:%S.%LZ')}}
      tag ${{tag}}
      record ${{record.to_json}}
    </record>
  </filter>
  <filter **>
    @type elasticsearch_genid
    hash_id_key _hash
    use_record_as_seed true
    use_entire_record true
    hash_type sha256
  </filter>
  <match **>
{dead}  </match>
</label>
"#,
        main = output("out_es", &v.names.alias, "buffer"),
        dead = indent(&output(
            "out_es_deadletter",
            &deadletter,
            "deadletter-buffer"
        )),
    );
    BTreeMap::from([("fluent.conf".to_string(), conf)])
}

/// `text` indented by two more spaces (a directive nested one level deeper).
fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
