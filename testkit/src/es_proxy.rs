//! A pass-through HTTPS proxy in front of the test node, for clients that need `GET /`.
//!
//! The integration-test distribution has no `rest-root` module: `GET /` answers 405, and
//! Filebeat reads the cluster's version there before it sends anything. The proxy answers
//! `GET /` itself, from the version the node reports for itself (`GET /_nodes/_local`), and
//! forwards every other request unchanged (method, path, query, headers, body; the
//! client's own credentials) to the node. It serves the node's own certificate, so a
//! client trusts it with the node's CA.
//!
//! Filebeat also reads `GET /_license` on connecting, which needs the cluster privilege
//! `monitor`; the operator's collector role has no cluster privilege (its collectors never
//! ask), so the proxy answers that too, with the license the node gave the superuser.
//!
//! A test can make it lose answers ([`EsProxy::lose_bulk_answers`]): a `_bulk` request is
//! forwarded and carried out, and its client gets a 502 instead of the answer, as when a
//! connection drops after the write; the client sends it again.
//!
//! It runs on the test's runtime and stops with it (or when [`EsProxy`] is dropped).

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::elasticsearch::RealEs;

/// A running proxy.
pub struct EsProxy {
    /// `https://127.0.0.1:PORT`
    pub url: String,
    /// How many requests it forwarded (everything but `GET /` and `GET /_license`).
    pub forwarded: Arc<std::sync::atomic::AtomicU64>,
    /// How many of the next `_bulk` answers to lose (each is carried out by the node, and
    /// its client gets a 502); counts down as they are lost.
    pub lose_bulk_answers: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Upstream {
    url: String,
    http: reqwest::Client,
    root: Value,
    license: Value,
    forwarded: Arc<std::sync::atomic::AtomicU64>,
    lose_bulk_answers: Arc<std::sync::atomic::AtomicU64>,
}

/// Starts a proxy for `es` on a free loopback port.
pub async fn start(es: &RealEs) -> EsProxy {
    let config = es.dir.join("config");
    let cert = std::fs::read(config.join("node.crt")).expect("node certificate");
    let key = std::fs::read(config.join("node.key")).expect("node key");
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<_, _>>()
        .expect("node certificate PEM");
    let key = PrivateKeyDer::from_pem_slice(&key).expect("node key PEM");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("TLS certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(es.ca_pem.as_bytes()).expect("CA PEM"))
        .build()
        .expect("proxy client");
    let root = root_document(es).await;
    let license = es
        .client()
        .get("test", "/_license")
        .await
        .expect("GET /_license")
        .expect("a license");
    let forwarded = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let lose_bulk_answers = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let upstream = Arc::new(Upstream {
        url: es.url.clone(),
        http,
        root,
        license,
        forwarded: forwarded.clone(),
        lose_bulk_answers: lose_bulk_answers.clone(),
    });

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().expect("proxy address").port()
    );
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let svc = service_fn(move |req| forward(upstream.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    EsProxy {
        url,
        forwarded,
        lose_bulk_answers,
        task,
    }
}

/// What `GET /` answers on a full distribution, from what the node says of itself.
async fn root_document(es: &RealEs) -> Value {
    let client = es.client();
    let nodes = client
        .get("test", "/_nodes/_local")
        .await
        .expect("GET /_nodes/_local")
        .expect("local node");
    let (name, node) = nodes["nodes"]
        .as_object()
        .and_then(|n| n.values().next())
        .map(|n| (n["name"].clone(), n.clone()))
        .expect("a local node");
    let uuid = client
        .get(
            "test",
            "/_cluster/state/metadata?filter_path=metadata.cluster_uuid",
        )
        .await
        .expect("cluster uuid")
        .and_then(|s| s.pointer("/metadata/cluster_uuid").cloned())
        .unwrap_or(Value::Null);
    json!({
        "name": name,
        "cluster_name": nodes["cluster_name"],
        "cluster_uuid": uuid,
        "version": {
            "number": node["version"],
            "build_flavor": "default",
            "build_type": "tar",
            "build_hash": node["build_hash"],
        },
        "tagline": "You Know, for Search",
    })
}

type Resp = Response<Full<Bytes>>;

async fn forward(up: Arc<Upstream>, req: Request<Incoming>) -> Result<Resp, hyper::Error> {
    let own = match req.uri().path() {
        "/" => Some(&up.root),
        "/_license" | "/_xpack/license" => Some(&up.license),
        _ => None,
    };
    if let (&hyper::Method::GET, Some(own)) = (req.method(), own) {
        let body = Bytes::from(own.to_string());
        let mut resp = Response::new(Full::new(body));
        resp.headers_mut().insert(
            "content-type",
            hyper::header::HeaderValue::from_static("application/json"),
        );
        return Ok(resp);
    }
    up.forwarded
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .unwrap_or(reqwest::Method::GET);
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in req.headers() {
        if matches!(
            name.as_str(),
            "host" | "connection" | "content-length" | "transfer-encoding"
        ) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()),
            reqwest::header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(n, v);
        }
    }
    let lose = path
        .split('?')
        .next()
        .is_some_and(|p| p.ends_with("/_bulk"))
        && up
            .lose_bulk_answers
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok();
    let body = req.into_body().collect().await?.to_bytes();
    let answer = up
        .http
        .request(method, format!("{}{path}", up.url))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let resp = match answer {
        Ok(answer) if lose => {
            // Carried out; the answer is lost on its way back.
            let _ = answer.bytes().await;
            let mut resp = Response::new(Full::new(Bytes::from("proxy: answer lost")));
            *resp.status_mut() = hyper::StatusCode::BAD_GATEWAY;
            resp
        }
        Ok(answer) => {
            let status = answer.status().as_u16();
            let content_type = answer.headers().get("content-type").cloned();
            let body = answer.bytes().await.unwrap_or_default();
            let mut resp = Response::new(Full::new(body));
            *resp.status_mut() =
                hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
            if let Some(ct) =
                content_type.and_then(|v| hyper::header::HeaderValue::from_bytes(v.as_bytes()).ok())
            {
                resp.headers_mut().insert("content-type", ct);
            }
            resp
        }
        Err(e) => {
            let mut resp = Response::new(Full::new(Bytes::from(format!("proxy: {e}"))));
            *resp.status_mut() = hyper::StatusCode::BAD_GATEWAY;
            resp
        }
    };
    Ok(resp)
}
