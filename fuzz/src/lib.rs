//! Shared properties of the fuzz targets (also replayed by the main crate's tests/hardening.rs).
pub mod checks;
