//! Listeners of one Gateway against each other.
//!
//! - `ref/cleartext-beside-https` (warning): a Gateway has an HTTPS listener and an HTTP
//!   listener for the same hostname, and a route that is not a redirect attaches to the HTTP
//!   one, so what HTTPS protects is also served in clear text. Source: Gateway API v1.4.0
//!   `apis/v1/httproute_types.go` (`HTTPRequestRedirectFilter`) and the Gateway API guide "HTTP
//!   redirects and rewrites" (an HTTP listener whose only route redirects to HTTPS); the same
//!   shape as the generator's `listeners: https_redirect` mode.

use super::facts::Fact;

use super::routes::{host_admits, namespace_admits, route_hosts, section_listeners};
use super::{Finding, Index, items, ns, or, s};

/// Whether every rule of the route answers with a RequestRedirect (a redirect route).
fn is_redirect(r: &Fact) -> bool {
    let mut rules = items(&r["spec"]["rules"]).peekable();
    rules.peek().is_none()
        || rules.all(|(_, rule)| {
            items(&rule["filters"]).any(|(_, f)| s(f, "type") == "RequestRedirect")
        })
}

pub(super) fn check_cleartext(idx: &Index, i: usize, r: &Fact, out: &mut Vec<(usize, Finding)>) {
    if is_redirect(r) {
        return;
    }
    let rns = ns(r);
    let hosts = route_hosts(r);
    for (pi, p) in items(&r["spec"]["parentRefs"]) {
        if or(p, "kind", "Gateway") != "Gateway" {
            continue;
        }
        let pns = or(p, "namespace", rns);
        let Some(gw) = idx.get("Gateway", pns, s(p, "name")) else {
            continue;
        };
        let all = section_listeners(gw, "");
        let plain = section_listeners(gw, s(p, "sectionName"))
            .into_iter()
            .filter(|l| s(l, "protocol") == "HTTP")
            .filter(|l| host_admits(l, &hosts))
            .filter(|l| namespace_admits(idx, l, pns, rns) != Some(false))
            .find(|l| {
                all.iter()
                    .any(|h| s(h, "protocol") == "HTTPS" && s(h, "hostname") == s(l, "hostname"))
            });
        if let Some(l) = plain {
            let host = match s(l, "hostname") {
                "" => "any hostname".to_string(),
                h => h.to_string(),
            };
            out.push((
                i,
                Finding::warning(
                    "ref/cleartext-beside-https",
                    format!("/spec/parentRefs/{pi}"),
                    format!(
                        "this route attaches to the plain HTTP listener {} of Gateway {pns}/{} while an HTTPS listener serves {host}: it is served in clear text too",
                        s(l, "name"),
                        s(p, "name")
                    ),
                    "set sectionName to the HTTPS listener, and answer HTTP with a route whose rule has a RequestRedirect filter (scheme: https, statusCode: 301), as listeners: https_redirect writes",
                ),
            ));
        }
    }
}
