//! The `MeshLogging` custom resource (`logging.mcp-mesh.io/v1alpha1`): the contract with users.
//!
//! Pure data: the spec a user writes, the status the operator reports, and the schema
//! rules (patterns, enums and CEL) that let the API server refuse bad input at admission.
//! No I/O here.

mod collector;
mod elasticsearch;
mod index;
mod kibana;
mod schema;
mod snapshots;
mod spec;
mod status;
pub mod units;

pub use collector::*;
pub use elasticsearch::*;
pub use index::*;
pub use kibana::*;
pub use snapshots::*;
pub use spec::*;
pub use status::*;

/// API group of the custom resource.
pub const GROUP: &str = "logging.mcp-mesh.io";
/// API version of the custom resource.
pub const VERSION: &str = "v1alpha1";
