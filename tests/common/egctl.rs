//! Translator acceptance for the integration tests: a stack folder goes through Envoy Gateway
//! v1.9.0's own translator (`egctl x translate --from gateway-api --to gateway-api,xds`) and
//! every Gateway listener, route parent and policy ancestor must come back accepted (see
//! `traffic_engineer::rehearse::accept` for the exact conditions).
//!
//! The translator needs objects the stack does not hold: the GatewayClass (`eg`, controller
//! gateway.envoyproxy.io/gatewayclass-controller, made by the Envoy Gateway install), the
//! Services the routes point at (the application's) and the TLS Secrets cert-manager would issue.
//! They are supplied here (`rehearse::outside`) and listed in every failure message.
//!
//! egctl comes from `TRAFFIC_ENGINEER_EGCTL`, else `scripts/upstream.sh egctl` (which installs it
//! once into the upstream cache). When neither gives a program the test FAILS: a check that
//! could not run is not a pass.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use traffic_engineer::rehearse::accept::{self, Acceptance};

/// The egctl binary, found once per test binary; panics (fails the test) when there is none.
pub fn egctl() -> &'static Path {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("TRAFFIC_ENGINEER_EGCTL").filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            return if p.is_file() {
                Ok(p)
            } else {
                Err(format!(
                    "TRAFFIC_ENGINEER_EGCTL={} is not a file",
                    p.display()
                ))
            };
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/upstream.sh");
        match Command::new(&script).arg("egctl").output() {
            Ok(out) if out.status.success() => {
                let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
                if p.is_file() {
                    Ok(p)
                } else {
                    Err(format!(
                        "{} egctl printed {}",
                        script.display(),
                        p.display()
                    ))
                }
            }
            Ok(out) => Err(format!(
                "{} egctl failed ({}): {}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Err(format!("cannot run {}: {e}", script.display())),
        }
    });
    match found {
        Ok(p) => p,
        Err(why) => panic!(
            "egctl (Envoy Gateway v1.9.0) is needed for translator acceptance and was not found: \
             {why}.\nInstall it with `scripts/upstream.sh egctl` (Go >= 1.26 and the Go module \
             proxy) or set TRAFFIC_ENGINEER_EGCTL to an egctl v1.9.0 binary."
        ),
    }
}

/// What Envoy Gateway's translator says about the stack in `stack_dir` (the `traffic/` folder).
/// Panics when the translator could not run or refused the input outright.
pub fn translate(stack_dir: &Path) -> Acceptance {
    match accept::translate_stack(egctl(), stack_dir) {
        Ok(a) => a,
        Err(e) => panic!(
            "translator acceptance of {} could not run: {e}",
            stack_dir.display()
        ),
    }
}

/// Ok when Envoy Gateway's translator accepts every object of the stack in `stack_dir`;
/// otherwise every failure (object, scope, condition, status, reason, message), one per line,
/// followed by what was supplied from outside the stack.
pub fn assert_accepted(stack_dir: &Path) -> Result<(), String> {
    // a stack with Envoy AI Gateway objects goes through the AI Gateway's translation first
    let has_ai = std::fs::read_dir(stack_dir).is_ok_and(|d| {
        d.flatten().any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("aigatewayroute-")
        })
    });
    let result = if has_ai {
        match std::env::var_os("TRAFFIC_ENGINEER_AIGW_TRANSLATE").filter(|p| !p.is_empty()) {
            Some(aigw) => traffic_engineer::rehearse::accept_ai::translate_llm_stack(
                Path::new(&aigw),
                egctl(),
                stack_dir,
            ),
            None => {
                eprintln!(
                    "SKIPPED translator acceptance of {} (AI Gateway objects): TRAFFIC_ENGINEER_AIGW_TRANSLATE is unset",
                    stack_dir.display()
                );
                return Ok(());
            }
        }
    } else {
        accept::translate_stack(egctl(), stack_dir)
    };
    let a = match result {
        Ok(a) => a,
        Err(e) => return Err(format!("{}: {e}", stack_dir.display())),
    };
    if a.accepted() {
        return Ok(());
    }
    Err(format!(
        "Envoy Gateway's translator did not accept {}:\n{}\n(supplied from outside the stack: {})",
        stack_dir.display(),
        a.failures_text(),
        a.supplied.join("; ")
    ))
}
