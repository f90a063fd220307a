//! traffic-engineer: build, check and prove a Gateway API / Envoy Gateway / KEDA traffic stack.
#![warn(clippy::print_stdout)]

pub mod validate;
pub mod yaml;
