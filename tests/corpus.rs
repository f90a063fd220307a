//! Data-driven corpus: every file under tests/corpus/valid has zero error findings; every file
//! under tests/corpus/invalid has exactly the error and warning findings its `# expect: RULE LINE`
//! header lines name (rule id and line asserted), and no other error.

mod common;
use common::validator;

use std::path::{Path, PathBuf};

use traffic_engineer::validate::{Severity, Source};

fn files(dir: &str) -> Vec<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

fn source(p: &Path) -> Source {
    Source {
        name: p.file_name().unwrap().to_string_lossy().into(),
        text: std::fs::read_to_string(p).unwrap(),
    }
}

#[test]
fn valid_corpus_has_no_errors() {
    for p in files("valid") {
        let r = validator().validate_sources(&[source(&p)]);
        let errors: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", p.display());
        assert!(r.summary.documents > 1);
    }
}

#[test]
fn each_invalid_case_reports_its_rule_at_its_line() {
    let mut failures = Vec::new();
    for p in files("invalid") {
        let src = source(&p);
        let mut want: Vec<(String, usize)> = src
            .text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .map(|e| {
                let (rule, line) = e.rsplit_once(' ').expect("# expect: RULE LINE");
                (rule.to_string(), line.parse().expect("line number"))
            })
            .collect();
        want.sort();
        assert!(!want.is_empty(), "{}: no # expect lines", p.display());
        let r = validator().validate_sources(&[src]);
        let expected_rules: Vec<&str> = want.iter().map(|(r, _)| r.as_str()).collect();
        // every error, plus the warnings this file is about
        let mut got: Vec<(String, usize)> = r
            .findings
            .iter()
            .filter(|f| {
                f.severity == Severity::Error
                    || (f.severity == Severity::Warning
                        && expected_rules.contains(&f.rule.as_str()))
            })
            .map(|f| (f.rule.clone(), f.line.unwrap_or(0)))
            .collect();
        got.sort();
        got.dedup();
        if got != want {
            failures.push(format!(
                "{}: want {want:?}, got {got:?}\n{}",
                p.display(),
                r.to_text()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
