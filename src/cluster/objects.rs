//! The stack as the cluster receives it: the kustomization's `resources` in their order (each
//! object with its file and line), plus the Secrets of its `secretGenerator`, built here as
//! kustomize would (with `disableNameSuffixHash`, the only form this product writes).
//!
//! A generated Secret's bytes live only in the object sent to the API server: `Debug` and
//! `Serialize` never show them, and [`Scrubber`] removes them from any message the server sends
//! back.

use std::path::Path;

use base64::Engine as _;
use serde_json::{Value, json};

use super::ClusterError;
use crate::workspace::{KUSTOMIZATION, Stack, apply_rank};

/// One object of the stack.
#[derive(Clone)]
pub struct StackObject {
    /// Display path, e.g. `traffic/gateway.yaml`.
    pub file: String,
    /// 1-based line where the object starts.
    pub line: usize,
    /// Where its fields are (by JSON pointer), for refusals naming a field.
    positions: crate::yaml::Positions,
    /// The object sent to the API server.
    pub value: Value,
    /// A Secret from the kustomization's secretGenerator: its data is never reported.
    pub generated: bool,
}

impl std::fmt::Debug for StackObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackObject")
            .field("file", &self.file)
            .field("line", &self.line)
            .field("kind", &self.kind())
            .field("name", &self.name())
            .field("namespace", &self.namespace())
            .finish()
    }
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

impl StackObject {
    pub fn api_version(&self) -> &str {
        str_at(&self.value, "/apiVersion")
    }
    pub fn kind(&self) -> &str {
        str_at(&self.value, "/kind")
    }
    pub fn name(&self) -> &str {
        str_at(&self.value, "/metadata/name")
    }
    /// The namespace as written (empty when none is).
    pub fn namespace(&self) -> &str {
        str_at(&self.value, "/metadata/namespace")
    }
    /// `Kind ns/name` or `Kind name`.
    pub fn label(&self) -> String {
        match self.namespace() {
            "" => format!("{} {}", self.kind(), self.name()),
            ns => format!("{} {}/{}", self.kind(), ns, self.name()),
        }
    }
    /// The line of a field the API server names (`spec.rules[0].matches[0].path.value`), or the
    /// object's first line.
    pub fn line_of(&self, field: &str) -> usize {
        if self.generated || field.is_empty() {
            return self.line;
        }
        let mut ptr = String::new();
        for part in field.split('.') {
            // name[0][1] -> name/0/1
            let mut rest = part;
            let key_end = rest.find('[').unwrap_or(rest.len());
            let key = &rest[..key_end];
            if !key.is_empty() {
                ptr.push('/');
                ptr.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            rest = &rest[key_end..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let end = stripped.find(']').unwrap_or(stripped.len());
                ptr.push('/');
                ptr.push_str(stripped[..end].trim_matches('"'));
                rest = stripped.get(end + 1..).unwrap_or("");
            }
        }
        self.positions.nearest(&ptr).map_or(self.line, |(l, _)| l)
    }
}

/// Removes generated Secret bytes (raw and base64) from text the server sends back.
#[derive(Default, Clone)]
pub struct Scrubber {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scrubber({} values)", self.secrets.len())
    }
}

impl Scrubber {
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "<redacted>");
            }
        }
        // a PEM block that reached a message anyway (quoted, escaped) is cut from its header
        for marker in ["-----BEGIN", "LS0tLS1CRUdJT"] {
            if let Some(i) = out.find(marker) {
                out.truncate(i);
                out.push_str("<redacted>");
            }
        }
        out
    }
}

/// The stack's objects in apply order and the scrubber for its generated Secrets.
pub fn load_stack(stack: &Stack) -> Result<(Vec<StackObject>, Scrubber), ClusterError> {
    let ktext = stack.read_manifest(KUSTOMIZATION).map_err(|e| {
        ClusterError::Stack(format!(
            "{}: {e} (apply needs the kustomization: the apply order and the secretGenerator)",
            Stack::display_path(KUSTOMIZATION)
        ))
    })?;
    let kdocs = crate::yaml::parse_documents(&ktext)
        .map_err(|e| ClusterError::Stack(format!("{}: {e}", Stack::display_path(KUSTOMIZATION))))?;
    let k = kdocs
        .first()
        .map(|d| d.value.clone())
        .unwrap_or(Value::Null);
    let mut out: Vec<StackObject> = Vec::new();
    for (i, r) in k["resources"].as_array().into_iter().flatten().enumerate() {
        let file = r.as_str().ok_or_else(|| {
            ClusterError::Stack(format!("kustomization resources[{i}] is not a file name"))
        })?;
        let text = stack.read_manifest(file).map_err(|e| {
            ClusterError::Stack(format!(
                "kustomization resources[{i}] {file:?}: {e} (only plain YAML files of the stack folder are applied)"
            ))
        })?;
        let docs = crate::yaml::parse_documents(&text)
            .map_err(|e| ClusterError::Stack(format!("{}: {e}", Stack::display_path(file))))?;
        for d in docs {
            if d.value.is_null() {
                continue;
            }
            let obj = StackObject {
                file: Stack::display_path(file),
                line: d.line,
                positions: d.positions,
                value: d.value,
                generated: false,
            };
            if obj.kind().is_empty() || obj.name().is_empty() || obj.api_version().is_empty() {
                return Err(ClusterError::Stack(format!(
                    "{}:{}: an object without apiVersion, kind or metadata.name",
                    obj.file, obj.line
                )));
            }
            out.push(obj);
        }
    }
    let mut scrubber = Scrubber::default();
    let gens = k["secretGenerator"].as_array().cloned().unwrap_or_default();
    if !gens.is_empty() && k["generatorOptions"]["disableNameSuffixHash"] != json!(true) {
        return Err(ClusterError::Stack(
            "the secretGenerator names its Secrets with kustomize's content hash (no generatorOptions.disableNameSuffixHash: true); apply it with kubectl apply -k".into(),
        ));
    }
    let kline = kdocs
        .first()
        .map(|d| d.position("/secretGenerator").0)
        .unwrap_or(1);
    let mut generated = Vec::new();
    for (i, g) in gens.iter().enumerate() {
        let name = g["name"].as_str().unwrap_or("");
        if name.is_empty() {
            return Err(ClusterError::Stack(format!(
                "kustomization secretGenerator[{i}] has no name"
            )));
        }
        let mut data = serde_json::Map::new();
        for f in g["files"].as_array().into_iter().flatten() {
            let spec = f.as_str().unwrap_or("");
            let (key, file) = spec.split_once('=').unwrap_or((spec, spec));
            let bytes = read_plain(stack.dir(), file).map_err(|e| {
                ClusterError::Stack(format!("kustomization secretGenerator[{i}] {file:?}: {e}"))
            })?;
            let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
            if let Ok(t) = String::from_utf8(bytes) {
                scrubber.secrets.extend(
                    t.lines()
                        .map(str::trim)
                        .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
                        .map(str::to_string),
                );
            }
            scrubber.secrets.push(b64.clone());
            data.insert(key.to_string(), Value::String(b64));
        }
        if g["literals"].as_array().is_some_and(|l| !l.is_empty()) || g["envs"].is_array() {
            return Err(ClusterError::Stack(format!(
                "kustomization secretGenerator[{i}] uses literals or envs; apply it with kubectl apply -k"
            )));
        }
        let mut meta = json!({"name": name});
        if let Some(ns) = g["namespace"].as_str() {
            meta["namespace"] = json!(ns);
        }
        generated.push(StackObject {
            file: Stack::display_path(KUSTOMIZATION),
            line: kline,
            positions: Default::default(),
            value: json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": meta,
                "type": g["type"].as_str().unwrap_or("Opaque"),
                "data": Value::Object(data),
            }),
            generated: true,
        });
    }
    // kustomize puts Secrets after Namespaces and before everything that may mount them
    let at = out
        .iter()
        .position(|o| apply_rank(o.kind()) > apply_rank("Secret"))
        .unwrap_or(out.len());
    out.splice(at..at, generated);
    Ok((out, scrubber))
}

/// A plain file of the stack folder (no path, no symlink), for the secretGenerator's files.
fn read_plain(dir: &Path, file: &str) -> Result<Vec<u8>, String> {
    if file.is_empty() || file.starts_with('.') || file.contains(['/', '\\', '\0']) {
        return Err("not a plain file name of the stack folder".into());
    }
    let p = dir.join(file);
    match std::fs::symlink_metadata(&p) {
        Ok(m) if m.file_type().is_file() && m.len() <= 1024 * 1024 => {}
        Ok(m) if m.file_type().is_file() => return Err("larger than 1 MiB".into()),
        Ok(_) => return Err("not a regular file".into()),
        Err(e) => return Err(e.kind().to_string()),
    }
    std::fs::read(&p).map_err(|e| e.kind().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(yaml: &str) -> StackObject {
        let d = crate::yaml::parse_documents(yaml).unwrap().remove(0);
        StackObject {
            file: "traffic/x.yaml".into(),
            line: d.line,
            positions: d.positions,
            value: d.value,
            generated: false,
        }
    }

    #[test]
    fn a_server_field_path_maps_to_its_line() {
        let o = obj(
            "apiVersion: v1\nkind: X\nmetadata:\n  name: a\nspec:\n  rules:\n  - matches:\n    - path:\n        value: foo\n",
        );
        assert_eq!(o.line_of("spec.rules[0].matches[0].path.value"), 9);
        assert_eq!(o.line_of("spec.rules[0].nothing"), 7);
        assert_eq!(o.line_of("metadata.labels[\"a.b/c\"]"), 3);
        assert_eq!(o.line_of(""), 1);
    }

    #[test]
    fn the_scrubber_removes_secret_bytes() {
        let s = Scrubber {
            secrets: vec!["c2VjcmV0IGJ5dGVzIGhlcmU=".into()],
        };
        assert_eq!(
            s.scrub("invalid: data[tls.key]: c2VjcmV0IGJ5dGVzIGhlcmU= bad"),
            "invalid: data[tls.key]: <redacted> bad"
        );
        let marker = format!("x -----BEGIN {} KEY----- abc", "PRIVATE");
        assert_eq!(s.scrub(&marker), "x <redacted>");
    }
}
