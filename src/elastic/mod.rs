//! Elasticsearch configuration through its REST API.
//!
//! `desired` (pure: spec -> bodies) -> `sync` (I/O: GET, normalise, compare, PUT what
//! differs, prune what this resource owns and no longer wants) -> `SyncReport`; then
//! `pipeline` (I/O, reads only): whether logs arrive. `nodes`: the requests of a safe
//! scale-down (allocation filter, shard table, voting configuration exclusions);
//! `restart`: those of a rolling restart (nodes, allocation, flush).

pub mod client;
pub mod desired;
pub mod nodes;
pub mod normalize;
pub mod pipeline;
pub mod reload;
pub mod restart;
pub mod snapshots;
pub mod sync;

pub use client::{
    ClientConfig, ClusterHealth, Credentials, EsClient, EsError, EsVersion, RetryPolicy,
};
pub use desired::{DesiredConfig, desired};
pub use sync::{Kind, KindReport, SyncReport, sync};
