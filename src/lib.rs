//! traffic-engineer: build, check and prove a Gateway API / Envoy Gateway / KEDA traffic stack.
#![cfg_attr(
    not(test),
    deny(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)
)]

pub mod cluster;
pub mod fetch;
pub mod generate;
pub mod intent;
pub mod mcp;
pub mod names;
pub mod rehearse;
pub mod render;
pub mod spec;
pub mod validate;
pub mod validation;
pub mod verify;
pub mod workflow;
pub mod workspace;
pub mod yaml;

/// The tests' one finder of the shared/ folders (CRDs, OpenAPI documents; shared with tests/
/// and benches/).
#[cfg(test)]
#[path = "../tests/common/shared_dir.rs"]
pub(crate) mod test_shared;
