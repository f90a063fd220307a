//! Shared by the integration tests that need the upstream CRDs.

use std::sync::OnceLock;

use traffic_engineer::validate::Validator;

/// The five generators into a fresh stack (not every test binary uses it).
#[allow(dead_code)]
pub mod build;
mod shared_dir;
pub use shared_dir::{crds_dir, openapi_dir};

/// One engine with every CRD and the built-in kinds' schemas loaded, per test binary.
pub fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        let builtins = traffic_engineer::validate::BuiltinCatalog::load_dir(&openapi_dir())
            .expect("OpenAPI documents index");
        let v = Validator::load(&[crds_dir()])
            .expect("CRDs load")
            .with_builtins(builtins);
        assert!(v.crd_count() >= 30, "only {} CRDs loaded", v.crd_count());
        v
    })
}

/// Translator acceptance through Envoy Gateway's egctl (not every test binary uses it).
#[allow(dead_code)]
pub mod egctl;
