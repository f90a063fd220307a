//! SARIF 2.1.0 output, for code-scanning UIs.

use serde_json::{Value, json};

use super::{Report, Severity};

pub fn to_sarif(report: &Report) -> Value {
    let mut rule_ids: Vec<&str> = report.findings.iter().map(|f| f.rule.as_str()).collect();
    rule_ids.sort_unstable();
    rule_ids.dedup();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let level = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "note",
            };
            let mut text = f.message.clone();
            if !f.hint.is_empty() {
                text.push_str(" Fix: ");
                text.push_str(&f.hint);
            }
            let mut r = json!({"ruleId": f.rule, "level": level, "message": {"text": text}});
            if let Some(file) = &f.file {
                let mut region = json!({});
                if let Some(l) = f.line {
                    region["startLine"] = json!(l);
                }
                if let Some(c) = f.column {
                    region["startColumn"] = json!(c);
                }
                r["locations"] = json!([{"physicalLocation": {"artifactLocation": {"uri": file}, "region": region}}]);
            }
            if !f.path.is_empty() {
                r["properties"] = json!({"jsonPointer": f.path});
            }
            r
        })
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": "traffic-engineer",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rule_ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
            }},
            "results": results,
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Finding;

    #[test]
    fn shape() {
        let mut f = Finding::error(
            "schema/unknown-field",
            "/spec/x",
            "unknown field x",
            "remove it",
        );
        f.file = Some("traffic/a.yaml".into());
        f.line = Some(3);
        f.column = Some(5);
        let report = Report {
            findings: vec![f, Finding::info("crds/skipped", "", "m", "")],
            ..Default::default()
        };
        let s = to_sarif(&report);
        let r = &s["runs"][0]["results"];
        assert_eq!(r[0]["ruleId"], "schema/unknown-field");
        assert_eq!(r[0]["level"], "error");
        assert_eq!(
            r[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
            3
        );
        assert_eq!(r[1]["level"], "note");
        assert!(r[1].get("locations").is_none());
        assert_eq!(
            s["runs"][0]["tool"]["driver"]["rules"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
}
