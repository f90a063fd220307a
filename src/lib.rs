//! traffic-engineer: build, check and prove a Gateway API / Envoy Gateway / KEDA traffic stack.
#![warn(clippy::print_stdout)]

pub mod validate;
pub mod yaml;
pub mod generate;
pub mod names;
pub mod render;
pub mod workspace;
pub mod mcp;
