//! The one finder of the folders of shared/ the tests read in place (never copied into the
//! repository): the upstream CRDs and Kubernetes' OpenAPI v3 documents, for tests, benches and
//! unit tests (the library includes this file under `cfg(test)`; it uses std only). Never
//! skipped: a missing folder fails the test that needs it (`scripts/test.sh` fetches both into
//! the cache when no shared/ is found).

use std::path::{Path, PathBuf};

/// `$var`, else the first `shared/<rel>` folder beside the crate or beside one of its parent
/// folders (a worktree nested below the checkout finds the same one); panics with `help`.
fn shared_dir(var: &str, rel: &[&str], help: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_dir(), "{var}={}: not a folder", p.display());
        return p;
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .ancestors()
        .skip(1)
        .map(|a| rel.iter().fold(a.join("shared"), |p, r| p.join(r)))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("{help} (beside {})", crate_dir.display()))
}

/// `$TRAFFIC_ENGINEER_TEST_CRDS`, else `shared/crds`.
pub fn crds_dir() -> PathBuf {
    shared_dir(
        "TRAFFIC_ENGINEER_TEST_CRDS",
        &["crds"],
        "no upstream CRD folder: set TRAFFIC_ENGINEER_TEST_CRDS, or put the CRDs in shared/crds \
         (scripts/test.sh runs `traffic-engineer crds fetch`)",
    )
}

/// `$TRAFFIC_ENGINEER_TEST_OPENAPI`, else `shared/openapi/kubernetes-v1.35`.
pub fn openapi_dir() -> PathBuf {
    shared_dir(
        "TRAFFIC_ENGINEER_TEST_OPENAPI",
        &["openapi", "kubernetes-v1.35"],
        "no Kubernetes OpenAPI documents: set TRAFFIC_ENGINEER_TEST_OPENAPI to a folder of \
         api/openapi-spec/v3 documents, or run `traffic-engineer crds fetch` and point it at the \
         cache's kubernetes-openapi folder",
    )
}
