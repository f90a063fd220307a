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

/// The tests' one finder of the upstream CRD folder (shared with tests/ and benches/).
#[cfg(test)]
#[path = "../tests/common/crds_dir.rs"]
pub(crate) mod test_crds;

/// The tests' one finder of Kubernetes' OpenAPI documents (shared with tests/).
#[cfg(test)]
#[path = "../tests/common/openapi_dir.rs"]
pub(crate) mod test_openapi;
