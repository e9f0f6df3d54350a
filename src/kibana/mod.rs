//! Kibana: the data view, saved searches, Lens charts and the log dashboards of the source
//! recipe, kept in sync through Kibana's saved objects API.
//!
//! ```text
//! Validated ──► objects (pure: saved objects + the NDJSON import body)
//!                  │
//!                  ▼
//!               sync (I/O: /api/status, _bulk_get, compare, _import what differs,
//!                     delete what this resource owns and no longer wants) ──► KibanaReport
//! ```

pub mod client;
pub mod objects;
pub mod sync;

pub use client::{KibanaClient, KibanaConfig, KibanaError};
pub use objects::{
    DesiredObjects, dashboard_path, import_ndjson, log_dashboard_id, objects, operator_role,
};
pub use sync::{KibanaReport, remove, sync};
