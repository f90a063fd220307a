//! Kubernetes string formats, checked leniently like kube-openapi's strfmt registry; each
//! becomes a custom `jsonschema` format `k8s-<name>` so that none of `jsonschema`'s stricter
//! built-in checks applies.

use crate::validate::meta::is_dns1123_subdomain;

/// Formats Kubernetes checks. Every other format (int32, int64, float, double, password, …) is
/// an annotation only.
pub(crate) const K8S_FORMATS: &[&str] = &[
    "byte",
    "date-time",
    "date",
    "ipv4",
    "ipv6",
    "cidr",
    "uri",
    "uuid",
    "duration",
    "hostname",
    "email",
    "mac",
];

pub(crate) fn format_check(name: &str) -> fn(&str) -> bool {
    match name {
        "byte" => is_base64,
        "date-time" => is_date_time,
        "date" => is_date,
        "ipv4" => |s| s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => |s| s.parse::<std::net::Ipv6Addr>().is_ok(),
        "cidr" => is_cidr,
        "uri" => is_uri,
        "uuid" => is_uuid,
        "duration" => is_go_duration,
        "hostname" => |s| is_dns1123_subdomain(&s.to_ascii_lowercase()),
        "email" => |s| {
            s.split_once('@')
                .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
        },
        "mac" => is_mac,
        _ => |_| true,
    }
}

fn is_base64(s: &str) -> bool {
    // Go's base64.StdEncoding.DecodeString ignores \r and \n
    let clean: Vec<u8> = s.bytes().filter(|b| *b != b'\r' && *b != b'\n').collect();
    if !clean.len().is_multiple_of(4) {
        return false;
    }
    let pad = clean.iter().rev().take_while(|b| **b == b'=').count();
    if pad > 2 {
        return false;
    }
    clean[..clean.len() - pad]
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_date(s: &str) -> bool {
    let p: Vec<&str> = s.split('-').collect();
    p.len() == 3 && digits(p[0], 4) && digits(p[1], 2) && digits(p[2], 2)
}

fn is_date_time(s: &str) -> bool {
    let Some(pos) = s.find(['T', 't', ' ']) else {
        return false;
    };
    let (date, rest) = s.split_at(pos);
    if !is_date(date) {
        return false;
    }
    let rest = &rest[1..];
    // time, fraction, zone
    let (time, zone) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let time = time.split('.').next().unwrap_or_default();
    let t: Vec<&str> = time.split(':').collect();
    if t.len() != 3 || !t.iter().all(|p| digits(p, 2)) {
        return false;
    }
    match zone {
        "" | "Z" | "z" => true,
        z => {
            let z = &z[1..];
            digits(&z.replace(':', ""), 4)
        }
    }
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits <= 32,
        Ok(std::net::IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

fn is_uri(s: &str) -> bool {
    if s.is_empty() || s.chars().any(|c| c.is_control() || c == ' ') {
        return false;
    }
    if s.starts_with('/') {
        return true;
    }
    match s.split_once(':') {
        Some((scheme, _)) => {
            let mut c = scheme.chars();
            c.next().is_some_and(|f| f.is_ascii_alphabetic())
                && c.all(|x| x.is_ascii_alphanumeric() || matches!(x, '+' | '-' | '.'))
        }
        None => false,
    }
}

fn is_uuid(s: &str) -> bool {
    let p: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    p.len() == 5
        && p.iter()
            .zip(lens)
            .all(|(x, n)| x.len() == n && x.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_mac(s: &str) -> bool {
    let p: Vec<&str> = s.split([':', '-']).collect();
    matches!(p.len(), 6 | 8 | 20)
        && p.iter()
            .all(|x| x.len() == 2 && x.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Go `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or "0".
pub(crate) fn is_go_duration(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    if s.is_empty() {
        return false;
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        if i == start
            || s[start..i].chars().filter(|c| *c == '.').count() > 1
            || &s[start..i] == "."
        {
            return false;
        }
        let u = i;
        while i < b.len() && !(b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        if !matches!(&s[u..i], "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h") {
            return false;
        }
    }
    true
}

/// How to fix a value of format `f`.
pub(crate) fn format_hint(f: &str) -> String {
    match f {
        "byte" => "give base64-encoded data (standard alphabet, padded)".into(),
        "date-time" => "give an RFC 3339 timestamp such as 2026-01-02T15:04:05Z".into(),
        "ipv4" => "give an IPv4 address such as 10.0.0.1".into(),
        "ipv6" => "give an IPv6 address such as fd00::1".into(),
        "cidr" => "give a CIDR such as 10.0.0.0/8".into(),
        "uri" => "give an absolute URI such as https://example.com/path".into(),
        "duration" => "give a Go duration such as 30s, 1m or 1h30m".into(),
        other => format!("give a valid {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_lenient_like_kubernetes() {
        let cases: &[(&str, &str, bool)] = &[
            ("byte", "aGVsbG8=", true),
            ("byte", "aGVsbG8", false),
            ("byte", "not base64!", false),
            ("date-time", "2026-01-02T15:04:05Z", true),
            ("date-time", "2026-01-02T15:04:05.123+02:00", true),
            ("date-time", "yesterday", false),
            ("ipv4", "10.0.0.1", true),
            ("ipv4", "10.0.0.256", false),
            ("ipv6", "fd00::1", true),
            ("ipv6", "10.0.0.1", false),
            ("uri", "https://idp.example.com/.well-known/jwks.json", true),
            ("uri", "not a uri", false),
            ("duration", "1h30m", true),
            ("duration", "90d", false),
            ("cidr", "0.0.0.0/0", true),
            ("cidr", "10.0.0.0/33", false),
        ];
        for (f, v, ok) in cases {
            assert_eq!(format_check(f)(v), *ok, "{f} {v}");
        }
    }
}
