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
pub mod crd;
pub mod elastic;
