//! The skill (`skill/traffic-engineer/SKILL.md`) served over MCP through the SEP-2640 Skills
//! extension and as resources. The files are embedded in the binary; rmcp's `SkillCatalog`
//! reads a folder, so they are written to a private temporary folder, loaded into memory, and
//! the folder is removed at once.

use rmcp::handler::server::skill_catalog::SkillCatalog;

/// The skill's files: (path under skill/, contents). Everything SKILL.md refers to is here, so
/// a host that loads the skill over MCP (SEP-2640 `skills/get`, `resources/read` of
/// `skill://traffic-engineer/<path>`) can reach it: the templates the server renders and the
/// Task API example spec. They are embedded from the repository's own files (one source).
pub const SKILL_FILES: &[(&str, &str)] = &[
    (
        "traffic-engineer/SKILL.md",
        include_str!("../../skill/traffic-engineer/SKILL.md"),
    ),
    (
        "traffic-engineer/examples/task-api/traffic-spec.md",
        include_str!("../../examples/task-api/traffic-spec.md"),
    ),
    (
        "traffic-engineer/templates/backendtrafficpolicy.yaml.j2",
        include_str!("../../templates/backendtrafficpolicy.yaml.j2"),
    ),
    (
        "traffic-engineer/templates/aigatewayroute.yaml.j2",
        include_str!("../../templates/aigatewayroute.yaml.j2"),
    ),
    (
        "traffic-engineer/templates/aiservicebackend.yaml.j2",
        include_str!("../../templates/aiservicebackend.yaml.j2"),
    ),
    (
        "traffic-engineer/templates/backend.yaml.j2",
        include_str!("../../templates/backend.yaml.j2"),
    ),
    (
        "traffic-engineer/templates/backendsecuritypolicy.yaml.j2",
        include_str!("../../templates/backendsecuritypolicy.yaml.j2"),
    ),
    (
        "traffic-engineer/templates/certificate.yaml.j2",
        include_str!("../../templates/certificate.yaml.j2"),
    ),
    (
        "traffic-engineer/templates/gateway.yaml.j2",
        include_str!("../../templates/gateway.yaml.j2"),
    ),
    (
        "traffic-engineer/templates/httproute.yaml.j2",
        include_str!("../../templates/httproute.yaml.j2"),
    ),
    (
        "traffic-engineer/templates/issuer.yaml.j2",
        include_str!("../../templates/issuer.yaml.j2"),
    ),
    (
        "traffic-engineer/templates/namespace.yaml.j2",
        include_str!("../../templates/namespace.yaml.j2"),
    ),
    (
        "traffic-engineer/templates/scaledobject.yaml.j2",
        include_str!("../../templates/scaledobject.yaml.j2"),
    ),
    (
        "traffic-engineer/templates/securitypolicy.yaml.j2",
        include_str!("../../templates/securitypolicy.yaml.j2"),
    ),
];

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

/// A skill file whose extension rmcp's catalog does not know (the `.j2` templates, which it
/// would send as a base64 blob) as text: (contents, MIME type). The bytes are the same as the
/// catalog's, so the digests `skills/get` lists still hold.
pub fn text_file(uri: &str) -> Option<(&'static str, &'static str)> {
    let path = uri.strip_prefix("skill://")?;
    SKILL_FILES
        .iter()
        .find(|(p, _)| *p == path && p.ends_with(".j2"))
        .map(|(_, text)| (*text, "text/plain"))
}
