//! Kubernetes name rules. The model names resources, never paths: every name goes through here
//! before it reaches a file name or a manifest.

/// Why a value was refused, phrased for the model that sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}; expected {expected}")]
pub struct InputError {
    /// The argument, as a path (`routes[0].rules[1].backends[0].service`).
    pub field: String,
    pub problem: String,
    /// The accepted form.
    pub expected: String,
}

impl InputError {
    pub fn new(
        field: impl Into<String>,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        InputError {
            field: field.into(),
            problem: problem.into(),
            expected: expected.into(),
        }
    }
}

/// Every problem of one call or one spec, reported together (never one per round trip).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputErrors(pub Vec<InputError>);

impl InputErrors {
    pub fn push(&mut self, e: InputError) {
        if !self.0.contains(&e) {
            self.0.push(e);
        }
    }
    /// Record the error of a check, if any; true when it passed.
    pub fn check(&mut self, r: Result<(), InputError>) -> bool {
        match r {
            Ok(()) => true,
            Err(e) => {
                self.push(e);
                false
            }
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Ok when no problem was recorded.
    pub fn into_result(self) -> Result<(), InputErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl std::fmt::Display for InputErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            all => {
                write!(f, "{} problems: ", all.len())?;
                for (i, e) in all.iter().enumerate() {
                    if i > 0 {
                        write!(f, "; ")?;
                    }
                    write!(f, "({}) {e}", i + 1)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for InputErrors {}

impl From<InputError> for InputErrors {
    fn from(e: InputError) -> Self {
        InputErrors(vec![e])
    }
}

/// A JSON pointer (`/routes/0/rules/1`) as a field path (`routes[0].rules[1]`), the form errors
/// name fields in.
pub fn field_from_pointer(pointer: &str) -> String {
    let mut field = String::new();
    for seg in pointer.split('/').skip(1) {
        if seg.parse::<usize>().is_ok() {
            field.push_str(&format!("[{seg}]"));
        } else {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(&seg.replace("~1", "/").replace("~0", "~"));
        }
    }
    field
}

const LABEL_FORM: &str = "a DNS-1123 label: 1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit (e.g. task-api)";
const SUBDOMAIN_FORM: &str = "a DNS-1123 subdomain: up to 253 characters, dot-separated DNS-1123 labels (e.g. task-api.example.com)";

pub fn show(value: &str) -> String {
    let mut s: String = value.chars().take(40).collect();
    if value.chars().count() > 40 {
        s.push('…');
    }
    format!("{s:?}")
}

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 label (namespaces, Service names, listener and rule names).
pub fn label(field: &str, value: &str) -> Result<(), InputError> {
    if is_label(value) {
        Ok(())
    } else {
        Err(InputError::new(
            field,
            format!("{} is not a valid name", show(value)),
            LABEL_FORM,
        ))
    }
}

/// A DNS-1123 subdomain (most object names).
pub fn subdomain(field: &str, value: &str) -> Result<(), InputError> {
    if !value.is_empty() && value.len() <= 253 && value.split('.').all(is_label) {
        Ok(())
    } else {
        Err(InputError::new(
            field,
            format!("{} is not a valid name", show(value)),
            SUBDOMAIN_FORM,
        ))
    }
}

/// An object name that is also used in a file name: a DNS-1123 label, so it cannot hold a dot,
/// a slash or anything else a path could use.
pub fn object_name(field: &str, value: &str) -> Result<(), InputError> {
    label(field, value)
}

/// A hostname as Gateway API accepts it: RFC 1123, lower case, optionally with a `*.` wildcard prefix.
pub fn hostname(field: &str, value: &str) -> Result<(), InputError> {
    let body = value.strip_prefix("*.").unwrap_or(value);
    if !body.is_empty() && body.len() <= 253 && body.split('.').all(is_label) && body.contains('.')
    {
        Ok(())
    } else {
        Err(InputError::new(
            field,
            format!("{} is not a valid hostname", show(value)),
            "a lower-case DNS name such as task-api.example.com, optionally with a leading \"*.\"; no scheme, port or path",
        ))
    }
}

/// An HTTP header name (RFC 7230 token), compared case-insensitively by Envoy.
pub fn header_name(field: &str, value: &str) -> Result<(), InputError> {
    let ok = !value.is_empty()
        && value.len() <= 256
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(InputError::new(
            field,
            format!("{} is not a valid header name", show(value)),
            "an HTTP header name such as x-user-id (letters, digits and -_.)",
        ))
    }
}

/// A path prefix as Gateway API accepts it for PathPrefix matches.
pub fn path_prefix(field: &str, value: &str) -> Result<(), InputError> {
    let bad_seq = ["//", "/./", "/../", "%2f", "%2F", "#"];
    let ok = value.starts_with('/')
        && value.len() <= 1024
        && !bad_seq.iter().any(|s| value.contains(s))
        && !value.ends_with("/..")
        && !value.ends_with("/.")
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(InputError::new(
            field,
            format!("{} is not a valid path prefix", show(value)),
            "an absolute URL path such as /api/v1: starts with '/', no '//', '/./', '/../', '#' or spaces",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_table() {
        let cases: &[(&str, bool)] = &[
            ("task-api", true),
            ("a", true),
            ("a1-b2", true),
            ("", false),
            ("-a", false),
            ("a-", false),
            ("A", false),
            ("a_b", false),
            ("a.b", false),
            ("../x", false),
            ("/etc/passwd", false),
            ("a/b", false),
            ("a\nb", false),
            ("tåsk", false),
        ];
        for (v, ok) in cases {
            assert_eq!(object_name("name", v).is_ok(), *ok, "{v:?}");
        }
        assert!(object_name("name", &"a".repeat(63)).is_ok());
        assert!(object_name("name", &"a".repeat(64)).is_err());
    }

    #[test]
    fn error_names_field_and_form() {
        let e = object_name("routes[0].name", "Bad Name").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("routes[0].name: \"Bad Name\" is not a valid name"),
            "{msg}"
        );
        assert!(msg.contains("DNS-1123 label"), "{msg}");
    }

    #[test]
    fn hostnames_and_paths() {
        assert!(hostname("h", "task-api.example.com").is_ok());
        assert!(hostname("h", "*.example.com").is_ok());
        assert!(hostname("h", "https://x.com").is_err());
        assert!(hostname("h", "localhost").is_err());
        assert!(path_prefix("p", "/api/v1").is_ok());
        assert!(path_prefix("p", "/").is_ok());
        assert!(path_prefix("p", "api").is_err());
        assert!(path_prefix("p", "/a//b").is_err());
        assert!(path_prefix("p", "/a b").is_err());
        assert!(header_name("h", "x-user-id").is_ok());
        assert!(header_name("h", "x user").is_err());
    }
}
