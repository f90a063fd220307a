//! The CRD cache. (`traffic-engineer crds fetch` fills it; the downloader lands next.)

use std::path::PathBuf;

/// `$TRAFFIC_ENGINEER_CACHE`, else `$XDG_CACHE_HOME/traffic-engineer/crds`, else
/// `~/.cache/traffic-engineer/crds`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("TRAFFIC_ENGINEER_CACHE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("traffic-engineer").join("crds");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("traffic-engineer").join("crds")
}
