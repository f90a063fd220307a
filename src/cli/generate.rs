//! `generate`: the whole stack from a traffic spec, through the same generators as the tools,
//! in workflow order.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use traffic_engineer::workspace::Stack;

use super::args::{Format, RootArg};
use super::config::{existing_file, read_spec, root_or_current};

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// The spec file (traffic-spec.md).
    #[arg(long, value_name = "FILE")]
    spec: PathBuf,
    #[command(flatten)]
    root: RootArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub struct Generate {
    spec: PathBuf,
    root: PathBuf,
    format: Format,
}

impl GenerateArgs {
    pub fn resolve(self) -> anyhow::Result<Generate> {
        Ok(Generate {
            spec: existing_file("--spec", self.spec)?,
            root: root_or_current(&self.root),
            format: self.format,
        })
    }
}

pub fn run(c: Generate) -> anyhow::Result<ExitCode> {
    let (parsed, _) = read_spec(&c.spec)?;
    let stack = Stack::new(&c.root);
    let steps = traffic_engineer::spec::generate(&parsed, &stack).map_err(|(_, e)| e)?;
    let mut out = super::stdout();
    match c.format {
        Format::Json => {
            let steps: Vec<serde_json::Value> = steps
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "tool": s.tool,
                        "summary": s.plan.summary,
                        "notes": s.plan.notes,
                        "files": s.written,
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&steps)?)?;
        }
        Format::Text => {
            for s in &steps {
                writeln!(out, "== {}\n{}", s.tool, s.plan.summary)?;
                for w in &s.written {
                    writeln!(out, "   {:?} {}", w.action, Stack::display_path(&w.file))?;
                }
                for n in &s.plan.notes {
                    writeln!(out, "   note: {n}")?;
                }
            }
            writeln!(
                out,
                "stack written to {}; next: traffic-engineer validate --spec {} {}",
                stack.dir().display(),
                c.spec.display(),
                stack.dir().display()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
