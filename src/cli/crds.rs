//! `crds fetch` and `crds path`: the upstream CRDs the schema and CEL checks use, and
//! Kubernetes' OpenAPI documents for the built-in kinds.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use traffic_engineer::fetch::{Mirror, fetch};

use super::config::Env;

#[derive(clap::Args)]
pub struct CrdsArgs {
    #[command(subcommand)]
    command: CrdsCommand,
}

#[derive(Subcommand)]
enum CrdsCommand {
    /// Download the CRDs of the pinned upstream releases, and the pinned Kubernetes release's
    /// OpenAPI documents, into the cache.
    Fetch {
        /// Where to download from: a base URL or a local folder with the same layout as the
        /// cache [default: the upstream repositories at their pinned tags, over HTTPS].
        #[arg(long, value_name = "URL|DIR")]
        mirror: Option<String>,
        /// Where to download Kubernetes' OpenAPI v3 documents (the built-in kinds' schemas)
        /// from: a base URL or a folder with the file names of the Kubernetes repository's
        /// api/openapi-spec/v3/ [default: --mirror's kubernetes-openapi folder, else the
        /// Kubernetes repository at the pinned release, over HTTPS].
        #[arg(long, value_name = "URL|DIR")]
        openapi_mirror: Option<String>,
        /// The cache folder [default: $TRAFFIC_ENGINEER_CACHE,
        /// $XDG_CACHE_HOME/traffic-engineer/crds or ~/.cache/traffic-engineer/crds].
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
        /// Timeout per file, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 30,
              value_parser = clap::value_parser!(u64).range(1..=3600))]
        timeout: u64,
    },
    /// Print the cache folder.
    Path,
}

pub enum Crds {
    Fetch {
        mirror: Mirror,
        openapi_mirror: Mirror,
        dest: PathBuf,
        timeout: Duration,
    },
    Path(PathBuf),
}

impl CrdsArgs {
    pub fn resolve(self, env: &Env) -> Crds {
        match self.command {
            CrdsCommand::Path => Crds::Path(env.cache_dir()),
            CrdsCommand::Fetch {
                mirror,
                openapi_mirror,
                cache_dir,
                timeout,
            } => {
                let parse = |m: String| match m.parse::<Mirror>() {
                    Ok(m) => m,
                    Err(never) => match never {},
                };
                let mirror = mirror.map_or(Mirror::Default, parse);
                Crds::Fetch {
                    openapi_mirror: openapi_mirror.map_or_else(
                        || traffic_engineer::fetch::openapi_mirror_of(&mirror),
                        parse,
                    ),
                    mirror,
                    dest: cache_dir.unwrap_or_else(|| env.cache_dir()),
                    timeout: Duration::from_secs(timeout),
                }
            }
        }
    }
}

pub fn run(c: Crds) -> anyhow::Result<ExitCode> {
    let mut out = super::stdout();
    match c {
        Crds::Path(dir) => writeln!(out, "{}", dir.display())?,
        Crds::Fetch {
            mirror,
            openapi_mirror,
            dest,
            timeout,
        } => {
            let report = fetch(&mirror, &dest, timeout)?;
            writeln!(
                out,
                "{} fetched, {} unchanged, in {}",
                report.fetched,
                report.unchanged,
                report.dir.display()
            )?;
            let report = traffic_engineer::fetch::fetch_openapi(
                &openapi_mirror,
                &dest.join(traffic_engineer::fetch::OPENAPI_DIR),
                timeout,
            )?;
            writeln!(
                out,
                "{} fetched, {} unchanged, in {} (Kubernetes {} OpenAPI documents)",
                report.fetched,
                report.unchanged,
                report.dir.display(),
                traffic_engineer::fetch::KUBERNETES_TAG
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
