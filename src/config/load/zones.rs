//! `[[zones]]`: each zone's outputs (RTP destinations, recorder, sound
//! card, Icecast: `icecast.rs`), codec, channels, gain and recorder retention.

use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Range;

use toml::de::DeValue;
use toml::Spanned;

use super::loader::{name_problem, Loader, Parsed};
use crate::config::model::{
    Codec, Daemon, LocalOutput, RtpOutput, WavOutput, WavRetention, WavRotate, Zone, ZoneOutput,
};
use crate::config::schema::{self, LocalKey, ZoneTable};
use crate::rtp::PacketLayout;

/// A zone table that parsed, with the spans validation points at.
pub(super) struct ZoneEntry {
    pub(super) zone: Zone,
    pub(super) name_span: Range<usize>,
    /// Its `location` and `areas`, when it has either.
    pub(super) place: Option<crate::config::hazards::Place>,
}

impl Loader<'_> {
    pub(super) fn zones(
        &mut self,
        value: Option<&Spanned<DeValue<'_>>>,
        root_span: Range<usize>,
        daemon: &Daemon,
    ) -> Vec<ZoneEntry> {
        let Some(value) = value else {
            self.error(
                root_span.start..root_span.start,
                "no zones: add at least one `[[zones]]` table with a `name` and `rtp` or `wav`",
            );
            return Vec::new();
        };
        let Some(items) = self.array_of_tables(value, "zones") else {
            return Vec::new();
        };
        let mut zones: Vec<ZoneEntry> = Vec::new();
        for item in items {
            let Some(parsed) = self.table::<ZoneTable>(item, "zone") else {
                continue;
            };
            let name_span = parsed.value.name.span();
            let place = self.place(&parsed.value);
            let zone = self.zone(parsed, &zones, daemon);
            zones.push(ZoneEntry {
                zone,
                name_span,
                place,
            });
        }
        if zones.is_empty() && items.is_empty() {
            self.error(value.span(), "no zones: `zones` is empty");
        }
        zones
    }

    /// One zone; `daemon` (the `[daemon]` table, its defaults where it had
    /// errors) to check that the zone's codec can be sent at its rate and
    /// packet time.
    fn zone(&mut self, parsed: Parsed<ZoneTable>, earlier: &[ZoneEntry], daemon: &Daemon) -> Zone {
        let Parsed {
            value: raw,
            dropped,
        } = parsed;
        let name = raw.name.get_ref().clone();
        if let Some(problem) = name_problem(&name) {
            self.error(raw.name.span(), format!("zone name `{name}` {problem}"));
        } else if let Some(first) = earlier.iter().find(|z| z.zone.name == name) {
            let line = self.line_of(&first.name_span);
            self.error(
                raw.name.span(),
                format!("duplicate zone name `{name}`: already used on line {line}"),
            );
        }

        let mut destinations = Vec::new();
        if let Some(rtp) = &raw.rtp {
            if rtp.get_ref().is_empty() {
                self.error(
                    rtp.span(),
                    "`rtp` is empty: expected one or more \"IP:port\", e.g. [\"127.0.0.1:5004\"]",
                );
            }
            for dest in rtp.get_ref() {
                match parse_destination(dest.get_ref()) {
                    Ok(addr) if destinations.contains(&addr) => {
                        self.error(dest.span(), format!("duplicate RTP destination `{addr}`"));
                    }
                    Ok(addr) => {
                        if addr.port() % 2 == 1 {
                            self.warning(
                                dest.span(),
                                format!(
                                    "RTP port {} is odd: RTP conventionally uses an even port, with RTCP on the next one",
                                    addr.port()
                                ),
                            );
                        }
                        destinations.push(addr);
                    }
                    Err(message) => self.error(dest.span(), message),
                }
            }
        }

        let mut codec = Codec::L16;
        let mut codec_ok = true;
        if let Some(c) = &raw.codec {
            match Codec::from_name(c.get_ref()) {
                Some(known) => codec = known,
                None => {
                    codec_ok = false;
                    let names: Vec<String> =
                        Codec::ALL.iter().map(|c| format!("\"{c}\"")).collect();
                    let (last, first) = names.split_last().expect("codecs");
                    self.error(
                        c.span(),
                        format!(
                            "unknown codec `{}`: expected {} or {last}",
                            c.get_ref(),
                            first.join(", ")
                        ),
                    );
                }
            }
        }

        let mut channels = schema::DEFAULT_CHANNELS;
        if let Some(ch) = &raw.channels {
            match *ch.get_ref() {
                n @ (1 | 2)
                    if codec_ok && codec.fixed_channels().is_some_and(|f| f != n as u16) =>
                {
                    let fixed = codec.fixed_channels().unwrap_or(1);
                    self.error(
                        ch.span(),
                        format!(
                            "`channels` = {n} with codec \"{codec}\": {} is {}, expected `channels` = {fixed}",
                            codec.name().to_uppercase(),
                            if fixed == 1 { "mono" } else { "stereo" }
                        ),
                    )
                }
                n @ (1 | 2) => channels = n as u16,
                n => self.error(ch.span(), format!("`channels` {n}: expected 1 or 2")),
            }
        }

        let mut gain_db = schema::DEFAULT_GAIN_DB;
        if let Some(g) = &raw.gain_db {
            let v = *g.get_ref();
            if schema::GAIN_DB_RANGE.contains(&v) {
                gain_db = v as f32;
            } else {
                self.error(
                    g.span(),
                    format!("`gain_db` {v} is out of range: expected -60..=20"),
                );
            }
        }

        let mut loudness_target_lufs = None;
        if let Some(t) = &raw.loudness_target_lufs {
            let v = *t.get_ref();
            if schema::TARGET_LUFS_RANGE.contains(&v) {
                loudness_target_lufs = Some(v);
            } else {
                self.error(
                    t.span(),
                    format!("`loudness_target_lufs` {v} is out of range: expected -40..=-5 LUFS"),
                );
            }
        }

        let mut multicast_interface = schema::DEFAULT_MULTICAST_INTERFACE;
        if let Some(i) = &raw.multicast_interface {
            match i.get_ref().parse::<Ipv4Addr>() {
                Ok(addr) => multicast_interface = addr,
                Err(_) => self.error(
                    i.span(),
                    format!(
                        "`multicast_interface` `{}` is not an IPv4 address: expected the address of the interface, e.g. \"127.0.0.1\" or \"192.168.1.10\"",
                        i.get_ref()
                    ),
                ),
            }
        }

        let mut multicast_ttl = schema::DEFAULT_MULTICAST_TTL;
        if let Some(t) = &raw.multicast_ttl {
            match u8::try_from(*t.get_ref()) {
                Ok(v) => multicast_ttl = u32::from(v),
                Err(_) => self.error(
                    t.span(),
                    format!(
                        "`multicast_ttl` {} is out of range: expected 0..=255",
                        t.get_ref()
                    ),
                ),
            }
        }

        let mut opus_kbps = crate::rtp::opus::DEFAULT_KBPS;
        if let Some(k) = &raw.opus_kbps {
            let v = *k.get_ref();
            match u32::try_from(v) {
                Ok(v) if crate::rtp::opus::KBPS_RANGE.contains(&v) => opus_kbps = v,
                _ => self.error(
                    k.span(),
                    format!(
                        "`opus_kbps` {v} is out of range: expected 6..=510 (32 is the default)"
                    ),
                ),
            }
            if codec_ok && codec != Codec::Opus {
                self.warning(
                    k.span(),
                    format!("`opus_kbps` has no effect: zone `{name}` sends codec \"{codec}\", not \"opus\""),
                );
            }
        }

        let mut dscp = schema::DEFAULT_DSCP;
        if let Some(d) = &raw.dscp {
            match u8::try_from(*d.get_ref()) {
                Ok(v) if v <= 63 => dscp = v,
                _ => self.error(
                    d.span(),
                    format!(
                        "`dscp` {} is out of range: expected 0..=63 (46 is EF)",
                        d.get_ref()
                    ),
                ),
            }
        }

        let wav = raw.wav.as_ref().map(|w| {
            if w.get_ref().trim().is_empty() {
                self.error(w.span(), "`wav` is empty: expected a file path");
            }
            self.resolve(w.get_ref())
        });

        let wav_retention = self.wav_retention(&raw, &name);

        let mut local = None;
        if let Some(l) = &raw.local {
            match l.get_ref() {
                LocalKey::On(false) => {}
                LocalKey::On(true) => local = Some(LocalOutput { device: None }),
                LocalKey::Device(d) if d.trim().is_empty() => self.error(
                    l.span(),
                    "`local` is empty: expected true, or an ALSA device name such as \"hw:0,0\"",
                ),
                LocalKey::Device(d) if d == "default" => local = Some(LocalOutput { device: None }),
                LocalKey::Device(d) => {
                    local = Some(LocalOutput {
                        device: Some(d.clone()),
                    })
                }
            }
            if let Some(mine) = &local {
                if let Some(first) = earlier.iter().find(|z| z.zone.local() == Some(mine)) {
                    let line = self.line_of(&first.name_span);
                    self.warning(
                        l.span(),
                        format!(
                            "zone `{name}` plays through the same sound card as zone `{}` (line {line}): unless ALSA shares the card (dmix, PipeWire) it plays only one of them and the other zone is degraded",
                            first.zone.name
                        ),
                    );
                }
            }
            if local.is_some() && !cfg!(feature = "local-audio") {
                self.error(
                    l.span(),
                    format!(
                        "zone `{name}` plays through the sound card (`local`), but this corong was built without it: build with `cargo build --release --features local-audio`"
                    ),
                );
            }
        }

        // With an Icecast stream the zone mixes at the engine's rate
        // (`Zone::mix_rate`: the codec's own rate only for RTP alone).
        let icecast = raw
            .icecast
            .as_ref()
            .and_then(|t| self.icecast(t, &name, daemon.sample_rate));

        let has_output_keys = raw.rtp.is_some()
            || raw.wav.is_some()
            || local.is_some()
            || raw.icecast.is_some()
            || dropped
                .iter()
                .any(|k| k == "rtp" || k == "wav" || k == "local" || k == "icecast");
        if !has_output_keys {
            self.error(
                raw.name.span(),
                format!(
                    "zone `{name}` has no output: expected `rtp = [\"IP:port\", ...]`, `wav = \"recordings/{name}.wav\"`, `local = true`, `icecast = {{ url = ..., password_file = ... }}` or several"
                ),
            );
        }
        if raw.rtp.is_none() {
            let rtp_only = [
                ("codec", raw.codec.as_ref().map(|v| v.span())),
                (
                    "multicast_interface",
                    raw.multicast_interface.as_ref().map(|v| v.span()),
                ),
                (
                    "multicast_ttl",
                    raw.multicast_ttl.as_ref().map(|v| v.span()),
                ),
                ("dscp", raw.dscp.as_ref().map(|v| v.span())),
                ("opus_kbps", raw.opus_kbps.as_ref().map(|v| v.span())),
            ];
            for (key, span) in rtp_only {
                if let Some(span) = span {
                    self.warning(
                        span,
                        format!("`{key}` has no effect: zone `{name}` has no `rtp`"),
                    );
                }
            }
        }

        let mut outputs = Vec::new();
        if raw.rtp.is_some() {
            outputs.push(ZoneOutput::Rtp(RtpOutput {
                destinations,
                codec,
                multicast_interface,
                multicast_ttl,
                dscp,
                opus_kbps,
            }));
        }
        if let Some(path) = wav {
            outputs.push(ZoneOutput::Wav(WavOutput {
                path,
                retention: wav_retention,
            }));
        }
        outputs.extend(local.map(ZoneOutput::Local));
        outputs.extend(icecast.map(ZoneOutput::Icecast));
        let zone = Zone {
            name,
            channels: codec.fixed_channels().unwrap_or(channels),
            gain_db,
            loudness_target_lufs,
            outputs,
        };
        // A codec that cannot be sent at the rate and packet time the zone
        // mixes at is refused here, not when the daemon opens the zone.
        if let Some(c) = raw.codec.as_ref().filter(|_| codec_ok) {
            if zone.rtp().is_some() {
                let rate = zone.mix_rate(daemon.sample_rate);
                let frames = daemon.frames_per_packet_at(rate);
                if let Err(e) = PacketLayout::new(codec, rate, zone.channels, frames) {
                    self.error(
                        c.span(),
                        format!(
                            "codec \"{codec}\" cannot be sent by zone `{}` with `sample_rate` {} and `packet_ms` {}: {e}",
                            zone.name, daemon.sample_rate, daemon.packet_ms
                        ),
                    );
                }
            }
        }
        zone
    }

    /// A zone's `wav_rotate`, `wav_keep_days` and `wav_max_total_mb`, with
    /// their defaults; warnings when the zone records nothing.
    fn wav_retention(&mut self, raw: &ZoneTable, name: &str) -> WavRetention {
        let mut r = WavRetention::default();
        if let Some(v) = &raw.wav_rotate {
            match WavRotate::parse(v.get_ref()) {
                Some(rotate) => r.rotate = rotate,
                None => self.error(
                    v.span(),
                    format!(
                        "`wav_rotate` \"{}\" is not known: expected \"daily\", \"hourly\" or \"none\"",
                        v.get_ref()
                    ),
                ),
            }
        }
        if let Some(d) = &raw.wav_keep_days {
            let v = *d.get_ref();
            if schema::WAV_KEEP_DAYS_RANGE.contains(&v) {
                r.keep_days = (v > 0).then_some(v as u32);
            } else {
                self.error(
                    d.span(),
                    format!("`wav_keep_days` {v} is out of range: expected 0..=3650 days (0: no bound by age; default 7)"),
                );
            }
        }
        if let Some(m) = &raw.wav_max_total_mb {
            let v = *m.get_ref();
            if v == 0 {
                r.max_total_bytes = None;
            } else if schema::WAV_MAX_TOTAL_MB_RANGE.contains(&v) {
                r.max_total_bytes = Some((v as u64) << 20);
            } else {
                self.error(
                    m.span(),
                    format!("`wav_max_total_mb` {v} is out of range: expected 16..=16777216 MiB, or 0 for no bound by size (default 2048)"),
                );
            }
        }
        if raw.wav.is_none() {
            let keys = [
                ("wav_rotate", raw.wav_rotate.as_ref().map(|v| v.span())),
                (
                    "wav_keep_days",
                    raw.wav_keep_days.as_ref().map(|v| v.span()),
                ),
                (
                    "wav_max_total_mb",
                    raw.wav_max_total_mb.as_ref().map(|v| v.span()),
                ),
            ];
            for (key, span) in keys {
                if let Some(span) = span {
                    self.warning(
                        span,
                        format!("`{key}` has no effect: zone `{name}` has no `wav`"),
                    );
                }
            }
        }
        r
    }
}

/// An RTP destination: an IP socket address. Host names are refused
/// because resolving them would make validation touch the network and make
/// the destination change under a running daemon.
fn parse_destination(text: &str) -> Result<SocketAddr, String> {
    let addr = match text.parse::<SocketAddr>() {
        Ok(addr) => addr,
        Err(_) => {
            let looks_like_host = text.rsplit_once(':').is_some_and(|(host, port)| {
                port.parse::<u16>().is_ok()
                    && !host.is_empty()
                    && host.parse::<std::net::IpAddr>().is_err()
                    && !host.starts_with('[')
            });
            return Err(if looks_like_host {
                format!(
                    "RTP destination `{text}`: host names are not supported, expected an IP address and port, e.g. \"192.168.1.50:5004\""
                )
            } else {
                format!(
                    "RTP destination `{text}` is not an IP:port: expected e.g. \"127.0.0.1:5004\", \"239.255.0.1:5008\" or \"[::1]:5004\""
                )
            });
        }
    };
    if addr.port() == 0 {
        return Err(format!(
            "RTP destination `{text}`: port 0 is not a destination port, expected 1..=65534"
        ));
    }
    if addr.port() == u16::MAX {
        return Err(format!(
            "RTP destination `{text}`: port 65535 leaves no port for RTCP (port + 1), expected 1..=65534"
        ));
    }
    if addr.ip().is_unspecified() {
        return Err(format!(
            "RTP destination `{text}`: the unspecified address is not a destination"
        ));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        assert!(parse_destination("127.0.0.1:5004").is_ok());
        assert!(parse_destination("[::1]:5004").is_ok());
        assert!(parse_destination("speaker.local:5004")
            .unwrap_err()
            .contains("host names are not supported"));
        assert!(parse_destination("127.0.0.1")
            .unwrap_err()
            .contains("not an IP:port"));
        assert!(parse_destination("127.0.0.1:0").is_err());
        assert!(parse_destination("127.0.0.1:65535").is_err());
    }
}
