//! The config is the ground floor: every file under `src/config/` imports
//! from corong only the small leaf modules beneath it, and those leaves
//! import nothing but each other. Media, schedules, the control socket and
//! the outputs read the config; the config never reads them.
//!
//! Read from the source text, so a new `use crate::media::...` in the config
//! fails here with the file and line, before anyone builds on it.

use std::path::{Path, PathBuf};

/// Modules the config may import: they hold values and rules of their own
/// and import nothing above them.
const LEAVES: &[&str] = &[
    "priority", // job priorities and their names
    "suggest",  // "did you mean"
    "cron",     // the cron dialect, parsed once at load
    "limits",   // bounds more than one layer enforces
    "rtp",      // the RTP wire module (codecs)
    "ids",      // job and zone ids
    "hazard",   // hazard vocabulary and geometry (playbooks, zone locations)
];

/// Imports of the config from above it that are known and on their way
/// out: none now (the RTP wire module took the codecs).
const ON_THEIR_WAY_OUT: &[&str] = &[];

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The module path of a file under `src/` (`src/config/load/zones.rs` ->
/// `["config", "load", "zones"]`; a `mod.rs` is its folder).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

/// The top-level corong modules that `text` (the source of module
/// `module`) names, with the line of each: `crate::x::...`, `crate::{x,
/// ...}`, and `super::` paths that climb out to the crate root. Comments
/// are skipped, and so are the unit tests at the end of a file (their
/// inline `mod tests` would shift what `super` means).
fn top_modules_named(module: &[String], text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                // `crate::{a, b::c}` on one line.
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    let name = item.trim().split("::").next().unwrap_or("");
                    if !name.is_empty() {
                        found.push((n + 1, name.to_string()));
                    }
                }
            } else {
                found.push((n + 1, path_head(after)));
            }
            rest = after;
        }
        // `super::super::x` from depth 2 is `crate::x`.
        let mut rest = code;
        while let Some(at) = rest.find("super::") {
            let before_ok = at == 0
                || !rest[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':');
            let mut tail = &rest[at..];
            let mut climbs = 0;
            while let Some(t) = tail.strip_prefix("super::") {
                climbs += 1;
                tail = t;
            }
            let head = path_head(tail);
            if before_ok && climbs >= module.len() && !head.is_empty() {
                found.push((n + 1, head));
            }
            rest = &rest[at + "super::".len() * climbs.max(1)..];
        }
    }
    found
}

/// The first segment of a path: `media::loudness::Target` -> `media`.
fn path_head(path: &str) -> String {
    path.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Whether `line_text`'s import of `module` is one of [`ON_THEIR_WAY_OUT`].
fn on_its_way_out(line_text: &str, module: &str) -> bool {
    ON_THEIR_WAY_OUT
        .iter()
        .any(|p| p.starts_with(&format!("{module}::")) && line_text.contains(p))
}

/// The imports in the files under `src/<dir>` of modules outside `allowed`
/// (its own top module is always allowed), as `file:line: module`.
fn violations(src: &Path, files: &[PathBuf], allowed: &[&str]) -> Vec<String> {
    let mut bad = Vec::new();
    for file in files {
        let module = module_of(src, file);
        let own = module.first().cloned().unwrap_or_default();
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (line, name) in top_modules_named(&module, &text) {
            if name == own || allowed.contains(&name.as_str()) {
                continue;
            }
            if on_its_way_out(lines[line - 1], &name) {
                continue;
            }
            bad.push(format!("{}:{line}: imports `{name}`", file.display()));
        }
    }
    bad
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn the_config_imports_only_leaf_modules() {
    let src = src();
    let files = rust_files(&src.join("config"));
    assert!(
        files.len() >= 5,
        "the config's files were not found: {files:?}"
    );
    let bad = violations(&src, &files, LEAVES);
    assert!(
        bad.is_empty(),
        "the config is the ground floor; these import from above it:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_leaves_import_only_each_other() {
    let src = src();
    let mut files = Vec::new();
    for leaf in LEAVES {
        let file = src.join(format!("{leaf}.rs"));
        if file.exists() {
            files.push(file);
        }
        files.extend(rust_files(&src.join(leaf)));
    }
    assert!(
        files.len() >= 4,
        "the leaf modules were not found: {files:?}"
    );
    let bad = violations(&src, &files, LEAVES);
    assert!(
        bad.is_empty(),
        "a leaf module imports from above it:\n{}",
        bad.join("\n")
    );
}

/// The check itself finds what it is there to find.
#[test]
fn the_check_sees_imports_from_above() {
    let config = vec!["config".to_string(), "load".to_string()];
    let text = "use crate::media::loudness::Target;\n\
                use crate::{priority::Priority, schedule};\n\
                // use crate::daemon::Station; (a comment)\n\
                let x = super::super::control::protocol::MAX_TEXT;\n\
                use super::model::Zone;\n\
                #[cfg(test)]\n\
                use crate::daemon::Station;\n";
    let named = top_modules_named(&config, text);
    assert_eq!(
        named,
        vec![
            (1, "media".to_string()),
            (2, "priority".to_string()),
            (2, "schedule".to_string()),
            (4, "control".to_string()),
        ]
    );
    // Nothing is on its way out any more: the old PCMU import would fail.
    assert!(!on_its_way_out("crate::output::pcmu::PCMU_RATE", "output"));
    assert!(!on_its_way_out(
        "use crate::output::rtp::RtpOutput;",
        "output"
    ));
}

/// The corong paths `text` names (`crate::a::b`, `super::a`, and one level
/// of `{a::b, c}` after either), made absolute from module `module`.
fn paths_named(module: &[String], text: &str) -> Vec<Vec<String>> {
    /// The identifiers of a path, and what follows it (`{...}` or other).
    fn walk(mut s: &str) -> (Vec<String>, &str) {
        let mut segs = Vec::new();
        loop {
            let ident: String = s
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if ident.is_empty() {
                return (segs, s);
            }
            s = &s[ident.len()..];
            segs.push(ident);
            match s.strip_prefix("::") {
                Some(t) => s = t,
                None => return (segs, s),
            }
        }
    }
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        for root in ["crate::", "super::"] {
            let mut rest = code;
            while let Some(at) = rest.find(root) {
                let before_ok = at == 0
                    || !rest[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':');
                let mut tail = &rest[at + root.len()..];
                rest = tail;
                if !before_ok {
                    continue;
                }
                // `super` is the parent of the file's module (a `mod.rs`'s
                // module is its folder).
                let mut base: Vec<String> = if root == "crate::" {
                    Vec::new()
                } else {
                    module[..module.len().saturating_sub(1)].to_vec()
                };
                while let Some(t) = tail.strip_prefix("super::") {
                    base.pop();
                    tail = t;
                }
                let (segs, after) = walk(tail);
                base.extend(segs);
                match after.strip_prefix('{') {
                    Some(group) => {
                        let inner = group.split('}').next().unwrap_or("");
                        for item in inner.split(',') {
                            let mut p = base.clone();
                            p.extend(walk(item.trim()).0);
                            out.push(p);
                        }
                    }
                    None => out.push(base),
                }
            }
        }
    }
    out
}

/// No two source files import each other: every import runs one way, so a
/// reader can take the files in order and a change below never needs the
/// layer above.
#[test]
fn no_two_files_import_each_other() {
    use std::collections::{BTreeMap, BTreeSet};
    let src = src();
    let files = rust_files(&src);
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();
    let file_of = |path: &[String]| -> Option<&PathBuf> {
        (1..=path.len()).rev().find_map(|n| modules.get(&path[..n]))
    };
    let mut edges = BTreeSet::new();
    for file in &files {
        let module = module_of(&src, file);
        let text = std::fs::read_to_string(file).unwrap();
        for path in paths_named(&module, &text) {
            if let Some(target) = file_of(&path) {
                if target != file {
                    edges.insert((file.clone(), target.clone()));
                }
            }
        }
    }
    assert!(edges.len() > 100, "too few imports found: {}", edges.len());
    let both_ways: Vec<String> = edges
        .iter()
        .filter(|(a, b)| a < b && edges.contains(&(b.clone(), a.clone())))
        .map(|(a, b)| format!("{} <-> {}", a.display(), b.display()))
        .collect();
    assert!(
        both_ways.is_empty(),
        "these files import each other:\n{}",
        both_ways.join("\n")
    );
}

/// The cycle check reads paths as the compiler does.
#[test]
fn import_paths_are_made_absolute() {
    let m = |s: &str| s.split('/').map(String::from).collect::<Vec<_>>();
    let got = paths_named(
        &m("daemon/report"),
        "use super::refusal::{refuse, Refusal};\nuse crate::{engine::ZoneId, store};\n\
         let x = super::super::media::check(f);\n",
    );
    assert!(got.contains(&m("daemon/refusal/refuse")), "{got:?}");
    assert!(got.contains(&m("engine/ZoneId")), "{got:?}");
    assert!(got.contains(&m("store")), "{got:?}");
    assert!(got.contains(&m("media/check")), "{got:?}");
}
