//! Shared by the integration tests that need the upstream CRDs.

use std::sync::OnceLock;

use traffic_engineer::validate::Validator;

/// The five generators into a fresh stack (not every test binary uses it).
#[allow(dead_code)]
pub mod build;
mod crds_dir;
pub use crds_dir::crds_dir;

/// One engine with every CRD loaded, per test binary.
pub fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        let v = Validator::load(&[crds_dir()]).expect("CRDs load");
        assert!(v.crd_count() >= 30, "only {} CRDs loaded", v.crd_count());
        v
    })
}

/// Translator acceptance through Envoy Gateway's egctl (not every test binary uses it).
#[allow(dead_code)]
pub mod egctl;
