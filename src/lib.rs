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
#![forbid(unsafe_code)]

pub mod api;
pub mod controller;
pub mod crd;
pub mod elastic;
pub mod error;
pub mod fingerprint;
pub mod metrics;
pub mod operator;
pub mod reason;
pub mod render;
pub mod server;
pub mod status;
pub mod telemetry;
pub mod validate;
