//! MeshLogging operator: one `MeshLogging` resource becomes a secure logging stack.
//!
//! ```text
//! MeshLogging (spec) ──► render (pure) ──► desired objects ──► kube apply (SSA) ─┐
//!                          │                                                      │ child status
//!                          └─► desired ES config ──► es sync (GET, diff,          │
//!                                                    PUT changed, prune) ─────────┤
//!                                                                                 ▼
//!                                                         status (conditions) ◄───┘
//! ```
//!
//! Modules import only from those below them: `api` (the CRD types), `reason` (the one set of
//! reasons), `log_schema` (the log documents' mappings); `naming` (every derived name),
//! `endpoint` (URL parts) and `config_format` (escaping rules); `validate` (the one validated
//! model); `render` and `elastic` (pure desired state, and the ES client); `status`;
//! `controller`.
#![forbid(unsafe_code)]

pub mod api;
pub mod config_format;
pub mod controller;
pub mod crd;
pub mod elastic;
pub mod endpoint;
pub mod error;
pub mod fingerprint;
pub mod keystore;
pub mod kibana;
pub mod log_schema;
pub mod metrics;
pub mod naming;
pub mod operator;
pub mod reason;
pub mod render;
pub mod server;
pub mod status;
pub mod telemetry;
pub mod validate;
