//! A bounded XML tree for the feeds' documents, built with quick-xml.
//!
//! Warnings come from the network, so the reader refuses before it builds:
//! a document over [`MAX_DOCUMENT_BYTES`], nesting deeper than
//! [`MAX_DEPTH`], more than [`MAX_ELEMENTS`] elements, text longer than
//! [`MAX_TEXT_BYTES`] in one element, anything but UTF-8, and any DOCTYPE
//! or entity beyond XML's five predefined ones and character references
//! (no external entity, no entity expansion: a billion laughs has nothing to
//! expand). Every refusal is one line that says where.

use std::fmt;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// Largest document accepted: real ones are tens of KB; the largest
/// nowcast seen (150 polygons, 3,000 points) is well under one MB.
pub const MAX_DOCUMENT_BYTES: usize = 4 << 20;
/// Deepest nesting accepted: CAP needs 4 (`alert/info/area/geocode/value`).
pub const MAX_DEPTH: usize = 16;
/// Most elements in one document.
pub const MAX_ELEMENTS: usize = 50_000;
/// Longest text of one element (a polygon of 3,000 points is about 60 KB).
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// Why a document was refused: one line, naming the field or the place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

impl Refusal {
    pub fn new(message: impl Into<String>) -> Refusal {
        // One line whatever the message carried in from a document.
        let text: String = message.into();
        Refusal(text.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

/// One element: its local name, namespace, text (the concatenation of its
/// own text and CDATA, untrimmed) and children, and the line it starts on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Element {
    pub name: String,
    pub namespace: Option<String>,
    pub text: String,
    pub children: Vec<Element>,
    pub line: usize,
}

impl Element {
    /// The first child called `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child called `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of the first child called `name`, if present and
    /// not blank.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.trim())
            .filter(|t| !t.is_empty())
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Lines counted as the reader moves forward: each event's line costs only
/// the bytes since the last one (counting from the start each time would
/// make a document of many elements quadratic).
struct Lines<'t> {
    text: &'t str,
    offset: usize,
    line: usize,
}

impl Lines<'_> {
    fn at(&mut self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        if end >= self.offset {
            let new = &self.text.as_bytes()[self.offset..end];
            self.line += new.iter().filter(|b| **b == b'\n').count();
            self.offset = end;
            self.line
        } else {
            line_at(self.text, end)
        }
    }
}

/// Parse `bytes` into its root element, within the bounds above.
pub fn parse(bytes: &[u8]) -> Result<Element, Refusal> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(Refusal::new(format!(
            "the document is {} bytes: at most {MAX_DOCUMENT_BYTES} are accepted",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        Refusal::new(format!("line {line}: the document is not UTF-8"))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = NsReader::from_str(text);
    reader.config_mut().check_end_names = true;
    reader.config_mut().check_comments = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    let mut lines = Lines {
        text,
        offset: 0,
        line: 1,
    };
    loop {
        let at = reader.buffer_position() as usize;
        // The namespace is made owned at once: the resolver's answer borrows
        // the reader, which the error's position needs too.
        let step = match reader.read_resolved_event() {
            Ok((ResolveResult::Bound(n), event)) => Ok((
                Ok(Some(String::from_utf8_lossy(n.as_ref()).into_owned())),
                event,
            )),
            Ok((ResolveResult::Unbound, event)) => Ok((Ok(None), event)),
            Ok((ResolveResult::Unknown(p), event)) => Ok((Err(p), event)),
            Err(e) => Err(e),
        };
        let (namespace, event) = step.map_err(|e| {
            let line = line_at(text, reader.error_position() as usize);
            Refusal::new(format!("line {line}: malformed XML: {e}"))
        })?;
        let here = lines.at(at);
        let line = || here;
        let namespace = match namespace {
            Ok(n) => n,
            Err(p) => {
                return Err(Refusal::new(format!(
                    "line {}: the prefix `{}` is bound to no namespace",
                    line(),
                    String::from_utf8_lossy(&p)
                )))
            }
        };
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                if root.is_some() {
                    return Err(Refusal::new(format!(
                        "line {}: content after the root element",
                        line()
                    )));
                }
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(Refusal::new(format!(
                        "line {}: more than {MAX_ELEMENTS} elements",
                        line()
                    )));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(Refusal::new(format!(
                        "line {}: elements nested deeper than {MAX_DEPTH}",
                        line()
                    )));
                }
                let element = Element {
                    name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
                    namespace,
                    line: line(),
                    ..Element::default()
                };
                if matches!(event, Event::Empty(_)) {
                    close(&mut stack, &mut root, element);
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                let element = stack.pop().expect("quick-xml checks end names");
                close(&mut stack, &mut root, element);
            }
            Event::Text(t) => {
                let raw = t
                    .decode()
                    .map_err(|e| Refusal::new(format!("line {}: {e}", line())))?;
                append(&mut stack, &raw, line())?;
            }
            Event::CData(t) => {
                let raw = t
                    .decode()
                    .map_err(|e| Refusal::new(format!("line {}: {e}", line())))?;
                append(&mut stack, &raw, line())?;
            }
            Event::GeneralRef(r) => {
                let name = r
                    .decode()
                    .map_err(|e| Refusal::new(format!("line {}: {e}", line())))?;
                let ch = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten().ok_or_else(|| {
                        Refusal::new(format!(
                            "line {}: the character reference `&{name};` is not a character",
                            line()
                        ))
                    })?
                } else {
                    match name.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => {
                            return Err(Refusal::new(format!(
                                "line {}: the entity `&{name};` is refused: only XML's five predefined entities are accepted",
                                line()
                            )))
                        }
                    }
                };
                append(&mut stack, ch.encode_utf8(&mut [0; 4]), line())?;
            }
            Event::DocType(_) => {
                return Err(Refusal::new(format!(
                    "line {}: a DOCTYPE is refused (no DTDs, no entities in warnings)",
                    line()
                )))
            }
            Event::Decl(d) => {
                if let Some(Ok(enc)) = d.encoding() {
                    let enc = String::from_utf8_lossy(&enc).to_ascii_lowercase();
                    if enc != "utf-8" && enc != "utf8" {
                        return Err(Refusal::new(format!(
                            "line {}: the encoding `{enc}` is refused: only UTF-8 is accepted",
                            line()
                        )));
                    }
                }
            }
            Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(Refusal::new(format!(
            "line {}: the document ends inside <{}> (truncated?)",
            line_at(text, text.len()),
            open.name
        )));
    }
    root.ok_or_else(|| Refusal::new("the document has no root element"))
}

fn close(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

fn append(stack: &mut [Element], text: &str, line: usize) -> Result<(), Refusal> {
    match stack.last_mut() {
        Some(open) => {
            if open.text.len() + text.len() > MAX_TEXT_BYTES {
                return Err(Refusal::new(format!(
                    "line {line}: the text of <{}> is longer than {MAX_TEXT_BYTES} bytes",
                    open.name
                )));
            }
            open.text.push_str(text);
            Ok(())
        }
        // Whitespace around the root is allowed; anything else is not.
        None if text.trim().is_empty() => Ok(()),
        None => Err(Refusal::new(format!(
            "line {line}: text outside the root element"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_tree_with_namespaces_and_references() {
        let doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a xmlns=\"urn:x\"><b>1 &amp; 2 &#x41;</b><c/><![CDATA[<raw>]]></a>";
        let root = parse(doc.as_bytes()).unwrap();
        assert_eq!(root.name, "a");
        assert_eq!(root.namespace.as_deref(), Some("urn:x"));
        assert_eq!(root.text_of("b"), Some("1 & 2 A"));
        assert_eq!(root.child("c").unwrap().line, 2);
        assert_eq!(root.text, "<raw>");
    }

    #[test]
    fn doctype_and_entities_are_refused() {
        let doc = "<?xml version=\"1.0\"?>\n<!DOCTYPE a [<!ENTITY x \"boom\">]>\n<a>&x;</a>";
        let e = parse(doc.as_bytes()).unwrap_err();
        assert!(e.0.contains("line 2: a DOCTYPE is refused"), "{e}");
        let e = parse(b"<a>&x;</a>").unwrap_err();
        assert!(e.0.contains("the entity `&x;` is refused"), "{e}");
    }

    #[test]
    fn depth_size_and_count_are_bounded() {
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(parse(deep.as_bytes())
            .unwrap_err()
            .0
            .contains("deeper than"));
        let ok = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
        let many = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS));
        assert!(parse(many.as_bytes()).unwrap_err().0.contains("more than"));
        let big = vec![b' '; MAX_DOCUMENT_BYTES + 1];
        assert!(parse(&big).unwrap_err().0.contains("bytes: at most"));
        let long = format!("<a>{}</a>", "x".repeat(MAX_TEXT_BYTES + 1));
        assert!(parse(long.as_bytes())
            .unwrap_err()
            .0
            .contains("longer than"));
    }

    #[test]
    fn malformed_documents_say_where() {
        let e = parse(b"<a>\n<b></c></a>").unwrap_err();
        assert!(e.0.starts_with("line 2: malformed XML"), "{e}");
        let e = parse(b"<a>\n<b>text").unwrap_err();
        assert!(e.0.contains("ends inside <b>"), "{e}");
        let e = parse(b"<a/><b/>").unwrap_err();
        assert!(e.0.contains("after the root"), "{e}");
        let e = parse(b"<a>\xff</a>").unwrap_err();
        assert!(e.0.contains("not UTF-8"), "{e}");
        let e = parse(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>").unwrap_err();
        assert!(e.0.contains("only UTF-8"), "{e}");
        let e = parse(b"<p:a/>").unwrap_err();
        assert!(e.0.contains("prefix `p`"), "{e}");
        assert!(parse(b"").unwrap_err().0.contains("no root"));
    }
}
