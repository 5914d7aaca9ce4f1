//! Diagnostics that name file, line and column.
//!
//! Two renderings:
//! - [`Display`](fmt::Display) is one line, `file:line:col: error: message`,
//!   stable so that scripts can grep it.
//! - [`Diagnostic::render`] is the cargo-like form with the source line and a
//!   caret underline, for people at a terminal.

use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a diagnostic is. Only errors make loading fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem in one file, at one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters (not bytes).
    pub column: usize,
    pub message: String,
}

impl Diagnostic {
    /// An error at `line`:`column` (both 1-based) of `file`.
    pub fn error(
        file: impl Into<PathBuf>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: file.into(),
            line,
            column,
            message: message.into(),
        }
    }

    /// A warning at `line`:`column` (both 1-based) of `file`.
    pub fn warning(
        file: impl Into<PathBuf>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, line, column, message)
        }
    }

    /// A diagnostic at byte `offset` of `source`, the text of `file`.
    pub fn at_offset(
        severity: Severity,
        file: impl Into<PathBuf>,
        source: &str,
        offset: usize,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = line_col(source, offset);
        Diagnostic {
            severity,
            file: file.into(),
            line,
            column,
            message: message.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The cargo-like multi-line form, reading the source line from
    /// `self.file`. If the file cannot be read, the snippet is left out.
    pub fn render(&self) -> String {
        match std::fs::read(&self.file) {
            Ok(bytes) => self.render_with_source(&String::from_utf8_lossy(&bytes)),
            Err(_) => self.render_header(),
        }
    }

    /// The cargo-like multi-line form, with `source` as the file's text:
    ///
    /// ```text
    /// error: unknown codec `mp3`: expected `l16`, `pcmu`, `g722` or `opus`
    ///  --> config.toml:3:9
    ///   |
    /// 3 | codec = "mp3"
    ///   |         ^^^^^
    /// ```
    pub fn render_with_source(&self, source: &str) -> String {
        let mut out = self.render_header();
        let Some(text) = source
            .split('\n')
            .nth(self.line.saturating_sub(1))
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
        else {
            return out;
        };
        let text = if self.line == 1 {
            text.strip_prefix('\u{feff}').unwrap_or(text)
        } else {
            text
        };
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        let column = self.column.max(1);
        // Keep tabs in the padding so that the carets line up under the text.
        let pad: String = text
            .chars()
            .take(column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let rest: String = text.chars().skip(column - 1).collect();
        let width = token_width(&rest);
        out.push_str(&format!("{gutter} |\n"));
        out.push_str(&format!("{number} | {text}\n"));
        out.push_str(&format!("{gutter} | {pad}{}\n", "^".repeat(width)));
        out
    }

    fn render_header(&self) -> String {
        let gutter = " ".repeat(self.line.to_string().len());
        format!(
            "{}: {}\n{gutter}--> {}:{}:{}\n",
            self.severity.label(),
            self.message,
            self.file.display(),
            self.line,
            self.column
        )
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.severity.label(),
            self.message
        )
    }
}

/// How many characters of `rest` (the line from the diagnostic's column on)
/// the caret underline covers: a quoted string up to its closing quote, a
/// bracketed value up to its closing bracket, else a bare word. At least 1.
fn token_width(rest: &str) -> usize {
    let mut chars = rest.chars();
    let Some(first) = chars.next() else {
        return 1;
    };
    let width = match first {
        '"' | '\'' => {
            let mut escaped = false;
            let mut n = 1;
            let mut closed = false;
            for c in chars {
                n += 1;
                if first == '"' && c == '\\' && !escaped {
                    escaped = true;
                    continue;
                }
                if c == first && !escaped {
                    closed = true;
                    break;
                }
                escaped = false;
            }
            if closed {
                n
            } else {
                rest.trim_end().chars().count()
            }
        }
        '[' | '{' => {
            let close = if first == '[' { ']' } else { '}' };
            let mut depth = 0usize;
            let mut n = 0;
            for c in rest.chars() {
                n += 1;
                if c == first {
                    depth += 1;
                } else if c == close {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
            }
            n
        }
        _ => rest
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}' | '=' | '#'))
            .count(),
    };
    width.max(1)
}

/// 1-based line and column (in characters) of byte `offset` in `source`.
/// An offset past the end points just after the last character.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let mut column = before[line_start..].chars().count() + 1;
    // A byte-order mark is invisible in editors: don't count it.
    if line == 1 && before.starts_with('\u{feff}') {
        column -= 1;
    }
    (line, column)
}

/// Every problem found in one pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn new() -> Self {
        Diagnostics(Vec::new())
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// The errors, in order.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    /// The warnings, in order.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// Sort by file, then position; errors before warnings at one place.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            (&a.file, a.line, a.column, a.severity).cmp(&(&b.file, b.line, b.column, b.severity))
        });
    }

    /// Every diagnostic in the cargo-like form, each followed by a blank
    /// line. Each file is read once.
    pub fn render(&self) -> String {
        let mut sources: Vec<(&Path, Option<String>)> = Vec::new();
        let mut out = String::new();
        for d in &self.0 {
            let source = match sources.iter().find(|(p, _)| *p == d.file.as_path()) {
                Some((_, s)) => s.clone(),
                None => {
                    let s = std::fs::read(&d.file)
                        .ok()
                        .map(|b| String::from_utf8_lossy(&b).into_owned());
                    sources.push((d.file.as_path(), s.clone()));
                    s
                }
            };
            match source {
                Some(s) => out.push_str(&d.render_with_source(&s)),
                None => out.push_str(&d.render_header()),
            }
            out.push('\n');
        }
        out
    }
}

impl From<Vec<Diagnostic>> for Diagnostics {
    fn from(v: Vec<Diagnostic>) -> Self {
        Diagnostics(v)
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_from_one() {
        let s = "a = 1\nkota = \"Blitar\"\nx";
        assert_eq!(line_col(s, 0), (1, 1));
        assert_eq!(line_col(s, 6), (2, 1));
        assert_eq!(line_col(s, 13), (2, 8));
        assert_eq!(line_col(s, s.len()), (3, 2));
        // Multi-byte characters count once.
        let s = "é = \"x\"";
        assert_eq!(line_col(s, s.find('"').unwrap()), (1, 5));
        // A BOM is not a column.
        assert_eq!(line_col("\u{feff}ab", 4), (1, 2));
    }

    #[test]
    fn display_is_one_greppable_line() {
        let d = Diagnostic::error("config.toml", 3, 9, "unknown codec");
        assert_eq!(d.to_string(), "config.toml:3:9: error: unknown codec");
        let w = Diagnostic::warning("c.toml", 1, 1, "unused");
        assert_eq!(w.to_string(), "c.toml:1:1: warning: unused");
    }

    #[test]
    fn render_underlines_the_value() {
        let src = "[[zones]]\nname = \"a\"\ncodec = \"mp3\"\n";
        let d = Diagnostic::error("config.toml", 3, 9, "unknown codec `mp3`");
        assert_eq!(
            d.render_with_source(src),
            "error: unknown codec `mp3`\n --> config.toml:3:9\n  |\n3 | codec = \"mp3\"\n  |         ^^^^^\n"
        );
    }

    #[test]
    fn render_widths() {
        assert_eq!(token_width("[\"a\", [1]] # x"), 10);
        assert_eq!(token_width("48000 # rate"), 5);
        assert_eq!(token_width("\"a\\\"b\" x"), 6);
        assert_eq!(token_width(""), 1);
        let src = "x = 1\r\n\ty = 2\r\n";
        let d = Diagnostic::error("f", 2, 6, "m");
        assert!(d
            .render_with_source(src)
            .ends_with("2 | \ty = 2\n  | \t    ^\n"));
    }
}
