//! `demo`: the Task API stack with the default arguments of every tool, in workflow order,
//! then validate.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use traffic_engineer::generate::{self, GenerateError, Plan, Snapshot, params::*};
use traffic_engineer::workflow::{self, Generator};
use traffic_engineer::workspace::Stack;

use super::args::CrdsArg;
use super::config::{Env, load_validator};

#[derive(clap::Args)]
pub struct DemoArgs {
    /// The root; the stack is ROOT/traffic/ [default: a new folder under the system temp
    /// folder, printed at the end].
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    #[command(flatten)]
    crds: CrdsArg,
}

/// Where the demo writes.
enum DemoRoot {
    Given(PathBuf),
    /// A new folder made under this one (never inside a checkout by default).
    FreshUnder(PathBuf),
}

pub struct Demo {
    root: DemoRoot,
    crds: Vec<PathBuf>,
    openapi: Option<PathBuf>,
    load_cache: Option<PathBuf>,
}

impl DemoArgs {
    pub fn resolve(self, env: &Env) -> anyhow::Result<Demo> {
        Ok(Demo {
            root: match self.root {
                Some(r) => DemoRoot::Given(r),
                None => DemoRoot::FreshUnder(env.temp.clone()),
            },
            openapi: env.openapi_source(&self.crds),
            crds: env.crd_sources(&self.crds),
            load_cache: env.load_cache(&self.crds)?,
        })
    }
}

pub fn run(c: Demo) -> anyhow::Result<ExitCode> {
    let validator = load_validator(&c.crds, c.openapi.as_deref(), c.load_cache.as_deref())?;
    let root = match c.root {
        DemoRoot::Given(r) => r,
        DemoRoot::FreshUnder(parent) => tempfile::Builder::new()
            .prefix("traffic-engineer-demo-")
            .tempdir_in(&parent)
            .with_context(|| format!("making a folder under {}", parent.display()))?
            .keep(),
    };
    let stack = Stack::new(&root);
    let mut out = super::stdout();
    for g in workflow::generators() {
        let tool = g.tool();
        let plan_and_written = match g {
            Generator::Gateway => step::<GatewayParams>(&stack, generate::gateway::generate),
            Generator::RateLimit => {
                step::<RateLimitParams>(&stack, generate::policy::add_rate_limit)
            }
            Generator::CircuitBreaker => {
                step::<CircuitBreakerParams>(&stack, generate::policy::add_circuit_breaker)
            }
            Generator::Tls => step::<TlsParams>(&stack, generate::tls::generate),
            Generator::ScaledObject => {
                step::<ScaledObjectParams>(&stack, generate::scaling::generate)
            }
            // the example names no model provider (its backends and key Secrets are the
            // user's to name), so the demo has no LLM route: said, not hidden
            Generator::LlmRoute => {
                writeln!(
                    out,
                    "== {tool} skipped: the Task API example calls no model provider (add_llm_route needs your backends and the names of their key Secrets)"
                )?;
                continue;
            }
        };
        let (plan, written) = plan_and_written.with_context(|| format!("{tool} {{}}"))?;
        writeln!(out, "== {tool} {{}}\n{}", plan.summary)?;
        for w in &written {
            writeln!(out, "   {:?} {}", w.action, Stack::display_path(&w.file))?;
        }
        for n in &plan.notes {
            writeln!(out, "   note: {n}")?;
        }
    }
    let report = traffic_engineer::validation::validate_stack(&validator, &stack)?;
    writeln!(out, "== validate\n{}", report.to_text())?;
    writeln!(
        out,
        "stack written to {}; apply with: kubectl apply -k {}",
        stack.dir().display(),
        stack.dir().display()
    )?;
    Ok(super::status(report.summary.errors == 0))
}

/// One generator with its defaults (the arguments `{}`).
fn step<P>(
    stack: &Stack,
    generator: fn(&P, &Snapshot) -> Result<Plan, GenerateError>,
) -> anyhow::Result<(Plan, Vec<traffic_engineer::workspace::Written>)>
where
    P: serde::de::DeserializeOwned + schemars::JsonSchema,
{
    let p: P = parse_args(serde_json::Map::new())?;
    Ok(stack.update(|s| generator(&p, s))?)
}
