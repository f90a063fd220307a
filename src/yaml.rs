//! YAML loading with the semantics the Kubernetes API server applies, and with positions.
//!
//! `kubectl` and the API server read manifests with sigs.k8s.io/yaml, which is go-yaml v2 and
//! therefore YAML 1.1: an unquoted `yes`, `no`, `on`, `off`, `y` or `n` is a boolean, `010` is
//! octal, and duplicate keys are rejected. The YAML 1.2 Rust parsers read those differently, so
//! this module builds the JSON value itself from the events of `saphyr-parser` (a maintained,
//! pure-Rust YAML parser that reports positions): it resolves plain scalars the YAML 1.1 way,
//! refuses duplicate keys, resolves merge keys (`<<`), expands aliases with a size limit, and
//! records the line and column of every node so findings can point at a line.
//!
//! Positions cost no string per node: each document keeps a table of its recorded nodes in
//! document order (line, column, where the node's subtree ends, and its JSON-pointer segment as
//! a range of one per-document key arena, or its index in a sequence); a JSON pointer is looked
//! up by walking that table segment by segment ([`Positions`]).

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

/// Length of `s` escaped by [`pointer_segment`].
fn escaped_len(s: &str) -> usize {
    s.len() + s.bytes().filter(|b| matches!(b, b'~' | b'/')).count()
}

/// Append `s` escaped by [`pointer_segment`].
fn push_escaped(out: &mut String, s: &str) {
    if s.contains(['~', '/']) {
        for c in s.chars() {
            match c {
                '~' => out.push_str("~0"),
                '/' => out.push_str("~1"),
                c => out.push(c),
            }
        }
    } else {
        out.push_str(s);
    }
}

/// Deepest nesting accepted; deeper documents are refused instead of risking the stack.
pub const MAX_DEPTH: usize = 128;
/// Most nodes one stream may expand to through aliases ("billion laughs" guard).
pub const MAX_NODES: usize = 2_000_000;
/// Most bytes (of scalars and keys) one stream may copy through anchors and aliases: a node
/// count alone lets a few aliases of one long string expand a small text to gigabytes.
pub const MAX_ALIAS_BYTES: usize = 64 * 1024 * 1024;
/// Longest JSON pointer whose node's position is recorded; deeper or longer paths report the
/// position of their nearest recorded ancestor.
const MAX_POINTER_LEN: usize = 4096;
/// Most bytes of JSON pointers one stream may record positions for (each recorded node is
/// charged the length of its pointer, a mapping entry twice: key and value, as when positions
/// were kept by pointer string). The position table itself costs a fixed size per node plus
/// each recorded key once, so this now bounds the key arenas of a stream; past it, nodes report
/// the position of a recorded ancestor.
const MAX_POINTER_BYTES: usize = 64 * 1024 * 1024;
/// Mappings with more entries than this look duplicate keys up in a hash map instead of
/// comparing with each earlier key.
const SCAN_KEYS: usize = 16;

/// `seg_len` of a sequence item (its `seg` is its index).
const ITEM: u32 = u32::MAX;
/// Collections with more recorded children than this get a sorted index of them.
const WIDE: u32 = 32;

fn small(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// One recorded node of a document, in document (pre-)order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PosNode {
    /// 1-based line and column; for a mapping entry, those of its key
    line: u32,
    col: u32,
    /// index one past the last node of this node's subtree
    end: u32,
    /// a mapping entry: start of its escaped key in the key arena; a sequence item: its index
    seg: u32,
    /// length of the escaped key, or [`ITEM`] for a sequence item
    seg_len: u32,
}

/// The index a JSON-pointer segment names as `to_string` writes it (no sign, no leading zero).
fn index_segment(seg: &str) -> Option<u64> {
    let b = seg.as_bytes();
    if b.is_empty()
        || b.len() > 10
        || !b.iter().all(u8::is_ascii_digit)
        || (b.len() > 1 && b[0] == b'0')
    {
        return None;
    }
    seg.parse().ok()
}

/// Append the JSON-pointer segment of a row (its key arena is `keys`).
fn push_segment(out: &mut String, keys: &str, n: &PosNode) {
    if n.seg_len == ITEM {
        use std::fmt::Write as _;
        let _ = write!(out, "{}", n.seg);
    } else {
        let start = n.seg as usize;
        out.push_str(keys.get(start..start + n.seg_len as usize).unwrap_or(""));
    }
}

/// Where the nodes of one document are: the line and column (1-based) of every node whose
/// position is recorded (a mapping entry has the position of its key), found by JSON pointer.
///
/// Nodes copied from elsewhere (merge-key sources, alias copies) have no positions of their
/// own inside: a pointer into them finds its nearest recorded ancestor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Positions {
    nodes: Vec<PosNode>,
    /// the escaped keys of the recorded mapping entries, one after the other
    keys: String,
    /// collections with more than [`WIDE`] recorded children, by their row + 1 (0: the root),
    /// sorted: their children's rows sorted by key (a mapping) or index (a sequence), so that
    /// a lookup in a wide collection is a binary search rather than a scan
    wide: Vec<(u32, Box<[u32]>)>,
}

impl Positions {
    /// The position recorded for exactly this pointer (the root has none).
    pub fn get(&self, pointer: &str) -> Option<(usize, usize)> {
        match self.walk(pointer) {
            (Some(i), true) => Some(self.at(i)),
            _ => None,
        }
    }

    /// The position of the node at `pointer`, or of its nearest ancestor that has one.
    pub fn nearest(&self, pointer: &str) -> Option<(usize, usize)> {
        self.walk(pointer).0.map(|i| self.at(i))
    }

    /// Number of recorded nodes.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Every recorded position, in document order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.nodes.len()).map(|i| self.at(i))
    }

    /// Every recorded pointer with its position, in document order (builds a string per node:
    /// for tests, not for lookups).
    #[cfg(test)]
    fn pointers(&self) -> Vec<(String, (usize, usize))> {
        let mut out = Vec::with_capacity(self.nodes.len());
        // (end of subtree, pointer length before this node's segment)
        let mut open: Vec<(usize, usize)> = Vec::new();
        let mut p = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            while open.last().is_some_and(|(end, _)| *end <= i) {
                let (_, len) = open.pop().unwrap_or_default();
                p.truncate(len);
            }
            open.push((n.end as usize, p.len()));
            p.push('/');
            push_segment(&mut p, &self.keys, n);
            out.push((p.clone(), self.at(i)));
        }
        out
    }

    fn at(&self, i: usize) -> (usize, usize) {
        let n = &self.nodes[i];
        (n.line as usize, n.col as usize)
    }

    fn key_of(&self, n: &PosNode) -> &[u8] {
        let start = n.seg as usize;
        self.keys
            .as_bytes()
            .get(start..start + n.seg_len as usize)
            .unwrap_or_default()
    }

    fn matches(&self, n: &PosNode, seg: &str) -> bool {
        if n.seg_len == ITEM {
            index_segment(seg) == Some(u64::from(n.seg))
        } else {
            self.key_of(n) == seg.as_bytes()
        }
    }

    /// The child of a wide collection named by `seg`, when the collection is wide.
    fn wide_child(&self, parent: u32, seg: &str) -> Option<Option<usize>> {
        let i = self.wide.binary_search_by_key(&parent, |w| w.0).ok()?;
        let rows = &self.wide[i].1;
        let first = self.nodes.get(*rows.first()? as usize)?;
        let at = if first.seg_len == ITEM {
            index_segment(seg).and_then(|want| {
                rows.binary_search_by_key(&want, |r| u64::from(self.nodes[*r as usize].seg))
                    .ok()
            })
        } else {
            rows.binary_search_by(|r| self.key_of(&self.nodes[*r as usize]).cmp(seg.as_bytes()))
                .ok()
        };
        Some(at.map(|j| rows[j] as usize))
    }

    /// The deepest recorded node on the path of `pointer`, and whether it is the node of the
    /// whole pointer.
    fn walk(&self, pointer: &str) -> (Option<usize>, bool) {
        let Some(rest) = pointer.strip_prefix('/') else {
            return (None, pointer.is_empty());
        };
        let (mut lo, mut hi) = (0, self.nodes.len());
        let mut best: Option<usize> = None;
        for seg in rest.split('/') {
            let parent = best.map_or(0, |b| small(b + 1));
            let found = match self.wide_child(parent, seg) {
                Some(found) => found,
                None => {
                    let mut i = lo;
                    let mut found = None;
                    while i < hi {
                        let n = &self.nodes[i];
                        if self.matches(n, seg) {
                            found = Some(i);
                            break;
                        }
                        // `end` is always past `i`
                        i = (n.end as usize).max(i + 1);
                    }
                    found
                }
            };
            let Some(i) = found else {
                return (best, false);
            };
            best = Some(i);
            lo = i + 1;
            hi = (self.nodes[i].end as usize).min(hi);
        }
        (best, true)
    }
}

/// One YAML document as the API server would see it, plus where each node came from.
#[derive(Debug, Clone)]
pub struct YamlDoc {
    /// The document as JSON (YAML 1.1 scalar resolution).
    pub value: Value,
    /// 0-based index of the document in the stream (empty documents are skipped but counted).
    pub index: usize,
    /// 1-based line where the document's content starts.
    pub line: usize,
    /// Line and column of the nodes, by JSON pointer. For a mapping entry, the position of its
    /// key.
    pub positions: Positions,
    /// JSON pointers of unquoted scalars that YAML 1.1 reads as booleans although they look like
    /// words (`yes`, `no`, `on`, `off`, `y`, `n` in any case), with the text as written.
    pub yaml11_bools: Vec<(String, String)>,
}

impl YamlDoc {
    /// Position of the node at `pointer`, or of its nearest ancestor that has one; the
    /// document's first line for the root.
    pub fn position(&self, pointer: &str) -> (usize, usize) {
        self.positions.nearest(pointer).unwrap_or((self.line, 1))
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

/// A mapping key waiting for its value.
struct PendingKey {
    key: String,
    /// the entry's row in the position table, when recorded
    node: Option<u32>,
    /// the length of the value's pointer, when the value's position is recorded
    value_plen: Option<usize>,
}

/// An open mapping or sequence. Its entries (items) so far are the builder's `entries`
/// (`items`) from `start` on, so that a collection is built once with its final size.
struct Frame {
    is_map: bool,
    start: usize,
    anchor: usize,
    /// length of this collection's JSON pointer; `None` when its children are not recorded
    plen: Option<usize>,
    /// this collection's row in the position table (none for the root or when not recorded)
    node: Option<u32>,
    /// how many of its children have rows
    children: u32,
    /// mapping: the key waiting for its value
    key: Option<PendingKey>,
    /// mapping: merge sources in order of appearance
    merges: Vec<Value>,
    merge_pending: bool,
    /// mapping with more than [`SCAN_KEYS`] entries: the entries, kept in the map itself
    big: Option<Map<String, Value>>,
}

/// Where the next node goes.
#[derive(Clone, Copy)]
enum Slot {
    Root,
    Key,
    /// the value of a merge key `<<`
    Merge,
    /// a mapping value or a sequence item, with its pointer length and row in the position
    /// table when recorded
    Child(Option<(usize, u32)>),
}

struct Builder {
    /// whether positions and YAML 1.1 words are recorded at all
    track: bool,
    anchors: HashMap<usize, Value>,
    stack: Vec<Frame>,
    entries: Vec<(String, Value)>,
    items: Vec<Value>,
    table: Vec<PosNode>,
    keys: String,
    wide: Vec<(u32, Box<[u32]>)>,
    min_line: Option<usize>,
    yaml11_bools: Vec<(String, String)>,
    nodes: usize,
    root: Option<Value>,
    /// Bytes of JSON pointers still allowed (shared by the documents of a stream).
    pointer_budget: usize,
    /// Bytes still allowed to be copied through anchors and aliases (shared likewise).
    alias_budget: usize,
    /// size of the previous document's table and key arena (capacity for the next one)
    last_sizes: (usize, usize),
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

fn digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// A document taken out of the builder.
struct Finished {
    root: Option<Value>,
    positions: Positions,
    min_line: Option<usize>,
    yaml11_bools: Vec<(String, String)>,
}

impl Builder {
    fn new() -> Self {
        Self::with_budgets(MAX_POINTER_BYTES, MAX_ALIAS_BYTES)
    }

    fn with_budgets(pointer_budget: usize, alias_budget: usize) -> Self {
        Builder {
            track: pointer_budget > 0,
            anchors: HashMap::new(),
            stack: Vec::new(),
            entries: Vec::new(),
            items: Vec::new(),
            table: Vec::new(),
            keys: String::new(),
            wide: Vec::new(),
            min_line: None,
            yaml11_bools: Vec::new(),
            nodes: 0,
            root: None,
            pointer_budget,
            alias_budget,
            last_sizes: (0, 0),
        }
    }

    /// Start the next document of the same stream: the budgets carry over, the scratch
    /// buffers keep their capacity, everything else starts empty.
    fn reset_document(&mut self) {
        self.anchors.clear();
        self.stack.clear();
        self.entries.clear();
        self.items.clear();
        self.table.clear();
        self.keys.clear();
        self.wide.clear();
        self.min_line = None;
        self.yaml11_bools.clear();
        self.nodes = 0;
        self.root = None;
    }

    /// Take the document built so far and start the next one.
    fn finish_document(&mut self) -> Finished {
        let (t, k) = self.last_sizes;
        let table = std::mem::replace(&mut self.table, Vec::with_capacity(t));
        let keys = std::mem::replace(&mut self.keys, String::with_capacity(k));
        self.last_sizes = (table.len(), keys.len());
        let mut wide = std::mem::take(&mut self.wide);
        wide.sort_unstable_by_key(|w| w.0);
        let done = Finished {
            root: self.root.take(),
            positions: Positions {
                nodes: table,
                keys,
                wide,
            },
            min_line: self.min_line,
            yaml11_bools: std::mem::take(&mut self.yaml11_bools),
        };
        self.reset_document();
        done
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

    /// Charge a pointer of `len` bytes to the stream's budget, if it may be recorded.
    fn charge_pointer(&mut self, len: usize) -> bool {
        if len > MAX_POINTER_LEN || len > self.pointer_budget {
            return false;
        }
        self.pointer_budget -= len;
        true
    }

    /// Add a row to the position table, a child of the innermost open collection.
    fn record(&mut self, span: &Span, seg: u32, seg_len: u32) -> u32 {
        if let Some(f) = self.stack.last_mut() {
            f.children += 1;
        }
        let i = small(self.table.len());
        let line = span.start.line();
        self.min_line = Some(self.min_line.map_or(line, |m| m.min(line)));
        self.table.push(PosNode {
            line: small(line),
            col: small(span.start.col() + 1),
            end: i.saturating_add(1),
            seg,
            seg_len,
        });
        i
    }

    /// Where the node that comes next goes; a sequence item's position is recorded here.
    fn next_slot(&mut self, span: &Span) -> Slot {
        let Some(f) = self.stack.last() else {
            return Slot::Root;
        };
        if f.is_map {
            if f.merge_pending {
                return Slot::Merge;
            }
            return match &f.key {
                None => Slot::Key,
                Some(k) => Slot::Child(k.value_plen.zip(k.node)),
            };
        }
        let index = self.items.len() - f.start;
        let Some(plen) = f.plen else {
            return Slot::Child(None);
        };
        let len = plen + 1 + digits(index);
        if !self.charge_pointer(len) {
            return Slot::Child(None);
        }
        let node = self.record(span, small(index), ITEM);
        Slot::Child(Some((len, node)))
    }

    /// The JSON pointer of a recorded row under the open collections.
    fn pointer_to(&self, node: u32) -> String {
        let mut p = String::new();
        for n in self.stack.iter().filter_map(|f| f.node).chain([node]) {
            if let Some(row) = self.table.get(n as usize) {
                p.push('/');
                push_segment(&mut p, &self.keys, row);
            }
        }
        p
    }

    /// Index the children of a collection that has just ended (`node`: its row, none for the
    /// root): they are the rows after it, one subtree after the other.
    fn index_children(&mut self, node: Option<u32>, is_map: bool) {
        let mut rows = Vec::new();
        let mut i = node.map_or(0, |n| n as usize + 1);
        while i < self.table.len() {
            rows.push(small(i));
            i = (self.table[i].end as usize).max(i + 1);
        }
        if is_map {
            let keys = self.keys.as_bytes();
            let key = |r: &u32| {
                let n = &self.table[*r as usize];
                keys.get(n.seg as usize..(n.seg as usize + n.seg_len as usize))
                    .unwrap_or_default()
            };
            rows.sort_unstable_by(|a, b| key(a).cmp(key(b)));
        }
        // a sequence's items are recorded in the order of their index
        self.wide.push((
            node.map_or(0, |n| n.saturating_add(1)),
            rows.into_boxed_slice(),
        ));
    }

    fn too_many_nodes(span: &Span) -> YamlError {
        YamlError::at(
            span,
            "yaml/too-large",
            format!("the document expands to more than {MAX_NODES} nodes (aliases?)"),
        )
    }

    fn push_value(&mut self, v: Value, span: &Span, anchor: usize) -> Result<(), YamlError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(Self::too_many_nodes(span));
        }
        if anchor > 0 {
            self.charge_bytes(value_bytes(&v), span)?;
            self.anchors.insert(anchor, v.clone());
        }
        let Some(f) = self.stack.last_mut() else {
            self.root = Some(v);
            return Ok(());
        };
        if !f.is_map {
            self.items.push(v);
            return Ok(());
        }
        if f.merge_pending {
            f.merge_pending = false;
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
            f.merges.push(v);
            return Ok(());
        }
        if let Some(k) = f.key.take() {
            match &mut f.big {
                Some(map) => {
                    map.insert(k.key, v);
                }
                None => self.entries.push((k.key, v)),
            }
            return Ok(());
        }
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
        let start = f.start;
        if f.big.is_none() && self.entries.len() - start >= SCAN_KEYS {
            let mut map = Map::with_capacity(4 * SCAN_KEYS);
            map.extend(self.entries.drain(start..));
            f.big = Some(map);
        }
        let duplicate = match &f.big {
            Some(map) => map.contains_key(&k),
            None => self.entries[start..].iter().any(|(e, _)| *e == k),
        };
        if duplicate {
            return Err(YamlError::at(
                span,
                "yaml/duplicate-key",
                format!(
                    "duplicate key `{k}` in this mapping; the API server rejects duplicate fields: keep one"
                ),
            ));
        }
        let plen = f.plen;
        let mut node = None;
        let mut value_plen = None;
        if let Some(p) = plen.filter(|p| p + k.len() < MAX_POINTER_LEN) {
            let seg_len = escaped_len(&k);
            let len = p + 1 + seg_len;
            if self.charge_pointer(len) {
                let seg = small(self.keys.len());
                push_escaped(&mut self.keys, &k);
                // a key's position stands for its entry (it wins over that of the value)
                node = Some(self.record(span, seg, small(seg_len)));
                // the value's pointer is the same, charged again
                if self.charge_pointer(len) {
                    value_plen = Some(len);
                }
            }
        }
        if let Some(f) = self.stack.last_mut() {
            f.key = Some(PendingKey {
                key: k,
                node,
                value_plen,
            });
        }
        Ok(())
    }

    fn scalar(
        &mut self,
        text: Cow<'_, str>,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<&saphyr_parser::Tag>,
        span: &Span,
    ) -> Result<(), YamlError> {
        let slot = self.next_slot(span);
        let is_key = matches!(slot, Slot::Key | Slot::Merge);
        // merge key
        if is_key
            && style == ScalarStyle::Plain
            && text == "<<"
            && tag.is_none()
            && let Some(f) = self.stack.last_mut()
        {
            f.merge_pending = true;
            return Ok(());
        }
        let v = if let Some(t) = tag.filter(|t| t.is_yaml_core_schema()) {
            match t.suffix.as_str() {
                "str" | "binary" | "timestamp" => Value::String(text.into_owned()),
                "null" => Value::Null,
                "bool" => match resolve_plain(&text) {
                    Value::Bool(b) => Value::Bool(b),
                    _ => {
                        return Err(YamlError::at(
                            span,
                            "yaml/syntax",
                            format!("`{text}` is tagged !!bool but is not a boolean"),
                        ));
                    }
                },
                "int" | "float" => match resolve_plain(&text) {
                    Value::Number(n) => Value::Number(n),
                    _ => {
                        return Err(YamlError::at(
                            span,
                            "yaml/syntax",
                            format!("`{text}` is tagged !!{} but is not a number", t.suffix),
                        ));
                    }
                },
                _ => Value::String(text.into_owned()),
            }
        } else if style == ScalarStyle::Plain && tag.is_none() {
            match resolve_non_string(&text) {
                Some(v) => {
                    if self.track
                        && matches!(v, Value::Bool(_))
                        && !text.eq_ignore_ascii_case("true")
                        && !text.eq_ignore_ascii_case("false")
                    {
                        let pointer = match slot {
                            Slot::Root | Slot::Key | Slot::Merge => Some(String::new()),
                            Slot::Child(Some((_, node))) => Some(self.pointer_to(node)),
                            Slot::Child(None) => None,
                        };
                        if let Some(p) = pointer {
                            self.yaml11_bools.push((p, text.to_string()));
                        }
                    }
                    v
                }
                None => Value::String(text.into_owned()),
            }
        } else {
            Value::String(text.into_owned())
        };
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
        let (plen, node) = match self.next_slot(span) {
            Slot::Key => {
                return Err(YamlError::at(
                    span,
                    "yaml/syntax",
                    "a mapping key must be a scalar; Kubernetes manifests use string keys",
                ));
            }
            Slot::Root => (Some(0), None),
            // a merge source's nodes end up elsewhere (or nowhere): none is recorded
            Slot::Merge => (None, None),
            Slot::Child(at) => (at.map(|a| a.0), at.map(|a| a.1)),
        };
        let start = if is_map {
            self.entries.len()
        } else {
            self.items.len()
        };
        self.stack.push(Frame {
            is_map,
            start,
            anchor,
            plen,
            node,
            children: 0,
            key: None,
            merges: Vec::new(),
            merge_pending: false,
            big: None,
        });
        Ok(())
    }

    fn end(&mut self, span: &Span) -> Result<(), YamlError> {
        let Some(f) = self.stack.pop() else {
            return Err(YamlError::at(
                span,
                "yaml/syntax",
                "unbalanced collection end",
            ));
        };
        let v = if f.is_map {
            let mut map = match f.big {
                Some(map) => map,
                None => {
                    let mut map = Map::with_capacity(self.entries.len() - f.start);
                    map.extend(self.entries.drain(f.start..));
                    map
                }
            };
            // explicit keys win; earlier merge sources win over later ones
            for m in f.merges {
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
            Value::Object(map)
        } else {
            Value::Array(self.items.drain(f.start..).collect())
        };
        if let Some(n) = f.node {
            let end = small(self.table.len());
            if let Some(row) = self.table.get_mut(n as usize) {
                row.end = end;
            }
        }
        if f.children > WIDE {
            self.index_children(f.node, f.is_map);
        }
        // the node itself was counted on start; push_value counts one more: compensate
        self.nodes = self.nodes.saturating_sub(1);
        self.push_value(v, span, f.anchor)
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
            return Err(Self::too_many_nodes(span));
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
        // an alias item's position is recorded here; what it copies has none inside
        self.next_slot(span);
        self.push_value(v, span, 0)
    }
}

/// Resolve an unquoted scalar the way go-yaml v2 (YAML 1.1) does.
pub fn resolve_plain(s: &str) -> Value {
    resolve_non_string(s).unwrap_or_else(|| Value::String(s.to_string()))
}

/// [`resolve_plain`] for everything but a string (`None`: the scalar is a string), so that the
/// caller can move the text it owns into the value.
fn resolve_non_string(s: &str) -> Option<Value> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Some(Value::Bool(true));
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Some(Value::Bool(false));
        }
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return None;
    }
    parse_int(s).or_else(|| parse_float(s))
}

/// `s` without its underscores (borrowed when it has none).
fn without_underscores(s: &str) -> Cow<'_, str> {
    if s.contains('_') {
        Cow::Owned(s.chars().filter(|c| *c != '_').collect())
    } else {
        Cow::Borrowed(s)
    }
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
    let clean = without_underscores(body);
    if clean.is_empty() || body.starts_with('_') {
        return None;
    }
    let (digits, radix) = if let Some(b) = clean.strip_prefix("0b") {
        (b, 2)
    } else if let Some(h) = clean.strip_prefix("0x") {
        (h, 16)
    } else if clean.len() > 1 && clean.starts_with('0') {
        (&clean[1..], 8)
    } else {
        (&clean[..], 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    match u64::from_str_radix(digits, radix) {
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
    let clean = without_underscores(s);
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
                b.reset_document();
                doc_line = span.start.line();
            }
            Event::DocumentEnd => {
                let doc = b.finish_document();
                match doc.root {
                    None | Some(Value::Null) => {}
                    Some(value) => docs.push(YamlDoc {
                        value,
                        index,
                        line: doc.min_line.unwrap_or(doc_line),
                        positions: doc.positions,
                        yaml11_bools: doc.yaml11_bools,
                    }),
                }
                index += 1;
            }
            Event::Alias(id) => b.alias(id, &span)?,
            Event::Scalar(text, style, anchor, tag) => {
                b.scalar(text, style, anchor, tag.as_deref(), &span)?
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
    fn the_position_table_finds_keys_items_and_nested_nodes() {
        let text = "kind: A\nspec:\n  rules:\n  - name: a\n    ports: [80, 443]\n  - {name: b}\n  - plain\n";
        let d = &parse_documents(text).unwrap()[0];
        let p = &d.positions;
        // (pointer, exact position): a mapping entry has its key's position, an item its own
        let cases: &[(&str, Option<(usize, usize)>)] = &[
            ("/kind", Some((1, 1))),
            ("/spec", Some((2, 1))),
            ("/spec/rules", Some((3, 3))),
            ("/spec/rules/0", Some((4, 5))),
            ("/spec/rules/0/name", Some((4, 5))),
            ("/spec/rules/0/ports", Some((5, 5))),
            ("/spec/rules/0/ports/1", Some((5, 17))),
            ("/spec/rules/1", Some((6, 5))),
            ("/spec/rules/1/name", Some((6, 6))),
            ("/spec/rules/2", Some((7, 5))),
            ("/spec/rules/3", None),
            ("/spec/rules/01", None),
            ("/spec/rules/-", None),
            ("/spec/nothing", None),
            ("", None),
            ("spec", None),
        ];
        for (pointer, want) in cases {
            assert_eq!(p.get(pointer), *want, "{pointer}");
        }
        // a missing node reports its nearest recorded ancestor, the root the document's line
        assert_eq!(d.position("/spec/rules/01/name"), (3, 3));
        assert_eq!(d.position("/spec/rules/0/ports/7"), (5, 5));
        assert_eq!(d.position("/nothing/deeper"), (1, 1));
        assert_eq!(d.position(""), (1, 1));
        // every recorded node, in document order
        let all: Vec<String> = p.pointers().into_iter().map(|(s, _)| s).collect();
        assert_eq!(
            all,
            [
                "/kind",
                "/spec",
                "/spec/rules",
                "/spec/rules/0",
                "/spec/rules/0/name",
                "/spec/rules/0/ports",
                "/spec/rules/0/ports/0",
                "/spec/rules/0/ports/1",
                "/spec/rules/1",
                "/spec/rules/1/name",
                "/spec/rules/2",
            ]
        );
        assert_eq!(p.len(), all.len());
        assert!(p.iter().all(|(l, c)| l >= 1 && c >= 1));
    }

    #[test]
    fn keys_with_slash_and_tilde_are_found_by_their_escaped_segment() {
        let text = "metadata:\n  annotations:\n    \"a/b\": x\n    'c~d': y\n    \"~1\": z\n";
        let d = &parse_documents(text).unwrap()[0];
        assert_eq!(d.positions.get("/metadata/annotations/a~1b"), Some((3, 5)));
        assert_eq!(d.positions.get("/metadata/annotations/c~0d"), Some((4, 5)));
        assert_eq!(d.positions.get("/metadata/annotations/~01"), Some((5, 5)));
        // the unescaped forms name other (absent) nodes
        assert_eq!(d.positions.get("/metadata/annotations/a/b"), None);
        assert_eq!(d.positions.get("/metadata/annotations/c~d"), None);
        assert_eq!(d.position("/metadata/annotations/a/b"), (2, 3));
        // and the pointer of a YAML 1.1 word under such a key is escaped too
        let d = &parse_documents("\"a/b\":\n  \"c~\": [on]\n").unwrap()[0];
        assert_eq!(
            d.yaml11_bools,
            vec![("/a~1b/c~0/0".to_string(), "on".to_string())]
        );
        assert_eq!(d.position("/a~1b/c~0/0"), (2, 10));
    }

    #[test]
    fn merged_keys_and_alias_copies_report_their_nearest_recorded_node() {
        let text = "x: 5\nbase: &b {x: 1, w: 2}\nobj:\n  w: 3\n  <<: *b\nlist:\n- *b\n- k: 1\n  <<: {x: on}\n";
        let d = &parse_documents(text).unwrap()[0];
        assert_eq!(d.value["obj"], json!({"w": 3, "x": 1}));
        assert_eq!(d.value["list"][1], json!({"k": 1, "x": true}));
        // the anchor's own nodes are where they are written
        assert_eq!(d.positions.get("/base/x"), Some((2, 11)));
        // a merged key has no position of its own: its mapping's
        assert_eq!(d.positions.get("/obj/w"), Some((4, 3)));
        assert_eq!(d.positions.get("/obj/x"), None);
        assert_eq!(d.position("/obj/x"), (3, 1));
        // an alias item has the alias's position, nothing inside it has one
        assert_eq!(d.positions.get("/list/0"), Some((7, 3)));
        assert_eq!(d.position("/list/0/x"), (7, 3));
        // an inline merge source records nothing: neither at the root nor over the root's `x`
        // (its nodes were once recorded as if they were the root's)
        assert_eq!(d.positions.get("/list/1/x"), None);
        assert_eq!(d.position("/list/1/x"), (8, 3));
        assert_eq!(d.positions.get("/x"), Some((1, 1)));
        assert_eq!(d.positions.get(""), None);
        assert_eq!(d.position(""), (1, 1));
        assert!(d.yaml11_bools.is_empty(), "{:?}", d.yaml11_bools);
    }

    #[test]
    fn wide_mappings_and_sequences_are_looked_up_by_key_and_index() {
        // more children than WIDE: the lookup goes through the sorted index
        let mut text = String::from("m:\n");
        for i in (0..100).rev() {
            text.push_str(&format!("  k{i}:\n    v: {i}\n"));
        }
        text.push_str("l:\n");
        for i in 0..100 {
            text.push_str(&format!("- {{a: {i}}}\n"));
        }
        text.push_str("\"a/b\": 1\n");
        for i in 0..40 {
            text.push_str(&format!("top{i}: x\n"));
        }
        let d = &parse_documents(&text).unwrap()[0];
        let p = &d.positions;
        for i in 0..100usize {
            // k99 is written first (line 2), k0 last
            let line = 2 + 2 * (99 - i);
            assert_eq!(p.get(&format!("/m/k{i}")), Some((line, 3)), "k{i}");
            assert_eq!(p.get(&format!("/m/k{i}/v")), Some((line + 1, 5)), "k{i}/v");
            assert_eq!(p.get(&format!("/l/{i}")), Some((203 + i, 3)), "l/{i}");
            assert_eq!(p.get(&format!("/l/{i}/a")), Some((203 + i, 4)), "l/{i}/a");
        }
        assert_eq!(p.get("/a~1b"), Some((303, 1)));
        assert_eq!(p.get("/top39"), Some((343, 1)));
        assert_eq!(p.get("/m/k100"), None);
        assert_eq!(p.get("/l/100"), None);
        assert_eq!(p.get("/l/07"), None);
        assert_eq!(d.position("/m/k100/v"), (1, 1));
        assert_eq!(d.position("/l/07/a"), (202, 1));
        assert_eq!(d.position("/l/7/a/b"), (210, 4));
        assert_eq!(d.position("/nothing"), (1, 1));
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
        assert!(
            d[0].positions
                .pointers()
                .iter()
                .all(|(p, _)| p.len() <= MAX_POINTER_LEN)
        );
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
