//! traffic-engineer: build, check and prove a Gateway API / Envoy Gateway / KEDA traffic stack.
#![cfg_attr(
    not(test),
    deny(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)
)]

pub mod fetch;
pub mod generate;
pub mod mcp;
pub mod names;
pub mod render;
pub mod spec;
pub mod validate;
pub mod validation;
pub mod verify;
pub mod workspace;
pub mod yaml;
