//! `x-kubernetes-validations` (CEL) with Kubernetes semantics, on the `cel` crate.
//!
//! * `self` is bound to the (defaulted) value of the node a rule sits on; a node that is absent
//!   runs no rules.
//! * Objects with declared properties are exposed with Kubernetes' escaped property names
//!   (`namespace` → `__namespace__`, `a.b` → `a__dot__b`, …); fields the schema does not declare
//!   are invisible (the API server prunes them); maps (`additionalProperties`) keep raw keys.
//! * The cel-go strings extension and Kubernetes' `isIP()` are registered; `matches()` uses a
//!   cache of compiled regular expressions.
//! * Transition rules (using `oldSelf`) are compiled but skipped: there is no old object on create.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::Hasher;
use std::sync::{Arc, OnceLock, RwLock};

use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelOptional, CelString,
    CelUInt,
};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::{Context, Env, ExecutionError};
use serde_json::Value;

use crate::validate::cel_ast::Parsed;
use crate::validate::finding::Finding;
use crate::validate::meta::{check_metadata, is_dns1123_label, is_dns1123_subdomain};
use crate::validate::structural::{ListType, Node, RuleSpec, Ty};
use crate::yaml::pointer_segment;

/// The name `matches` calls are rewritten to, so that the regex cache is used.
const CACHED_MATCHES: &str = "__k8sCachedMatches";
/// Regexes kept in the cache at most (CRD rules use a few dozen).
const REGEX_CACHE_LIMIT: usize = 4096;
/// Depth to which schema-less (preserve-unknown-fields) values are exposed to CEL.
const MAX_GENERIC_DEPTH: usize = 64;
/// Longest rule text quoted in a hint.
const HINT_RULE_CHARS: usize = 400;

// ---------------------------------------------------------------------------------------------
// Rules

/// The compiled CEL programs of one structural tree: one slot per rule id, each compiled on
/// first use (once per process, from any thread).
#[derive(Debug)]
pub(crate) struct Programs {
    slots: Vec<OnceLock<Result<CompiledRule, String>>>,
    /// Rules parsed by an earlier process, from the load cache (see [`crate::validate::cel_ast`]).
    parsed: Option<Parsed>,
    /// The verdicts of a node's rules on the values met so far, by node and the value's hash
    /// (see [`Verdict`]); shared by the threads, and dropped with the tree.
    memo: RwLock<HashMap<MemoKey, Arc<[Verdict]>>>,
}

impl Programs {
    pub(crate) fn for_tree(root: &Node) -> Self {
        Programs {
            slots: (0..root.rule_count()).map(|_| OnceLock::new()).collect(),
            parsed: None,
            memo: RwLock::new(HashMap::new()),
        }
    }

    /// Programs whose rules are taken from `parsed` where it holds them (parsed otherwise).
    pub(crate) fn with_parsed(root: &Node, parsed: Parsed) -> Self {
        Programs {
            parsed: Some(parsed),
            ..Programs::for_tree(root)
        }
    }

    /// Programs with every rule of the tree compiled now, and the parsed trees, for the load
    /// cache to keep: what a first use of a kind pays so that later processes parse nothing.
    pub(crate) fn parse_all(root: &Node) -> (Self, Parsed) {
        let programs = Programs::for_tree(root);
        let mut parsed = Parsed::default();
        let mut each = |rule: &RuleSpec| {
            let mut parse_kept = |source: &str| {
                let e = parse_raw(source)?;
                parsed.add(source, &e);
                Ok::<_, String>(e)
            };
            let compiled = parse_kept(&rule.rule).map(|expr| {
                let message_expr = rule
                    .message_expression
                    .as_deref()
                    .and_then(|m| parse_kept(m).ok());
                compiled_rule(expr, message_expr)
            });
            if let Some(slot) = programs.slots.get(rule.id) {
                let _ = slot.set(compiled);
            }
        };
        for_each_rule(root, &mut each);
        (programs, parsed)
    }

    fn known(&self, key: &MemoKey) -> Option<Arc<[Verdict]>> {
        // a poisoned lock (a panic elsewhere) only means evaluating again
        self.memo.read().ok()?.get(key).cloned()
    }

    fn remember(&self, key: MemoKey, verdicts: Arc<[Verdict]>) {
        if let Ok(mut m) = self.memo.write() {
            if m.len() >= MEMO_LIMIT {
                m.clear();
            }
            m.insert(key, verdicts);
        }
    }

    /// The compiled rule (compiled once, on first use).
    pub(crate) fn compiled(&self, rule: &RuleSpec) -> Result<&CompiledRule, &str> {
        match self.slots.get(rule.id) {
            Some(slot) => slot
                .get_or_init(|| compile_rule(rule, self.parsed.as_ref()))
                .as_ref()
                .map_err(String::as_str),
            None => Err("the rule is not part of this schema"),
        }
    }
}

#[derive(Debug)]
pub(crate) struct CompiledRule {
    expr: IdedExpr,
    message_expr: Option<IdedExpr>,
    /// The rule uses `oldSelf`: it only runs on update.
    pub transition: bool,
}

impl CompiledRule {
    /// Names of the functions and operators the rule calls.
    pub(crate) fn functions(&self) -> Vec<String> {
        self.expr
            .references()
            .functions()
            .into_iter()
            .map(str::to_string)
            .collect()
    }
}

/// The parser's tree of `source`, as the load cache keeps it (before [`rewrite_matches`]).
fn parse_raw(source: &str) -> Result<IdedExpr, String> {
    env()?.parser().parse(source).map_err(|e| e.to_string())
}

fn compile_rule(rule: &RuleSpec, parsed: Option<&Parsed>) -> Result<CompiledRule, String> {
    let tree = |source: &str| match parsed.and_then(|p| p.tree(source)) {
        Some(e) => Ok(e),
        None => parse_raw(source),
    };
    let expr = tree(&rule.rule)?;
    // A messageExpression that does not compile falls back to `message`, as on the server
    // (where such a CRD would not have been accepted in the first place).
    let message_expr = rule
        .message_expression
        .as_deref()
        .and_then(|m| tree(m).ok());
    Ok(compiled_rule(expr, message_expr))
}

fn compiled_rule(mut expr: IdedExpr, message_expr: Option<IdedExpr>) -> CompiledRule {
    rewrite_matches(&mut expr, 0);
    let message_expr = message_expr.map(|mut m| {
        rewrite_matches(&mut m, 0);
        m
    });
    let transition = expr.references().has_variable("oldSelf");
    CompiledRule {
        expr,
        message_expr,
        transition,
    }
}

/// Every rule of a tree (the tree's depth is bounded by the structural parser).
fn for_each_rule<'n>(node: &'n Node, f: &mut impl FnMut(&'n RuleSpec)) {
    node.rules.iter().for_each(&mut *f);
    for child in node.properties.values() {
        for_each_rule(child, f);
    }
    for child in [node.additional.as_deref(), node.items.as_deref()]
        .into_iter()
        .flatten()
    {
        for_each_rule(child, f);
    }
}

/// Rename `matches` calls so they reach the cached implementation.
fn rewrite_matches(e: &mut IdedExpr, depth: usize) {
    if depth > 512 {
        return;
    }
    let d = depth + 1;
    match &mut e.expr {
        Expr::Call(c) => {
            if c.func_name == "matches"
                && ((c.target.is_some() && c.args.len() == 1)
                    || (c.target.is_none() && c.args.len() == 2))
            {
                c.func_name = CACHED_MATCHES.to_string();
            }
            if let Some(t) = c.target.as_deref_mut() {
                rewrite_matches(t, d);
            }
            for a in &mut c.args {
                rewrite_matches(a, d);
            }
        }
        Expr::Comprehension(c) => {
            rewrite_matches(&mut c.iter_range, d);
            rewrite_matches(&mut c.accu_init, d);
            rewrite_matches(&mut c.loop_cond, d);
            rewrite_matches(&mut c.loop_step, d);
            rewrite_matches(&mut c.result, d);
        }
        Expr::List(l) => {
            for x in &mut l.elements {
                rewrite_matches(x, d);
            }
        }
        Expr::Map(m) => {
            for entry in &mut m.entries {
                match &mut entry.expr {
                    EntryExpr::MapEntry(me) => {
                        rewrite_matches(&mut me.key, d);
                        rewrite_matches(&mut me.value, d);
                    }
                    EntryExpr::StructField(sf) => rewrite_matches(&mut sf.value, d),
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &mut s.entries {
                match &mut entry.expr {
                    EntryExpr::MapEntry(me) => {
                        rewrite_matches(&mut me.key, d);
                        rewrite_matches(&mut me.value, d);
                    }
                    EntryExpr::StructField(sf) => rewrite_matches(&mut sf.value, d),
                }
            }
        }
        Expr::Select(s) => rewrite_matches(&mut s.operand, d),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Environment

/// The shared CEL environment: the standard library, the strings extension, `isIP` and the
/// cached `matches`.
pub(crate) fn env() -> Result<&'static Arc<Env>, String> {
    static ENV: OnceLock<Result<Arc<Env>, String>> = OnceLock::new();
    ENV.get_or_init(|| build_env().map(Arc::new).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

fn build_env() -> Result<Env, cel::DeclarationError> {
    let mut env = Env::stdlib();
    env.add_extension(cel::extensions::strings)?;
    cel::add_overload!(env, fn is_ip: (CelString) -> CelBool, name = "isIP")?;
    cel::add_overload!(env, fn cached_matches: (CelString, CelString) -> Result<CelBool>,
        name = CACHED_MATCHES, id = "k8s_cached_matches_global")?;
    cel::add_member_overload!(env, fn cached_matches: (CelString, CelString) -> Result<CelBool>,
        name = CACHED_MATCHES, id = "k8s_cached_matches_member")?;
    // Kubernetes format library (the subset these CRDs use): `format.<name>()` is represented
    // by the format's name; `validate` returns optional.none() or optional.of([errors]).
    cel::add_overload!(env, fn format_dns1123_label: () -> CelString, name = "format.dns1123Label")?;
    cel::add_overload!(env, fn format_dns1123_subdomain: () -> CelString,
        name = "format.dns1123Subdomain")?;
    cel::add_member_overload!(env, fn format_validate: (CelString, CelString) -> Result<CelOptional>,
        name = "validate", id = "k8s_format_validate")?;
    Ok(env)
}

fn format_dns1123_label() -> CelString<'static> {
    CelString::from("dns1123Label")
}

fn format_dns1123_subdomain() -> CelString<'static> {
    CelString::from("dns1123Subdomain")
}

fn format_validate(
    format: &CelString<'_>,
    value: &CelString<'_>,
) -> Result<CelOptional<'static>, ExecutionError> {
    let (ok, what) = match format.inner() {
        "dns1123Label" => (
            is_dns1123_label(value.inner()),
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        ),
        "dns1123Subdomain" => (
            is_dns1123_subdomain(value.inner()),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        ),
        other => {
            return Err(ExecutionError::function_error(
                "validate",
                format!("unsupported format `{other}`"),
            ));
        }
    };
    Ok(if ok {
        CelOptional::none()
    } else {
        let errors: Vec<Box<dyn Val>> = vec![Box::new(CelString::from(what))];
        CelOptional::of(Box::new(CelList::from(errors)))
    })
}

/// Kubernetes `isIP`: an IPv4 or IPv6 address, no zone, not IPv4-mapped IPv6.
fn is_ip(s: &CelString<'_>) -> CelBool {
    let ok = match s.inner().parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => true,
        Ok(std::net::IpAddr::V6(v6)) => v6.to_ipv4_mapped().is_none(),
        Err(_) => false,
    };
    CelBool::from(ok)
}

fn cached_regex(pattern: &str) -> Result<Arc<regex::Regex>, regex::Error> {
    static CACHE: OnceLock<RwLock<HashMap<String, Arc<regex::Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| RwLock::new(HashMap::new()));
    if let Some(r) = cache
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(pattern)
    {
        return Ok(Arc::clone(r));
    }
    let compiled = Arc::new(regex::Regex::new(pattern)?);
    let mut w = cache
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if w.len() < REGEX_CACHE_LIMIT {
        w.insert(pattern.to_string(), Arc::clone(&compiled));
    }
    Ok(compiled)
}

fn cached_matches(s: &CelString<'_>, re: &CelString<'_>) -> Result<CelBool, ExecutionError> {
    match cached_regex(re.inner()) {
        Ok(r) => Ok(CelBool::from(r.is_match(s.inner()))),
        Err(err) => Err(ExecutionError::function_error(
            "matches",
            format!("'{}' not a valid regex:\n{err}", re.inner()),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Escaping

const CEL_RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// Kubernetes' escaping of a property name for CEL (apiserver/pkg/cel/escaping.go), or None
/// when the name cannot be accessed from CEL.
pub(crate) fn escape(name: &str) -> Option<Cow<'_, str>> {
    let first = name.as_bytes().first()?;
    if first.is_ascii_digit() {
        return None;
    }
    if CEL_RESERVED.contains(&name) {
        return Some(Cow::Owned(format!("__{name}__")));
    }
    let plain =
        name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') && !name.contains("__");
    if plain {
        return Some(Cow::Borrowed(name));
    }
    let mut out = String::with_capacity(name.len() + 16);
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'_' if b.get(i + 1) == Some(&b'_') => {
                out.push_str("__underscores__");
                i += 2;
                continue;
            }
            b'.' => out.push_str("__dot__"),
            b'-' => out.push_str("__dash__"),
            b'/' => out.push_str("__slash__"),
            c if c.is_ascii_alphanumeric() || c == b'_' => out.push(c as char),
            _ => return None,
        }
        i += 1;
    }
    Some(Cow::Owned(out))
}

// ---------------------------------------------------------------------------------------------
// Evaluation

struct SelfResolver<'x> {
    val: &'x (dyn Val + 'x),
}

impl VariableResolver for SelfResolver<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        (variable == "self").then_some(CowVal::Borrowed(self.val))
    }
}

/// Walks a defaulted object along its structural schema: list-set/list-map uniqueness,
/// metadata of embedded resources, and every CEL rule, collecting findings.
pub(crate) struct Walker<'f> {
    path: String,
    out: &'f mut Vec<Finding>,
    /// Paths of schema errors, so that a rule that cannot be evaluated because of one of them
    /// does not add a second, vaguer finding.
    schema_error_paths: &'f [String],
    programs: &'f Programs,
}

impl<'f> Walker<'f> {
    pub(crate) fn new(
        out: &'f mut Vec<Finding>,
        schema_error_paths: &'f [String],
        programs: &'f Programs,
    ) -> Self {
        Walker {
            path: String::new(),
            out,
            schema_error_paths,
            programs,
        }
    }

    /// Walk the whole object.
    pub(crate) fn run(&mut self, obj: &Value, root: &Node) {
        if root.walk {
            self.walk(obj, root, false, true);
        }
    }

    fn push(&mut self, seg: &str) -> usize {
        let len = self.path.len();
        self.path.push('/');
        self.path.push_str(&pointer_segment(seg));
        len
    }

    fn push_index(&mut self, i: usize) -> usize {
        let len = self.path.len();
        self.path.push('/');
        self.path.push_str(&i.to_string());
        len
    }

    fn walk<'a>(
        &mut self,
        v: &'a Value,
        node: &Node,
        need: bool,
        root: bool,
    ) -> Option<Box<dyn Val + 'a>> {
        // the node's rules on this value: reached before (no CEL value needed for them), or
        // to be evaluated once the value is built
        let memo = (!node.rules.is_empty() && node.type_matches(v)).then(|| memo_key(node, v));
        let known = memo.as_ref().and_then(|k| self.programs.known(k));
        let here = need || (memo.is_some() && known.is_none());
        let val: Option<Box<dyn Val + 'a>> = match v {
            Value::Object(map) => {
                if node.embedded && !root {
                    check_metadata(v, &self.path, false, self.out);
                }
                if let (true, Some(ap)) = (node.is_map(), node.additional.as_deref()) {
                    let mut entries: HashMap<CelMapKey<'a>, Box<dyn Val + 'a>> =
                        HashMap::with_capacity(if here { map.len() } else { 0 });
                    for (k, child) in map {
                        if here || ap.walk {
                            let len = self.push(k);
                            let cv = self.walk(child, ap, here, false);
                            self.path.truncate(len);
                            if let Some(cv) = cv {
                                entries.insert(CelMapKey::from(k.as_str()), cv);
                            }
                        }
                    }
                    here.then(|| Box::new(CelMap::from(entries)) as Box<dyn Val + 'a>)
                } else {
                    let mut entries: HashMap<CelMapKey<'a>, Box<dyn Val + 'a>> =
                        HashMap::with_capacity(if here { map.len() } else { 0 });
                    for (k, child) in map {
                        if root && k == "metadata" {
                            if here {
                                entries.insert(CelMapKey::from("metadata"), root_metadata(child));
                            }
                            continue;
                        }
                        match node.properties.get(k) {
                            Some(p) => {
                                if here || p.walk {
                                    let len = self.push(k);
                                    let cv = self.walk(child, p, here, false);
                                    self.path.truncate(len);
                                    if let (Some(cv), Some(ek)) = (cv, escape(k)) {
                                        entries.insert(key(ek), cv);
                                    }
                                }
                            }
                            None => {
                                let visible = node.preserve_unknown
                                    || (node.embedded
                                        && matches!(k.as_str(), "apiVersion" | "kind"));
                                if here
                                    && visible
                                    && let Some(ek) = escape(k)
                                {
                                    entries.insert(key(ek), generic(child, 0));
                                }
                            }
                        }
                    }
                    here.then(|| Box::new(CelMap::from(entries)) as Box<dyn Val + 'a>)
                }
            }
            Value::Array(items) => {
                self.list_checks(items, node);
                let mut list: Vec<Box<dyn Val + 'a>> =
                    Vec::with_capacity(if here { items.len() } else { 0 });
                for (i, item) in items.iter().enumerate() {
                    match node.items.as_deref() {
                        Some(it) if here || it.walk => {
                            let len = self.push_index(i);
                            let cv = self.walk(item, it, here, false);
                            self.path.truncate(len);
                            if let Some(cv) = cv {
                                list.push(cv);
                            }
                        }
                        None if here => list.push(generic(item, 0)),
                        _ => {}
                    }
                }
                here.then(|| Box::new(CelList::from(list)) as Box<dyn Val + 'a>)
            }
            scalar => here.then(|| scalar_val(scalar, node)),
        };
        if let Some(verdicts) = known {
            self.emit(node, &verdicts);
        } else if let (Some(memo), Some(val)) = (memo, &val) {
            let verdicts: Arc<[Verdict]> = self.evaluate(node, val.as_ref()).into();
            self.emit(node, &verdicts);
            self.programs.remember(memo, verdicts);
        }
        if need { val } else { None }
    }

    fn list_checks(&mut self, items: &[Value], node: &Node) {
        match &node.list_type {
            ListType::Atomic => {}
            ListType::Set => {
                let mut seen = HashSet::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if !seen.insert(item.to_string()) {
                        let len = self.push_index(i);
                        self.out.push(Finding::error(
                            "schema/list-set",
                            self.path.clone(),
                            format!("duplicate value {item} in a list that is a set"),
                            "remove the duplicate entry",
                        ));
                        self.path.truncate(len);
                    }
                }
            }
            ListType::Map(keys) => {
                let mut seen = HashSet::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let Some(obj) = item.as_object() else {
                        continue;
                    };
                    let tuple: Vec<String> = keys
                        .iter()
                        .map(|k| {
                            obj.get(k)
                                .map_or_else(|| "<absent>".to_string(), Value::to_string)
                        })
                        .collect();
                    let described: Vec<String> = keys
                        .iter()
                        .zip(&tuple)
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    if !seen.insert(tuple) {
                        let len = self.push_index(i);
                        self.out.push(Finding::error(
                            "schema/list-map",
                            self.path.clone(),
                            format!(
                                "duplicate entry for key [{}]: entries of this list are identified by {}",
                                described.join(", "),
                                keys.join(", ")
                            ),
                            "merge the entries or give each a unique key",
                        ));
                        self.path.truncate(len);
                    }
                }
            }
        }
    }

    fn suppressed(&self, path: &str) -> bool {
        self.schema_error_paths.iter().any(|p| {
            p == path || (p.starts_with(path) && p.as_bytes().get(path.len()) == Some(&b'/'))
        })
    }

    /// Where a rule's finding goes: the node, or the rule's fieldPath below it.
    fn rule_path(&self, rule: &RuleSpec) -> String {
        match &rule.field_path {
            Some(fp) => format!("{}{}", self.path, field_path_pointer(fp)),
            None => self.path.clone(),
        }
    }

    /// A rule that was not checked: a warning, never a silent pass.
    fn not_checked(&mut self, rule: &RuleSpec, message: String) {
        let path = self.rule_path(rule);
        self.out.push(Finding::warning(
            "cel/error",
            path,
            message,
            format!("check this by hand: {}", quote_rule(&rule.rule)),
        ));
    }

    /// Every rule of a node on one value: what they found, without the node's path (so that
    /// the same value met again under the same schema node is not evaluated again). One CEL
    /// context bound to `self` serves all the node's rules.
    fn evaluate(&self, node: &Node, val: &(dyn Val + '_)) -> Vec<Verdict> {
        let mut out = Vec::new();
        let env = match env() {
            Ok(env) => Arc::clone(env),
            Err(e) => {
                for rule in 0..node.rules.len() {
                    out.push(Verdict::NotChecked {
                        rule,
                        message: format!("CEL environment unavailable, rule not checked: {e}"),
                    });
                }
                return out;
            }
        };
        let resolver = SelfResolver { val };
        let mut ctx = Context::with_env(env);
        ctx.set_variable_resolver(&resolver);
        for (i, rule) in node.rules.iter().enumerate() {
            let compiled = match self.programs.compiled(rule) {
                Ok(c) => c,
                Err(e) => {
                    out.push(Verdict::NotChecked {
                        rule: i,
                        message: format!(
                            "CEL rule could not be compiled, so it was not checked: {e}"
                        ),
                    });
                    continue;
                }
            };
            if compiled.transition {
                continue;
            }
            match ctx.resolve(&compiled.expr) {
                Ok(cel::Value::Bool(true)) => {}
                Ok(cel::Value::Bool(false)) => out.push(Verdict::Failed {
                    rule: i,
                    message: failure_message(rule, compiled, &ctx),
                }),
                Ok(other) => out.push(Verdict::NotChecked {
                    rule: i,
                    message: format!("CEL rule evaluated to {other:?}, not a boolean"),
                }),
                Err(e) => {
                    let what = rule
                        .message
                        .as_deref()
                        .map(|m| format!(" (\"{m}\")"))
                        .unwrap_or_default();
                    out.push(Verdict::Unevaluable {
                        rule: i,
                        // the API server evaluates the same rule, errors the same way and
                        // rejects the object (k8s.io/apiserver pkg/admission/plugin/cel,
                        // apiextensions-apiserver pkg/apiserver/schema/cel: an evaluation
                        // error is a validation error)
                        rejects: evaluation_rejects(&e),
                        error: e.to_string(),
                        what,
                    });
                }
            }
        }
        out
    }

    /// The findings of a node's verdicts, at the walker's path.
    fn emit(&mut self, node: &Node, verdicts: &[Verdict]) {
        for v in verdicts {
            match v {
                Verdict::NotChecked { rule, message } => {
                    self.not_checked(&node.rules[*rule], message.clone());
                }
                Verdict::Failed { rule, message } => {
                    let rule = &node.rules[*rule];
                    let mut hint = format!(
                        "the CRD's validation rule {} must hold",
                        quote_rule(&rule.rule)
                    );
                    if let Some(r) = &rule.reason {
                        hint.push_str(&format!(" (reason: {r})"));
                    }
                    let path = self.rule_path(rule);
                    self.out
                        .push(Finding::error("cel/rule", path, message.clone(), hint));
                }
                Verdict::Unevaluable {
                    rule,
                    rejects,
                    error,
                    what,
                } => {
                    // a rule that cannot run because of a schema error already reported there
                    // adds no second, vaguer finding
                    if self.suppressed(&self.path) {
                        continue;
                    }
                    let rule = &node.rules[*rule];
                    if *rejects {
                        self.out.push(Finding::error(
                            "cel/error",
                            self.rule_path(rule),
                            format!(
                                "CEL rule{what} fails to evaluate: {error}; the API server rejects the object"
                            ),
                            format!(
                                "make sure the fields the rule reads are set: {}",
                                quote_rule(&rule.rule)
                            ),
                        ));
                    } else {
                        // a function or form this interpreter lacks: not checked, never a pass
                        self.not_checked(
                            rule,
                            format!("CEL rule{what} could not be evaluated here: {error}"),
                        );
                    }
                }
            }
        }
    }
}

/// A rule that evaluated to false: its messageExpression, message or the rule itself.
fn failure_message(rule: &RuleSpec, compiled: &CompiledRule, ctx: &Context) -> String {
    compiled
        .message_expr
        .as_ref()
        .and_then(|m| match ctx.resolve(m) {
            Ok(cel::Value::String(s)) if !s.trim().is_empty() => Some(s.to_string()),
            _ => None,
        })
        .or_else(|| rule.message.clone())
        .unwrap_or_else(|| format!("failed rule: {}", rule.rule))
}

// ---------------------------------------------------------------------------------------------
// Verdicts already reached

/// What one rule of a node found on one value (a rule that held leaves none). Independent of
/// where the value sits: a rule reads only `self` (transition rules, which read `oldSelf`, are
/// skipped), and the path and hint of a finding are added when it is emitted.
#[derive(Debug, Clone)]
enum Verdict {
    /// not checked (a warning): not compiled, no environment, not a boolean
    NotChecked { rule: usize, message: String },
    /// false: an error, with the rule's message
    Failed { rule: usize, message: String },
    /// evaluation failed; `rejects`: the API server fails the same way and rejects the object
    Unevaluable {
        rule: usize,
        rejects: bool,
        error: String,
        what: String,
    },
}

/// Verdicts kept per compiled tree at most; the table is emptied when full.
const MEMO_LIMIT: usize = 16 * 1024;

/// (node: the number of its first rule, 128-bit hash of the value): stacks repeat the same
/// small values (a path match, a backendRef, a rate-limit rule) many times, and evaluating CEL
/// costs far more than hashing the value.
type MemoKey = (usize, u128);

fn memo_key(node: &Node, v: &Value) -> MemoKey {
    // SipHash-1-3 with 128-bit output (the `siphasher` crate, already in the tree through
    // phf): two values colliding is as likely as a random 128-bit match
    let mut h =
        siphasher::sip128::SipHasher13::new_with_keys(0x7472_6166_6669_6321, 0x6365_6c2d_6d65_6d6f);
    hash_value(v, &mut h);
    let node_id = node.rules.first().map_or(usize::MAX, |r| r.id);
    (
        node_id,
        siphasher::sip128::Hasher128::finish128(&h).as_u128(),
    )
}

/// Feed a value to a hasher without ambiguity (a tag and a length before each part).
fn hash_value(v: &Value, h: &mut impl Hasher) {
    match v {
        Value::Null => h.write_u8(0),
        Value::Bool(b) => h.write_u8(if *b { 2 } else { 1 }),
        Value::Number(n) => {
            h.write_u8(3);
            if let Some(i) = n.as_i64() {
                h.write_u8(0);
                h.write_i64(i);
            } else if let Some(u) = n.as_u64() {
                h.write_u8(1);
                h.write_u64(u);
            } else {
                h.write_u8(2);
                h.write_u64(n.as_f64().unwrap_or(f64::NAN).to_bits());
            }
        }
        Value::String(s) => {
            h.write_u8(4);
            h.write_usize(s.len());
            h.write(s.as_bytes());
        }
        Value::Array(a) => {
            h.write_u8(5);
            h.write_usize(a.len());
            for x in a {
                hash_value(x, h);
            }
        }
        Value::Object(m) => {
            h.write_u8(6);
            h.write_usize(m.len());
            for (k, x) in m {
                h.write_usize(k.len());
                h.write(k.as_bytes());
                hash_value(x, h);
            }
        }
    }
}

fn key<'a>(k: Cow<'a, str>) -> CelMapKey<'a> {
    match k {
        Cow::Borrowed(s) => CelMapKey::from(s),
        Cow::Owned(s) => CelMapKey::from(s),
    }
}

fn quote_rule(rule: &str) -> String {
    let one_line: String = rule.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > HINT_RULE_CHARS {
        let cut: String = one_line.chars().take(HINT_RULE_CHARS).collect();
        format!("`{cut}…`")
    } else {
        format!("`{one_line}`")
    }
}

/// `fieldPath` (`.a.b`, `.a['b.c']`, `.a[0]`) as a JSON pointer suffix.
pub(crate) fn field_path_pointer(fp: &str) -> String {
    let mut out = String::new();
    let mut rest = fp.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            out.push('/');
            out.push_str(&pointer_segment(&r[..end]));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                break;
            };
            let inner = r[..end].trim_matches(['\'', '"']);
            out.push('/');
            out.push_str(&pointer_segment(inner));
            rest = &r[end + 1..];
        } else {
            // a bare first segment without a leading dot
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            out.push('/');
            out.push_str(&pointer_segment(&rest[..end]));
            rest = &rest[end..];
        }
    }
    out
}

fn scalar_val<'a>(v: &'a Value, node: &Node) -> Box<dyn Val + 'a> {
    match v {
        Value::Number(n) if node.ty == Some(Ty::Number) => {
            Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN)))
        }
        _ => generic(v, MAX_GENERIC_DEPTH),
    }
}

fn root_metadata<'a>(meta: &'a Value) -> Box<dyn Val + 'a> {
    // only name and generateName are visible to rules on the root
    let mut entries: HashMap<CelMapKey<'a>, Box<dyn Val + 'a>> = HashMap::new();
    for k in ["name", "generateName"] {
        if let Some(Value::String(s)) = meta.get(k) {
            entries.insert(CelMapKey::from(k), Box::new(CelString::from(s.as_str())));
        }
    }
    Box::new(CelMap::from(entries))
}

/// A JSON value as CEL, without a schema (raw keys).
fn generic(v: &Value, depth: usize) -> Box<dyn Val + '_> {
    match v {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Box::new(CelInt::from(i))
            } else if let Some(u) = n.as_u64() {
                Box::new(CelUInt::from(u))
            } else {
                Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        Value::String(s) => Box::new(CelString::from(s.as_str())),
        Value::Array(a) if depth < MAX_GENERIC_DEPTH => Box::new(CelList::from(
            a.iter().map(|x| generic(x, depth + 1)).collect::<Vec<_>>(),
        )),
        Value::Object(m) if depth < MAX_GENERIC_DEPTH => Box::new(CelMap::from(
            m.iter()
                .map(|(k, x)| (CelMapKey::from(k.as_str()), generic(x, depth + 1)))
                .collect::<HashMap<_, _>>(),
        )),
        _ => Box::new(CelNull),
    }
}

/// Does this evaluation error happen in the API server too (a rejection), or is it a gap of
/// this interpreter (an unknown function or form: the rule was not checked)?
fn evaluation_rejects(e: &cel::ExecutionError) -> bool {
    use cel::ExecutionError as E;
    matches!(
        e,
        E::NoSuchKey(_)
            | E::DivisionByZero(_)
            | E::RemainderByZero(_)
            | E::UnsupportedIndex(..)
            | E::UnsupportedKeyType(_)
            | E::ValuesNotComparable(..)
            | E::UnexpectedType { .. }
            | E::FunctionError { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escaping_matches_kubernetes() {
        let cases: &[(&str, Option<&str>)] = &[
            ("name", Some("name")),
            ("namespace", Some("__namespace__")),
            ("in", Some("__in__")),
            ("x-user-id", Some("x__dash__user__dash__id")),
            ("a.b", Some("a__dot__b")),
            ("a/b", Some("a__slash__b")),
            ("a__b", Some("a__underscores__b")),
            ("a_b", Some("a_b")),
            ("1abc", None),
            ("a b", None),
            ("", None),
        ];
        for (name, want) in cases {
            assert_eq!(escape(name).as_deref(), *want, "{name}");
        }
    }

    #[test]
    fn field_paths_become_pointers() {
        assert_eq!(field_path_pointer(".spec.foo"), "/spec/foo");
        assert_eq!(field_path_pointer(".labels['a.b/c']"), "/labels/a.b~1c");
        assert_eq!(field_path_pointer(".list[2].x"), "/list/2/x");
    }

    fn eval(rule: &str, schema: Value, value: Value) -> Vec<Finding> {
        let mut schema = schema;
        schema["x-kubernetes-validations"] = json!([{"rule": rule, "message": "m"}]);
        let node = Node::parse(&schema, "", 0).unwrap();
        let programs = Programs::for_tree(&node);
        let mut out = Vec::new();
        Walker::new(&mut out, &[], &programs).run(&value, &node);
        out
    }

    /// Trees from the load cache stand in for parsing, message expressions included, and
    /// [`Programs::parse_all`] gives the same verdicts as parsing on use and a set that holds
    /// every rule.
    #[test]
    fn cached_trees_are_used_and_parse_all_agrees_with_parsing_on_use() {
        let schema = json!({"type": "object", "properties": {"n": {"type": "integer",
            "x-kubernetes-validations": [
                {"rule": "self > 1", "messageExpression": "'n is ' + string(self)"},
                {"rule": "self != 7", "message": "not seven"}]}}});
        let node = Node::parse(&schema, "", 0).unwrap();
        let run = |programs: &Programs, value: Value| {
            let mut out = Vec::new();
            Walker::new(&mut out, &[], programs).run(&value, &node);
            out.iter().map(|f| f.message.clone()).collect::<Vec<_>>()
        };
        // a set whose "self > 1" is really "self > 100", and whose message says otherwise
        let stand_in = [
            ("self > 1", parse_raw("self > 100").unwrap()),
            (
                "'n is ' + string(self)",
                parse_raw("'cached: ' + string(self)").unwrap(),
            ),
        ];
        let cached = Programs::with_parsed(
            &node,
            Parsed::from_trees(stand_in.iter().map(|(s, e)| (*s, e))),
        );
        assert_eq!(
            run(&cached, json!({"n": 50})),
            vec!["cached: 50".to_string()]
        );
        assert_eq!(
            run(&cached, json!({"n": 7})),
            vec!["cached: 7".to_string(), "not seven".to_string()]
        );

        let (eager, parsed) = Programs::parse_all(&node);
        assert_eq!(parsed.len(), 3, "two rules and a message expression");
        let lazy = Programs::for_tree(&node);
        let from_bytes =
            Programs::with_parsed(&node, Parsed::from_bytes(parsed.to_bytes()).unwrap());
        for v in [json!({"n": 0}), json!({"n": 7}), json!({"n": 50})] {
            let want = run(&lazy, v.clone());
            assert_eq!(run(&eager, v.clone()), want, "{v}");
            assert_eq!(run(&from_bytes, v.clone()), want, "{v}");
        }
        assert_eq!(run(&lazy, json!({"n": 0})), vec!["n is 0".to_string()]);
    }

    #[test]
    fn kubernetes_functions_and_semantics() {
        let obj = json!({"type": "object", "properties": {
            "namespace": {"type": "string"}, "x-y": {"type": "integer"},
            "s": {"type": "string"}, "ip": {"type": "string"},
            "m": {"type": "object", "additionalProperties": {"type": "string"}},
            "unknownish": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }});
        let v = json!({"namespace": "ns", "x-y": 3, "s": "Hello/World", "ip": "10.0.0.1",
                       "m": {"a.b": "c"}, "unknownish": {"any": {"thing": 1}}, "undeclared": 1});
        // (rule, passes)
        let cases: &[(&str, bool)] = &[
            ("self.__namespace__ == 'ns'", true),
            ("self.x__dash__y == 3", true),
            ("self.s.lowerAscii() == 'hello/world'", true),
            ("self.s.split('/')[1] == 'World'", true),
            ("self.s.substring(0, 5) == 'Hello'", true),
            (
                "isIP(self.ip) && !isIP(self.s) && !isIP('::ffff:1.2.3.4')",
                true,
            ),
            (
                "self.s.matches('^[A-Z]') && !self.s.matches('^[a-z]')",
                true,
            ),
            ("matches(self.s, 'World$')", true),
            ("has(self.s) && !has(self.nothing)", true),
            ("self.m['a.b'] == 'c' && self.m.all(k, k == 'a.b')", true),
            ("self.unknownish.any.thing == 1", true),
            ("!has(self.undeclared)", true),
            ("duration('1h30m') > duration('90s')", true),
            ("self.s.upperAscii() == 'HELLO/WORLD'", true),
            (
                "!format.dns1123Label().validate('task-api').hasValue()",
                true,
            ),
            (
                "format.dns1123Label().validate('Task_API').hasValue()",
                true,
            ),
            (
                "!format.dns1123Subdomain().validate('a.b').hasValue()",
                true,
            ),
            ("self.s == 'nope'", false),
        ];
        for (rule, pass) in cases {
            let f = eval(rule, obj.clone(), v.clone());
            if *pass {
                assert!(f.is_empty(), "{rule}: {f:?}");
            } else {
                assert_eq!(f.len(), 1, "{rule}: {f:?}");
                assert_eq!(f[0].rule, "cel/rule", "{rule}");
            }
        }
        // an evaluation error (a missing key) is a rejection, as in the API server
        let f = eval("self.nothing == 1", obj.clone(), v.clone());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, "cel/error");
        assert_eq!(f[0].severity, crate::validate::finding::Severity::Error);
        // a function this interpreter lacks: not checked (a warning), never a pass
        let f = eval("self.s.nosuchfunction() == 1", obj.clone(), v.clone());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, crate::validate::finding::Severity::Warning);
        // transition rules are skipped on create
        assert!(eval("self == oldSelf", obj.clone(), v.clone()).is_empty());
    }

    #[test]
    fn message_expression_and_field_path() {
        let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}},
            "x-kubernetes-validations": [{
                "rule": "self.n < 3", "message": "static",
                "messageExpression": "'n is ' + string(self.n)", "fieldPath": ".n"
            }, {"rule": "self.n < 2"}]});
        let node = Node::parse(&schema, "", 0).unwrap();
        let programs = Programs::for_tree(&node);
        let mut out = Vec::new();
        Walker::new(&mut out, &[], &programs).run(&json!({"n": 5}), &node);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0].message, "n is 5");
        assert_eq!(out[0].path, "/n");
        assert_eq!(out[1].message, "failed rule: self.n < 2");
        assert_eq!(out[1].path, "");
    }

    /// Verdicts reached once are replayed wherever the same value meets the same schema node:
    /// each place gets its own finding and path, a schema error suppresses only its own place,
    /// and another tree (another CRD, or the same one loaded again) never reuses them.
    #[test]
    fn repeated_values_are_judged_once_and_reported_at_each_place() {
        let schema = json!({"type": "object", "properties": {"items": {"type": "array",
            "items": {"type": "object", "properties": {"n": {"type": "integer"}, "s": {"type": "string"}},
                "x-kubernetes-validations": [
                    {"rule": "self.n < 3", "messageExpression": "'n is ' + string(self.n)", "fieldPath": ".n"},
                    {"rule": "self.s.size() > 0"}]}}}});
        let node = Node::parse(&schema, "", 0).unwrap();
        let programs = Programs::for_tree(&node);
        let value = json!({"items": [{"n": 5, "s": "a"}, {"n": 1, "s": "a"}, {"n": 5, "s": "a"},
            {"n": 1}, {"n": 1}]});
        let suppressed = vec!["/items/4".to_string()];
        // (schema error paths, findings as (rule, path, message of a cel/rule))
        type Want<'a> = Vec<(&'a str, &'a str, &'a str)>;
        let cases: Vec<(&[String], Want)> = vec![
            (
                &[],
                vec![
                    ("cel/rule", "/items/0/n", "n is 5"),
                    ("cel/rule", "/items/2/n", "n is 5"),
                    ("cel/error", "/items/3", ""),
                    ("cel/error", "/items/4", ""),
                ],
            ),
            // a schema error at item 4 hides the rule that cannot run there, not at item 3
            (
                &suppressed,
                vec![
                    ("cel/rule", "/items/0/n", "n is 5"),
                    ("cel/rule", "/items/2/n", "n is 5"),
                    ("cel/error", "/items/3", ""),
                ],
            ),
        ];
        // twice each: the second round is answered from the verdicts of the first
        for round in 0..2 {
            for (errors, want) in &cases {
                let mut out = Vec::new();
                Walker::new(&mut out, errors, &programs).run(&value, &node);
                let got: Vec<(&str, &str, &str)> = out
                    .iter()
                    .map(|f| {
                        let m = if f.rule == "cel/rule" {
                            f.message.as_str()
                        } else {
                            ""
                        };
                        (f.rule.as_str(), f.path.as_str(), m)
                    })
                    .collect();
                assert_eq!(&got, want, "round {round}, schema errors {errors:?}");
            }
        }
        // the same value under another tree whose rule has the same number but another text
        let other = json!({"type": "object", "properties": {"items": {"type": "array",
            "items": {"type": "object", "properties": {"n": {"type": "integer"}, "s": {"type": "string"}},
                "x-kubernetes-validations": [{"rule": "self.n > 3"}]}}}});
        let other_node = Node::parse(&other, "", 0).unwrap();
        let other_programs = Programs::for_tree(&other_node);
        let mut out = Vec::new();
        Walker::new(&mut out, &[], &other_programs).run(&value, &other_node);
        let paths: Vec<&str> = out.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["/items/1", "/items/3", "/items/4"], "{out:?}");
    }
}
