//! Shared by the integration tests that need the upstream CRDs.

use std::path::PathBuf;
use std::sync::OnceLock;

use traffic_engineer::validate::Validator;

/// The upstream CRDs: `TRAFFIC_ENGINEER_TEST_CRDS`, else `../shared/crds`. Never skipped: a
/// missing CRD folder fails the test (scripts/test.sh fetches them when ../shared is absent).
pub fn crds_dir() -> PathBuf {
    let p = std::env::var_os("TRAFFIC_ENGINEER_TEST_CRDS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/crds")));
    assert!(
        p.is_dir(),
        "CRDs not found at {}: set TRAFFIC_ENGINEER_TEST_CRDS",
        p.display()
    );
    p
}

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
