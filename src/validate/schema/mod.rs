//! openAPIV3Schema handling, the way the Kubernetes API server applies it to a custom resource,
//! by concern: conversion to a JSON Schema for the `jsonschema` crate ([`convert`]), compiled in
//! pieces on first use ([`lazy`]), structural defaulting ([`defaults`]), Kubernetes string
//! formats ([`formats`]) and the mapping of `jsonschema` errors to findings ([`errors`]). The structural tree itself is
//! [`crate::validate::structural`]; ObjectMeta rules are [`crate::validate::meta`].

pub(crate) mod convert;
pub(crate) mod defaults;
pub(crate) mod errors;
pub(crate) mod formats;
pub(crate) mod lazy;

pub(crate) use defaults::apply_defaults;
pub(crate) use lazy::SchemaValidator;
