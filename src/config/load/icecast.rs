//! A zone's `icecast` table: the server's URL (plain HTTP to a loopback
//! host only: corong has no TLS client for it yet), the source user, the
//! password read from its file, and the format (Ogg Opus or MP3), each
//! checked against the rate the zone mixes at.

use toml::Spanned;

use super::loader::Loader;
use crate::config::hazards::is_loopback_url;
use crate::config::model::{
    mp3_bitrate_fits, IcecastFormat, IcecastOutput, Secret, MP3_BITRATES_KBPS,
};
use crate::config::schema::{self, IcecastTable};

/// Rates libopus takes audio at: a zone with an Ogg Opus stream mixes at
/// one of them.
const OPUS_RATES: [u32; 5] = [8000, 12000, 16000, 24000, 48000];
/// Rates LAME writes MP3 at without resampling (MPEG-1, 2 and 2.5).
const MP3_RATES: [u32; 9] = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];

impl Loader<'_> {
    /// The zone's Icecast output, or `None` after reporting why not.
    /// `mix_rate` is the rate the zone will mix at.
    pub(super) fn icecast(
        &mut self,
        table: &Spanned<IcecastTable>,
        zone: &str,
        mix_rate: u32,
    ) -> Option<IcecastOutput> {
        let raw = table.get_ref();
        let mut ok = true;
        let url = raw.url.get_ref().trim().to_string();
        let parsed = match parse_url(&url) {
            Ok(p) => Some(p),
            Err(why) => {
                self.error(raw.url.span(), format!("`icecast.url` `{url}`: {why}"));
                ok = false;
                None
            }
        };
        let mut format = IcecastFormat::Opus;
        if let Some(f) = &raw.format {
            match f.get_ref().as_str() {
                "opus" => format = IcecastFormat::Opus,
                "mp3" => format = IcecastFormat::Mp3,
                other => {
                    self.error(
                        f.span(),
                        format!("`icecast.format` \"{other}\" is not known: expected \"opus\" or \"mp3\""),
                    );
                    ok = false;
                }
            }
        }
        if format == IcecastFormat::Opus && !OPUS_RATES.contains(&mix_rate) {
            self.error(
                raw.url.span(),
                format!(
                    "zone `{zone}` streams Ogg Opus to Icecast but mixes at {mix_rate} Hz: Opus takes 8000, 12000, 16000, 24000 or 48000 Hz (set `[daemon] sample_rate` = 48000)"
                ),
            );
            ok = false;
        }
        if format == IcecastFormat::Mp3 && !MP3_RATES.contains(&mix_rate) {
            self.error(
                raw.url.span(),
                format!(
                    "zone `{zone}` streams MP3 to Icecast but mixes at {mix_rate} Hz: MP3 takes 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100 or 48000 Hz (set `[daemon] sample_rate` = 48000)"
                ),
            );
            ok = false;
        }
        let bitrate_kbps = match &raw.bitrate_kbps {
            Some(b) => {
                let v = *b.get_ref();
                match bitrate_error(format, mix_rate, v) {
                    Some(why) => {
                        self.error(b.span(), format!("`icecast.bitrate_kbps` {v} {why}"));
                        ok = false;
                        None
                    }
                    None => Some(v as u32),
                }
            }
            None => None,
        };
        let user = match &raw.user {
            Some(u) if u.get_ref().is_empty() || u.get_ref().contains(':') => {
                self.error(
                    u.span(),
                    "`icecast.user` must be a non-empty name without `:`",
                );
                ok = false;
                String::new()
            }
            Some(u) => u.get_ref().clone(),
            None => schema::DEFAULT_ICECAST_USER.to_string(),
        };
        let password = self.password(&raw.password_file);
        ok &= password.is_some();
        let (host, port, mount) = parsed?;
        if !ok {
            return None;
        }
        Some(IcecastOutput {
            url,
            host,
            port,
            mount,
            user,
            password: password?,
            format,
            bitrate_kbps,
        })
    }

    /// Read `password_file` (relative to the config's folder): its first
    /// line, without the line ending.
    fn password(&mut self, file: &Spanned<String>) -> Option<Secret> {
        let path = self.resolve(file.get_ref());
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let line = text.lines().next().unwrap_or("").to_string();
                if line.is_empty() {
                    self.error(
                        file.span(),
                        format!(
                            "`icecast.password_file` {}: the file is empty: expected the source password on its first line",
                            path.display()
                        ),
                    );
                    return None;
                }
                Some(Secret(line))
            }
            Err(e) => {
                self.error(
                    file.span(),
                    format!(
                        "`icecast.password_file` {}: cannot read it: {e}",
                        path.display()
                    ),
                );
                None
            }
        }
    }
}

/// Why `kbps` cannot be the bitrate of a `format` stream mixed at
/// `rate`, or `None` when it can.
fn bitrate_error(format: IcecastFormat, rate: u32, kbps: i64) -> Option<String> {
    match format {
        IcecastFormat::Opus => {
            let range = crate::rtp::opus::KBPS_RANGE;
            let fits = u32::try_from(kbps).is_ok_and(|k| range.contains(&k));
            (!fits).then(|| {
                "is out of range for Ogg Opus: expected 6..=510 (48 is the default)".to_string()
            })
        }
        IcecastFormat::Mp3 => {
            if u32::try_from(kbps).is_ok_and(|k| mp3_bitrate_fits(rate, k)) {
                return None;
            }
            let allowed: Vec<String> = MP3_BITRATES_KBPS
                .iter()
                .filter(|&&k| mp3_bitrate_fits(rate, k))
                .map(|k| k.to_string())
                .collect();
            Some(format!(
                "is not an MP3 bitrate at {rate} Hz: expected one of {} (64 a channel is the default)",
                allowed.join(", ")
            ))
        }
    }
}

/// `http://HOST[:PORT]/MOUNT` into host, port (80 if not written) and
/// mount. Plain HTTP only to a loopback host: the password would otherwise
/// cross the network in the clear.
fn parse_url(url: &str) -> Result<(String, u16, String), String> {
    if url.starts_with("https://") {
        return Err("https is not built yet: run Icecast on this machine (http://127.0.0.1:8000/MOUNT) and relay it to a server (docs/deployment.md)".into());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(
            "expected http://HOST:PORT/MOUNT, e.g. \"http://127.0.0.1:8000/pasar.ogg\"".into(),
        );
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(
            "the user goes in `user` and the password in `password_file`, not in the URL".into(),
        );
    }
    if path.len() < 2 || path.contains(['?', '#', ' ']) {
        return Err(
            "expected a mount point after the host, e.g. \"/pasar.ogg\", without `?` or `#`".into(),
        );
    }
    if !is_loopback_url(url) {
        return Err("plain http is allowed only to this machine (127.0.0.1, localhost, [::1]): the source password would cross the network in the clear; run Icecast here and relay it (docs/deployment.md)".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or("an IPv6 host needs its closing `]`")?;
        let port = after.strip_prefix(':').unwrap_or("");
        (h.to_string(), port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None => (authority.to_string(), ""),
        }
    };
    let port = if port.is_empty() {
        80
    } else {
        match port.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(format!("port `{port}` is not a port number (1..=65535)")),
        }
    };
    Ok((host, port, path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:8000/pasar.ogg").unwrap(),
            ("127.0.0.1".into(), 8000, "/pasar.ogg".into())
        );
        assert_eq!(
            parse_url("http://localhost/a.ogg").unwrap(),
            ("localhost".into(), 80, "/a.ogg".into())
        );
        assert_eq!(
            parse_url("http://[::1]:8000/a").unwrap(),
            ("::1".into(), 8000, "/a".into())
        );
        for (bad, why) in [
            ("https://radio.example.org/a.ogg", "https is not built yet"),
            (
                "http://radio.example.org:8000/a.ogg",
                "only to this machine",
            ),
            ("http://192.168.1.5:8000/a.ogg", "only to this machine"),
            ("http://127.0.0.1:8000", "mount point"),
            ("http://127.0.0.1:8000/", "mount point"),
            ("http://source:x@127.0.0.1:8000/a", "not in the URL"),
            ("http://127.0.0.1:0/a", "not a port"),
            ("icecast://127.0.0.1/a", "expected http://"),
        ] {
            let err = parse_url(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    fn load(zone_keys: &str, password: Option<&str>) -> (tempfile::TempDir, String) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        if let Some(p) = password {
            std::fs::create_dir_all(dir.join("secrets")).unwrap();
            std::fs::write(dir.join("secrets/icecast"), p).unwrap();
        }
        let path = dir.join("config.toml");
        std::fs::write(
            &path,
            format!("[[zones]]\nname = \"pasar\"\nrtp = [\"127.0.0.1:5004\"]\n{zone_keys}\n"),
        )
        .unwrap();
        let text = match crate::config::load(&path) {
            Ok(c) => format!("{:?}", c.zones[0].outputs),
            Err(d) => d.to_string(),
        };
        (tmp, text)
    }

    #[test]
    fn a_good_table_loads_with_its_password_and_never_prints_it() {
        let (_, out) = load(
            "icecast = { url = \"http://127.0.0.1:8000/pasar.ogg\", password_file = \"secrets/icecast\" }",
            Some("s3cret-pw\nsecond line\n"),
        );
        assert!(out.contains("Icecast(IcecastOutput { url: \"http://127.0.0.1:8000/pasar.ogg\", host: \"127.0.0.1\", port: 8000, mount: \"/pasar.ogg\", user: \"source\", password: Secret(..), format: Opus, bitrate_kbps: None })"), "{out}");
        assert!(!out.contains("s3cret"), "{out}");
        let (_, out) = load(
            "icecast = { url = \"http://127.0.0.1:8000/pasar.mp3\", password_file = \"secrets/icecast\", format = \"mp3\" }",
            Some("pw"),
        );
        assert!(out.contains("mount: \"/pasar.mp3\""), "{out}");
        assert!(out.contains("format: Mp3, bitrate_kbps: None })"), "{out}");
        let (_, out) = load(
            "icecast = { url = \"http://127.0.0.1:8000/pasar.ogg\", password_file = \"secrets/icecast\", bitrate_kbps = 24 }",
            Some("pw"),
        );
        assert!(
            out.contains("format: Opus, bitrate_kbps: Some(24) })"),
            "{out}"
        );
        let (_, out) = load(
            "icecast = { url = \"http://127.0.0.1:8000/pasar.mp3\", password_file = \"secrets/icecast\", format = \"mp3\", bitrate_kbps = 320 }",
            Some("pw"),
        );
        assert!(
            out.contains("format: Mp3, bitrate_kbps: Some(320) })"),
            "{out}"
        );
    }

    /// `bitrate_kbps` is checked against the format and, for MP3, the
    /// MPEG version the zone's rate gives (MPEG-1 at 32 kHz and above).
    #[test]
    fn bitrates_each_format_takes() {
        use IcecastFormat::{Mp3, Opus};
        for ok in [6, 48, 510] {
            assert_eq!(bitrate_error(Opus, 48000, ok), None, "{ok}");
        }
        for bad in [-1, 0, 5, 511, 1 << 40] {
            let why = bitrate_error(Opus, 48000, bad).unwrap();
            assert!(why.contains("expected 6..=510"), "{bad}: {why}");
        }
        for ok in [32, 64, 128, 320] {
            assert_eq!(bitrate_error(Mp3, 48000, ok), None, "{ok}");
        }
        for ok in [8, 64, 160] {
            assert_eq!(bitrate_error(Mp3, 16000, ok), None, "{ok}");
        }
        assert_eq!(
            bitrate_error(Mp3, 48000, 65).unwrap(),
            "is not an MP3 bitrate at 48000 Hz: expected one of 32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320 (64 a channel is the default)"
        );
        assert!(bitrate_error(Mp3, 48000, 16).is_some());
        assert!(bitrate_error(Mp3, 22050, 192)
            .unwrap()
            .contains("expected one of 8, 16, 24, 32, 40, 48, 64, 80, 96, 112, 128, 160 ("));
        assert!(bitrate_error(Mp3, 48000, -64).is_some());
    }

    /// Each bad key is one line naming the file, the line and the key.
    #[test]
    fn bad_tables_are_one_line_each_naming_file_line_and_key() {
        let url = "url = \"http://127.0.0.1:8000/a.ogg\"";
        for (keys, password, want) in [
            (
                format!("icecast = {{ {url}, password_file = \"secrets/icecast\", format = \"aac\" }}"),
                Some("pw"),
                "`icecast.format` \"aac\" is not known: expected \"opus\" or \"mp3\"",
            ),
            (
                format!("icecast = {{ {url}, password_file = \"secrets/none\" }}"),
                Some("pw"),
                "`icecast.password_file` ",
            ),
            (
                format!("icecast = {{ {url}, password_file = \"secrets/icecast\" }}"),
                Some("\n"),
                "the file is empty",
            ),
            (
                "icecast = { url = \"https://radio.example.org/a.ogg\", password_file = \"secrets/icecast\" }".to_string(),
                Some("pw"),
                "`icecast.url` `https://radio.example.org/a.ogg`: https is not built yet",
            ),
            (
                format!("icecast = {{ {url} }}"),
                None,
                "password_file",
            ),
            (
                format!("icecast = {{ {url}, password_file = \"secrets/icecast\", bitrate_kbps = 600 }}"),
                Some("pw"),
                "`icecast.bitrate_kbps` 600 is out of range for Ogg Opus: expected 6..=510",
            ),
            (
                format!("icecast = {{ {url}, password_file = \"secrets/icecast\", format = \"mp3\", bitrate_kbps = 65 }}"),
                Some("pw"),
                "`icecast.bitrate_kbps` 65 is not an MP3 bitrate at 48000 Hz: expected one of 32, 40,",
            ),
        ] {
            let (dir, out) = load(&keys, password);
            let path = dir.path().join("config.toml");
            let lines: Vec<&str> = out.lines().collect();
            assert_eq!(lines.len(), 1, "{keys}: {out}");
            assert!(
                lines[0].starts_with(&format!("{}:4:", path.display())),
                "{keys}: {out}"
            );
            assert!(lines[0].contains(want), "{keys}: {out}");
        }
    }
}
