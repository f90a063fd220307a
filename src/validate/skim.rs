//! A cheap first look at a CRD file: split the YAML stream into documents and set each
//! `openAPIV3Schema` block aside as text, so that only the small rest of a CRD (group, kind,
//! versions, served, deprecation, subresources) is parsed at load time. A schema is parsed
//! when its kind is first checked. Anything this line-based look cannot vouch for (flow style,
//! anchors across the cut, odd indentation) is parsed in full instead: the cut is an
//! optimisation, never a different reading of the file.

use std::ops::Range;

/// The placeholder key put where a schema block was cut out; its value is the block's number.
pub(crate) const DEFERRED_KEY: &str = "x-traffic-engineer-deferred";

/// One document of a stream, with its schema blocks cut out.
pub(crate) struct SkimmedDoc {
    /// Byte range of the whole document in the stream.
    pub doc: Range<usize>,
    /// The line of the stream that is line 1 of the skeleton.
    pub first_line: usize,
    /// The document without its schema blocks; each block is replaced by
    /// `openAPIV3Schema: {x-traffic-engineer-deferred: N}`.
    pub skeleton: String,
    /// The cut blocks, in order: each parses on its own as `openAPIV3Schema: …`.
    pub blocks: Vec<Block>,
}

/// One cut-out schema block: the key line (re-indented to the key) and the lines below it.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    /// Byte range of the lines below the key line.
    pub body: Range<usize>,
    /// Indentation of the `openAPIV3Schema:` key.
    pub indent: usize,
}

impl Block {
    /// The block as a YAML text of its own: `openAPIV3Schema:` at the key's indentation, then
    /// the lines below it as written.
    pub(crate) fn text(&self, stream: &str) -> String {
        let body = &stream[self.body.clone()];
        let mut s = String::with_capacity(body.len() + self.indent + 20);
        s.extend(std::iter::repeat_n(' ', self.indent));
        s.push_str("openAPIV3Schema:\n");
        s.push_str(body);
        s
    }
}

/// Lines of `text`: where each starts, where the next starts, and the line without its break.
fn lines(text: &str) -> impl Iterator<Item = (usize, usize, &str)> {
    let mut at = 0;
    text.split_inclusive('\n').map(move |l| {
        let start = at;
        at += l.len();
        (start, at, l.trim_end_matches(['\n', '\r']))
    })
}

fn is_document_marker(line: &str) -> bool {
    ["---", "..."].iter().any(|m| {
        line.strip_prefix(m)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    })
}

/// `openAPIV3Schema:` alone on its line (after `- ` list markers), with nothing but a comment
/// after it. Returns the key's indentation.
fn schema_key(line: &str) -> Option<usize> {
    let mut indent = line.len() - line.trim_start_matches(' ').len();
    let mut rest = &line[indent..];
    while let Some(r) = rest.strip_prefix("- ") {
        let more = r.len() - r.trim_start_matches(' ').len();
        indent += 2 + more;
        rest = &r[more..];
    }
    let after = rest.strip_prefix("openAPIV3Schema:")?;
    let after = after.trim_start_matches(' ');
    (after.is_empty() || after.starts_with('#')).then_some(indent)
}

/// Whether a line belongs to a block whose key is at `indent`: deeper lines, blank lines and
/// comment lines do; anything else ends it.
fn inside(line: &str, indent: usize) -> bool {
    let trimmed = line.trim_start_matches(' ');
    trimmed.is_empty() || trimmed.starts_with('#') || line.len() - trimmed.len() > indent
}

/// Split a stream into documents and cut the schema blocks out of each. Returns None when the
/// stream holds something this look does not handle (tabs in indentation, a block ending on a
/// line that is not a key of its parent); the caller parses it in full then.
pub(crate) fn skim(stream: &str) -> Option<Vec<SkimmedDoc>> {
    let mut docs = Vec::new();
    let mut cur = SkimmedDoc {
        doc: 0..0,
        first_line: 1,
        skeleton: String::new(),
        blocks: Vec::new(),
    };
    let mut block: Option<(usize, usize)> = None; // (indent, body start)
    for (number, (start, next, line)) in lines(stream).enumerate() {
        if let Some((indent, body)) = block {
            if inside(line, indent) {
                continue;
            }
            cur.blocks.push(Block {
                body: body..start,
                indent,
            });
            block = None;
        }
        if line.starts_with('\t') {
            return None;
        }
        if is_document_marker(line) {
            cur.doc.end = start;
            let done = std::mem::replace(
                &mut cur,
                SkimmedDoc {
                    doc: next..next,
                    first_line: number + 1,
                    skeleton: String::new(),
                    blocks: Vec::new(),
                },
            );
            docs.push(done);
            // the rest of a `--- ` line is content of the new document
            cur.skeleton.push_str(&line[3..]);
            cur.skeleton.push('\n');
            continue;
        }
        if let Some(indent) = schema_key(line) {
            let n = cur.blocks.len();
            let key_at = line.find("openAPIV3Schema:").unwrap_or(0);
            cur.skeleton.push_str(&line[..key_at]);
            cur.skeleton
                .push_str(&format!("openAPIV3Schema: {{{DEFERRED_KEY}: {n}}}\n"));
            block = Some((indent, next));
            continue;
        }
        cur.skeleton.push_str(line);
        cur.skeleton.push('\n');
    }
    if let Some((indent, body)) = block {
        cur.blocks.push(Block {
            body: body..stream.len(),
            indent,
        });
    }
    cur.doc.end = stream.len();
    docs.push(cur);
    Some(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_blocks_are_cut_and_parse_on_their_own() {
        let text = "# c\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n  versions:\n  - name: v1\n    schema:\n      openAPIV3Schema:\n        type: object\n        # a comment\n\n        properties:\n          a: {type: string}\n    served: true\n  - name: v2\n    schema:\n      openAPIV3Schema:   # why not\n        type: object\n---\nkind: Other\n";
        let docs = skim(text).unwrap();
        assert_eq!(docs.len(), 3);
        let crd = &docs[1];
        assert_eq!(crd.blocks.len(), 2);
        assert!(
            crd.skeleton
                .contains("openAPIV3Schema: {x-traffic-engineer-deferred: 0}\n    served: true"),
            "{}",
            crd.skeleton
        );
        assert!(
            crd.skeleton
                .contains("openAPIV3Schema: {x-traffic-engineer-deferred: 1}\n"),
            "{}",
            crd.skeleton
        );
        let b0 = crate::yaml::parse_documents(&crd.blocks[0].text(text)).unwrap();
        assert_eq!(
            b0[0].value,
            serde_json::json!({"openAPIV3Schema": {"type": "object", "properties": {"a": {"type": "string"}}}})
        );
        let b1 = crate::yaml::parse_documents(&crd.blocks[1].text(text)).unwrap();
        assert_eq!(
            b1[0].value,
            serde_json::json!({"openAPIV3Schema": {"type": "object"}})
        );
        assert!(docs[2].skeleton.contains("kind: Other"));
        // flow style stays in the skeleton
        let flow =
            skim("spec:\n  versions: [{name: v1, schema: {openAPIV3Schema: {type: object}}}]\n")
                .unwrap();
        assert!(flow[0].blocks.is_empty());
        assert!(skim("a:\n\tb: 1\n").is_none());
    }
}
