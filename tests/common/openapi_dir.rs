//! The one finder of Kubernetes' OpenAPI v3 documents (the built-in kinds' schemas) for tests,
//! benches and unit tests (the library includes this file under `cfg(test)`; it uses std
//! only). Never skipped: a missing folder fails the test that needs it.

use std::path::{Path, PathBuf};

/// `$TRAFFIC_ENGINEER_TEST_OPENAPI`, else the first `shared/openapi/kubernetes-v1.35` folder
/// beside the crate or beside one of its parent folders. Read in place: never copied into the
/// repository.
pub fn openapi_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("TRAFFIC_ENGINEER_TEST_OPENAPI").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_dir(),
            "TRAFFIC_ENGINEER_TEST_OPENAPI={}: not a folder",
            p.display()
        );
        return p;
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .ancestors()
        .skip(1)
        .map(|a| a.join("shared").join("openapi").join("kubernetes-v1.35"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "no Kubernetes OpenAPI documents: set TRAFFIC_ENGINEER_TEST_OPENAPI to a folder of \
                 api/openapi-spec/v3 documents, or run `traffic-engineer crds fetch` and point it \
                 at the cache's kubernetes-openapi folder (beside {})",
                crate_dir.display()
            )
        })
}
