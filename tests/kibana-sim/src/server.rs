//! The HTTP side (I/O): accept loop, request log, the 503 switch, the `kbn-xsrf` check,
//! multipart and query parsing, and routing to [`api`](crate::api).

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::api::{Reply, error};
use crate::{Availability, Recorded, Shared, lock};

pub(crate) async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req| handle(shared.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query().unwrap_or(""));
    let content_type = header(&req, "content-type").unwrap_or_default();
    let xsrf = req.headers().contains_key("kbn-xsrf");
    let authorization = header(&req, "authorization");
    let body = match Limited::new(req.into_body(), 64 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let write = method == "DELETE" || path.ends_with("/_import");
    let reply = match authenticate(&shared, authorization.as_deref(), &path) {
        Some(refused) => refused,
        None => route(&shared, &method, &path, &query, &content_type, xsrf, &body),
    };
    let (status, bytes, kind) = match reply {
        Reply::Json(s, v) => (s, v.to_string(), "application/json; charset=utf-8"),
        Reply::Ndjson(s, t) => (s, t, "application/ndjson; charset=utf-8"),
    };
    lock(&shared.log).push(Recorded {
        method,
        path,
        status,
        write,
    });
    let response = Response::builder()
        .status(status)
        .header("content-type", kind)
        .body(Full::new(Bytes::from(bytes)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())));
    Ok(response)
}

/// `None` when the request may go on; else Kibana's 401.
fn authenticate(shared: &Shared, authorization: Option<&str>, path: &str) -> Option<Reply> {
    let users = lock(&shared.users);
    if users.is_empty() {
        return None;
    }
    let decoded = authorization
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let known = decoded
        .as_deref()
        .and_then(|d| d.split_once(':'))
        .is_some_and(|(u, p)| {
            users
                .iter()
                .any(|(name, password)| name == u && password == p)
        });
    if known {
        return None;
    }
    let user = decoded
        .as_deref()
        .and_then(|d| d.split_once(':'))
        .map_or("", |(u, _)| u)
        .to_string();
    Some(Reply::Json(
        401,
        json!({"statusCode": 401, "error": "Unauthorized", "message": format!("[security_exception]: unable to authenticate user [{user}] for REST request [{path}]")}),
    ))
}

fn header(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.headers().get(name)?.to_str().ok().map(str::to_string)
}

fn route(
    shared: &Shared,
    method: &str,
    path: &str,
    query: &[(String, String)],
    content_type: &str,
    xsrf: bool,
    body: &[u8],
) -> Reply {
    let availability = *lock(&shared.availability);
    if availability == Availability::Starting {
        return error(503, "Kibana server is not ready yet");
    }
    if path == "/api/status" && method == "GET" {
        let level = match availability {
            Availability::Degraded => "degraded",
            _ => "available",
        };
        return Reply::Json(
            200,
            json!({
                "name": "kibana-sim",
                "uuid": "5b2de169-2785-441b-ae8c-186a1936b17d",
                "version": {"number": shared.version, "build_hash": "", "build_number": 0, "build_snapshot": false, "build_flavor": "traditional"},
                "status": {
                    "overall": {"level": level, "summary": format!("All services and plugins are {level}")},
                    "core": {
                        "elasticsearch": {"level": "available", "summary": "Elasticsearch is available"},
                        "savedObjects": {"level": "available", "summary": "SavedObjects service has completed migrations and is available"}
                    },
                    "plugins": {}
                },
                "metrics": {}
            }),
        );
    }
    let Some(rest) = path.strip_prefix("/api/saved_objects/") else {
        return error(404, "Not Found");
    };
    if method != "GET" && !xsrf {
        return error(400, "Request must contain a kbn-xsrf header.");
    }
    let json_body = || -> Result<Value, Reply> {
        serde_json::from_slice(body)
            .map_err(|e| error(400, format!("Invalid request payload JSON format: {e}")))
    };
    let mut state = lock(&shared.state);
    match (method, rest) {
        ("POST", "_import") => {
            let Some(boundary) = boundary(content_type) else {
                return error(415, "Unsupported Media Type");
            };
            let overwrite = query.iter().any(|(k, v)| k == "overwrite" && v == "true");
            state.import(multipart_file(body, &boundary), overwrite)
        }
        ("POST", "_bulk_get") => match json_body() {
            Ok(b) => state.bulk_get(&b),
            Err(r) => r,
        },
        ("GET", "_find") => state.find(query),
        ("POST", "_export") => match json_body() {
            Ok(b) => state.export(&b),
            Err(r) => r,
        },
        (m, rest) => match rest.split_once('/') {
            Some((kind, id)) if !id.is_empty() && !id.contains('/') => {
                let id = decode(id);
                match m {
                    "GET" => state.get(kind, &id),
                    "DELETE" => state.delete(kind, &id),
                    _ => error(404, "Not Found"),
                }
            }
            _ => error(404, "Not Found"),
        },
    }
}

fn boundary(content_type: &str) -> Option<String> {
    if !content_type.starts_with("multipart/form-data") {
        return None;
    }
    let b = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?;
    Some(b.trim_matches('"').to_string())
}

/// The `file` part of a multipart body: its file name and content.
fn multipart_file(body: &[u8], boundary: &str) -> Option<(String, String)> {
    let text = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    for part in text.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let (headers, content) = part.split_once("\r\n\r\n")?;
        let disposition = headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))?;
        if !disposition.contains("name=\"file\"") {
            continue;
        }
        let filename = disposition
            .split("filename=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("")
            .to_string();
        let content = content.strip_suffix("\r\n").unwrap_or(content);
        return Some((filename, content.to_string()));
    }
    None
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// Percent-decoding (and `+` as space) of a query component or path segment.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(bytes[i + 1]) * 16 + hex(bytes[i + 2]));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
