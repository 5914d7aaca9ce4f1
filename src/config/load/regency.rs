//! `[site]` and `[mqtt]`: this kiosk's name in the regency and the broker
//! it joins (see `docs/regency.md`). The password file is read here once,
//! so that a missing or unreadable one stops `corong check` and the daemon's
//! start with the key's line rather than a refused connection later.

use std::time::Duration;

use toml::de::DeValue;
use toml::Spanned;

use super::loader::Loader;
use crate::config::model::{Broker, Regency};
use crate::config::schema::{self, MqttTable, SiteTable};

/// The longest site name and topic prefix (they make up every topic).
const MAX_NAME: usize = 64;
const MAX_PREFIX: usize = 128;

/// Whether `name` can be a site (a topic level and a broker account).
pub fn valid_site_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && name != "all"
}

/// `mqtt://host[:port]` or `mqtts://host[:port]`.
fn parse_url(url: &str) -> Result<Broker, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("mqtt://") {
        (false, r)
    } else {
        return Err("expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]".into());
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') || rest.contains('@') {
        return Err(
            "expected only HOST[:PORT] after the scheme (the account is `username`)".into(),
        );
    }
    let default_port = if tls { 8883 } else { 1883 };
    // `[::1]:1883`, `host:1883`, `host`.
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed `[` in the host")?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| format!("bad port `{p}`"))?,
            None if after.is_empty() => default_port,
            None => return Err(format!("unexpected `{after}` after the host")),
        };
        (h.to_string(), port)
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse::<u16>().map_err(|_| format!("bad port `{p}`"))?,
            ),
            None => (rest.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if port == 0 {
        return Err("port 0".into());
    }
    Ok(Broker { host, port, tls })
}

impl Loader<'_> {
    /// `[site]` and `[mqtt]`; `None` when `[mqtt]` is absent or broken (the
    /// errors are reported).
    pub(super) fn regency(
        &mut self,
        site: Option<&Spanned<DeValue<'_>>>,
        mqtt: Option<&Spanned<DeValue<'_>>>,
    ) -> Option<Regency> {
        let site = site.and_then(|s| self.table::<SiteTable>(s, "[site]"));
        let name = match &site {
            Some(s) => {
                let n = s.value.name.get_ref().trim().to_string();
                if !valid_site_name(&n) {
                    self.error(
                        s.value.name.span(),
                        format!(
                            "`name` \"{n}\": expected 1..={MAX_NAME} letters, digits, `-` or `_` \
                             (and not \"all\"): it is a topic level and a broker account"
                        ),
                    );
                    return None;
                }
                Some(n)
            }
            None => None,
        };
        let mqtt_value = mqtt?;
        let raw = self.table::<MqttTable>(mqtt_value, "[mqtt]")?.value;
        let Some(name) = name else {
            self.error(
                mqtt_value.span(),
                "`[mqtt]` needs `[site] name`: the name this kiosk has in the regency",
            );
            return None;
        };
        let broker = match parse_url(raw.url.get_ref().trim()) {
            Ok(b) => b,
            Err(why) => {
                self.error(
                    raw.url.span(),
                    format!("`url` \"{}\": {why}", raw.url.get_ref()),
                );
                return None;
            }
        };
        let prefix = raw.topic_prefix.get_ref().trim().to_string();
        if prefix.is_empty()
            || prefix.len() > MAX_PREFIX
            || prefix.starts_with('/')
            || prefix.ends_with('/')
            || prefix.contains(['+', '#', '\0'])
            || prefix.split('/').any(str::is_empty)
        {
            self.error(
                raw.topic_prefix.span(),
                format!(
                    "`topic_prefix` \"{prefix}\": expected levels like \"corong/blitar\" \
                     (1..={MAX_PREFIX} bytes, no `+`, `#`, empty level or `/` at either end)"
                ),
            );
            return None;
        }
        let username = match &raw.username {
            Some(u) if u.get_ref().trim().is_empty() => {
                self.error(u.span(), "`username` is empty: remove it for no account");
                return None;
            }
            Some(u) => Some(u.get_ref().trim().to_string()),
            None => None,
        };
        let password_file = match &raw.password_file {
            Some(p) => {
                let path = self.path_value(Some(p), "", "password_file");
                match std::fs::read_to_string(&path) {
                    Ok(text) if text.lines().next().unwrap_or("").is_empty() => {
                        self.error(
                            p.span(),
                            format!(
                                "`password_file` {}: the first line is empty",
                                path.display()
                            ),
                        );
                        return None;
                    }
                    Ok(_) => Some(path),
                    Err(e) => {
                        self.error(
                            p.span(),
                            format!("`password_file` {}: cannot read it: {e}", path.display()),
                        );
                        return None;
                    }
                }
            }
            None => None,
        };
        if password_file.is_some() && username.is_none() {
            let span = raw.password_file.as_ref().map_or(0..0, |p| p.span());
            self.error(
                span,
                "`password_file` without `username`: set both, or neither",
            );
            return None;
        }
        let ca_file = match &raw.ca_file {
            Some(c) => {
                let path = self.path_value(Some(c), "", "ca_file");
                if let Err(e) = std::fs::metadata(&path) {
                    self.error(
                        c.span(),
                        format!("`ca_file` {}: cannot read it: {e}", path.display()),
                    );
                    return None;
                }
                if !broker.tls {
                    self.warning(c.span(), "`ca_file` is only used with an mqtts:// url");
                }
                Some(path)
            }
            None => None,
        };
        let mut keep_alive = schema::DEFAULT_KEEP_ALIVE_S;
        if let Some(k) = &raw.keep_alive_s {
            if schema::KEEP_ALIVE_S_RANGE.contains(k.get_ref()) {
                keep_alive = *k.get_ref();
            } else {
                self.error(
                    k.span(),
                    format!(
                        "`keep_alive_s` {}: expected {}..={} (a dead kiosk must show offline \
                         within 30 s)",
                        k.get_ref(),
                        schema::KEEP_ALIVE_S_RANGE.start(),
                        schema::KEEP_ALIVE_S_RANGE.end()
                    ),
                );
            }
        }
        Some(Regency {
            site: name,
            broker,
            topic_prefix: prefix,
            username,
            password_file,
            ca_file,
            keep_alive: Duration::from_secs(keep_alive as u64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let b = parse_url("mqtt://127.0.0.1:1884").unwrap();
        assert_eq!((b.host.as_str(), b.port, b.tls), ("127.0.0.1", 1884, false));
        let b = parse_url("mqtts://broker.example").unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.tls),
            ("broker.example", 8883, true)
        );
        let b = parse_url("mqtt://[::1]:2000").unwrap();
        assert_eq!((b.host.as_str(), b.port), ("::1", 2000));
        assert!(parse_url("http://x").is_err());
        assert!(parse_url("mqtt://u:p@x").is_err());
        assert!(parse_url("mqtt://x:99999").is_err());
        assert!(parse_url("mqtt://").is_err());
    }

    fn load(dir: &std::path::Path, rest: &str) -> Result<crate::config::Config, String> {
        let text = format!("[[zones]]\nname = \"a\"\nrtp = [\"127.0.0.1:5004\"]\n\n{rest}");
        crate::config::load_str(&text, &dir.join("corong.toml")).map_err(|d| d.to_string())
    }

    #[test]
    fn the_sections_load_and_their_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("secrets")).unwrap();
        std::fs::write(dir.path().join("secrets/mqtt"), "rahasia\n").unwrap();
        let good = "[site]\nname = \"wlingi\"\n\n[mqtt]\nurl = \"mqtt://127.0.0.1:1884\"\n\
                    topic_prefix = \"corong/blitar\"\nusername = \"wlingi\"\n\
                    password_file = \"secrets/mqtt\"\nkeep_alive_s = 2\n";
        let c = load(dir.path(), good).unwrap();
        let r = c.regency.unwrap();
        assert_eq!(r.site, "wlingi");
        assert_eq!(r.broker.port, 1884);
        assert_eq!(r.password_file.unwrap(), dir.path().join("secrets/mqtt"));
        assert_eq!(r.keep_alive, Duration::from_secs(2));

        let missing = good.replace("secrets/mqtt", "secrets/nope");
        let e = load(dir.path(), &missing).unwrap_err();
        assert!(
            e.contains("corong.toml:12:") && e.contains("`password_file`"),
            "{e}"
        );
        assert!(e.contains("cannot read it"), "{e}");
        assert_eq!(e.trim().lines().count(), 1, "{e}");

        let e = load(dir.path(), &good.replace("mqtt://", "http://")).unwrap_err();
        assert!(e.contains("corong.toml:9:") && e.contains("`url`"), "{e}");
        let e = load(dir.path(), &good.replace("corong/blitar", "corong/#")).unwrap_err();
        assert!(e.contains("`topic_prefix`"), "{e}");
        let e = load(
            dir.path(),
            &good.replace("keep_alive_s = 2", "keep_alive_s = 60"),
        )
        .unwrap_err();
        assert!(e.contains("`keep_alive_s` 60"), "{e}");
        let e = load(
            dir.path(),
            &good.replace("name = \"wlingi\"", "name = \"a b\""),
        )
        .unwrap_err();
        assert!(e.contains("corong.toml:6:") && e.contains("`name`"), "{e}");
        let no_site = good.replace("[site]\nname = \"wlingi\"\n", "");
        let e = load(dir.path(), &no_site).unwrap_err();
        assert!(e.contains("needs `[site] name`"), "{e}");
        // Without [mqtt] a kiosk is on its own.
        assert!(load(dir.path(), "").unwrap().regency.is_none());
    }

    #[test]
    fn site_names() {
        assert!(valid_site_name("kecamatan-wlingi"));
        assert!(!valid_site_name("all"));
        assert!(!valid_site_name("a/b"));
        assert!(!valid_site_name("a+"));
        assert!(!valid_site_name(""));
    }
}
