//! The validator wired into the application: where the CRDs come from, the stack on disk as
//! sources, and the validate report combined with the spec's compliance rows. The engine
//! ([`crate::validate`]) knows none of this: it takes sources and a CRD catalogue.

use serde::Serialize;

use crate::spec::compliance::{Row, Status};
use crate::validate::refs::RefContext;
use crate::validate::{Report, Source, Validator};
use crate::workspace::{KUSTOMIZATION, Stack, WorkspaceError};

/// The stack's manifests as sources (kustomization.yaml excluded), and the Secrets its
/// kustomization's secretGenerator will create.
pub fn stack_sources(stack: &Stack) -> Result<(Vec<Source>, RefContext), WorkspaceError> {
    let mut sources = Vec::new();
    let mut ctx = RefContext::default();
    for f in stack.manifest_files()? {
        let text = stack.read_manifest(&f)?;
        if f == KUSTOMIZATION {
            if let Ok(docs) = crate::yaml::parse_documents(&text)
                && let Some(k) = docs.first()
            {
                for g in k.value["secretGenerator"].as_array().into_iter().flatten() {
                    let ns = g["namespace"].as_str().unwrap_or("default").to_string();
                    if let Some(n) = g["name"].as_str() {
                        ctx.generated_secrets.push((ns, n.to_string()));
                    }
                }
            }
            continue;
        }
        sources.push(Source {
            name: Stack::display_path(&f),
            text,
        });
    }
    Ok((sources, ctx))
}

/// Check every manifest of the stack.
pub fn validate_stack(validator: &Validator, stack: &Stack) -> Result<Report, WorkspaceError> {
    let (sources, ctx) = stack_sources(stack)?;
    Ok(validator.validate_with(&sources, &ctx))
}

/// What the `validate` tool and command return: the findings and, with a spec, one row per
/// success criterion (serialized as `{findings, summary, compliance}`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CheckReport {
    #[serde(flatten)]
    pub report: Report,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compliance: Vec<Row>,
}

impl CheckReport {
    pub fn new(report: Report, compliance: Vec<Row>) -> Self {
        CheckReport { report, compliance }
    }

    /// The compliance table (with a spec), then the findings.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for row in &self.compliance {
            out.push_str(&row.to_text());
            out.push('\n');
        }
        out.push_str(&self.report.to_text());
        out
    }

    /// An error finding or a FAIL criterion.
    pub fn failed(&self) -> bool {
        self.report.summary.errors > 0 || self.compliance.iter().any(|r| r.status == Status::Fail)
    }
}

impl From<Report> for CheckReport {
    fn from(report: Report) -> Self {
        CheckReport::new(report, Vec::new())
    }
}
