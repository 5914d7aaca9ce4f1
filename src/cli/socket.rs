//! Which control socket a client command talks to: `--socket`, else
//! `$CORONG_SOCKET`, else the config's `[daemon] control_socket`, read
//! leniently (a client must reach a running daemon while the file has an
//! error in it), else the default beside the config.
//!
//! The CLI resolves this itself: the control client only connects to a
//! path, and the config's loader is not involved.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::config::schema::DEFAULT_CONTROL_SOCKET;

/// The environment variable naming the socket, after `--socket`.
pub const SOCKET_ENV: &str = "CORONG_SOCKET";

/// Why the socket path could not be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corong: cannot find the control socket: no --socket, no {SOCKET_ENV}, and config {}: {problem}", config.display())]
pub struct SocketPathError {
    pub config: PathBuf,
    /// The first line of what was wrong with the config.
    pub problem: String,
}

/// The socket a client command talks to: `--socket PATH`, else
/// `$CORONG_SOCKET`, else the `control_socket` of `config` (the file
/// `--config` or its default names), else the documented default
/// `run/corong.sock` beside the config.
///
/// The config is read leniently ([`peek_daemon_keys`]): a client must reach
/// a running daemon, `corong emergency` first of all, even while the file on
/// disk has an error in it (an operator half-way through an edit). Only a
/// config that does not exist at all is an error.
pub fn socket_path(flag: Option<&Path>, config: &Path) -> Result<PathBuf, SocketPathError> {
    resolve_socket_path(flag, std::env::var_os(SOCKET_ENV), config, |p| {
        Ok(peek_daemon_keys(p).control_socket)
    })
}

/// [`socket_path`] with its inputs given: `env` is the value of
/// `CORONG_SOCKET` (empty counts as unset), `load` reads the config's
/// `control_socket` (`None` when it names none) or says in text why the
/// file cannot be read. A relative `control_socket` is taken relative to
/// the config's folder.
pub fn resolve_socket_path(
    flag: Option<&Path>,
    env: Option<OsString>,
    config: &Path,
    load: impl FnOnce(&Path) -> Result<Option<PathBuf>, String>,
) -> Result<PathBuf, SocketPathError> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = env.filter(|e| !e.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if !config.exists() {
        return Err(SocketPathError {
            config: config.to_path_buf(),
            problem: "no such file".into(),
        });
    }
    match load(config) {
        Ok(p) => {
            let p = p.unwrap_or_else(|| PathBuf::from(DEFAULT_CONTROL_SOCKET));
            if p.is_relative() {
                Ok(config.parent().unwrap_or(Path::new(".")).join(p))
            } else {
                Ok(p)
            }
        }
        Err(problem) => Err(SocketPathError {
            config: config.to_path_buf(),
            problem: problem
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("it cannot be read")
                .to_string(),
        }),
    }
}

/// The `[daemon]` keys a client needs, as far as they can be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonKeys {
    /// `control_socket`, as written (relative to the config's folder).
    pub control_socket: Option<PathBuf>,
    /// `timezone`, as written (not checked against the time zone database).
    pub timezone: Option<String>,
}

/// The longest config a client reads for [`peek_daemon_keys`]: the daemon
/// refuses larger ones anyway.
const MAX_PEEK: u64 = 1024 * 1024;

/// Read `[daemon] control_socket` and `timezone` from the config at `path`
/// without validating anything else: an unknown key, a missing playlist or
/// a broken zone elsewhere do not matter to a client. A file that is not
/// TOML at all is scanned line by line for the two keys. Unreadable: no
/// keys (the caller falls back to the defaults).
pub fn peek_daemon_keys(path: &Path) -> DaemonKeys {
    let mut text = String::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(MAX_PEEK).read_to_string(&mut text));
    if read.is_err() {
        return DaemonKeys::default();
    }
    peek_daemon_keys_in(&text)
}

/// [`peek_daemon_keys`] on the file's text.
pub fn peek_daemon_keys_in(text: &str) -> DaemonKeys {
    if let Ok(table) = text.parse::<toml::Table>() {
        let daemon = table.get("daemon").and_then(|d| d.as_table());
        let key = |k: &str| {
            daemon
                .and_then(|d| d.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        return DaemonKeys {
            control_socket: key("control_socket").map(PathBuf::from),
            timezone: key("timezone"),
        };
    }
    // Not TOML (a syntax error somewhere): the `[daemon]` table's own lines
    // are most likely intact.
    let mut keys = DaemonKeys::default();
    let mut in_daemon = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_daemon = line.trim_start_matches('[').trim_end_matches(']').trim() == "daemon";
            continue;
        }
        if !in_daemon {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let Some(value) = quoted(value.trim()) else {
            continue;
        };
        match key.trim() {
            "control_socket" => keys.control_socket = Some(PathBuf::from(value)),
            "timezone" => keys.timezone = Some(value.to_string()),
            _ => {}
        }
    }
    keys
}

/// The string in `"..."` or `'...'` at the start of `value` (a comment may
/// follow); escapes are not interpreted.
fn quoted(value: &str) -> Option<&str> {
    let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &value[1..];
    rest.find(quote).map(|end| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_path_prefers_flag_then_env_then_config() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.toml");
        std::fs::write(&cfg, "").unwrap();
        let load = |_: &Path| Ok(Some(PathBuf::from("run/corong.sock")));
        assert_eq!(
            resolve_socket_path(
                Some(Path::new("/f.sock")),
                Some("/e.sock".into()),
                &cfg,
                load
            )
            .unwrap(),
            PathBuf::from("/f.sock")
        );
        assert_eq!(
            resolve_socket_path(None, Some("/e.sock".into()), &cfg, load).unwrap(),
            PathBuf::from("/e.sock")
        );
        assert_eq!(
            resolve_socket_path(None, Some("".into()), &cfg, load).unwrap(),
            dir.path().join("run/corong.sock")
        );
        let err = resolve_socket_path(None, None, &cfg, |_| Err("\nbad: line 3\nmore".into()))
            .unwrap_err();
        assert_eq!(err.problem, "bad: line 3");
        assert!(err.to_string().starts_with("corong: "));
        let missing = resolve_socket_path(None, None, &dir.path().join("nope.toml"), load);
        assert_eq!(missing.unwrap_err().problem, "no such file");
    }

    #[test]
    fn a_broken_config_still_names_its_socket() {
        // Valid TOML with unknown keys and bad values elsewhere.
        let keys = peek_daemon_keys_in(
            "[daemon]\ncontrol_socket = \"/run/x.sock\"\nbogus = 1\n[[zones]]\nname = 5\n",
        );
        assert_eq!(keys.control_socket, Some(PathBuf::from("/run/x.sock")));
        // A syntax error after the [daemon] table.
        let keys = peek_daemon_keys_in(
            "[daemon]\ntimezone = 'Asia/Jakarta' # WIB\ncontrol_socket = \"run/a.sock\"\n[[zones]\nname = \"x",
        );
        assert_eq!(keys.control_socket, Some(PathBuf::from("run/a.sock")));
        assert_eq!(keys.timezone.as_deref(), Some("Asia/Jakarta"));
        // Keys of other tables are not the daemon's.
        let keys = peek_daemon_keys_in("[web]\ncontrol_socket = \"/no\"\n[daemon\n");
        assert_eq!(keys.control_socket, None);
        // No control_socket: the default, beside the config.
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.toml");
        std::fs::write(&cfg, "this is = = not toml [").unwrap();
        let peek = |p: &Path| Ok(peek_daemon_keys(p).control_socket);
        assert_eq!(
            resolve_socket_path(None, None, &cfg, peek).unwrap(),
            dir.path().join("run/corong.sock")
        );
    }
}
