//! Every file below a folder, for the tests that compare a tree before and after (std only).

use std::path::{Path, PathBuf};

/// Every file below `dir` (folders walked, not listed), sorted; a folder that cannot be read
/// adds nothing.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
