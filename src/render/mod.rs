//! Rendering: minijinja templates (one per resource kind, embedded at build time from
//! `templates/`), a YAML-safe quoting filter, and a YAML emitter for data the server merges.
//!
//! Every string that reaches a template goes through the `q` filter, which writes a YAML
//! double-quoted scalar with every character outside YAML's printable set escaped, so no value
//! can open a key, a list item, a comment or a new document; values in `#` comments go
//! through the `c` filter (one line of printable ASCII). Templates render in strict mode:
//! an undefined variable is an error, never an empty string.

pub mod emit;

use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior, Value};

pub use emit::{emit, quote, string_scalar};

/// The templates, embedded so the binary works from any directory.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "namespace.yaml.j2",
        include_str!("../../templates/namespace.yaml.j2"),
    ),
    (
        "gateway.yaml.j2",
        include_str!("../../templates/gateway.yaml.j2"),
    ),
    (
        "httproute.yaml.j2",
        include_str!("../../templates/httproute.yaml.j2"),
    ),
    (
        "backendtrafficpolicy.yaml.j2",
        include_str!("../../templates/backendtrafficpolicy.yaml.j2"),
    ),
    (
        "issuer.yaml.j2",
        include_str!("../../templates/issuer.yaml.j2"),
    ),
    (
        "certificate.yaml.j2",
        include_str!("../../templates/certificate.yaml.j2"),
    ),
    (
        "scaledobject.yaml.j2",
        include_str!("../../templates/scaledobject.yaml.j2"),
    ),
    (
        "securitypolicy.yaml.j2",
        include_str!("../../templates/securitypolicy.yaml.j2"),
    ),
    (
        "aigatewayroute.yaml.j2",
        include_str!("../../templates/aigatewayroute.yaml.j2"),
    ),
    (
        "aiservicebackend.yaml.j2",
        include_str!("../../templates/aiservicebackend.yaml.j2"),
    ),
    (
        "backend.yaml.j2",
        include_str!("../../templates/backend.yaml.j2"),
    ),
    (
        "backendsecuritypolicy.yaml.j2",
        include_str!("../../templates/backendsecuritypolicy.yaml.j2"),
    ),
];

/// A template that failed to render: a bug in a template or in the context given to it.
#[derive(Debug, thiserror::Error)]
#[error("template {template}: {message}")]
pub struct RenderError {
    pub template: String,
    pub message: String,
}

fn q_filter(v: Value) -> Result<String, minijinja::Error> {
    if let Some(s) = v.as_str() {
        return Ok(string_scalar(s));
    }
    if v.is_number() || matches!(v.kind(), minijinja::value::ValueKind::Bool) {
        return Ok(v.to_string());
    }
    Err(minijinja::Error::new(
        minijinja::ErrorKind::InvalidOperation,
        format!("q: cannot quote a value of kind {}", v.kind()),
    ))
}

/// An integer, or a render error: numbers never carry text into a manifest.
fn n_filter(v: Value) -> Result<String, minijinja::Error> {
    match i64::try_from(v.clone()) {
        Ok(i) => Ok(i.to_string()),
        Err(_) => Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("n: {v:?} is not an integer"),
        )),
    }
}

/// Text for a `#` comment: one line, printable ASCII only, at most 200 characters.
fn comment_filter(v: Value) -> String {
    let s = v
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string());
    s.chars()
        .take(200)
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect()
}

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        env.add_filter("q", q_filter);
        env.add_filter("c", comment_filter);
        env.add_filter("n", n_filter);
        for (name, src) in TEMPLATES {
            // Templates are part of the binary; a syntax error is caught by the tests.
            if let Err(e) = env.add_template(name, src) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        env
    })
}

/// Render one template with a serializable context.
pub fn render<S: serde::Serialize>(template: &str, ctx: &S) -> Result<String, RenderError> {
    let err = |e: minijinja::Error| RenderError {
        template: template.to_string(),
        message: e.to_string(),
    };
    let t = env().get_template(template).map_err(err)?;
    t.render(minijinja::value::Serde(ctx)).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        for (name, _) in TEMPLATES {
            env()
                .get_template(name)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    /// Every `{{ ... }}` in every template ends in one of the safe filters.
    #[test]
    fn every_interpolation_is_filtered() {
        for (name, src) in TEMPLATES {
            for part in src.split("{{").skip(1) {
                let expr = part.split("}}").next().unwrap_or("").trim();
                assert!(
                    expr.ends_with("| q") || expr.ends_with("| c") || expr.ends_with("| n"),
                    "{name}: `{{{{ {expr} }}}}` has no q, c or n filter"
                );
            }
        }
        assert!(render("namespace.yaml.j2", &serde_json::json!({"name": ["x"]})).is_err());
    }

    #[test]
    fn strict_undefined_is_an_error() {
        let e = render("namespace.yaml.j2", &serde_json::json!({})).unwrap_err();
        assert!(e.message.contains("undefined"), "{e}");
    }
}
