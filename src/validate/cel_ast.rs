//! Parsed CEL expressions to and from bytes, for the load cache ([`crate::validate::cache`]).
//!
//! Parsing is the dearest part of compiling a rule: the `cel` crate's ANTLR parser takes
//! 50-100 µs per rule in a fresh process (its prediction tables start empty each time), and a
//! CRD's first use parses dozens of rules. A [`Parsed`] set holds the syntax trees of every
//! rule (and messageExpression) of one CRD version, keyed by their source text; the load cache
//! keeps it beside the version's schema, so a later process decodes trees instead of parsing.
//!
//! The `cel` crate's AST has no serde support, so the format is our own: a byte per variant,
//! LEB128 integers, length-prefixed UTF-8. Decoding checks every length and depth and gives
//! `None` on anything it does not expect, and a 128-bit SipHash of the body guards against a
//! damaged file decoding to another tree: such a file means parsing again, never a panic or a
//! wrong tree. The header names the `cel` release whose parser made the trees ([`PARSER`]);
//! trees from another release are not used.

use std::collections::HashMap;

use cel::common::ast::{
    CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedEntryExpr, IdedExpr, ListExpr, LiteralValue,
    MapEntryExpr, MapExpr, SelectExpr, StructExpr, StructFieldExpr,
};

/// The `cel` release whose parser the cached trees come from (a test holds it to Cargo.lock).
pub(crate) const PARSER: &str = "cel 0.15.0";

const MAGIC: &[u8] = b"traffic-engineer cel ast 1\n";

/// Deeper trees than this are not cached (the parser's own recursion limit is lower).
const MAX_DEPTH: usize = 1000;

/// Syntax trees by source text, as the load cache holds them: decoded one at a time, on use.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    bytes: Vec<u8>,
    /// source text -> the range of its encoded tree in `bytes`
    index: HashMap<String, std::ops::Range<usize>>,
}

impl Parsed {
    /// Add the tree of `source` (a source already held, or a tree too deep to keep, is not).
    pub(crate) fn add(&mut self, source: &str, expr: &IdedExpr) {
        if self.index.contains_key(source) {
            return;
        }
        let start = self.bytes.len();
        if encode_expr(expr, &mut self.bytes, 0).is_none() {
            self.bytes.truncate(start);
            return;
        }
        self.index
            .insert(source.to_string(), start..self.bytes.len());
    }

    /// A set of the trees given, in order.
    #[cfg(test)]
    pub(crate) fn from_trees<'a>(trees: impl IntoIterator<Item = (&'a str, &'a IdedExpr)>) -> Self {
        let mut p = Parsed::default();
        for (source, expr) in trees {
            p.add(source, expr);
        }
        p
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// The tree of `source`, when the set holds it and it decodes.
    pub(crate) fn tree(&self, source: &str) -> Option<IdedExpr> {
        let range = self.index.get(source)?.clone();
        let mut r = Reader {
            b: self.bytes.get(range)?,
        };
        let e = r.expr(0)?;
        r.b.is_empty().then_some(e)
    }

    /// The file's bytes: header (magic, parser release, checksum of the body), then the body:
    /// (source, tree) pairs in a stable order.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.bytes.len() * 2);
        let mut entries: Vec<_> = self.index.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        put_uint(&mut body, entries.len() as u64);
        for (source, range) in entries {
            put_str(&mut body, source);
            put_bytes(&mut body, &self.bytes[range.clone()]);
        }
        let mut out = Vec::with_capacity(MAGIC.len() + PARSER.len() + 17 + body.len());
        out.extend_from_slice(MAGIC);
        put_str(&mut out, PARSER);
        out.extend_from_slice(&checksum(&body).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// A set read back from [`Parsed::to_bytes`]: `None` when the file is damaged or comes
    /// from another parser release. The trees stay where they are in the file's bytes.
    pub(crate) fn from_bytes(file: Vec<u8>) -> Option<Self> {
        let mut r = Reader {
            b: file.strip_prefix(MAGIC)?,
        };
        if r.str()? != PARSER {
            return None;
        }
        let (sum, body) = r.b.split_first_chunk::<16>()?;
        if u128::from_le_bytes(*sum) != checksum(body) {
            return None;
        }
        r.b = body;
        let n = r.count()?;
        let mut index = HashMap::with_capacity(n);
        for _ in 0..n {
            let source = r.str()?.to_string();
            let tree = r.bytes()?;
            let end = file.len() - r.b.len();
            index.insert(source, end - tree.len()..end);
        }
        if !r.b.is_empty() {
            return None;
        }
        Some(Parsed { bytes: file, index })
    }
}

// ---- encoding ----

fn checksum(body: &[u8]) -> u128 {
    use std::hash::Hasher;
    let mut h = siphasher::sip128::SipHasher13::new_with_keys(0x6365_6c2d_6173_7431, 0);
    h.write(body);
    siphasher::sip128::Hasher128::finish128(&h).as_u128()
}

fn put_uint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_bool(out: &mut Vec<u8>, b: bool) {
    out.push(u8::from(b));
}

// Expr tags
const UNSPECIFIED: u8 = 0;
const CALL: u8 = 1;
const COMPREHENSION: u8 = 2;
const IDENT: u8 = 3;
const LIST: u8 = 4;
const LITERAL: u8 = 5;
const MAP: u8 = 6;
const SELECT: u8 = 7;
const STRUCT: u8 = 8;
// literal tags
const BOOL: u8 = 0;
const BYTES: u8 = 1;
const DOUBLE: u8 = 2;
const INT: u8 = 3;
const NULL: u8 = 4;
const STRING: u8 = 5;
const UINT: u8 = 6;
// entry tags
const STRUCT_FIELD: u8 = 0;
const MAP_ENTRY: u8 = 1;

fn encode_expr(e: &IdedExpr, out: &mut Vec<u8>, depth: usize) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    let d = depth + 1;
    put_uint(out, e.id);
    match &e.expr {
        Expr::Unspecified => out.push(UNSPECIFIED),
        Expr::Call(c) => {
            out.push(CALL);
            put_str(out, &c.func_name);
            put_bool(out, c.target.is_some());
            if let Some(t) = &c.target {
                encode_expr(t, out, d)?;
            }
            put_uint(out, c.args.len() as u64);
            for a in &c.args {
                encode_expr(a, out, d)?;
            }
        }
        Expr::Comprehension(c) => {
            out.push(COMPREHENSION);
            encode_expr(&c.iter_range, out, d)?;
            put_str(out, &c.iter_var);
            put_bool(out, c.iter_var2.is_some());
            if let Some(v) = &c.iter_var2 {
                put_str(out, v);
            }
            put_str(out, &c.accu_var);
            for part in [&c.accu_init, &c.loop_cond, &c.loop_step, &c.result] {
                encode_expr(part, out, d)?;
            }
        }
        Expr::Ident(name) => {
            out.push(IDENT);
            put_str(out, name);
        }
        Expr::List(l) => {
            out.push(LIST);
            put_uint(out, l.elements.len() as u64);
            for el in &l.elements {
                encode_expr(el, out, d)?;
            }
            put_uint(out, l.optional_indices.len() as u64);
            for &i in &l.optional_indices {
                put_uint(out, i as u64);
            }
        }
        Expr::Literal(lit) => {
            out.push(LITERAL);
            match lit {
                LiteralValue::Boolean(b) => {
                    out.push(BOOL);
                    put_bool(out, *b.inner());
                }
                LiteralValue::Bytes(b) => {
                    out.push(BYTES);
                    put_bytes(out, b.inner());
                }
                LiteralValue::Double(f) => {
                    out.push(DOUBLE);
                    out.extend_from_slice(&f.inner().to_bits().to_le_bytes());
                }
                LiteralValue::Int(i) => {
                    out.push(INT);
                    out.extend_from_slice(&i.inner().to_le_bytes());
                }
                LiteralValue::Null => out.push(NULL),
                LiteralValue::String(s) => {
                    out.push(STRING);
                    put_str(out, s.inner());
                }
                LiteralValue::UInt(u) => {
                    out.push(UINT);
                    put_uint(out, *u.inner());
                }
            }
        }
        Expr::Map(m) => {
            out.push(MAP);
            encode_entries(&m.entries, out, d)?;
        }
        Expr::Select(s) => {
            out.push(SELECT);
            encode_expr(&s.operand, out, d)?;
            put_str(out, &s.field);
            put_bool(out, s.test);
        }
        Expr::Struct(s) => {
            out.push(STRUCT);
            put_str(out, &s.type_name);
            encode_entries(&s.entries, out, d)?;
        }
    }
    Some(())
}

fn encode_entries(entries: &[IdedEntryExpr], out: &mut Vec<u8>, depth: usize) -> Option<()> {
    put_uint(out, entries.len() as u64);
    for en in entries {
        put_uint(out, en.id);
        match &en.expr {
            EntryExpr::StructField(f) => {
                out.push(STRUCT_FIELD);
                put_str(out, &f.field);
                encode_expr(&f.value, out, depth)?;
                put_bool(out, f.optional);
            }
            EntryExpr::MapEntry(m) => {
                out.push(MAP_ENTRY);
                encode_expr(&m.key, out, depth)?;
                encode_expr(&m.value, out, depth)?;
                put_bool(out, m.optional);
            }
        }
    }
    Some(())
}

// ---- decoding ----

struct Reader<'b> {
    b: &'b [u8],
}

impl<'b> Reader<'b> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.b.split_first()?;
        self.b = rest;
        Some(first)
    }

    fn uint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            v |= u64::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// A count of items that take at least a byte each: never more than the bytes left.
    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.uint()?).ok()?;
        (n <= self.b.len()).then_some(n)
    }

    fn bytes(&mut self) -> Option<&'b [u8]> {
        let n = usize::try_from(self.uint()?).ok()?;
        if n > self.b.len() {
            return None;
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Some(head)
    }

    fn str(&mut self) -> Option<&'b str> {
        std::str::from_utf8(self.bytes()?).ok()
    }

    fn string(&mut self) -> Option<String> {
        self.str().map(str::to_string)
    }

    fn bool(&mut self) -> Option<bool> {
        match self.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    fn fixed8(&mut self) -> Option<[u8; 8]> {
        if self.b.len() < 8 {
            return None;
        }
        let (head, rest) = self.b.split_at(8);
        self.b = rest;
        head.try_into().ok()
    }

    fn boxed(&mut self, depth: usize) -> Option<Box<IdedExpr>> {
        self.expr(depth).map(Box::new)
    }

    fn expr(&mut self, depth: usize) -> Option<IdedExpr> {
        if depth > MAX_DEPTH {
            return None;
        }
        let d = depth + 1;
        let id = self.uint()?;
        let expr = match self.byte()? {
            UNSPECIFIED => Expr::Unspecified,
            CALL => {
                let func_name = self.string()?;
                let target = if self.bool()? {
                    Some(self.boxed(d)?)
                } else {
                    None
                };
                let n = self.count()?;
                let args = (0..n).map(|_| self.expr(d)).collect::<Option<_>>()?;
                Expr::Call(CallExpr {
                    func_name,
                    target,
                    args,
                })
            }
            COMPREHENSION => {
                let iter_range = self.expr(d)?;
                let iter_var = self.string()?;
                let iter_var2 = if self.bool()? {
                    Some(self.string()?)
                } else {
                    None
                };
                let accu_var = self.string()?;
                Expr::Comprehension(Box::new(ComprehensionExpr {
                    iter_range,
                    iter_var,
                    iter_var2,
                    accu_var,
                    accu_init: self.expr(d)?,
                    loop_cond: self.expr(d)?,
                    loop_step: self.expr(d)?,
                    result: self.expr(d)?,
                }))
            }
            IDENT => Expr::Ident(self.string()?),
            LIST => {
                let n = self.count()?;
                let elements: Vec<IdedExpr> =
                    (0..n).map(|_| self.expr(d)).collect::<Option<_>>()?;
                let m = self.count()?;
                let optional_indices = (0..m)
                    .map(|_| {
                        usize::try_from(self.uint()?)
                            .ok()
                            .filter(|&i| i < elements.len())
                    })
                    .collect::<Option<_>>()?;
                Expr::List(ListExpr::new_with_optionals(elements, optional_indices))
            }
            LITERAL => Expr::Literal(match self.byte()? {
                BOOL => LiteralValue::Boolean(self.bool()?.into()),
                BYTES => LiteralValue::Bytes(self.bytes()?.to_vec().into()),
                DOUBLE => {
                    LiteralValue::Double(f64::from_bits(u64::from_le_bytes(self.fixed8()?)).into())
                }
                INT => LiteralValue::Int(i64::from_le_bytes(self.fixed8()?).into()),
                NULL => LiteralValue::Null,
                STRING => LiteralValue::String(self.string()?.into()),
                UINT => LiteralValue::UInt(self.uint()?.into()),
                _ => return None,
            }),
            MAP => Expr::Map(MapExpr {
                entries: self.entries(d)?,
            }),
            SELECT => {
                let operand = self.boxed(d)?;
                Expr::Select(SelectExpr {
                    operand,
                    field: self.string()?,
                    test: self.bool()?,
                })
            }
            STRUCT => {
                let type_name = self.string()?;
                Expr::Struct(StructExpr {
                    type_name,
                    entries: self.entries(d)?,
                })
            }
            _ => return None,
        };
        Some(IdedExpr { id, expr })
    }

    fn entries(&mut self, depth: usize) -> Option<Vec<IdedEntryExpr>> {
        let n = self.count()?;
        (0..n)
            .map(|_| {
                let id = self.uint()?;
                let expr = match self.byte()? {
                    STRUCT_FIELD => {
                        let field = self.string()?;
                        EntryExpr::StructField(StructFieldExpr {
                            field,
                            value: self.expr(depth)?,
                            optional: self.bool()?,
                        })
                    }
                    MAP_ENTRY => {
                        let key = self.expr(depth)?;
                        EntryExpr::MapEntry(MapEntryExpr {
                            key,
                            value: self.expr(depth)?,
                            optional: self.bool()?,
                        })
                    }
                    _ => return None,
                };
                Some(IdedEntryExpr { id, expr })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str) -> IdedExpr {
        crate::validate::cel::env()
            .unwrap()
            .parser()
            .parse(source)
            .unwrap()
    }

    /// Every kind of node the parser makes, and the rules of the pinned CRDs when they are here.
    const SOURCES: &[&str] = &[
        "self.size() <= 63 && self.matches('^[a-z]+$')",
        "has(self.spec.x) ? self.spec.x.all(k, v, v > 1u) : self.y == null",
        "self.exists(x, x in ['a', \"b\"]) || self.map(x, x * 2.5).size() == -3",
        "{'a': 1, ?'b': optional.none()}.size() == 1 && [1, ?optional.of(2)] == [1, 2]",
        "b'\\x00\\xff' + b'z' != bytes('q') && !true && 0x10 == 16 && 1e300 > -0.0",
        "google.protobuf.Timestamp{seconds: 3}.getSeconds() == 3",
        "self.filter(x, x.startsWith('k')).exists_one(y, y == 'kz')",
        "oldSelf == self",
        "",
    ];

    #[test]
    fn trees_round_trip_through_bytes() {
        let trees: Vec<(String, IdedExpr)> = SOURCES
            .iter()
            .filter_map(|s| {
                crate::validate::cel::env()
                    .unwrap()
                    .parser()
                    .parse(s)
                    .ok()
                    .map(|e| (s.to_string(), e))
            })
            .collect();
        assert!(trees.len() >= SOURCES.len() - 1, "a sample stopped parsing");
        let set = Parsed::from_trees(trees.iter().map(|(s, e)| (s.as_str(), e)));
        let back = Parsed::from_bytes(set.to_bytes()).expect("reads back");
        assert_eq!(back.len(), trees.len());
        for (source, expr) in &trees {
            assert_eq!(back.tree(source).as_ref(), Some(expr), "{source}");
        }
        assert_eq!(back.tree("self.other"), None);
    }

    #[test]
    fn damaged_or_foreign_files_give_nothing_and_never_panic() {
        let expr = parse(SOURCES[2]);
        let good = Parsed::from_trees([(SOURCES[2], &expr)]).to_bytes();
        // every truncation, and every single byte flipped, of a good file
        for cut in 0..good.len() {
            let _ = Parsed::from_bytes(good[..cut].to_vec()).and_then(|p| p.tree(SOURCES[2]));
        }
        for i in 0..good.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] ^= flip;
                if let Some(p) = Parsed::from_bytes(bad) {
                    panic!("byte {i} ^ {flip:#x} still read: {:?}", p.tree(SOURCES[2]));
                }
            }
        }
        let mut other = good.clone();
        let at = MAGIC.len() + 1 + PARSER.len() - 1;
        other[at] = b'9'; // "cel 0.15.9"
        assert!(
            Parsed::from_bytes(other).is_none(),
            "another parser's trees"
        );
        assert!(Parsed::from_bytes(Vec::new()).is_none());
        // a count far beyond the file is refused before allocating
        let mut huge = MAGIC.to_vec();
        put_str(&mut huge, PARSER);
        put_uint(&mut huge, u64::MAX);
        assert!(Parsed::from_bytes(huge).is_none());
    }

    #[test]
    fn the_parser_release_is_the_locked_one() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
        let version = lock
            .split("[[package]]")
            .find(|p| p.contains("\nname = \"cel\"\n"))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
            .map(|v| v.trim_matches('"').to_string())
            .expect("cel in Cargo.lock");
        assert_eq!(
            PARSER,
            format!("cel {version}"),
            "bump PARSER with the cel crate"
        );
    }
}
