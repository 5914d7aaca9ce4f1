//! The loader every part of `load/` works with: where diagnostics go
//! (file, line, column from a span), a table deserialized with every
//! problem in it reported, and the messages the parts share (unknown keys
//! and names, with "did you mean").

use std::ops::Range;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use crate::config::diagnostic::{line_col, Diagnostic, Severity};
use crate::config::schema;

pub(super) struct Loader<'s> {
    /// The path as the caller gave it: diagnostics name it this way.
    pub(super) file: PathBuf,
    pub(super) source: &'s str,
    /// Bytes of byte-order mark skipped before parsing.
    pub(super) bom: usize,
    pub(super) base_dir: PathBuf,
    pub(super) diagnostics: Vec<Diagnostic>,
}

impl Loader<'_> {
    pub(super) fn diagnostic(
        &mut self,
        severity: Severity,
        span: Range<usize>,
        message: impl Into<String>,
    ) {
        let d = Diagnostic::at_offset(
            severity,
            &self.file,
            self.source,
            self.bom + span.start,
            message,
        );
        self.diagnostics.push(d);
    }

    pub(super) fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diagnostic(Severity::Error, span, message);
    }

    pub(super) fn warning(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diagnostic(Severity::Warning, span, message);
    }

    pub(super) fn line_of(&self, span: &Range<usize>) -> usize {
        line_col(self.source, self.bom + span.start).0
    }

    pub(super) fn resolve(&self, path: &str) -> PathBuf {
        self.base_dir.join(path)
    }

    /// Deserialize one table into `T`, reporting every unknown key and every
    /// wrongly typed value (not just the first). Keys in error are dropped
    /// and the rest is deserialized again, so the returned value has the
    /// good keys; `dropped` names the ones that were not.
    pub(super) fn table<T: DeserializeOwned>(
        &mut self,
        value: &Spanned<DeValue<'_>>,
        what: &str,
    ) -> Option<Parsed<T>> {
        let DeValue::Table(original) = value.get_ref() else {
            self.error(
                value.span(),
                format!(
                    "expected a table for {what}, found {}",
                    value.get_ref().type_str()
                ),
            );
            return None;
        };
        let fields = schema::field_names::<T>();
        let mut table = original.clone();
        let mut dropped = Vec::new();
        for (key, _) in sorted_entries(original) {
            let name = key.get_ref().as_ref();
            if !fields.contains(&name) {
                self.error(key.span(), unknown_key_message(name, what, fields));
                table.remove(name);
            }
        }
        // Each round drops one key, so this ends.
        loop {
            let whole = Spanned::new(value.span(), DeValue::Table(table.clone()));
            let error = match T::deserialize(ValueDeserializer::from(whole)) {
                Ok(value) => return Some(Parsed { value, dropped }),
                Err(e) => e,
            };
            let span = error.span().unwrap_or_else(|| value.span());
            let culprit = table
                .iter()
                .filter(|(k, v)| contains(&k.span(), &span) || contains(&v.span(), &span))
                .map(|(k, _)| k.get_ref().to_string())
                .next();
            match culprit {
                Some(key) => {
                    self.error(span, format!("`{key}`: {}", friendly(error.message())));
                    table.remove(key.as_str());
                    dropped.push(key);
                }
                None => {
                    // Typically a missing required key; if we dropped it
                    // ourselves, it has been reported already.
                    if dropped.is_empty() {
                        let message = friendly(error.message());
                        let message = if message.starts_with("missing required key") {
                            format!("{what} is {message}")
                        } else {
                            format!("{what}: {message}")
                        };
                        self.error(span, message);
                    }
                    return None;
                }
            }
        }
    }

    /// `value` as an array of tables (`[[name]]`), or an error.
    pub(super) fn array_of_tables<'v, 'i>(
        &mut self,
        value: &'v Spanned<DeValue<'i>>,
        key: &str,
    ) -> Option<&'v [Spanned<DeValue<'i>>]> {
        match value.get_ref() {
            DeValue::Array(items) => Some(items),
            other => {
                self.error(
                    value.span(),
                    format!(
                        "`{key}` must be an array of tables, found a {}: write each one as `[[{key}]]`",
                        other.type_str()
                    ),
                );
                None
            }
        }
    }
}

/// The result of [`Loader::table`].
pub(super) struct Parsed<T> {
    pub(super) value: T,
    /// Keys present in the file but left out because their value was wrong.
    pub(super) dropped: Vec<String>,
}

/// A table's entries in file order (the parser's map is sorted by key).
pub(super) fn sorted_entries<'t, 'i>(
    table: &'t DeTable<'i>,
) -> Vec<(
    &'t Spanned<std::borrow::Cow<'i, str>>,
    &'t Spanned<DeValue<'i>>,
)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

pub(super) fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end.max(outer.start + 1)
}

/// Why `name` is not a valid zone or group name, if it is not.
pub(super) fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty: expected a name of a-z, 0-9, `_` and `-`")
    } else if name == schema::ALL_ZONES {
        Some("is reserved: `all` means every zone")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        Some("has characters other than a-z, 0-9, `_` and `-`")
    } else {
        None
    }
}

pub(super) fn unknown_key_message(key: &str, what: &str, fields: &[&str]) -> String {
    let expected = fields
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut message = format!("unknown key `{key}` in {what}: expected one of {expected}");
    if let Some(near) = crate::suggest::closest(key, fields.iter().copied()) {
        message.push_str(&format!(" (did you mean `{near}`?)"));
    }
    message
}

/// serde's wording, in the words an operator uses.
pub(super) fn friendly(message: &str) -> String {
    let message = message.trim_end_matches('\n');
    message
        .replace("invalid type:", "wrong type:")
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number")
        .replace("expected a sequence", "expected an array")
        .replace("sequence", "array")
        .replace("missing field", "missing required key")
}
