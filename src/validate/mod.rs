//! The validation engine: YAML, schema, CEL, references and semantics, as findings.
pub mod finding;
