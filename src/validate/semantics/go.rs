//! The Go parsers the upstream components run on user strings, reproduced so that a value is
//! refused here exactly when Go refuses it: `time.ParseDuration`, `strconv.ParseBool`,
//! `encoding/json` numbers (KEDA's typed config reads floats that way), `net.ParseCIDR`,
//! `net.ParseIP` and `regexp.Compile` (RE2 syntax).
//!
//! No crate does Go's duration or RE2 acceptance; std's address parsers have Go's rules (no
//! leading zeros in IPv4 octets, no zones), so they are used as they are. Regexes are parsed
//! (not compiled) with `regex-syntax`, after the Go-only spellings are rewritten, and the AST is
//! then checked for what Go refuses and Rust accepts.

use std::borrow::Cow;
use std::net::IpAddr;

/// Go's `time.ParseDuration` (Go 1.25): nanoseconds, or `None` where Go returns an error.
pub fn parse_duration(s: &str) -> Option<i128> {
    let mut rest = s;
    let mut neg = false;
    if let Some(c) = rest.chars().next()
        && (c == '-' || c == '+')
    {
        neg = c == '-';
        rest = &rest[1..];
    }
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let b = rest.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return None;
        }
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let int: i128 = if int_len == 0 {
            0
        } else {
            rest[..int_len].parse().ok()?
        };
        if int > i64::MAX as i128 {
            return None;
        }
        rest = &rest[int_len..];
        let mut frac = 0f64;
        let mut frac_len = 0;
        if let Some(r) = rest.strip_prefix('.') {
            frac_len = r.bytes().take_while(u8::is_ascii_digit).count();
            if frac_len > 0 {
                frac = format!("0.{}", &r[..frac_len]).parse().unwrap_or(0.0);
            }
            rest = &r[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return None;
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        if unit_len == 0 {
            return None; // missing unit
        }
        let unit: i128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += int * unit + (frac * unit as f64) as i128;
        if total > i64::MAX as i128 + 1 {
            return None;
        }
    }
    if !neg && total > i64::MAX as i128 {
        return None;
    }
    Some(if neg { -total } else { total })
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A float as `encoding/json` decodes it: JSON number grammar (no `+`, no leading `.`, no
/// leading zeros, no hex, no NaN) and within float64's range.
pub fn parse_json_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_len = i - int_start;
    if int_len == 0 || (int_len > 1 && b[int_start] == b'0') {
        return None;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == f {
            return None;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Go's `net.ParseCIDR`: an address without zone, `/`, a decimal prefix length within the
/// address's bits (leading zeros allowed, as Go's `dtoi` allows them).
pub fn parse_cidr(s: &str) -> bool {
    let Some((addr, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return false;
    };
    if bits.is_empty() || bits.len() > 8 || !bits.bytes().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let n: u32 = bits.parse().unwrap_or(u32::MAX);
    n <= if ip.is_ipv4() { 32 } else { 128 }
}

/// Go's `net.ParseIP`.
pub fn parse_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// Go's `regexp.Compile` (RE2 syntax, Perl flags): `Err(reason)` where Go returns an error,
/// `Ok(())` where it compiles or where this check cannot decide (`\Q...\E`, which Rust's parser
/// does not know; Go's size and nesting limits are not checked).
///
/// Where the two syntaxes differ:
/// - Go accepts, Rust refuses: an escaped punctuation character that Rust gives no meaning
///   (rewritten to `\x{..}` first), octal escapes `\0`, `\12`, `\123` (rewritten), `\Q...\E`
///   (not decided).
/// - Rust accepts, Go refuses (checked on the AST): flags other than `i m s U` (`x`, `u`, `R`),
///   repetition counts above 1000, a repetition of a repetition (`a**`, `a{2}+`), Unicode class
///   names Go does not spell that way (`\p{letter}`, `\p{sc=Greek}`; Go's script table itself is
///   not reproduced, so a well-formed but unknown script name passes).
/// - Both accept with different meanings (not a rejection, not reported): `\<` and `\>`
///   (literal in Go, word boundaries in Rust), class set operations `&&` `--` `~~` and nested
///   classes.
pub fn check_regex(pattern: &str) -> Result<(), String> {
    let Some(rewritten) = rewrite_go_escapes(pattern)? else {
        return Ok(());
    };
    let ast = regex_syntax::ast::parse::ParserBuilder::new()
        .nest_limit(1000)
        .build()
        .parse(&rewritten)
        .map_err(|e| format!("{}", e.kind()))?;
    let mut err = None;
    go_only_refusals(&ast, &mut err);
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Rewrite Go-only escapes into Rust's spelling. `Ok(None)`: undecidable here (`\Q`).
fn rewrite_go_escapes(p: &str) -> Result<Option<Cow<'_, str>>, String> {
    if !p.contains(['\\', '{']) {
        return Ok(Some(Cow::Borrowed(p)));
    }
    let mut out = String::with_capacity(p.len() + 8);
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '{' {
            // Go (parseRepeat): a `{` that does not open {n}, {n,} or {n,m} is a literal;
            // Rust refuses it
            let rest: String = chars.clone().take(24).collect();
            if !is_go_repeat(&rest) {
                out.push_str("\\x{7b}");
                continue;
            }
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(n) = chars.next() else {
            return Err("trailing backslash at end of expression".into());
        };
        match n {
            'Q' => return Ok(None),
            '1'..='7' if !chars.peek().is_some_and(|d| ('0'..='7').contains(d)) => {
                return Err(format!(
                    "invalid escape sequence: `\\{n}` (backreferences are not supported)"
                ));
            }
            '0'..='7' => {
                // Go: up to three octal digits in all
                let mut v = n.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.push_str(&format!("\\x{{{v:x}}}"));
            }
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => {
                out.push_str(&format!("\\x{{{:x}}}", c as u32));
            }
            c => {
                out.push('\\');
                out.push(c);
                // \p{Name}, \P{Name}, \x{HHHH}: the braces are the escape's, copied as they are
                if matches!(c, 'p' | 'P' | 'x') && chars.peek() == Some(&'{') {
                    for b in chars.by_ref() {
                        out.push(b);
                        if b == '}' {
                            break;
                        }
                    }
                }
            }
        }
    }
    Ok(Some(Cow::Owned(out)))
}

/// Whether the text after a `{` completes a Go repeat: digits, optionally `,` and digits, `}`.
fn is_go_repeat(rest: &str) -> bool {
    let b = rest.as_bytes();
    let mut i = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if i == 0 {
        return false;
    }
    if b.get(i) == Some(&b',') {
        i += 1;
        i += b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    }
    b.get(i) == Some(&b'}')
}

const GO_CATEGORIES: &[&str] = &[
    "Any", "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn",
    "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm",
    "So", "Z", "Zl", "Zp", "Zs",
];

fn go_only_refusals(ast: &regex_syntax::ast::Ast, err: &mut Option<String>) {
    use regex_syntax::ast::{Ast, ClassSetItem, ClassUnicodeKind, FlagsItemKind, RepetitionKind};
    if err.is_some() {
        return;
    }
    let unicode_name = |kind: &ClassUnicodeKind, err: &mut Option<String>| match kind {
        ClassUnicodeKind::OneLetter(c) => {
            if !GO_CATEGORIES.contains(&c.to_string().as_str()) {
                *err = Some(format!("invalid character class range: `\\p{c}`"));
            }
        }
        ClassUnicodeKind::Named(name) => {
            let script_like = name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !GO_CATEGORIES.contains(&name.as_str()) && !script_like {
                *err = Some(format!("invalid character class range: `\\p{{{name}}}`"));
            }
        }
        ClassUnicodeKind::NamedValue { name, value, .. } => {
            *err = Some(format!(
                "invalid character class range: `\\p{{{name}={value}}}` (Go has no property=value classes)"
            ));
        }
    };
    let flags = |items: &[regex_syntax::ast::FlagsItem], err: &mut Option<String>| {
        for it in items {
            if let FlagsItemKind::Flag(f) = &it.kind {
                use regex_syntax::ast::Flag;
                if matches!(f, Flag::IgnoreWhitespace | Flag::Unicode | Flag::CRLF) {
                    *err = Some(format!(
                        "invalid or unsupported Perl syntax: flag {f:?} (Go allows only i, m, s, U)"
                    ));
                }
            }
        }
    };
    match ast {
        Ast::Flags(f) => flags(&f.flags.items, err),
        Ast::ClassUnicode(u) => unicode_name(&u.kind, err),
        Ast::ClassBracketed(b) => {
            let mut stack = vec![&b.kind];
            while let Some(set) = stack.pop() {
                match set {
                    regex_syntax::ast::ClassSet::Item(item) => {
                        let mut items = vec![item];
                        while let Some(i) = items.pop() {
                            match i {
                                ClassSetItem::Unicode(u) => unicode_name(&u.kind, err),
                                ClassSetItem::Union(un) => items.extend(un.items.iter()),
                                ClassSetItem::Bracketed(b) => stack.push(&b.kind),
                                _ => {}
                            }
                        }
                    }
                    regex_syntax::ast::ClassSet::BinaryOp(op) => {
                        stack.push(&op.lhs);
                        stack.push(&op.rhs);
                    }
                }
            }
        }
        Ast::Repetition(r) => {
            if let RepetitionKind::Range(range) = &r.op.kind {
                use regex_syntax::ast::RepetitionRange;
                let (a, b) = match range {
                    RepetitionRange::Exactly(n) | RepetitionRange::AtLeast(n) => (*n, *n),
                    RepetitionRange::Bounded(a, b) => (*a, *b),
                };
                if a > 1000 || b > 1000 {
                    *err = Some(format!("invalid repeat count: {} > 1000", a.max(b)));
                    return;
                }
            }
            if matches!(*r.ast, Ast::Repetition(_)) {
                *err = Some("invalid nested repetition operator".into());
                return;
            }
            go_only_refusals(&r.ast, err);
        }
        Ast::Group(g) => {
            if let regex_syntax::ast::GroupKind::NonCapturing(f) = &g.kind {
                flags(&f.items, err);
            }
            go_only_refusals(&g.ast, err);
        }
        Ast::Alternation(a) => a.asts.iter().for_each(|x| go_only_refusals(x, err)),
        Ast::Concat(c) => c.asts.iter().for_each(|x| go_only_refusals(x, err)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go_parses_them() {
        let s = 1_000_000_000i128;
        for (text, want) in [
            ("0", Some(0)),
            ("1s", Some(s)),
            ("1.5h", Some(5400 * s)),
            ("1h30m", Some(5400 * s)),
            ("-2m", Some(-120 * s)),
            ("+5ms", Some(5_000_000)),
            ("100us", Some(100_000)),
            ("1\u{b5}s", Some(1000)),
            (".5s", Some(s / 2)),
            ("5.s", Some(5 * s)),
            ("", None),
            ("1", None),
            ("1d", None),
            ("90d", None),
            ("s", None),
            (".s", None),
            ("1 s", None),
            ("1h 30m", None),
            ("9999999999h", None),
        ] {
            assert_eq!(parse_duration(text), want, "{text:?}");
        }
    }

    #[test]
    fn json_floats_and_go_bools() {
        for ok in ["0", "100", "-1", "1.5", "1e3", "2E-2", "0.25"] {
            assert!(parse_json_float(ok).is_some(), "{ok}");
        }
        for bad in [
            "", "+5", ".5", "5.", "007", "0x10", "NaN", "1e400", "100m", " 1", "1,5",
        ] {
            assert!(parse_json_float(bad).is_none(), "{bad}");
        }
        assert_eq!(parse_bool("True"), Some(true));
        assert_eq!(parse_bool("f"), Some(false));
        assert_eq!(parse_bool("yes"), None);
    }

    #[test]
    fn cidrs_as_go_parses_them() {
        for ok in [
            "10.0.0.0/8",
            "192.168.1.1/24",
            "0.0.0.0/0",
            "2001:db8::/32",
            "::ffff:1.2.3.4/128",
            "10.0.0.0/08",
        ] {
            assert!(parse_cidr(ok), "{ok}");
        }
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "300.0.0.0/8",
            "010.0.0.0/8",
            "10.0.0/8",
            "fe80::1%eth0/64",
            "2001:db8::/129",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/ 8",
        ] {
            assert!(!parse_cidr(bad), "{bad}");
        }
    }

    #[test]
    fn regexes_as_go_compiles_them() {
        for ok in [
            "^[a-z0-9-]+$",
            ".*",
            "^/api/v[0-9]+/.*",
            r"\/path\-x\_y\@",
            r"\012",
            r"\0",
            r"(?i)abc",
            r"(?P<name>a)",
            r"(?<name>a)",
            r"\p{Greek}\pL\p{Lu}",
            r"[[:alpha:]]",
            r"a{1000}",
            r"a*?",
            r"\Qa.b\E",
            r"\<",
            "^[A-Za-z0-9]{32}$",
            "^{.*}$",
            r#"\{"a":1}"#,
            "a{,5}",
            "x{2,}y{1,3}",
            r"\p{Greek}{2}\x{4a}{1,2}\P{Lu}",
        ] {
            assert_eq!(check_regex(ok), Ok(()), "{ok}");
        }
        for bad in [
            "^[a-z0-9-++$",
            "(",
            "a)",
            "*a",
            r"(?=a)",
            r"(?!a)",
            r"\1",
            r"a{1001}",
            r"a{2,1}",
            r"a**",
            r"a{2}+",
            r"(?x)a b",
            r"\p{letter}",
            r"\p{sc=Greek}",
            r"\y",
            "\\",
        ] {
            assert!(check_regex(bad).is_err(), "{bad}");
        }
    }
}
