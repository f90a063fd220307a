//! The skill (`skill/traffic-engineer/SKILL.md`) served over MCP through the SEP-2640 Skills
//! extension and as resources. The files are embedded in the binary; rmcp's `SkillCatalog`
//! reads a folder, so they are written to a private temporary folder, loaded into memory, and
//! the folder is removed at once.

use rmcp::handler::server::skill_catalog::SkillCatalog;

/// The skill's files: (path under skill/, contents).
pub const SKILL_FILES: &[(&str, &str)] = &[(
    "traffic-engineer/SKILL.md",
    include_str!("../../skill/traffic-engineer/SKILL.md"),
)];

/// Load the embedded skill. `None` (logged) if the temporary folder cannot be written.
pub fn load() -> Option<SkillCatalog> {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "skill not served: no temporary folder");
            return None;
        }
    };
    for (path, text) in SKILL_FILES {
        let p = dir.path().join(path);
        if let Some(parent) = p.parent()
            && std::fs::create_dir_all(parent).is_err()
        {
            return None;
        }
        if std::fs::write(&p, text).is_err() {
            return None;
        }
    }
    match SkillCatalog::from_dir(dir.path()) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "skill not served");
            None
        }
    }
}
