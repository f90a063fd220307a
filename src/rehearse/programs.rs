//! Finding the upstream programs: an environment variable, then the folder `scripts/upstream.sh`
//! installs into, then PATH. Nothing is installed from here (a cold Go build takes minutes):
//! a missing program is reported with the command that installs it.

use std::path::{Path, PathBuf};

/// One program rehearse or the tests need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Program {
    /// The name `scripts/upstream.sh` knows, and the file name in its cache.
    pub name: &'static str,
    /// The environment variable that names the binary.
    pub env: &'static str,
    /// The command name looked up on PATH.
    pub command: &'static str,
}

pub const EGCTL: Program = Program {
    name: "egctl",
    env: "TRAFFIC_ENGINEER_EGCTL",
    command: "egctl",
};
pub const ENVOY_GATEWAY: Program = Program {
    name: "envoy-gateway",
    env: "TRAFFIC_ENGINEER_ENVOY_GATEWAY",
    command: "envoy-gateway",
};
pub const RATELIMIT: Program = Program {
    name: "ratelimit",
    env: "TRAFFIC_ENGINEER_RATELIMIT",
    command: "ratelimit",
};
pub const REDIS_SERVER: Program = Program {
    name: "redis-server",
    env: "TRAFFIC_ENGINEER_REDIS_SERVER",
    command: "redis-server",
};
pub const ENVOY: Program = Program {
    name: "envoy",
    env: "TRAFFIC_ENGINEER_ENVOY",
    command: "envoy",
};

#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{} not found: set {} to its path, or install it with `scripts/upstream.sh {}` (looked in: {})",
    program.name,
    program.env,
    program.name,
    looked.join(", ")
)]
pub struct Missing {
    pub program: Program,
    pub looked: Vec<String>,
}

/// The cache folder of `scripts/upstream.sh` (same rule as the script).
pub fn upstream_cache() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TRAFFIC_ENGINEER_UPSTREAM_CACHE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|p| !p.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("traffic-engineer/upstream"))
}

fn executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Find `program`: `$ENV`, then the upstream cache (`bin/NAME`, or for a Debian package the
/// path recorded in `bin/NAME.version.path`), then PATH.
pub fn find(program: Program) -> Result<PathBuf, Missing> {
    let mut looked = Vec::new();
    if let Some(p) = std::env::var_os(program.env).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if executable(&p) {
            return Ok(p);
        }
        // Set but wrong: refused, never replaced by another copy found elsewhere.
        looked.push(format!(
            "{}={} (not an executable file)",
            program.env,
            p.display()
        ));
        return Err(Missing { program, looked });
    } else {
        looked.push(format!("${} (unset)", program.env));
    }
    if let Some(cache) = upstream_cache() {
        let bin = cache.join("bin").join(program.name);
        if executable(&bin) {
            return Ok(bin);
        }
        let recorded = cache
            .join("bin")
            .join(format!("{}.version.path", program.name));
        if let Ok(text) = std::fs::read_to_string(&recorded) {
            let p = PathBuf::from(text.trim());
            if executable(&p) {
                return Ok(p);
            }
        }
        looked.push(bin.display().to_string());
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(program.command);
            if executable(&p) {
                return Ok(p);
            }
        }
    }
    looked.push(format!("PATH ({})", program.command));
    Err(Missing { program, looked })
}
