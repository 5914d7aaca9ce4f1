//! The resolved configuration: what the daemon runs on.
//!
//! Every path here is absolute (relative paths in the file are resolved
//! against the config file's folder), every group is expanded into zone
//! names, and every value has been validated.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::hazards::{Alerts, Place, Volcano};
use super::schema;
use crate::cron::CronSchedule;
use crate::priority::Priority;

/// A whole, validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this was loaded from.
    pub path: PathBuf,
    /// The folder relative paths were resolved against.
    pub base_dir: PathBuf,
    pub daemon: Daemon,
    pub zones: Vec<Zone>,
    /// Group name -> zone names (already expanded).
    pub groups: BTreeMap<String, Vec<String>>,
    pub schedules: Vec<Schedule>,
    pub announcements: Announcements,
    pub preemption: Preemption,
    pub quiet_hours: Option<QuietHours>,
    pub loudness: Loudness,
    /// Zone name -> where it is, for every zone with `location` or
    /// `areas`.
    pub places: BTreeMap<String, Place>,
    /// `[alerts]`, with feeds and playbooks.
    pub alerts: Alerts,
    /// `[[volcanoes]]`.
    pub volcanoes: Vec<Volcano>,
    /// `[web]`: the web console; `None`: no web server.
    pub web: Option<Web>,
    /// `[site]` with `[mqtt]`: this kiosk joined to the regency's broker;
    /// `None`: a kiosk on its own.
    pub regency: Option<Regency>,
}

impl Config {
    /// The loudness target of zone `zone`: its own `loudness_target_lufs`
    /// or `[loudness] target_lufs`, with the ceiling and maximum gain of
    /// `[loudness]`. `None` when normalisation is off.
    pub fn loudness_target(&self, zone: &Zone) -> Option<LoudnessTarget> {
        self.loudness.normalize.then(|| LoudnessTarget {
            lufs: zone
                .loudness_target_lufs
                .unwrap_or(self.loudness.target.lufs),
            ..self.loudness.target
        })
    }

    /// Where zone `name` is (no location, no areas when it says nothing).
    pub fn place(&self, name: &str) -> Place {
        self.places.get(name).cloned().unwrap_or_default()
    }

    /// The volcano called `name`.
    pub fn volcano(&self, name: &str) -> Option<&Volcano> {
        self.volcanoes.iter().find(|v| v.name == name)
    }

    /// The zone called `name`.
    pub fn zone(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.name == name)
    }
}

/// `[daemon]`: process-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Daemon {
    /// IANA time zone that schedules are read in. Default `Asia/Jakarta`.
    pub timezone: Tz,
    /// Unix socket for operator commands. Default `run/corong.sock`.
    pub control_socket: PathBuf,
    /// Queue, as-run log and caches. Default `state`.
    pub state_dir: PathBuf,
    /// Engine sample rate in Hz. Default 48000.
    pub sample_rate: u32,
    /// Packet time in milliseconds. Default 20.
    pub packet_ms: u32,
    /// The longest one media item plays before its decoder stops it.
    /// Default 6 hours.
    pub max_item: Duration,
    /// Group that owns the control socket. `None`: the daemon's own group.
    pub control_group: Option<String>,
    /// A receiver silent this long after its last RTCP report turns its
    /// zone degraded. `None`: never. Default 30 s.
    pub receiver_timeout: Option<Duration>,
    /// Hold schedules until the system clock is synchronized. Default
    /// false.
    pub wait_for_clock_sync: bool,
    /// The as-run log keeps rows of items that started at most this many
    /// days ago. `None`: forever. Default 365.
    pub asrun_keep_days: Option<u32>,
    /// `state_dir/uploads/` keeps a file this many days after its last
    /// use (uploads, recorded pages). Default 30.
    pub uploads_keep_days: u32,
}

impl Daemon {
    /// Frames (samples per channel) in one packet at the engine rate.
    pub fn frames_per_packet(&self) -> usize {
        self.frames_per_packet_at(self.sample_rate)
    }

    /// Frames in one packet at `rate` (a zone's [`Zone::mix_rate`]).
    pub fn frames_per_packet_at(&self, rate: u32) -> usize {
        (rate as usize * self.packet_ms as usize) / 1000
    }

    pub fn packet_time(&self) -> Duration {
        Duration::from_millis(self.packet_ms as u64)
    }
}

/// RTP payload formats a zone can send: a leaf type of the wire module.
pub use crate::rtp::Codec;

/// One speaker zone: where its audio goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub name: String,
    /// Audio channels the zone plays: 1 (default) or 2. PCMU and G.722
    /// are always 1.
    pub channels: u16,
    /// Gain applied to everything the zone plays, in dB. Default 0.
    pub gain_db: f32,
    /// Where its audio goes: at least one output, at most one of each kind,
    /// in the order `rtp`, `wav`, `local`, `icecast` (whatever the order of the keys
    /// in the file).
    pub outputs: Vec<ZoneOutput>,
    /// The zone's own loudness target, LUFS; `None`: `[loudness] target_lufs`.
    pub loudness_target_lufs: Option<f64>,
}

/// One output of a zone, as its keys in the file say.
#[derive(Debug, Clone, PartialEq)]
pub enum ZoneOutput {
    /// `rtp = [...]` (with `codec`, `multicast_interface`, ...).
    Rtp(RtpOutput),
    /// `wav = "..."` (with `wav_rotate`, ...): a WAV of what it plays.
    Wav(WavOutput),
    /// `local = true` or `local = "DEVICE"`: the kiosk's own sound card
    /// (cargo feature `local-audio`).
    Local(LocalOutput),
    /// `icecast = { url, user, password_file, format, bitrate_kbps }`: an Icecast
    /// source connection for listeners' phones.
    Icecast(IcecastOutput),
}

impl Zone {
    /// Its RTP output, if it has one.
    pub fn rtp(&self) -> Option<&RtpOutput> {
        self.outputs.iter().find_map(|o| match o {
            ZoneOutput::Rtp(r) => Some(r),
            _ => None,
        })
    }

    /// Its recorder, if it has one.
    pub fn wav(&self) -> Option<&WavOutput> {
        self.outputs.iter().find_map(|o| match o {
            ZoneOutput::Wav(w) => Some(w),
            _ => None,
        })
    }

    /// Its sound card, if it has one.
    pub fn local(&self) -> Option<&LocalOutput> {
        self.outputs.iter().find_map(|o| match o {
            ZoneOutput::Local(l) => Some(l),
            _ => None,
        })
    }

    /// Its Icecast source, if it has one.
    pub fn icecast(&self) -> Option<&IcecastOutput> {
        self.outputs.iter().find_map(|o| match o {
            ZoneOutput::Icecast(i) => Some(i),
            _ => None,
        })
    }

    /// The rate this zone mixes at: its codec's own rate when its only
    /// output is RTP in a codec that has one (PCMU: 8 kHz on the wire; the
    /// zone's audio is decoded straight to it, and its mix costs a sixth of
    /// one at 48 kHz, with nothing to filter down per packet), else
    /// `engine_rate` (`[daemon] sample_rate`).
    pub fn mix_rate(&self, engine_rate: u32) -> u32 {
        match self.outputs.as_slice() {
            [ZoneOutput::Rtp(r)] => r.codec.native_rate().unwrap_or(engine_rate),
            _ => engine_rate,
        }
    }
}

/// The recorder side of a zone.
#[derive(Debug, Clone, PartialEq)]
pub struct WavOutput {
    /// The file (absolute).
    pub path: PathBuf,
    /// How it splits and prunes its files.
    pub retention: WavRetention,
}

/// When a recorder starts a new file (zone `wav_rotate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WavRotate {
    /// Always the `wav` path itself (moved aside only at start and when it
    /// would outgrow a WAV header's 32-bit lengths).
    None,
    /// `STEM-YYYY-MM-DD.wav`, one per local day.
    Daily,
    /// `STEM-YYYY-MM-DDTHH.wav`, one per local hour.
    Hourly,
}

impl WavRotate {
    /// As written in the config.
    pub fn parse(s: &str) -> Option<WavRotate> {
        Some(match s {
            "none" => WavRotate::None,
            "daily" => WavRotate::Daily,
            "hourly" => WavRotate::Hourly,
            _ => return None,
        })
    }
}

/// A recorder zone's files: how they are split and how long they are kept
/// (zone keys `wav_rotate`, `wav_keep_days`, `wav_max_total_mb`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavRetention {
    pub rotate: WavRotate,
    /// Files last written longer ago than this many days are deleted.
    /// `None`: no bound by age. Default 7.
    pub keep_days: Option<u32>,
    /// The oldest files are deleted while all of them take more than this.
    /// `None`: no bound by size. Default 2048 MiB.
    pub max_total_bytes: Option<u64>,
}

impl Default for WavRetention {
    /// The defaults of a zone that has `wav` and none of the other keys.
    fn default() -> Self {
        WavRetention {
            rotate: WavRotate::Daily,
            keep_days: Some(schema::DEFAULT_WAV_KEEP_DAYS),
            max_total_bytes: Some(schema::DEFAULT_WAV_MAX_TOTAL_MB << 20),
        }
    }
}

/// `[loudness]`: every item at one loudness, and dead air skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Loudness {
    /// Bring every item to the target. Default true.
    pub normalize: bool,
    /// `target_lufs` (default -16), `true_peak_dbtp` (default -1) and
    /// `max_gain_db` (default 20): the target of every zone without a
    /// `loudness_target_lufs` of its own ([`Config::loudness_target`]).
    pub target: LoudnessTarget,
    /// An item silent (below -60 dBFS) this long is skipped. `None`: never.
    /// Default 10 s.
    pub dead_air: Option<Duration>,
}

impl Default for Loudness {
    fn default() -> Self {
        Loudness {
            normalize: true,
            target: LoudnessTarget::default(),
            dead_air: Some(Duration::from_secs(10)),
        }
    }
}

/// The loudness a zone's items are brought to (media's `loudness::plan`
/// turns it and a measurement into a gain).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoudnessTarget {
    /// Integrated loudness every item is brought to, LUFS.
    pub lufs: f64,
    /// The true peak no item may exceed after its gain, dBTP.
    pub ceiling_dbtp: f64,
    /// The most gain a quiet file gets, dB.
    pub max_gain_db: f64,
}

impl Default for LoudnessTarget {
    fn default() -> Self {
        LoudnessTarget {
            lufs: schema::DEFAULT_TARGET_LUFS,
            ceiling_dbtp: schema::DEFAULT_CEILING_DBTP,
            max_gain_db: schema::DEFAULT_MAX_GAIN_DB,
        }
    }
}

/// The sound-card side of a zone.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalOutput {
    /// ALSA device name; `None`: the default device.
    pub device: Option<String>,
}

/// A zone's Icecast source connection (`icecast` table).
#[derive(Debug, Clone, PartialEq)]
pub struct IcecastOutput {
    /// As written: `http://127.0.0.1:8000/pasar.ogg`.
    pub url: String,
    /// The server's host (an IP address or `localhost`) and port.
    pub host: String,
    pub port: u16,
    /// The mount point, `/pasar.ogg`.
    pub mount: String,
    /// The source user (default `source`).
    pub user: String,
    /// The password, read from `password_file` at load.
    pub password: Secret,
    pub format: IcecastFormat,
    /// `bitrate_kbps`, checked against the format at load; `None`: the
    /// format's default (Ogg Opus 48, MP3 64 a channel).
    pub bitrate_kbps: Option<u32>,
}

/// Bitrates an Icecast MP3 stream may have, kbit/s (those LAME writes
/// and corong's LAME binding names): at 32 kHz and above (MPEG-1) 32 and
/// up, below 32 kHz (MPEG-2 and 2.5) up to 160.
pub const MP3_BITRATES_KBPS: [u32; 16] = [
    8, 16, 24, 32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];

/// Whether MP3 at `rate` Hz can be sent at `kbps` kbit/s.
pub fn mp3_bitrate_fits(rate: u32, kbps: u32) -> bool {
    let mpeg1 = rate >= 32_000;
    MP3_BITRATES_KBPS.contains(&kbps) && if mpeg1 { kbps >= 32 } else { kbps <= 160 }
}

/// What an Icecast output encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcecastFormat {
    /// Ogg Opus (RFC 7845), `audio/ogg`.
    Opus,
    /// MP3 (MPEG-1/2 Layer III, LAME), `audio/mpeg`.
    Mp3,
}

/// A password: compared on reload, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The RTP side of a zone.
#[derive(Debug, Clone, PartialEq)]
pub struct RtpOutput {
    /// Unicast host:port or multicast group:port, one or more. RTCP goes to
    /// port + 1 of each.
    pub destinations: Vec<SocketAddr>,
    pub codec: Codec,
    /// Outgoing interface for multicast (`IP_MULTICAST_IF`). Default
    /// 127.0.0.1, so that nothing leaves the machine until an operator
    /// names the real interface.
    pub multicast_interface: Ipv4Addr,
    /// Multicast TTL. Default 1 (stays on the local network).
    pub multicast_ttl: u32,
    /// DSCP code point for the packets. Default 46 (EF).
    pub dscp: u8,
    /// Opus bitrate, kbit/s (`opus_kbps`), 6..=510. Default 32. Only
    /// `codec = "opus"` reads it.
    pub opus_kbps: u32,
}

impl RtpOutput {
    /// What its encoder is tuned with besides the codec.
    pub fn encode_options(&self) -> crate::rtp::EncodeOptions {
        crate::rtp::EncodeOptions {
            opus_kbps: self.opus_kbps,
        }
    }
}

/// How a schedule plays its playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub name: String,
    /// When it fires: the cron expression (6 fields: sec min hour dom month
    /// dow), parsed once at load.
    pub cron: CronSchedule,
    /// The playlist's name as written; empty for a text schedule.
    pub playlist: String,
    /// The playlist file: `playlists/NAME.m3u` (or `.m3u8`) beside the
    /// config; empty for a text schedule.
    pub playlist_path: PathBuf,
    /// Text spoken (text to speech) instead of a playlist.
    pub text: Option<String>,
    /// Zone names (groups and `all` expanded), in config order.
    pub zones: Vec<String>,
    pub priority: Priority,
    /// Play the items in a random order. Default false.
    pub shuffle: bool,
    /// Loop the playlist until this local time (same day, or the next day if
    /// it is earlier than the fire time). `None`: play it once.
    pub loop_until: Option<NaiveTime>,
    /// What happens to a fire missed while the daemon was down.
    pub missed: Missed,
    /// Local dates the schedule does not fire on (explicit and from
    /// `except_file`).
    pub except_dates: BTreeSet<NaiveDate>,
    /// Local dates the schedule is active between (inclusive).
    pub active_from: Option<NaiveDate>,
    pub active_until: Option<NaiveDate>,
}

/// What happens to a fire time missed while the daemon was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// It is not played.
    Skip,
    /// It is played at start, if it is at most this old.
    CatchUp { grace: Duration },
}

impl Schedule {
    /// Whether the schedule may fire on local date `date`: inside its active
    /// range and not an exception. `Err` says why not, for the log.
    pub fn fires_on(&self, date: NaiveDate) -> Result<(), &'static str> {
        if self.active_from.is_some_and(|d| date < d) {
            return Err("before its active_from date");
        }
        if self.active_until.is_some_and(|d| date > d) {
            return Err("after its active_until date");
        }
        if self.except_dates.contains(&date) {
            return Err("an exception date");
        }
        Ok(())
    }
}

/// `[quiet_hours]`: a daily stretch of local time when nothing below
/// `emergency` plays: schedules do not fire, announcements are refused, and
/// stored jobs that come due (a repeat, a job restored after a restart)
/// wait for the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub from: NaiveTime,
    /// Earlier than `from`: the stretch runs past midnight.
    pub to: NaiveTime,
}

impl QuietHours {
    /// When the quiet hours that hold `now` end, or `None` when `now` is
    /// outside them. A `to` that does not exist that day (a daylight-saving
    /// gap) ends them at the first instant after the gap.
    pub fn end_after(&self, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&tz);
        if !self.contains(local.time()) {
            return None;
        }
        let mut day = local.date_naive();
        if local.time() >= self.to {
            day = day.succ_opt()?;
        }
        let mut naive = day.and_time(self.to);
        for _ in 0..4 {
            if let Some(t) = tz.from_local_datetime(&naive).earliest() {
                return Some(t.with_timezone(&Utc));
            }
            naive += chrono::Duration::minutes(30);
        }
        None
    }

    /// Whether local time `t` is inside the quiet hours.
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.from <= self.to {
            self.from <= t && t < self.to
        } else {
            t >= self.from || t < self.to
        }
    }
}

/// `[announcements]`: how operators' announcements sound.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcements {
    /// Chime before an announcement. `None`: corong's own synthesized chime.
    pub chime: Option<PathBuf>,
    /// Chime after the announcement too. Default false.
    pub chime_after: bool,
    /// Gap between plays of `--repeat N` without `--interval`. Default 60 s.
    pub repeat_interval: Duration,
    /// Emergency alert signal. `None`: corong's own alert tone.
    pub alert: Option<PathBuf>,
    /// espeak-ng voice for text to speech. Default `id`.
    pub tts_voice: String,
    /// `[announcements.chimes.LEVEL]`, by the level's priority (10, 50,
    /// 100, 150).
    pub chimes_by_level: BTreeMap<Priority, LevelChimes>,
}

/// A chime setting of one priority level.
#[derive(Debug, Clone, PartialEq)]
pub enum Chime {
    /// The `[announcements] chime` (or corong's own).
    Default,
    /// No chime.
    None,
    /// This file.
    File(PathBuf),
}

/// `[announcements.chimes.LEVEL]`: `None` where the level does not say.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LevelChimes {
    pub before: Option<Chime>,
    pub after: Option<Chime>,
}

impl Announcements {
    /// The chimes (before, after) of a job at `priority`, `Chime::None`
    /// where there is none: the level's own settings (the nearest named
    /// level at or below `priority`), else `chime` before and, with
    /// `chime_after`, after. `chimes_wanted` false (`--no-chime`): none.
    pub fn chimes_for(&self, priority: Priority, chimes_wanted: bool) -> (Chime, Chime) {
        if !chimes_wanted {
            return (Chime::None, Chime::None);
        }
        let named = [
            Priority::LIVE,
            Priority::ANNOUNCEMENT,
            Priority::PROGRAM,
            Priority::BACKGROUND,
        ]
        .into_iter()
        .find(|&l| l <= priority);
        let level = named
            .and_then(|l| self.chimes_by_level.get(&l))
            .cloned()
            .unwrap_or_default();
        let after_default = if self.chime_after {
            Chime::Default
        } else {
            Chime::None
        };
        (
            level.before.unwrap_or(Chime::Default),
            level.after.unwrap_or(after_default),
        )
    }

    /// Every chime file the levels name (for checking and measuring).
    pub fn level_chime_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self
            .chimes_by_level
            .values()
            .flat_map(|l| [&l.before, &l.after])
            .filter_map(|c| match c {
                Some(Chime::File(p)) => Some(p.clone()),
                _ => None,
            })
            .collect();
        files.sort();
        files.dedup();
        files
    }
}

/// What a job does while a higher priority holds its zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreemptMode {
    /// Keep playing, lowered by `Preemption::duck_db`.
    Duck,
    /// Stop, and resume where it left off.
    Pause,
    /// End (logged as preempted).
    Cancel,
}

/// `[preemption]`: the mode of each named priority level.
#[derive(Debug, Clone, PartialEq)]
pub struct Preemption {
    pub background: PreemptMode,
    pub program: PreemptMode,
    pub announcement: PreemptMode,
    pub live: PreemptMode,
    /// How far a ducked job is lowered, dB. Default -20.
    pub duck_db: f32,
}

impl Default for Preemption {
    fn default() -> Self {
        Preemption {
            background: PreemptMode::Duck,
            program: PreemptMode::Pause,
            announcement: PreemptMode::Pause,
            live: PreemptMode::Pause,
            duck_db: -20.0,
        }
    }
}

impl Preemption {
    /// The mode for `priority`: that of the nearest named level at or below
    /// it (below `background`: background's).
    pub fn mode(&self, priority: Priority) -> PreemptMode {
        if priority >= Priority::LIVE {
            self.live
        } else if priority >= Priority::ANNOUNCEMENT {
            self.announcement
        } else if priority >= Priority::PROGRAM {
            self.program
        } else {
            self.background
        }
    }
}

/// `[web]`: the web console (see `docs/web.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct Web {
    pub listen: SocketAddr,
    /// Certificate chain and key (PEM), absolute. `None`: plain HTTP, which
    /// the loader allows on a loopback `listen` only.
    pub tls: Option<WebTls>,
    /// How long a login lasts.
    pub session_lifetime: Duration,
    /// `/metrics` answered to any address, not only loopback clients.
    pub metrics_public: bool,
}

/// `[web] tls_cert` and `tls_key`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `[site]` and `[mqtt]`: this kiosk in the regency (see `docs/regency.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct Regency {
    /// `[site] name`: letters, digits, `-` and `_`.
    pub site: String,
    pub broker: Broker,
    /// Every topic starts with it (no `/` at either end, no wildcards).
    pub topic_prefix: String,
    pub username: Option<String>,
    /// Absolute; read (and checked readable) at load, read again at each
    /// connection so that a changed password needs no restart.
    pub password_file: Option<PathBuf>,
    /// Extra PEM CA certificates for `mqtts://`, absolute.
    pub ca_file: Option<PathBuf>,
    pub keep_alive: Duration,
}

/// Where the broker is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub host: String,
    pub port: u16,
    /// `mqtts://`: TLS (rustls).
    pub tls: bool,
}
