//! YAML loading with the semantics the Kubernetes API server applies, and with positions.
//!
//! `kubectl` and the API server read manifests with sigs.k8s.io/yaml, which is go-yaml v2 and
//! therefore YAML 1.1: an unquoted `yes`, `no`, `on`, `off`, `y` or `n` is a boolean, `010` is
//! octal, and duplicate keys are rejected. The YAML 1.2 Rust parsers read those differently, so
//! this module builds the JSON value itself from the events of `saphyr-parser` (a maintained,
//! pure-Rust YAML parser that reports positions): it resolves plain scalars the YAML 1.1 way,
//! refuses duplicate keys, resolves merge keys (`<<`), expands aliases with a size limit, and
//! records the line and column of every node by JSON pointer so findings can point at a line.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

/// Escape one JSON-pointer segment (RFC 6901).
pub fn pointer_segment(s: &str) -> Cow<'_, str> {
    if s.contains(['~', '/']) {
        Cow::Owned(s.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Undo [`pointer_segment`].
pub fn unescape_segment(s: &str) -> Cow<'_, str> {
    if s.contains('~') {
        Cow::Owned(s.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Deepest nesting accepted; deeper documents are refused instead of risking the stack.
pub const MAX_DEPTH: usize = 128;
/// Most nodes one stream may expand to through aliases ("billion laughs" guard).
pub const MAX_NODES: usize = 2_000_000;
/// Most bytes (of scalars and keys) one stream may copy through anchors and aliases: a node
/// count alone lets a few aliases of one long string expand a small text to gigabytes.
pub const MAX_ALIAS_BYTES: usize = 64 * 1024 * 1024;
/// Longest JSON pointer recorded for a node's position; deeper or longer paths report the
/// position of their nearest recorded ancestor.
const MAX_POINTER_LEN: usize = 4096;
/// Most bytes of JSON pointers one stream may record: positions cost the length of the path for
/// every node, so long keys over many nodes would otherwise cost gigabytes (a 200 KB text cost
/// 1 GB before this bound). Past it, nodes report the position of a recorded ancestor.
const MAX_POINTER_BYTES: usize = 64 * 1024 * 1024;
/// The pointer of a node whose position is not recorded (not a valid JSON pointer).
const UNTRACKED: &str = "\u{0}";

/// One YAML document as the API server would see it, plus where each node came from.
#[derive(Debug, Clone)]
pub struct YamlDoc {
    /// The document as JSON (YAML 1.1 scalar resolution).
    pub value: Value,
    /// 0-based index of the document in the stream (empty documents are skipped but counted).
    pub index: usize,
    /// 1-based line where the document's content starts.
    pub line: usize,
    /// JSON pointer -> (line, column), both 1-based. For a mapping entry, the position of its key.
    pub positions: HashMap<String, (usize, usize)>,
    /// JSON pointers of unquoted scalars that YAML 1.1 reads as booleans although they look like
    /// words (`yes`, `no`, `on`, `off`, `y`, `n` in any case), with the text as written.
    pub yaml11_bools: Vec<(String, String)>,
}

impl YamlDoc {
    /// Position of the node at `pointer`, or of its nearest ancestor that has one.
    pub fn position(&self, pointer: &str) -> (usize, usize) {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.positions.get(p) {
                return *pos;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return (self.line, 1),
            }
        }
    }
}

/// A YAML stream that cannot be read, with the 1-based line and column of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// Stable rule id: `yaml/syntax`, `yaml/duplicate-key`, `yaml/merge-key`, `yaml/too-large`.
    pub rule: &'static str,
}

impl YamlError {
    fn at(span: &Span, rule: &'static str, message: impl Into<String>) -> Self {
        YamlError {
            line: span.start.line(),
            column: span.start.col() + 1,
            message: message.into(),
            rule,
        }
    }
}

enum Frame {
    Map {
        map: Map<String, Value>,
        /// key and its span, waiting for its value
        key: Option<(String, Span)>,
        /// merge sources in order of appearance
        merges: Vec<Value>,
        merge_pending: bool,
        anchor: usize,
        pointer: String,
    },
    Seq {
        items: Vec<Value>,
        anchor: usize,
        pointer: String,
    },
}

struct Builder {
    anchors: HashMap<usize, Value>,
    stack: Vec<Frame>,
    positions: HashMap<String, (usize, usize)>,
    yaml11_bools: Vec<(String, String)>,
    nodes: usize,
    root: Option<Value>,
    /// Bytes of JSON pointers still allowed (shared by the documents of a stream).
    pointer_budget: usize,
    /// Bytes still allowed to be copied through anchors and aliases (shared likewise).
    alias_budget: usize,
}

/// The pointer of a child, or [`UNTRACKED`] when the parent is untracked, the pointer would be
/// too long, or the stream has used its pointer `budget`.
fn child_pointer(budget: &mut usize, parent: &str, segment: &str) -> String {
    let len = parent.len() + 1 + segment.len();
    if parent == UNTRACKED || len > MAX_POINTER_LEN || len > *budget {
        return UNTRACKED.to_string();
    }
    *budget -= len;
    let mut p = String::with_capacity(len);
    p.push_str(parent);
    p.push('/');
    p.push_str(segment);
    p
}

/// Bytes of the strings in a value (keys included), for the alias budget.
fn value_bytes(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Array(a) => a.iter().map(value_bytes).sum::<usize>() + 1,
        Value::Object(o) => {
            o.iter()
                .map(|(k, v)| k.len() + value_bytes(v))
                .sum::<usize>()
                + 1
        }
        _ => 1,
    }
}

fn count_nodes(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(count_nodes).sum::<usize>(),
        Value::Object(o) => 1 + o.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

impl Builder {
    fn new() -> Self {
        Self::with_budgets(MAX_POINTER_BYTES, MAX_ALIAS_BYTES)
    }

    fn with_budgets(pointer_budget: usize, alias_budget: usize) -> Self {
        Builder {
            anchors: HashMap::new(),
            stack: Vec::new(),
            positions: HashMap::new(),
            yaml11_bools: Vec::new(),
            nodes: 0,
            root: None,
            pointer_budget,
            alias_budget,
        }
    }

    /// A fresh builder for the next document of the same stream: the budgets carry over.
    fn next_document(&self) -> Self {
        Self::with_budgets(self.pointer_budget, self.alias_budget)
    }

    /// Charge a copy made through an anchor or alias to the stream's budget.
    fn charge_copy(&mut self, v: &Value, span: &Span) -> Result<(), YamlError> {
        self.charge_bytes(value_bytes(v), span)
    }

    /// Charge `bytes` copied through an anchor or alias to the stream's budget.
    fn charge_bytes(&mut self, bytes: usize, span: &Span) -> Result<(), YamlError> {
        if bytes > self.alias_budget {
            return Err(YamlError::at(
                span,
                "yaml/too-large",
                format!(
                    "anchors and aliases copy more than {MAX_ALIAS_BYTES} bytes; write the values out instead"
                ),
            ));
        }
        self.alias_budget -= bytes;
        Ok(())
    }

    fn record_position(&mut self, pointer: String, span: &Span) {
        if pointer != UNTRACKED {
            self.positions
                .entry(pointer)
                .or_insert((span.start.line(), span.start.col() + 1));
        }
    }

    /// Pointer of the node that comes next, and whether it is a mapping key.
    fn next_slot(&mut self) -> (String, bool) {
        let budget = &mut self.pointer_budget;
        match self.stack.last() {
            None => (String::new(), false),
            Some(Frame::Map { key: None, .. }) => (String::new(), true),
            Some(Frame::Seq { items, pointer, .. }) => (
                child_pointer(budget, pointer, &items.len().to_string()),
                false,
            ),
            Some(Frame::Map {
                key: Some((k, _)),
                pointer,
                ..
            }) => {
                if pointer == UNTRACKED || pointer.len() + k.len() >= MAX_POINTER_LEN {
                    return (UNTRACKED.to_string(), false);
                }
                (child_pointer(budget, pointer, &pointer_segment(k)), false)
            }
        }
    }

    fn push_value(&mut self, v: Value, span: &Span, anchor: usize) -> Result<(), YamlError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(YamlError::at(
                span,
                "yaml/too-large",
                format!("the document expands to more than {MAX_NODES} nodes (aliases?)"),
            ));
        }
        if anchor > 0 {
            self.charge_copy(&v, span)?;
            self.anchors.insert(anchor, v.clone());
        }
        match self.stack.last_mut() {
            None => {
                self.root = Some(v);
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(v);
                Ok(())
            }
            Some(Frame::Map {
                map,
                key,
                merges,
                merge_pending,
                pointer,
                ..
            }) => {
                if *merge_pending {
                    *merge_pending = false;
                    let ok = match &v {
                        Value::Object(_) => true,
                        Value::Array(a) => a.iter().all(Value::is_object),
                        _ => false,
                    };
                    if !ok {
                        return Err(YamlError::at(
                            span,
                            "yaml/merge-key",
                            "a merge key `<<` needs a mapping or a list of mappings (an alias such as `<<: *defaults`)",
                        ));
                    }
                    merges.push(v);
                    return Ok(());
                }
                match key.take() {
                    None => {
                        // v is a key
                        let k = match v {
                            Value::String(s) => s,
                            Value::Bool(b) => b.to_string(),
                            Value::Number(n) => n.to_string(),
                            Value::Null => "null".to_string(),
                            _ => {
                                return Err(YamlError::at(
                                    span,
                                    "yaml/syntax",
                                    "a mapping key must be a scalar; Kubernetes manifests use string keys",
                                ));
                            }
                        };
                        if map.contains_key(&k) {
                            return Err(YamlError::at(
                                span,
                                "yaml/duplicate-key",
                                format!(
                                    "duplicate key `{k}` in this mapping; the API server rejects duplicate fields: keep one"
                                ),
                            ));
                        }
                        if pointer != UNTRACKED && pointer.len() + k.len() < MAX_POINTER_LEN {
                            let p = child_pointer(
                                &mut self.pointer_budget,
                                pointer,
                                &pointer_segment(&k),
                            );
                            if p != UNTRACKED {
                                // a key's position wins over that of its value
                                self.positions
                                    .insert(p, (span.start.line(), span.start.col() + 1));
                            }
                        }
                        *key = Some((k, *span));
                        Ok(())
                    }
                    Some((k, _)) => {
                        map.insert(k, v);
                        Ok(())
                    }
                }
            }
        }
    }

    fn scalar(
        &mut self,
        text: &str,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<&saphyr_parser::Tag>,
        span: &Span,
    ) -> Result<(), YamlError> {
        let (pointer, is_key) = self.next_slot();
        // merge key
        if is_key
            && style == ScalarStyle::Plain
            && text == "<<"
            && tag.is_none()
            && let Some(Frame::Map { merge_pending, .. }) = self.stack.last_mut()
        {
            *merge_pending = true;
            return Ok(());
        }
        let v = if let Some(t) = tag.filter(|t| t.is_yaml_core_schema()) {
            match t.suffix.as_str() {
                "str" | "binary" | "timestamp" => Value::String(text.to_string()),
                "null" => Value::Null,
                "bool" => match resolve_plain(text) {
                    Value::Bool(b) => Value::Bool(b),
                    _ => {
                        return Err(YamlError::at(
                            span,
                            "yaml/syntax",
                            format!("`{text}` is tagged !!bool but is not a boolean"),
                        ));
                    }
                },
                "int" | "float" => match resolve_plain(text) {
                    Value::Number(n) => Value::Number(n),
                    _ => {
                        return Err(YamlError::at(
                            span,
                            "yaml/syntax",
                            format!("`{text}` is tagged !!{} but is not a number", t.suffix),
                        ));
                    }
                },
                _ => Value::String(text.to_string()),
            }
        } else if style == ScalarStyle::Plain && tag.is_none() {
            let v = resolve_plain(text);
            if matches!(v, Value::Bool(_))
                && !matches!(text.to_ascii_lowercase().as_str(), "true" | "false")
                && pointer != UNTRACKED
            {
                self.yaml11_bools.push((pointer.clone(), text.to_string()));
            }
            v
        } else {
            Value::String(text.to_string())
        };
        if !is_key && !self.stack.is_empty() {
            self.record_position(pointer, span);
        }
        self.push_value(v, span, anchor)
    }

    fn start(&mut self, is_map: bool, anchor: usize, span: &Span) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlError::at(
                span,
                "yaml/too-large",
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        let (pointer, is_key) = self.next_slot();
        let merge_value = matches!(
            self.stack.last(),
            Some(Frame::Map {
                merge_pending: true,
                ..
            })
        );
        if is_key && !merge_value {
            return Err(YamlError::at(
                span,
                "yaml/syntax",
                "a mapping key must be a scalar; Kubernetes manifests use string keys",
            ));
        }
        if !self.stack.is_empty() {
            self.record_position(pointer.clone(), span);
        }
        self.stack.push(if is_map {
            Frame::Map {
                map: Map::new(),
                key: None,
                merges: Vec::new(),
                merge_pending: false,
                anchor,
                pointer,
            }
        } else {
            Frame::Seq {
                items: Vec::new(),
                anchor,
                pointer,
            }
        });
        Ok(())
    }

    fn end(&mut self, span: &Span) -> Result<(), YamlError> {
        let (v, anchor) = match self.stack.pop() {
            Some(Frame::Map {
                mut map,
                merges,
                anchor,
                ..
            }) => {
                // explicit keys win; earlier merge sources win over later ones
                for m in merges {
                    let sources: Vec<Value> = match m {
                        Value::Array(a) => a,
                        other => vec![other],
                    };
                    for s in sources {
                        if let Value::Object(o) = s {
                            for (k, v) in o {
                                map.entry(k).or_insert(v);
                            }
                        }
                    }
                }
                (Value::Object(map), anchor)
            }
            Some(Frame::Seq { items, anchor, .. }) => (Value::Array(items), anchor),
            None => {
                return Err(YamlError::at(
                    span,
                    "yaml/syntax",
                    "unbalanced collection end",
                ));
            }
        };
        // the node itself was counted on start; push_value counts one more: compensate
        self.nodes = self.nodes.saturating_sub(1);
        self.push_value(v, span, anchor)
    }

    fn alias(&mut self, id: usize, span: &Span) -> Result<(), YamlError> {
        let Some(anchored) = self.anchors.get(&id) else {
            return Err(YamlError::at(
                span,
                "yaml/syntax",
                "alias to an unknown anchor",
            ));
        };
        // count and charge before copying: the copy is what a bomb is made of
        let nodes = count_nodes(anchored);
        let bytes = value_bytes(anchored);
        if self.nodes + nodes > MAX_NODES {
            return Err(YamlError::at(
                span,
                "yaml/too-large",
                format!("the document expands to more than {MAX_NODES} nodes (aliases?)"),
            ));
        }
        self.charge_bytes(bytes, span)?;
        self.nodes += nodes;
        let Some(v) = self.anchors.get(&id).cloned() else {
            return Err(YamlError::at(
                span,
                "yaml/syntax",
                "alias to an unknown anchor",
            ));
        };
        let (pointer, is_key) = self.next_slot();
        if !is_key && !self.stack.is_empty() {
            self.record_position(pointer, span);
        }
        self.push_value(v, span, 0)
    }
}

/// Resolve an unquoted scalar the way go-yaml v2 (YAML 1.1) does.
pub fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Value::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Value::Bool(false);
        }
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Value::String(s.to_string());
    }
    if let Some(n) = parse_int(s) {
        return n;
    }
    if let Some(f) = parse_float(s) {
        return f;
    }
    Value::String(s.to_string())
}

fn parse_int(s: &str) -> Option<Value> {
    let (neg, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let clean: String = body.chars().filter(|c| *c != '_').collect();
    if clean.is_empty() || body.starts_with('_') {
        return None;
    }
    let (digits, radix) = if let Some(b) = clean.strip_prefix("0b") {
        (b.to_string(), 2)
    } else if let Some(h) = clean.strip_prefix("0x") {
        (h.to_string(), 16)
    } else if clean.len() > 1 && clean.starts_with('0') {
        (clean[1..].to_string(), 8)
    } else {
        (clean.clone(), 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    match u64::from_str_radix(&digits, radix) {
        Ok(u) => {
            if neg {
                if u <= i64::MAX as u64 + 1 {
                    Some(Value::Number(Number::from(
                        (u as i128).wrapping_neg() as i64
                    )))
                } else {
                    Number::from_f64(-(u as f64)).map(Value::Number)
                }
            } else {
                Some(Value::Number(Number::from(u)))
            }
        }
        // too big for 64 bits: go-yaml falls back to a float
        Err(_) if radix == 10 => clean
            .parse::<f64>()
            .ok()
            .and_then(|f| Number::from_f64(if neg { -f } else { f }))
            .map(Value::Number),
        Err(_) => None,
    }
}

fn parse_float(s: &str) -> Option<Value> {
    let clean: String = s.chars().filter(|c| *c != '_').collect();
    let body = clean.trim_start_matches(['-', '+']);
    if body.is_empty() || body.contains("..") {
        return None;
    }
    // YAML 1.1 float: digits with at most one dot and an optional exponent
    let ok = body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && body.chars().any(|c| c.is_ascii_digit());
    if !ok {
        return None;
    }
    clean
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

/// Parse a YAML stream into documents. Empty documents (only comments, or `null`) are skipped.
pub fn parse_documents(text: &str) -> Result<Vec<YamlDoc>, YamlError> {
    parse_stream(text, Builder::new())
}

/// Parse a YAML stream into values only, with the same semantics as [`parse_documents`] but
/// without recording positions (for CRD files, where nothing is reported by line).
pub fn parse_values(text: &str) -> Result<Vec<Value>, YamlError> {
    let docs = parse_stream(text, Builder::with_budgets(0, MAX_ALIAS_BYTES))?;
    Ok(docs.into_iter().map(|d| d.value).collect())
}

fn parse_stream(text: &str, mut b: Builder) -> Result<Vec<YamlDoc>, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut index = 0usize;
    let mut doc_line = 1usize;
    loop {
        let (ev, span) = match parser.next() {
            None => break,
            Some(Ok(x)) => x,
            Some(Err(e)) => {
                return Err(YamlError {
                    line: e.marker().line(),
                    column: e.marker().col() + 1,
                    message: e.info().to_string(),
                    rule: "yaml/syntax",
                });
            }
        };
        match ev {
            Event::StreamStart | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                b = b.next_document();
                doc_line = span.start.line();
            }
            Event::DocumentEnd => {
                let root = b.root.take();
                let next = b.next_document();
                let doc = std::mem::replace(&mut b, next);
                match root {
                    None | Some(Value::Null) => {}
                    Some(value) => {
                        let line = doc
                            .positions
                            .values()
                            .map(|p| p.0)
                            .min()
                            .unwrap_or(doc_line);
                        docs.push(YamlDoc {
                            value,
                            index,
                            line,
                            positions: doc.positions,
                            yaml11_bools: doc.yaml11_bools,
                        })
                    }
                }
                index += 1;
            }
            Event::Alias(id) => b.alias(id, &span)?,
            Event::Scalar(text, style, anchor, tag) => {
                b.scalar(&text, style, anchor, tag.as_deref(), &span)?
            }
            Event::SequenceStart(anchor, _) => b.start(false, anchor, &span)?,
            Event::MappingStart(anchor, _) => b.start(true, anchor, &span)?,
            Event::SequenceEnd | Event::MappingEnd => b.end(&span)?,
        }
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml11_scalars_resolve_like_the_api_server() {
        let cases: &[(&str, Value)] = &[
            ("yes", json!(true)),
            ("No", json!(false)),
            ("on", json!(true)),
            ("OFF", json!(false)),
            ("y", json!(true)),
            ("n", json!(false)),
            ("true", json!(true)),
            ("~", Value::Null),
            ("010", json!(8)),
            ("0x1F", json!(31)),
            ("-5", json!(-5)),
            ("1_000", json!(1000)),
            ("1.5", json!(1.5)),
            ("12345678901234567890", json!(12345678901234567890u64)),
            ("1.2.3", json!("1.2.3")),
            ("80/tcp", json!("80/tcp")),
            ("Minute", json!("Minute")),
            ("-", json!("-")),
            ("+", json!("+")),
            (".", json!(".")),
        ];
        for (text, want) in cases {
            assert_eq!(&resolve_plain(text), want, "{text}");
        }
    }

    #[test]
    fn quoted_scalars_stay_strings_and_plain_words_are_flagged() {
        let d = parse_documents("a: \"yes\"\nb: on\nc: '010'\nd: |\n  no\n").unwrap();
        assert_eq!(
            d[0].value,
            json!({"a": "yes", "b": true, "c": "010", "d": "no\n"})
        );
        assert_eq!(
            d[0].yaml11_bools,
            vec![("/b".to_string(), "on".to_string())]
        );
    }

    #[test]
    fn duplicate_keys_are_errors_with_position() {
        let e = parse_documents("a: 1\nb:\n  c: 1\n  c: 2\n").unwrap_err();
        assert_eq!(e.rule, "yaml/duplicate-key");
        assert_eq!((e.line, e.column), (4, 3));
    }

    #[test]
    fn merge_keys_resolve_with_explicit_keys_winning() {
        let d = parse_documents("base: &b {x: 1, w: 2}\nobj:\n  w: 3\n  <<: *b\n").unwrap();
        assert_eq!(d[0].value["obj"], json!({"w": 3, "x": 1}));
        // go-yaml v2 reads an unquoted `y` key as the boolean true, as the API server does
        assert_eq!(
            parse_documents("y: 1\n").unwrap()[0].value,
            json!({"true": 1})
        );
        let e = parse_documents("obj:\n  <<: 5\n").unwrap_err();
        assert_eq!(e.rule, "yaml/merge-key");
    }

    #[test]
    fn positions_and_multi_documents() {
        let text = "# c\n---\napiVersion: v1\nkind: A\nmetadata:\n  name: x\n---\n# only a comment\n---\nkind: B\nlist:\n- a\n- b: 1\n";
        let d = parse_documents(text).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].line, 3);
        assert_eq!(d[0].position("/metadata/name"), (6, 3));
        assert_eq!(d[1].index, 2);
        assert_eq!(d[1].position("/list/1/b"), (13, 3));
        assert_eq!(d[1].position("/list/1/b/zzz"), (13, 3));
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let e = parse_documents("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(e.rule, "yaml/syntax");
        assert!(e.line >= 1);
        assert!(parse_documents("a: b: c\n").is_err());
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert_eq!(parse_documents(&bomb).unwrap_err().rule, "yaml/too-large");
        let deep = "[".repeat(500) + &"]".repeat(500);
        assert!(parse_documents(&deep).is_err());
        let deep_ok = "[".repeat(100) + &"]".repeat(100);
        assert!(parse_documents(&deep_ok).is_ok());
    }

    #[test]
    fn long_keys_over_many_nodes_do_not_cost_gigabytes() {
        // before the pointer budget: this 200 KB text took 1 GB and 10 s
        let mut text = format!("? {}\n:\n", "k".repeat(100_000));
        for i in 0..10_000 {
            text.push_str(&format!("  a{i}: 1\n"));
        }
        let t = std::time::Instant::now();
        let d = parse_documents(&text).unwrap();
        assert_eq!(d[0].value.as_object().unwrap().len(), 1);
        assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
        // positions of untracked nodes fall back to a recorded ancestor
        let long = format!("/{}/a5", "k".repeat(100_000));
        assert_eq!(d[0].position(&long).0, 1);
        assert!(d[0].positions.keys().all(|p| p.len() <= MAX_POINTER_LEN));
    }

    #[test]
    fn aliases_of_a_long_string_are_bounded_in_bytes() {
        // before the byte budget: this 140 KB text expanded to 1 GB
        let text = format!(
            "a: &a {}\nb: [{}]\n",
            "k".repeat(100_000),
            vec!["*a"; 10_000].join(", ")
        );
        let e = parse_documents(&text).unwrap_err();
        assert_eq!(e.rule, "yaml/too-large");
        // a few aliases of a modest anchor are fine
        let ok = parse_documents("a: &a {x: 1, z: [1, 2]}\nb: [*a, *a, *a]\n").unwrap();
        assert_eq!(ok[0].value["b"][2]["z"][1], 2);
    }

    #[test]
    fn budgets_are_shared_by_the_documents_of_a_stream() {
        let doc = format!(
            "a: &a {}\nb: [{}]\n",
            "k".repeat(10_000),
            vec!["*a"; 1_000].join(", ")
        );
        // one document copies 10 MB: fine; ten copy 100 MB: refused
        assert!(parse_documents(&doc).is_ok());
        let stream = vec![doc; 10].join("---\n");
        assert_eq!(parse_documents(&stream).unwrap_err().rule, "yaml/too-large");
    }
}
