//! The REST API: the route table (paths, methods, required privileges,
//! accepted query parameters), request context, replies and index-expression
//! resolution. Handlers are plain functions over `&mut State`: no I/O.

pub mod aggs;
pub mod aliases;
pub mod allocation;
pub mod cat;
pub mod cluster;
pub mod docs;
pub mod health_report;
pub mod ilm;
pub mod indices;
pub mod nodes;
pub mod search;
pub mod security;
pub mod slm;
pub mod snapshot;
pub mod templates;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::error::{EsError, EsResult};
use crate::state::{ComponentTemplate, IndexTemplate, State};
use crate::util::{is_pattern, simple_match};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Put,
    Post,
    Delete,
}

impl Method {
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "PUT" => Method::Put,
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub username: String,
    pub roles: Vec<String>,
}

/// Everything a handler sees.
pub struct Ctx<'a> {
    pub state: &'a mut State,
    pub method: Method,
    pub uri: &'a str,
    pub path_params: Vec<(&'static str, String)>,
    pub query: &'a BTreeMap<String, String>,
    /// The raw body (empty when none).
    pub raw_body: &'a str,
    /// The body parsed as JSON (`None` when empty).
    pub json: Option<&'a Result<Value, String>>,
    /// `None` when security is disabled.
    pub user: Option<&'a AuthUser>,
    pub security_enabled: bool,
    /// `compatible-with=N` from the Accept/Content-Type headers.
    pub compat_major: Option<u32>,
    /// Set on the last evaluation of a waiting request (cluster health).
    pub final_attempt: bool,
}

impl Ctx<'_> {
    /// The indices the `{index}` path parameter names (`default` when the path has none),
    /// resolved with `opts` as the query's `expand_wildcards`, `ignore_unavailable` and
    /// `allow_no_indices` adjust them.
    pub fn indices(&self, default: &str, opts: ResolveOpts) -> EsResult<Vec<String>> {
        let expr = self.param("index").unwrap_or(default);
        resolve_indices(self.state, expr, opts.from_query(self)?)
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.path_params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn q(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// A boolean query parameter (`?flag`, `?flag=true`, `?flag=false`).
    pub fn q_bool(&self, name: &str) -> EsResult<bool> {
        match self.q(name) {
            None => Ok(false),
            Some("" | "true") => Ok(true),
            Some("false") => Ok(false),
            Some(v) => Err(EsError::illegal_argument(format!(
                "Failed to parse value [{v}] as only [true] or [false] are allowed."
            ))),
        }
    }

    pub fn body_json(&self) -> EsResult<&Value> {
        match self.json {
            None => Err(EsError::body_required()),
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(EsError::parse(e.clone())),
        }
    }

    /// The JSON body, or `{}` when none was sent.
    pub fn body_or_empty(&self) -> EsResult<Value> {
        match self.json {
            None => Ok(json!({})),
            Some(Ok(v)) => Ok(v.clone()),
            Some(Err(e)) => Err(EsError::parse(e.clone())),
        }
    }

    pub fn human(&self) -> bool {
        self.q_bool("human").unwrap_or(false)
    }

    pub fn username(&self) -> &str {
        self.user
            .map(|u| u.username.as_str())
            .unwrap_or("_anonymous")
    }
}

/// A handler's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// `Value::Null` = no body.
    pub body: Value,
    pub headers: Vec<(String, String)>,
    pub warnings: Vec<String>,
    /// Ask the server to evaluate the request again later (cluster health waits).
    pub retry_within: Option<std::time::Duration>,
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply::with_status(200, body)
    }

    pub fn with_status(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body,
            headers: Vec::new(),
            warnings: Vec::new(),
            retry_within: None,
        }
    }

    pub fn ack() -> Reply {
        Reply::ok(json!({"acknowledged": true}))
    }

    /// A HEAD-style answer: a status and no body.
    pub fn empty(status: u16) -> Reply {
        Reply::with_status(status, Value::Null)
    }

    pub fn warn(mut self, w: impl Into<String>) -> Reply {
        self.warnings.push(w.into());
        self
    }
}

pub type Handler = fn(&mut Ctx<'_>) -> EsResult<Reply>;

/// What a route requires of the caller.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// Any authenticated user.
    Authenticated,
    /// A cluster action granted by any of these cluster privileges.
    Cluster(&'static str, &'static [&'static str]),
    /// An index action on the indices named by the path parameter, granted by any of these index privileges.
    Index(&'static str, &'static str, &'static [&'static str]),
    /// The handler checks privileges itself (bulk, documents, password changes).
    InHandler,
}

pub struct Route {
    pub methods: &'static [Method],
    pub path: &'static str,
    pub handler: Handler,
    pub access: Access,
    /// Accepted query parameters besides the global ones.
    pub params: &'static [&'static str],
}

use Method::{Delete as DEL, Get as GET, Head as HEAD, Post as POST, Put as PUT};

const MANAGE_ILM: &[&str] = &["manage_ilm", "manage", "all"];
const READ_ILM: &[&str] = &["read_ilm", "manage_ilm", "manage", "all"];
const MANAGE_TEMPLATES: &[&str] = &["manage_index_templates", "manage", "all"];
const READ_TEMPLATES: &[&str] = &["manage_index_templates", "monitor", "manage", "all"];
const MONITOR: &[&str] = &["monitor", "manage", "all"];
const MANAGE: &[&str] = &["manage", "all"];
const MANAGE_SLM: &[&str] = &["manage_slm", "manage", "all"];
const READ_SLM: &[&str] = &["read_slm", "manage_slm", "manage", "all"];
const MANAGE_SECURITY: &[&str] = &["manage_security", "all"];
const READ_SECURITY: &[&str] = &["read_security", "manage_security", "all"];
const SNAPSHOT_CREATE: &[&str] = &["create_snapshot", "manage", "all"];
const SNAPSHOT_READ: &[&str] = &["monitor_snapshot", "create_snapshot", "manage", "all"];
const IDX_CREATE: &[&str] = &["create_index", "manage", "all"];
const IDX_DELETE: &[&str] = &["delete_index", "manage", "all"];
const IDX_VIEW: &[&str] = &["view_index_metadata", "manage", "all"];
const IDX_MANAGE: &[&str] = &["manage", "all"];
const IDX_READ: &[&str] = &["read", "all"];
const IDX_MAINT: &[&str] = &["maintenance", "manage", "all"];
const IDX_ILM: &[&str] = &["manage_ilm", "manage", "all"];

const TIMEOUTS: &[&str] = &["timeout", "master_timeout"];
const INDICES_OPTS: &[&str] = &[
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
    "master_timeout",
    "local",
    "timeout",
];

/// The route table. Literal segments win over `{parameters}`, as in Elasticsearch's path trie.
#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    Route { methods: &[GET, HEAD], path: "/", handler: cluster::info, access: Access::Cluster("cluster:monitor/main", MONITOR), params: &[] },
    Route { methods: &[GET], path: "/_health_report/{feature}", handler: health_report::disk, access: Access::Cluster("cluster:monitor/health_api", MONITOR), params: &["verbose", "timeout", "size"] },
    Route { methods: &[GET], path: "/_cluster/health", handler: cluster::health, access: Access::Cluster("cluster:monitor/health", MONITOR), params: cluster::HEALTH_PARAMS },
    Route { methods: &[GET], path: "/_cluster/health/{index}", handler: cluster::health, access: Access::Cluster("cluster:monitor/health", MONITOR), params: cluster::HEALTH_PARAMS },
    Route { methods: &[DEL], path: "/", handler: indices::delete_without_index, access: Access::Authenticated, params: TIMEOUTS },
    Route { methods: &[GET], path: "/_nodes", handler: cluster::nodes_info, access: Access::Cluster("cluster:monitor/nodes/info", MONITOR), params: &["flat_settings", "timeout"] },
    Route { methods: &[GET], path: "/_nodes/{node_id}", handler: cluster::nodes_info, access: Access::Cluster("cluster:monitor/nodes/info", MONITOR), params: &["flat_settings", "timeout"] },
    Route { methods: &[GET], path: "/_cluster/settings", handler: allocation::get_settings, access: Access::Cluster("cluster:monitor/settings", MONITOR), params: &["flat_settings", "include_defaults", "master_timeout", "timeout", "local"] },
    Route { methods: &[PUT], path: "/_cluster/settings", handler: allocation::put_settings, access: Access::Cluster("cluster:admin/settings/update", MANAGE), params: &["flat_settings", "master_timeout", "timeout"] },
    Route { methods: &[GET], path: "/_cluster/state/metadata", handler: allocation::state_metadata, access: Access::Cluster("cluster:monitor/state", MONITOR), params: &["local", "master_timeout", "flat_settings", "wait_for_metadata_version", "wait_for_timeout", "ignore_unavailable", "allow_no_indices", "expand_wildcards"] },
    Route { methods: &[POST], path: "/_cluster/voting_config_exclusions", handler: allocation::add_voting_exclusions, access: Access::Cluster("cluster:admin/voting_config/add_exclusions", MANAGE), params: &["node_names", "node_ids", "timeout", "master_timeout"] },
    Route { methods: &[DEL], path: "/_cluster/voting_config_exclusions", handler: allocation::clear_voting_exclusions, access: Access::Cluster("cluster:admin/voting_config/clear_exclusions", MANAGE), params: &["wait_for_removal", "master_timeout"] },
    Route { methods: &[GET], path: "/_cat/shards", handler: allocation::cat_shards, access: Access::Cluster("cluster:monitor/state", MONITOR), params: &["h", "s", "v", "help", "bytes", "time", "local", "master_timeout"] },
    Route { methods: &[GET], path: "/_cat/shards/{index}", handler: allocation::cat_shards, access: Access::Cluster("cluster:monitor/state", MONITOR), params: &["h", "s", "v", "help", "bytes", "time", "local", "master_timeout"] },
    Route { methods: &[POST], path: "/_nodes/reload_secure_settings", handler: nodes::reload_secure_settings, access: Access::Cluster("cluster:admin/nodes/reload_secure_settings", MANAGE), params: &["timeout"] },
    Route { methods: &[GET], path: "/_cat/nodes", handler: nodes::cat_nodes, access: Access::Cluster("cluster:monitor/nodes/info", MONITOR), params: &["h", "s", "v", "help", "bytes", "time", "full_id", "include_unloaded_segments", "local", "master_timeout"] },
    Route { methods: &[POST, GET], path: "/_flush", handler: nodes::flush, access: Access::Cluster("indices:admin/flush", MANAGE), params: &["force", "wait_if_ongoing", "ignore_unavailable", "allow_no_indices", "expand_wildcards"] },
    Route { methods: &[POST, GET], path: "/{index}/_flush", handler: nodes::flush, access: Access::Index("index", "indices:admin/flush", IDX_MAINT), params: &["force", "wait_if_ongoing", "ignore_unavailable", "allow_no_indices", "expand_wildcards"] },
    Route { methods: &[GET], path: "/_capabilities", handler: cluster::capabilities, access: Access::Authenticated, params: &["method", "path", "parameters", "capabilities", "local_only"] },
    // ILM
    Route { methods: &[GET], path: "/_ilm/policy", handler: ilm::get_policy, access: Access::Cluster("cluster:admin/ilm/get", READ_ILM), params: TIMEOUTS },
    Route { methods: &[GET], path: "/_ilm/policy/{policy}", handler: ilm::get_policy, access: Access::Cluster("cluster:admin/ilm/get", READ_ILM), params: TIMEOUTS },
    Route { methods: &[PUT], path: "/_ilm/policy/{policy}", handler: ilm::put_policy, access: Access::Cluster("cluster:admin/ilm/put", MANAGE_ILM), params: TIMEOUTS },
    Route { methods: &[DEL], path: "/_ilm/policy/{policy}", handler: ilm::delete_policy, access: Access::Cluster("cluster:admin/ilm/delete", MANAGE_ILM), params: TIMEOUTS },
    Route { methods: &[GET], path: "/_ilm/status", handler: ilm::status, access: Access::Cluster("cluster:admin/ilm/operation_mode/get", READ_ILM), params: TIMEOUTS },
    Route { methods: &[GET], path: "/{index}/_ilm/explain", handler: ilm::explain, access: Access::Index("index", "indices:admin/ilm/explain", IDX_ILM), params: &["only_managed", "only_errors", "master_timeout"] },
    Route { methods: &[POST], path: "/{index}/_ilm/retry", handler: ilm::retry, access: Access::Index("index", "indices:admin/ilm/retry", IDX_ILM), params: TIMEOUTS },
    Route { methods: &[POST], path: "/{index}/_ilm/remove", handler: ilm::remove_policy, access: Access::Index("index", "indices:admin/ilm/remove_policy", IDX_ILM), params: TIMEOUTS },
    // component templates
    Route { methods: &[GET], path: "/_component_template", handler: templates::get::<ComponentTemplate>, access: Access::Cluster("cluster:admin/component_template/get", READ_TEMPLATES), params: &[ "master_timeout", "local", "include_defaults", "flat_settings", "settings_filter", ] },
    Route { methods: &[GET], path: "/_component_template/{name}", handler: templates::get::<ComponentTemplate>, access: Access::Cluster("cluster:admin/component_template/get", READ_TEMPLATES), params: &[ "master_timeout", "local", "include_defaults", "flat_settings", "settings_filter", ] },
    Route { methods: &[HEAD], path: "/_component_template/{name}", handler: templates::exists::<ComponentTemplate>, access: Access::Cluster("cluster:admin/component_template/get", READ_TEMPLATES), params: &["master_timeout", "local"] },
    Route { methods: &[PUT, POST], path: "/_component_template/{name}", handler: templates::put_component, access: Access::Cluster("cluster:admin/component_template/put", MANAGE_TEMPLATES), params: &["create", "cause", "master_timeout"] },
    Route { methods: &[DEL], path: "/_component_template/{name}", handler: templates::delete_component, access: Access::Cluster("cluster:admin/component_template/delete", MANAGE_TEMPLATES), params: TIMEOUTS },
    // composable index templates
    Route { methods: &[GET], path: "/_index_template", handler: templates::get::<IndexTemplate>, access: Access::Cluster("indices:admin/index_template/get", READ_TEMPLATES), params: &[ "flat_settings", "master_timeout", "local", "include_defaults", ] },
    Route { methods: &[GET], path: "/_index_template/{name}", handler: templates::get::<IndexTemplate>, access: Access::Cluster("indices:admin/index_template/get", READ_TEMPLATES), params: &[ "flat_settings", "master_timeout", "local", "include_defaults", ] },
    Route { methods: &[HEAD], path: "/_index_template/{name}", handler: templates::exists::<IndexTemplate>, access: Access::Cluster("indices:admin/index_template/get", READ_TEMPLATES), params: &["flat_settings", "master_timeout", "local"] },
    Route { methods: &[PUT, POST], path: "/_index_template/{name}", handler: templates::put_index_template, access: Access::Cluster("indices:admin/index_template/put", MANAGE_TEMPLATES), params: &["create", "cause", "master_timeout"] },
    Route { methods: &[DEL], path: "/_index_template/{name}", handler: templates::delete_index_template, access: Access::Cluster("indices:admin/index_template/delete", MANAGE_TEMPLATES), params: TIMEOUTS },
    // aliases
    Route { methods: &[POST], path: "/_aliases", handler: aliases::update_aliases, access: Access::InHandler, params: TIMEOUTS },
    Route { methods: &[GET], path: "/_alias", handler: aliases::get_alias, access: Access::Authenticated, params: INDICES_OPTS },
    Route { methods: &[GET], path: "/_aliases", handler: aliases::get_alias, access: Access::Authenticated, params: INDICES_OPTS },
    Route { methods: &[GET], path: "/{index}/_aliases", handler: aliases::get_alias, access: Access::Index("index", "indices:admin/aliases/get", IDX_VIEW), params: INDICES_OPTS },
    Route { methods: &[GET, HEAD], path: "/_alias/{name}", handler: aliases::get_alias, access: Access::Authenticated, params: INDICES_OPTS },
    Route { methods: &[GET, HEAD], path: "/{index}/_alias/{name}", handler: aliases::get_alias, access: Access::Index("index", "indices:admin/aliases/get", IDX_VIEW), params: INDICES_OPTS },
    Route { methods: &[GET], path: "/{index}/_alias", handler: aliases::get_alias, access: Access::Index("index", "indices:admin/aliases/get", IDX_VIEW), params: INDICES_OPTS },
    Route { methods: &[PUT, POST], path: "/{index}/_alias/{name}", handler: aliases::put_alias, access: Access::Index("index", "indices:admin/aliases", IDX_MANAGE), params: TIMEOUTS },
    Route { methods: &[PUT, POST], path: "/{index}/_aliases/{name}", handler: aliases::put_alias, access: Access::Index("index", "indices:admin/aliases", IDX_MANAGE), params: TIMEOUTS },
    Route { methods: &[DEL], path: "/{index}/_alias/{name}", handler: aliases::delete_alias, access: Access::Index("index", "indices:admin/aliases", IDX_MANAGE), params: TIMEOUTS },
    Route { methods: &[DEL], path: "/{index}/_aliases/{name}", handler: aliases::delete_alias, access: Access::Index("index", "indices:admin/aliases", IDX_MANAGE), params: TIMEOUTS },
    // rollover
    Route { methods: &[POST], path: "/{alias}/_rollover", handler: indices::rollover, access: Access::Index("alias", "indices:admin/rollover", IDX_MANAGE), params: &[ "timeout", "dry_run", "master_timeout", "wait_for_active_shards", "lazy", ] },
    Route { methods: &[POST], path: "/{alias}/_rollover/{new_index}", handler: indices::rollover, access: Access::Index("alias", "indices:admin/rollover", IDX_MANAGE), params: &[ "timeout", "dry_run", "master_timeout", "wait_for_active_shards", "lazy", ] },
    // indices
    Route { methods: &[PUT], path: "/{index}", handler: indices::create, access: Access::Index("index", "indices:admin/create", IDX_CREATE), params: &["timeout", "master_timeout", "wait_for_active_shards"] },
    Route { methods: &[GET], path: "/{index}", handler: indices::get, access: Access::Index("index", "indices:admin/get", IDX_VIEW), params: &[ "local", "ignore_unavailable", "allow_no_indices", "expand_wildcards", "features", "flat_settings", "include_defaults", "master_timeout", ] },
    Route { methods: &[HEAD], path: "/{index}", handler: indices::exists, access: Access::Index("index", "indices:admin/get", IDX_VIEW), params: &[ "local", "ignore_unavailable", "allow_no_indices", "expand_wildcards", "flat_settings", "include_defaults", ] },
    Route { methods: &[DEL], path: "/{index}", handler: indices::delete, access: Access::Index("index", "indices:admin/delete", IDX_DELETE), params: &[ "timeout", "master_timeout", "ignore_unavailable", "allow_no_indices", "expand_wildcards", ] },
    Route { methods: &[GET], path: "/_mapping", handler: indices::get_mapping, access: Access::Authenticated, params: INDICES_OPTS },
    Route { methods: &[GET], path: "/{index}/_mapping", handler: indices::get_mapping, access: Access::Index("index", "indices:admin/mappings/get", IDX_VIEW), params: INDICES_OPTS },
    Route { methods: &[PUT, POST], path: "/{index}/_mapping", handler: indices::put_mapping, access: Access::Index("index", "indices:admin/mapping/put", IDX_MANAGE), params: &[ "timeout", "master_timeout", "ignore_unavailable", "allow_no_indices", "expand_wildcards", "write_index_only", ] },
    Route { methods: &[GET], path: "/_settings", handler: indices::get_settings, access: Access::Authenticated, params: &[ "flat_settings", "include_defaults", "ignore_unavailable", "allow_no_indices", "expand_wildcards", "master_timeout", "local", ] },
    Route { methods: &[GET], path: "/{index}/_settings", handler: indices::get_settings, access: Access::Index("index", "indices:monitor/settings/get", IDX_VIEW), params: &[ "flat_settings", "include_defaults", "ignore_unavailable", "allow_no_indices", "expand_wildcards", "master_timeout", "local", ] },
    Route { methods: &[GET], path: "/{index}/_settings/{name}", handler: indices::get_settings, access: Access::Index("index", "indices:monitor/settings/get", IDX_VIEW), params: &[ "flat_settings", "include_defaults", "ignore_unavailable", "allow_no_indices", "expand_wildcards", "master_timeout", "local", ] },
    Route { methods: &[PUT], path: "/{index}/_settings", handler: indices::put_settings, access: Access::Index("index", "indices:admin/settings/update", IDX_MANAGE), params: &[ "timeout", "master_timeout", "preserve_existing", "reopen", "ignore_unavailable", "allow_no_indices", "expand_wildcards", "flat_settings", ] },
    Route { methods: &[PUT], path: "/_settings", handler: indices::put_settings, access: Access::Cluster("indices:admin/settings/update", MANAGE), params: &[ "timeout", "master_timeout", "preserve_existing", "flat_settings", ] },
    Route { methods: &[POST], path: "/{index}/_close", handler: indices::close, access: Access::Index("index", "indices:admin/close", IDX_MANAGE), params: &[ "timeout", "master_timeout", "ignore_unavailable", "allow_no_indices", "expand_wildcards", "wait_for_active_shards", ] },
    Route { methods: &[POST], path: "/{index}/_open", handler: indices::open, access: Access::Index("index", "indices:admin/open", IDX_MANAGE), params: &[ "timeout", "master_timeout", "ignore_unavailable", "allow_no_indices", "expand_wildcards", "wait_for_active_shards", ] },
    Route { methods: &[GET, POST], path: "/_refresh", handler: indices::refresh, access: Access::Authenticated, params: &["ignore_unavailable", "allow_no_indices", "expand_wildcards"] },
    Route { methods: &[GET, POST], path: "/{index}/_refresh", handler: indices::refresh, access: Access::Index("index", "indices:admin/refresh", IDX_MAINT), params: &["ignore_unavailable", "allow_no_indices", "expand_wildcards"] },
    // snapshot repositories and snapshots
    Route { methods: &[GET], path: "/_snapshot", handler: snapshot::get_repository, access: Access::Cluster("cluster:admin/repository/get", SNAPSHOT_READ), params: &["master_timeout", "local"] },
    Route { methods: &[GET], path: "/_snapshot/{repository}", handler: snapshot::get_repository, access: Access::Cluster("cluster:admin/repository/get", SNAPSHOT_READ), params: &["master_timeout", "local"] },
    Route { methods: &[PUT, POST], path: "/_snapshot/{repository}", handler: snapshot::put_repository, access: Access::Cluster("cluster:admin/repository/put", MANAGE), params: &["master_timeout", "timeout", "verify"] },
    Route { methods: &[DEL], path: "/_snapshot/{repository}", handler: snapshot::delete_repository, access: Access::Cluster("cluster:admin/repository/delete", MANAGE), params: TIMEOUTS },
    Route { methods: &[POST], path: "/_snapshot/{repository}/_verify", handler: snapshot::verify_repository, access: Access::Cluster("cluster:admin/repository/verify", MANAGE), params: TIMEOUTS },
    Route { methods: &[POST], path: "/_snapshot/{repository}/_cleanup", handler: snapshot::cleanup_repository, access: Access::Cluster("cluster:admin/repository/_cleanup", MANAGE), params: TIMEOUTS },
    Route { methods: &[PUT, POST], path: "/_snapshot/{repository}/{snapshot}", handler: snapshot::create_snapshot, access: Access::Cluster("cluster:admin/snapshot/create", SNAPSHOT_CREATE), params: &["master_timeout", "wait_for_completion"] },
    Route { methods: &[GET], path: "/_snapshot/{repository}/{snapshot}", handler: snapshot::get_snapshot, access: Access::Cluster("cluster:admin/snapshot/get", SNAPSHOT_READ), params: &[ "master_timeout", "ignore_unavailable", "verbose", "index_details", "include_repository", "sort", "size", "order", "from_sort_value", "after", "offset", "slm_policy_filter", ] },
    Route { methods: &[DEL], path: "/_snapshot/{repository}/{snapshot}", handler: snapshot::delete_snapshot, access: Access::Cluster("cluster:admin/snapshot/delete", MANAGE), params: &["master_timeout", "wait_for_completion"] },
    // SLM
    Route { methods: &[GET], path: "/_slm/policy", handler: slm::get_policy, access: Access::Cluster("cluster:admin/slm/get", READ_SLM), params: TIMEOUTS },
    Route { methods: &[GET], path: "/_slm/policy/{policy_id}", handler: slm::get_policy, access: Access::Cluster("cluster:admin/slm/get", READ_SLM), params: TIMEOUTS },
    Route { methods: &[PUT], path: "/_slm/policy/{policy_id}", handler: slm::put_policy, access: Access::Cluster("cluster:admin/slm/put", MANAGE_SLM), params: TIMEOUTS },
    Route { methods: &[DEL], path: "/_slm/policy/{policy_id}", handler: slm::delete_policy, access: Access::Cluster("cluster:admin/slm/delete", MANAGE_SLM), params: TIMEOUTS },
    Route { methods: &[PUT, POST], path: "/_slm/policy/{policy_id}/_execute", handler: slm::execute_policy, access: Access::Cluster("cluster:admin/slm/execute", MANAGE_SLM), params: TIMEOUTS },
    Route { methods: &[GET], path: "/_slm/stats", handler: slm::stats, access: Access::Cluster("cluster:admin/slm/stats", READ_SLM), params: TIMEOUTS },
    Route { methods: &[GET], path: "/_slm/status", handler: slm::status, access: Access::Cluster("cluster:admin/slm/status", READ_SLM), params: TIMEOUTS },
    // security
    Route { methods: &[GET], path: "/_security/_authenticate", handler: security::authenticate, access: Access::Authenticated, params: &[] },
    Route { methods: &[GET], path: "/_security/role", handler: security::get_role, access: Access::Cluster("cluster:admin/xpack/security/role/get", READ_SECURITY), params: &[] },
    Route { methods: &[GET], path: "/_security/role/{name}", handler: security::get_role, access: Access::Cluster("cluster:admin/xpack/security/role/get", READ_SECURITY), params: &[] },
    Route { methods: &[PUT, POST], path: "/_security/role/{name}", handler: security::put_role, access: Access::Cluster("cluster:admin/xpack/security/role/put", MANAGE_SECURITY), params: &["refresh"] },
    Route { methods: &[DEL], path: "/_security/role/{name}", handler: security::delete_role, access: Access::Cluster("cluster:admin/xpack/security/role/delete", MANAGE_SECURITY), params: &["refresh"] },
    Route { methods: &[GET], path: "/_security/user", handler: security::get_user, access: Access::Cluster("cluster:admin/xpack/security/user/get", READ_SECURITY), params: &["with_profile_uid"] },
    Route { methods: &[GET], path: "/_security/user/{username}", handler: security::get_user, access: Access::Cluster("cluster:admin/xpack/security/user/get", READ_SECURITY), params: &["with_profile_uid"] },
    Route { methods: &[PUT, POST], path: "/_security/user/{username}", handler: security::put_user, access: Access::Cluster("cluster:admin/xpack/security/user/put", MANAGE_SECURITY), params: &["refresh"] },
    Route { methods: &[DEL], path: "/_security/user/{username}", handler: security::delete_user, access: Access::Cluster("cluster:admin/xpack/security/user/delete", MANAGE_SECURITY), params: &["refresh"] },
    Route { methods: &[PUT, POST], path: "/_security/user/{username}/_password", handler: security::change_password, access: Access::InHandler, params: &["refresh"] },
    Route { methods: &[PUT, POST], path: "/_security/user/_password", handler: security::change_password, access: Access::InHandler, params: &["refresh"] },
    // documents
    Route { methods: &[POST, PUT], path: "/_bulk", handler: docs::bulk, access: Access::InHandler, params: docs::BULK_PARAMS },
    Route { methods: &[POST, PUT], path: "/{index}/_bulk", handler: docs::bulk, access: Access::InHandler, params: docs::BULK_PARAMS },
    Route { methods: &[PUT, POST], path: "/{index}/_doc/{id}", handler: docs::index_doc, access: Access::InHandler, params: docs::INDEX_PARAMS },
    Route { methods: &[POST], path: "/{index}/_doc", handler: docs::index_doc, access: Access::InHandler, params: docs::INDEX_PARAMS },
    Route { methods: &[PUT, POST], path: "/{index}/_create/{id}", handler: docs::create_doc, access: Access::InHandler, params: docs::INDEX_PARAMS },
    Route { methods: &[GET, HEAD], path: "/{index}/_doc/{id}", handler: docs::get_doc, access: Access::Index("index", "indices:data/read/get", IDX_READ), params: &[ "refresh", "routing", "preference", "realtime", "stored_fields", "_source", "_source_includes", "_source_excludes", "version", "version_type", ] },
    Route { methods: &[DEL], path: "/{index}/_doc/{id}", handler: docs::delete_doc, access: Access::InHandler, params: &[ "refresh", "routing", "timeout", "wait_for_active_shards", "if_seq_no", "if_primary_term", "version", "version_type", ] },
    Route { methods: &[GET, POST], path: "/_search", handler: search::search, access: Access::Authenticated, params: search::SEARCH_PARAMS },
    Route { methods: &[GET, POST], path: "/{index}/_search", handler: search::search, access: Access::Index("index", "indices:data/read/search", IDX_READ), params: search::SEARCH_PARAMS },
    Route { methods: &[GET, POST], path: "/_count", handler: search::count, access: Access::Authenticated, params: search::SEARCH_PARAMS },
    Route { methods: &[GET, POST], path: "/{index}/_count", handler: search::count, access: Access::Index("index", "indices:data/read/search", IDX_READ), params: search::SEARCH_PARAMS },
    // 8.x keeps the 7.x typed document routes for REST compatibility only: a request without
    // the compatibility header finds them and no handler (`no handler found`), and a method
    // none of them has gets 405 (`GET /_ilm/policy` without the ILM module: allowed [POST]).
    Route { methods: &[POST], path: COMPAT_TYPED_AUTO_ID, handler: compat_only, access: Access::Authenticated, params: &[] },
    Route { methods: &[GET, HEAD, PUT, POST, DEL], path: COMPAT_TYPED_DOC, handler: compat_only, access: Access::Authenticated, params: &[] },
];

const COMPAT_TYPED_AUTO_ID: &str = "/{index}/{type}";
const COMPAT_TYPED_DOC: &str = "/{index}/{type}/{id}";

/// Whether a route exists only for REST compatibility with 7.x (it never handles a request).
pub fn is_compat_only(r: &Route) -> bool {
    r.path == COMPAT_TYPED_AUTO_ID || r.path == COMPAT_TYPED_DOC
}

fn compat_only(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    Err(no_handler(ctx.uri, ctx.method.as_str()))
}

/// Elasticsearch's answer for a path and method nothing handles.
pub fn no_handler(uri: &str, method: &str) -> EsError {
    EsError::raw(
        400,
        json!({"error": format!("no handler found for uri [{uri}] and method [{method}]")}),
    )
}

/// What decides which routes a node has: its modules, and whether it is an 8.x node (with
/// the 7.x compatibility routes).
#[derive(Debug, Clone, Copy)]
pub struct RouteEnv {
    pub modules: crate::Modules,
    pub v7_compat: bool,
}

impl RouteEnv {
    /// The routes of a node of `state`'s version and modules.
    pub fn of(state: &State) -> RouteEnv {
        RouteEnv {
            modules: state.modules,
            v7_compat: state.version_tuple().0 == 8,
        }
    }

    fn has(&self, r: &Route) -> bool {
        let p = r.path;
        if is_compat_only(r) {
            return self.v7_compat;
        }
        if p.starts_with("/_ilm/") || p.contains("/_ilm/") {
            return self.modules.ilm;
        }
        if p.starts_with("/_slm/") {
            return self.modules.slm;
        }
        if p == "/" && !r.methods.contains(&Method::Delete) {
            return self.modules.rest_root;
        }
        true
    }
}

/// The refusal of a module the node lacks for a route it has, if any: without
/// `analysis-common` the native realm cannot create its `.security` index (its mappings use
/// the `pattern_capture` filter), so every role, user and password write fails — but a
/// password change whose new password is too short (`raw_body`) is refused by its own
/// validation first, as the real node does (tests/differential.rs).
pub fn module_refusal(
    env: &RouteEnv,
    method: Method,
    r: &Route,
    raw_body: &str,
) -> Option<EsError> {
    const SECURITY_INDEX_WRITES: &[&str] = &[
        "/_security/role/{name}",
        "/_security/user/{username}",
        "/_security/user/{username}/_password",
        "/_security/user/_password",
    ];
    let short_password = || {
        r.path.ends_with("/_password")
            && serde_json::from_str::<Value>(raw_body)
                .ok()
                .and_then(|b| b.get("password")?.as_str().map(|p| p.chars().count() < 6))
                .unwrap_or(false)
    };
    (!env.modules.analysis_common
        && matches!(method, Method::Put | Method::Post)
        && SECURITY_INDEX_WRITES.contains(&r.path)
        && !short_password())
    .then(|| EsError::illegal_argument("Unknown filter type [pattern_capture] for [email]"))
}

/// Parameters every API accepts.
pub const GLOBAL_PARAMS: &[&str] = &["pretty", "human", "error_trace", "filter_path", "format"];

/// The result of matching a request against the route table.
pub enum RouteMatch {
    Found(&'static Route, Vec<(&'static str, String)>),
    /// The path exists but not for this method: the allowed methods.
    WrongMethod(Vec<Method>),
    NotFound,
}

fn segments(path: &str) -> Vec<&str> {
    let p = path.strip_prefix('/').unwrap_or(path);
    if p.is_empty() {
        Vec::new()
    } else {
        p.split('/').collect()
    }
}

/// Finds the route for `method` and the raw (percent-encoded) `path` on a node with every
/// module and without the 7.x compatibility routes.
pub fn find_route(method: Method, path: &str) -> RouteMatch {
    find_route_in(
        &RouteEnv {
            modules: crate::Modules::ALL,
            v7_compat: false,
        },
        method,
        path,
    )
}

/// Finds the route for `method` and the raw (percent-encoded) `path` among the routes `env` has.
pub fn find_route_in(env: &RouteEnv, method: Method, path: &str) -> RouteMatch {
    let segs = segments(path);
    type Candidate = (Vec<u8>, &'static Route, Vec<(&'static str, String)>);
    let mut candidates: Vec<Candidate> = Vec::new();
    for r in ROUTES.iter().filter(|r| env.has(r)) {
        let rsegs = segments(r.path);
        if rsegs.len() != segs.len() {
            continue;
        }
        let mut rank = Vec::with_capacity(segs.len());
        let mut params = Vec::new();
        let mut ok = true;
        for (rs, s) in rsegs.iter().zip(&segs) {
            if let Some(name) = rs.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
                if s.is_empty() {
                    ok = false;
                    break;
                }
                rank.push(1);
                params.push((name, crate::util::percent_decode(s)));
            } else if rs == s {
                rank.push(0);
            } else {
                ok = false;
                break;
            }
        }
        if ok {
            candidates.push((rank, r, params));
        }
    }
    if candidates.is_empty() {
        return RouteMatch::NotFound;
    }
    candidates.sort_by(|a, b| a.0.cmp(&b.0));
    let effective = |m: Method, r: &Route| {
        r.methods.contains(&m) || (m == Method::Head && r.methods.contains(&Method::Get))
    };
    // like ES's RestController: the most specific path whose handlers allow the method wins;
    // 405 lists the methods of every path that matched
    for (_, r, params) in &candidates {
        if effective(method, r) {
            return RouteMatch::Found(r, params.clone());
        }
    }
    let mut allowed: Vec<Method> = Vec::new();
    for (_, r, _) in &candidates {
        for m in r.methods {
            if !allowed.contains(m) {
                allowed.push(*m);
            }
        }
    }
    RouteMatch::WrongMethod(allowed)
}

/// Options for resolving an index expression (`a,b*,-c,<logs-{now/d}>`).
#[derive(Debug, Clone, Copy)]
pub struct ResolveOpts {
    pub open: bool,
    pub closed: bool,
    pub allow_no_indices: bool,
    pub ignore_unavailable: bool,
    /// Follow aliases to their indices.
    pub aliases: bool,
}

impl ResolveOpts {
    pub const STRICT: ResolveOpts = ResolveOpts {
        open: true,
        closed: false,
        allow_no_indices: true,
        ignore_unavailable: false,
        aliases: true,
    };

    /// [`ResolveOpts::STRICT`] with closed indices too.
    pub const OPEN_AND_CLOSED: ResolveOpts = ResolveOpts {
        closed: true,
        ..ResolveOpts::STRICT
    };

    /// Applies `expand_wildcards`, `ignore_unavailable` and `allow_no_indices` from the query.
    pub fn from_query(mut self, ctx: &Ctx<'_>) -> EsResult<ResolveOpts> {
        if let Some(ew) = ctx.q("expand_wildcards") {
            self.open = false;
            self.closed = false;
            for w in ew.split(',') {
                match w.trim() {
                    "open" => self.open = true,
                    "closed" => self.closed = true,
                    "all" => {
                        self.open = true;
                        self.closed = true;
                    }
                    "none" | "hidden" => {}
                    other => {
                        return Err(EsError::illegal_argument(format!(
                            "No enum constant org.elasticsearch.action.support.IndicesOptions.WildcardStates.{}",
                            other.to_uppercase()
                        )));
                    }
                }
            }
        }
        if let Some(v) = ctx.q("ignore_unavailable") {
            self.ignore_unavailable = v != "false";
        }
        if let Some(v) = ctx.q("allow_no_indices") {
            self.allow_no_indices = v != "false";
        }
        Ok(self)
    }
}

/// Resolves an index expression to concrete index names (sorted, deduplicated).
pub fn resolve_indices(state: &State, expr: &str, opts: ResolveOpts) -> EsResult<Vec<String>> {
    let now = crate::util::now_millis();
    let mut out: BTreeSet<String> = BTreeSet::new();
    let parts: Vec<&str> = if expr.is_empty() {
        vec!["_all"]
    } else {
        expr.split(',').collect()
    };
    let mut wildcard_seen = false;
    let state_ok = |name: &str| {
        state
            .indices
            .get(name)
            .is_some_and(|ix| if ix.closed { opts.closed } else { opts.open })
    };
    for raw in parts {
        let part = raw.trim();
        if part.is_empty() {
            continue;
        }
        if part == "_all" || part == "*" {
            wildcard_seen = true;
            out.extend(state.indices.keys().filter(|n| state_ok(n)).cloned());
            continue;
        }
        if let Some(excl) = part.strip_prefix('-')
            && wildcard_seen
        {
            let excl = crate::util::resolve_date_math(excl, now)?;
            out.retain(|n| !simple_match(&excl, n));
            continue;
        }
        let name = crate::util::resolve_date_math(part, now)?;
        if is_pattern(&name) {
            wildcard_seen = true;
            out.extend(
                state
                    .indices
                    .keys()
                    .filter(|n| simple_match(&name, n) && state_ok(n))
                    .cloned(),
            );
            if opts.aliases {
                for alias in state.alias_names() {
                    if simple_match(&name, &alias) {
                        out.extend(
                            state
                                .alias_indices(&alias)
                                .into_iter()
                                .filter(|n| state_ok(n)),
                        );
                    }
                }
            }
            continue;
        }
        if state.indices.contains_key(&name) {
            out.insert(name);
        } else if opts.aliases && state.alias_exists(&name) {
            out.extend(state.alias_indices(&name));
        } else if !opts.ignore_unavailable {
            return Err(EsError::index_not_found(&name));
        }
    }
    if out.is_empty() && !opts.allow_no_indices {
        return Err(EsError::index_not_found(expr));
    }
    Ok(out.into_iter().collect())
}

/// Applies `filter_path` (comma-separated dotted paths, `*` and `**` wildcards, `-` exclusions).
pub fn filter_path(body: &Value, spec: &str) -> Value {
    let (excl, incl): (Vec<&str>, Vec<&str>) = spec
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .partition(|s| s.starts_with('-'));
    let mut out = if incl.is_empty() {
        body.clone()
    } else {
        let pats: Vec<Vec<&str>> = incl.iter().map(|p| p.split('.').collect()).collect();
        include(body, &pats).unwrap_or(json!({}))
    };
    for e in excl {
        let path: Vec<&str> = e[1..].split('.').collect();
        exclude(&mut out, &path);
    }
    out
}

fn include(v: &Value, pats: &[Vec<&str>]) -> Option<Value> {
    if pats.iter().any(Vec::is_empty) {
        return Some(v.clone());
    }
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, child) in m {
                let mut next: Vec<Vec<&str>> = Vec::new();
                for p in pats {
                    if p[0] == "**" {
                        next.push(p.clone());
                        next.push(p[1..].to_vec());
                        if p.len() > 1 && simple_match(p[1], k) {
                            next.push(p[2..].to_vec());
                        }
                    } else if simple_match(p[0], k) {
                        next.push(p[1..].to_vec());
                    }
                }
                if next.is_empty() {
                    continue;
                }
                if let Some(c) = include(child, &next) {
                    out.insert(k.clone(), c);
                }
            }
            if out.is_empty() {
                None
            } else {
                Some(Value::Object(out))
            }
        }
        Value::Array(a) => {
            let items: Vec<Value> = a.iter().filter_map(|x| include(x, pats)).collect();
            if items.is_empty() {
                None
            } else {
                Some(Value::Array(items))
            }
        }
        _ => None,
    }
}

fn exclude(v: &mut Value, path: &[&str]) {
    match v {
        Value::Object(m) => {
            if path.len() == 1 {
                m.retain(|k, _| !simple_match(path[0], k));
            } else {
                for (k, child) in m.iter_mut() {
                    if simple_match(path[0], k) {
                        exclude(child, &path[1..]);
                    }
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| exclude(x, path)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route_of(m: Method, p: &str) -> Option<&'static str> {
        match find_route(m, p) {
            RouteMatch::Found(r, _) => Some(r.path),
            _ => None,
        }
    }

    #[test]
    fn routing_prefers_literals() {
        assert_eq!(route_of(Method::Get, "/_alias/foo"), Some("/_alias/{name}"));
        assert_eq!(
            route_of(Method::Get, "/idx/_alias/foo"),
            Some("/{index}/_alias/{name}")
        );
        assert_eq!(route_of(Method::Put, "/idx"), Some("/{index}"));
        assert_eq!(route_of(Method::Get, "/_ilm/policy"), Some("/_ilm/policy"));
        assert_eq!(route_of(Method::Head, "/idx"), Some("/{index}"));
        assert!(matches!(
            find_route(Method::Post, "/_ilm/policy/x"),
            RouteMatch::WrongMethod(_)
        ));
        assert!(matches!(
            find_route(Method::Get, "/a/b/c/d/e"),
            RouteMatch::NotFound
        ));
    }

    #[test]
    fn routes_follow_modules_and_version() {
        let bare = RouteEnv {
            modules: crate::Modules::INTEG_TEST_DISTRIBUTION,
            v7_compat: true,
        };
        // as the integration-test distribution 8.19 answers
        let allowed = |m, p| match find_route_in(&bare, m, p) {
            RouteMatch::WrongMethod(a) => a,
            _ => Vec::new(),
        };
        assert_eq!(allowed(Method::Get, "/_ilm/policy"), vec![Method::Post]);
        assert_eq!(allowed(Method::Get, "/_slm/policy"), vec![Method::Post]);
        assert_eq!(allowed(Method::Get, "/"), vec![Method::Delete]);
        assert!(matches!(
            find_route_in(&bare, Method::Put, "/_ilm/policy/p"),
            RouteMatch::Found(r, _) if is_compat_only(r)
        ));
        assert_eq!(
            route_of(Method::Get, "/_ilm/policy/p"),
            Some("/_ilm/policy/{policy}")
        );
        let security = match find_route_in(&bare, Method::Put, "/_security/role/r") {
            RouteMatch::Found(r, _) => r,
            _ => panic!("role route"),
        };
        assert!(module_refusal(&bare, Method::Put, security, "{}").is_some());
        // 9.x has no 7.x compatibility routes
        let nine = RouteEnv {
            v7_compat: false,
            ..bare
        };
        assert!(matches!(
            find_route_in(&nine, Method::Get, "/a/b"),
            RouteMatch::NotFound
        ));
    }

    #[test]
    fn filter_paths() {
        let v = json!({"a": {"b": 1, "c": 2}, "d": [{"e": 1, "f": 2}]});
        assert_eq!(filter_path(&v, "a.b"), json!({"a": {"b": 1}}));
        assert_eq!(filter_path(&v, "d.e"), json!({"d": [{"e": 1}]}));
        assert_eq!(filter_path(&v, "-a"), json!({"d": [{"e": 1, "f": 2}]}));
        assert_eq!(filter_path(&v, "**.f"), json!({"d": [{"f": 2}]}));
    }
}
