//! The one finder of the upstream CRD folder for tests, benches and unit tests (the library
//! includes this file under `cfg(test)`; it uses std only). Never skipped: a missing folder
//! fails the test that needs it (`scripts/test.sh` fetches the CRDs when none is found).

use std::path::{Path, PathBuf};

/// `$TRAFFIC_ENGINEER_TEST_CRDS`, else the first `shared/crds` folder beside the crate or
/// beside one of its parent folders (a worktree nested below the checkout finds the same one).
pub fn crds_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("TRAFFIC_ENGINEER_TEST_CRDS").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_dir(),
            "TRAFFIC_ENGINEER_TEST_CRDS={}: not a folder",
            p.display()
        );
        return p;
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .ancestors()
        .skip(1)
        .map(|a| a.join("shared").join("crds"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "no upstream CRD folder: set TRAFFIC_ENGINEER_TEST_CRDS, or put the CRDs in \
                 shared/crds beside {} (scripts/test.sh runs `traffic-engineer crds fetch`)",
                crate_dir.display()
            )
        })
}
