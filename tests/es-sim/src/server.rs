//! The HTTP side (I/O): accept loop (plain or TLS), request recording, fault
//! injection, basic authentication, authorization, routing and the reserved
//! `/_sim/*` admin API.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::api::{self, Access, AuthUser, Ctx, Method, Reply, RouteMatch};
use crate::error::EsError;
use crate::state::State;
use crate::{Fault, Health, RecordedRequest, SimConfig};

/// Active faults.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct FaultState {
    pub latency_ms: Option<u64>,
    pub refuse_connections: bool,
    /// `(status, remaining, path_prefix)`
    pub status: Vec<(u16, u32, Option<String>)>,
    /// `(remaining, retry_after_secs)`
    pub too_many_requests: Vec<(u32, u64)>,
    /// Absolute request numbers that fail, with the status they fail with.
    pub fail_request_numbers: Vec<(u64, u16)>,
}

/// Everything the server and the handle share.
pub struct Shared {
    pub config: SimConfig,
    pub state: Mutex<State>,
    pub log: Mutex<VecDeque<RecordedRequest>>,
    pub faults: Mutex<FaultState>,
    pub counter: AtomicU64,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it
/// (the state stays usable for the rest of a test).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn new(config: SimConfig) -> Shared {
        let state = initial_state(&config);
        Shared {
            config,
            state: Mutex::new(state),
            log: Mutex::new(VecDeque::new()),
            faults: Mutex::new(FaultState::default()),
            counter: AtomicU64::new(0),
        }
    }

    pub fn inject(&self, fault: Fault) {
        let mut f = lock(&self.faults);
        match fault {
            Fault::Status {
                status,
                count,
                path_prefix,
            } => f.status.push((status, count, path_prefix)),
            Fault::TooManyRequests {
                count,
                retry_after_secs,
            } => f.too_many_requests.push((count, retry_after_secs)),
            Fault::Latency(d) => f.latency_ms = Some(d.as_millis() as u64),
            Fault::RefuseConnections => f.refuse_connections = true,
            Fault::FailRequestNumber(n) => {
                let now = self.counter.load(Ordering::SeqCst);
                f.fail_request_numbers.push((now + n.max(1), 503));
            }
            Fault::FailRequestNumberWith { n, status } => {
                let now = self.counter.load(Ordering::SeqCst);
                f.fail_request_numbers.push((now + n.max(1), status));
            }
        }
    }

    pub fn reset(&self) {
        *lock(&self.state) = initial_state(&self.config);
        lock(&self.log).clear();
        *lock(&self.faults) = FaultState::default();
    }

    fn record(&self, r: RecordedRequest) {
        let mut log = lock(&self.log);
        if log.len() >= self.config.max_logged_requests.max(1) {
            log.pop_front();
        }
        log.push_back(r);
    }
}

/// The state of a fresh node built from the configuration.
pub fn initial_state(cfg: &SimConfig) -> State {
    let mut s = State::new(&cfg.version);
    s.nodes = cfg.nodes.max(1);
    s.cluster_name = cfg.cluster_name.clone();
    s.path_repo = cfg.path_repo.clone();
    s.keystore = cfg.keystore.iter().cloned().collect();
    s.modules = cfg.modules;
    s.users = api::security::initial_users(&cfg.users);
    s
}

/// Binds and runs the accept loop until `shutdown` flips to true.
pub async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let acceptor = acceptor.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req| handle(shared.clone(), req));
                    let builder = hyper::server::conn::http1::Builder::new();
                    match acceptor {
                        Some(a) => {
                            if let Ok(tls_stream) = a.accept(stream).await {
                                let _ = builder.serve_connection(TokioIo::new(tls_stream), svc).await;
                            }
                        }
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}

/// Dropping the connection without an answer (the `RefuseConnections` fault).
#[derive(Debug)]
pub struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

type Resp = Response<Full<Bytes>>;

fn header_str<'a>(req: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn parse_query(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (crate::util::query_decode(k), crate::util::query_decode(v)),
            None => (crate::util::query_decode(p), String::new()),
        })
        .collect()
}

fn compat_major(req: &Request<Incoming>) -> Option<u32> {
    ["accept", "content-type"].iter().find_map(|h| {
        let v = header_str(req, h)?;
        let i = v.find("compatible-with=")?;
        v[i + "compatible-with=".len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()
    })
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Resp, Dropped> {
    let method_s = req.method().as_str().to_string();
    let uri = req.uri().to_string();
    let path = req.uri().path().to_string();
    let query_s = req.uri().query().unwrap_or("").to_string();
    let auth_header = header_str(&req, "authorization").map(String::from);
    let ndjson = header_str(&req, "content-type").is_some_and(|c| c.contains("ndjson"));
    let compat = compat_major(&req);
    let body_bytes = match Limited::new(req.into_body(), 256 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Dropped),
    };
    let raw = String::from_utf8_lossy(&body_bytes).into_owned();
    let query = parse_query(&query_s);

    if path == "/_sim" || path.starts_with("/_sim/") {
        return Ok(admin(&shared, &method_s, &path, &query, &raw));
    }

    let n = shared.counter.fetch_add(1, Ordering::SeqCst) + 1;
    // faults
    let (latency, refuse, fault) = {
        let mut f = lock(&shared.faults);
        let latency = f.latency_ms;
        let refuse = f.refuse_connections;
        let mut fault: Option<(u16, Option<u64>)> = None;
        if let Some(pos) = f.fail_request_numbers.iter().position(|(x, _)| *x == n) {
            let (_, status) = f.fail_request_numbers.remove(pos);
            fault = Some((status, None));
        }
        if fault.is_none()
            && let Some(entry) = f.status.iter_mut().find(|(_, left, prefix)| {
                *left > 0 && prefix.as_ref().is_none_or(|p| path.starts_with(p.as_str()))
            })
        {
            entry.1 -= 1;
            fault = Some((entry.0, None));
        }
        f.status.retain(|(_, left, _)| *left > 0);
        if fault.is_none()
            && let Some(entry) = f.too_many_requests.iter_mut().find(|(left, _)| *left > 0)
        {
            entry.0 -= 1;
            fault = Some((429, Some(entry.1)));
        }
        f.too_many_requests.retain(|(left, _)| *left > 0);
        (latency, refuse, fault)
    };
    if let Some(ms) = latency {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if refuse {
        return Err(Dropped);
    }
    let json: Option<Result<Value, String>> = if raw.trim().is_empty() || ndjson {
        None
    } else {
        Some(serde_json::from_str::<Value>(&raw).map_err(|e| format!("[1:1] {e}")))
    };
    let recorded_body = match &json {
        Some(Ok(v)) => Some(v.clone()),
        _ if raw.is_empty() => None,
        _ => Some(Value::String(raw.clone())),
    };
    let mut rec = RecordedRequest {
        method: method_s.clone(),
        path: path.clone(),
        query: query_s.clone(),
        body: recorded_body,
        user: None,
        status: 0,
    };
    let version = lock(&shared.state).version.clone();
    if let Some((status, retry_after)) = fault {
        let mut e = EsError::for_status(status, "injected by es-sim");
        if let Some(secs) = retry_after {
            e = e.header("Retry-After", &secs.to_string());
        }
        rec.status = status;
        shared.record(rec);
        return Ok(error_response(&e, &version, method_s == "HEAD", &query));
    }
    let (resp, user) = dispatch(
        &shared,
        &method_s,
        &uri,
        &path,
        &query,
        &raw,
        json.as_ref(),
        auth_header.as_deref(),
        compat,
    )
    .await;
    rec.user = user;
    rec.status = resp.status().as_u16();
    shared.record(rec);
    Ok(resp)
}

#[allow(clippy::too_many_arguments)]
async fn dispatch(
    shared: &Shared,
    method_s: &str,
    uri: &str,
    path: &str,
    query: &BTreeMap<String, String>,
    raw: &str,
    json: Option<&Result<Value, String>>,
    auth_header: Option<&str>,
    compat: Option<u32>,
) -> (Resp, Option<String>) {
    let security = !shared.config.users.is_empty();
    let version = lock(&shared.state).version.clone();
    let head = method_s == "HEAD";
    let fail = |e: EsError| error_response(&e, &version, head, query);
    // authentication
    let user: Option<AuthUser> = if security {
        let st = lock(&shared.state);
        match api::security::authenticate_header(&st, auth_header, uri) {
            Ok(u) => Some(u),
            Err(e) => return (fail(e), None),
        }
    } else {
        None
    };
    let uname = user.as_ref().map(|u| u.username.clone());
    let Some(method) = Method::parse(method_s) else {
        let e = EsError::raw(
            405,
            json!({"error": format!("Incorrect HTTP method for uri [{uri}] and method [{method_s}], allowed: [GET, HEAD, PUT, POST, DELETE]"), "status": 405}),
        );
        return (fail(e), uname);
    };
    let env = api::RouteEnv::of(&lock(&shared.state));
    let (route, params) = match api::find_route_in(&env, method, path) {
        RouteMatch::Found(r, p) => (r, p),
        RouteMatch::WrongMethod(allowed) => {
            let list: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
            let e = EsError::raw(
                405,
                json!({"error": format!("Incorrect HTTP method for uri [{uri}] and method [{method_s}], allowed: [{}]", list.join(", ")), "status": 405}),
            )
            .header("Allow", &list.join(","));
            return (fail(e), uname);
        }
        RouteMatch::NotFound => return (fail(api::no_handler(uri, method_s)), uname),
    };
    if api::is_compat_only(route) {
        return (fail(api::no_handler(uri, method_s)), uname);
    }
    // unrecognized parameters
    let mut unknown: Vec<&String> = query
        .keys()
        .filter(|k| {
            !route.params.contains(&k.as_str()) && !api::GLOBAL_PARAMS.contains(&k.as_str())
        })
        .collect();
    unknown.sort();
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(|k| format!("[{k}]")).collect();
        let word = if list.len() == 1 {
            "parameter"
        } else {
            "parameters"
        };
        let e = EsError::illegal_argument(format!(
            "request [{path}] contains unrecognized {word}: {}",
            list.join(", ")
        ));
        return (fail(e), uname);
    }
    // authorization
    if let Some(u) = &user {
        let st = lock(&shared.state);
        let check = match route.access {
            Access::Cluster(action, privs) => api::security::require_cluster(&st, u, action, privs),
            Access::Index(param, action, privs) => {
                let expr = params
                    .iter()
                    .find(|(n, _)| *n == param)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("");
                authorize_indices(&st, u, action, privs, expr)
            }
            Access::Authenticated | Access::InHandler => Ok(()),
        };
        if let Err(e) = check {
            return (fail(e), uname);
        }
    }
    if let Some(e) = api::module_refusal(&env, method, route, raw) {
        return (fail(e), uname);
    }
    // run the handler (again, while it asks to wait)
    let started = Instant::now();
    let mut deadline: Option<Instant> = None;
    loop {
        let final_attempt = deadline.is_some_and(|d| Instant::now() >= d);
        let result = {
            let mut st = lock(&shared.state);
            let mut ctx = Ctx {
                state: &mut st,
                method,
                uri,
                path_params: params.clone(),
                query,
                raw_body: raw,
                json,
                user: user.as_ref(),
                security_enabled: security,
                compat_major: compat,
                final_attempt,
            };
            (route.handler)(&mut ctx)
        };
        match result {
            Ok(reply) if reply.retry_within.is_some() && !final_attempt => {
                let wait = reply.retry_within.unwrap_or_default();
                let d = *deadline.get_or_insert(started + wait);
                let now = Instant::now();
                if now < d {
                    tokio::time::sleep((d - now).min(Duration::from_millis(10))).await;
                }
            }
            Ok(reply) => return (reply_response(reply, &version, head, query), uname),
            Err(e) => return (fail(e), uname),
        }
    }
}

fn authorize_indices(
    st: &State,
    u: &AuthUser,
    action: &str,
    privs: &[&str],
    expr: &str,
) -> Result<(), EsError> {
    let now = crate::util::now_millis();
    for part in expr.split(',') {
        if part.is_empty()
            || part.starts_with('-')
            || crate::util::is_pattern(part)
            || part == "_all"
        {
            continue;
        }
        let name = crate::util::resolve_date_math(part, now).unwrap_or_else(|_| part.to_string());
        if api::security::has_index(st, u, action, privs, &name) {
            continue;
        }
        let members = st.alias_indices(&name);
        if !members.is_empty()
            && members
                .iter()
                .all(|m| api::security::has_index(st, u, action, privs, m))
        {
            continue;
        }
        return Err(api::security::index_denied(st, u, action, privs, &name));
    }
    Ok(())
}

fn warning_header(version: &str, text: &str) -> String {
    format!(
        "299 Elasticsearch-{version}-0000000000000000000000000000000000e5517e \"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

fn finish(
    status: u16,
    body: &Value,
    headers: &[(String, String)],
    warnings: &[String],
    version: &str,
    head: bool,
    query: &BTreeMap<String, String>,
) -> Resp {
    let body = match query.get("filter_path") {
        Some(f) if !body.is_null() => api::filter_path(body, f),
        _ => body.clone(),
    };
    let bytes = if head || body.is_null() {
        Vec::new()
    } else if query.contains_key("pretty") {
        serde_json::to_vec_pretty(&body).unwrap_or_default()
    } else {
        serde_json::to_vec(&body).unwrap_or_default()
    };
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    if !head || !body.is_null() {
        h.insert("content-type", HeaderValue::from_static("application/json"));
    }
    for (k, v) in headers {
        if let (Ok(name), Ok(val)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.append(name, val);
        }
    }
    for w in warnings {
        if let Ok(val) = HeaderValue::from_str(&warning_header(version, w)) {
            h.append("warning", val);
        }
    }
    resp
}

fn reply_response(r: Reply, version: &str, head: bool, query: &BTreeMap<String, String>) -> Resp {
    finish(
        r.status,
        &r.body,
        &r.headers,
        &r.warnings,
        version,
        head,
        query,
    )
}

fn error_response(
    e: &EsError,
    version: &str,
    head: bool,
    query: &BTreeMap<String, String>,
) -> Resp {
    finish(e.status, &e.body(), &e.headers, &[], version, head, query)
}

fn json_response(status: u16, body: Value) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(
        serde_json::to_vec(&body).unwrap_or_default(),
    )));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    resp
}

/// The reserved admin API (`/_sim/*`); not recorded, never faulted, never authenticated.
fn admin(
    shared: &Shared,
    method: &str,
    path: &str,
    query: &BTreeMap<String, String>,
    raw: &str,
) -> Resp {
    let body: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
    let bad = |msg: String| json_response(400, json!({"error": msg}));
    match (method, path) {
        ("GET", "/_sim/requests") => {
            let log = lock(&shared.log);
            let writes = query.get("writes").is_some_and(|v| v != "false");
            let list: Vec<&RecordedRequest> =
                log.iter().filter(|r| !writes || r.is_write()).collect();
            json_response(200, json!(list))
        }
        ("DELETE", "/_sim/requests") => {
            lock(&shared.log).clear();
            json_response(200, json!({"acknowledged": true}))
        }
        ("GET", "/_sim/faults") => json_response(200, json!(*lock(&shared.faults))),
        ("POST", "/_sim/faults") => {
            let faults: Result<Vec<Fault>, _> = if body.is_array() {
                serde_json::from_value(body)
            } else {
                serde_json::from_value(body).map(|f| vec![f])
            };
            match faults {
                Ok(fs) => {
                    for f in fs {
                        shared.inject(f);
                    }
                    json_response(200, json!({"acknowledged": true}))
                }
                Err(e) => bad(format!("invalid fault: {e}")),
            }
        }
        ("DELETE", "/_sim/faults") => {
            *lock(&shared.faults) = FaultState::default();
            json_response(200, json!({"acknowledged": true}))
        }
        ("POST", "/_sim/health") => {
            let h = body.get("status").cloned().unwrap_or(Value::Null);
            let parsed = match &h {
                Value::Null => Ok(None),
                Value::String(s) if s == "auto" => Ok(None),
                Value::String(s) => Health::parse(s).map(Some).ok_or(()),
                _ => Err(()),
            };
            match parsed {
                Ok(v) => {
                    lock(&shared.state).health_override = v;
                    json_response(200, json!({"acknowledged": true}))
                }
                Err(()) => bad("status must be green, yellow, red, auto or null".into()),
            }
        }
        ("POST", "/_sim/reset") => {
            shared.reset();
            json_response(200, json!({"acknowledged": true}))
        }
        ("GET", "/_sim/state") => json_response(200, json!(*lock(&shared.state))),
        ("POST", "/_sim/version") => match body.get("version").and_then(Value::as_str) {
            Some(v) => {
                lock(&shared.state).version = v.to_string();
                json_response(200, json!({"acknowledged": true}))
            }
            None => bad("body must be {\"version\": \"X.Y.Z\"}".into()),
        },
        ("PUT", "/_sim/keystore") => match serde_json::from_value::<Vec<String>>(body) {
            Ok(names) => {
                lock(&shared.state).keystore = names.into_iter().collect();
                json_response(200, json!({"acknowledged": true}))
            }
            Err(e) => bad(format!("body must be a list of secure setting names: {e}")),
        },
        _ => json_response(
            404,
            json!({"error": format!("unknown es-sim admin endpoint [{method} {path}]")}),
        ),
    }
}

/// The socket address for a configured port on loopback.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
