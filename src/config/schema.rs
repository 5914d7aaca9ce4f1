//! The raw TOML schema: what an operator writes, before validation.
//!
//! Every struct denies unknown keys. Optional keys are `Option` here and get
//! their defaults in `load.rs` (the defaults are the `DEFAULT_*` constants
//! below, or the `Default` of a section's resolved type in `model.rs`:
//! `[loudness]` dead air, `[preemption]`, a zone's `wav_rotate`), so that
//! validation can tell "not written" from "written as the default". Values
//! that validation must point at are `toml::Spanned`.
//!
//! `load.rs` deserializes each section and each `[[zones]]` /
//! `[[schedules]]` table on its own, so that one bad table does not hide
//! the problems in the others.

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::forward_to_deserialize_any;
use toml::Spanned;

use crate::priority::Priority;

/// Default `[daemon] timezone`.
pub const DEFAULT_TIMEZONE: &str = "Asia/Jakarta";
/// Default `[daemon] control_socket`.
pub const DEFAULT_CONTROL_SOCKET: &str = "run/corong.sock";
/// Default `[daemon] state_dir`.
pub const DEFAULT_STATE_DIR: &str = "state";
/// Default `[daemon] sample_rate`, Hz.
pub const DEFAULT_SAMPLE_RATE: u32 = 48_000;
/// Accepted `[daemon] sample_rate`s, Hz.
pub const SAMPLE_RATE_RANGE: std::ops::RangeInclusive<i64> = 8_000..=192_000;
/// Default `[daemon] packet_ms`.
pub const DEFAULT_PACKET_MS: u32 = 20;
/// Accepted `[daemon] packet_ms`.
pub const PACKET_MS_RANGE: std::ops::RangeInclusive<i64> = 5..=100;
/// Default `[daemon] receiver_timeout_s`: six times the mean interval of
/// receiver reports (5 s, each between 2.5 and 7.5 s).
pub const DEFAULT_RECEIVER_TIMEOUT_S: u64 = 30;
/// Accepted `[daemon] receiver_timeout_s` (0: never).
pub const RECEIVER_TIMEOUT_RANGE: std::ops::RangeInclusive<i64> = 0..=86_400;
/// Below this many seconds a receiver that reports on time can look silent
/// between two reports: a warning.
pub const RECEIVER_TIMEOUT_WARN_BELOW: i64 = 8;
/// Default `[daemon] max_item_s`: 6 hours.
pub const DEFAULT_MAX_ITEM_S: u64 = 6 * 3600;
/// Accepted `[daemon] max_item_s`: 1 second to 24 hours.
pub const MAX_ITEM_S_RANGE: std::ops::RangeInclusive<i64> = 1..=86_400;
/// Default `[daemon] asrun_keep_days`: a year of the as-run log.
pub const DEFAULT_ASRUN_KEEP_DAYS: u32 = 365;
/// Accepted `[daemon] asrun_keep_days` (0: keep forever). The top is a
/// hundred years: past it a date overflows nothing, but it is a typo.
pub const ASRUN_KEEP_DAYS_RANGE: std::ops::RangeInclusive<i64> = 0..=36_500;
/// Default `[daemon] uploads_keep_days`: files sent over the socket or the
/// console, and recorded pages, a month after their last use.
pub const DEFAULT_UPLOADS_KEEP_DAYS: u32 = 30;
/// Accepted `[daemon] uploads_keep_days`.
pub const UPLOADS_KEEP_DAYS_RANGE: std::ops::RangeInclusive<i64> = 1..=3_650;
/// Default zone `wav_keep_days`.
pub const DEFAULT_WAV_KEEP_DAYS: u32 = 7;
/// Accepted zone `wav_keep_days` (0: no bound by age).
pub const WAV_KEEP_DAYS_RANGE: std::ops::RangeInclusive<i64> = 0..=3_650;
/// Default zone `wav_max_total_mb`: 2 GiB, which fits any kiosk's disk
/// (about 6 hours of 48 kHz mono; a day of it is about 8 GB).
pub const DEFAULT_WAV_MAX_TOTAL_MB: u64 = 2048;
/// Accepted zone `wav_max_total_mb` (0: no bound by size). The bottom is
/// 16: below that a bound would delete recordings minutes old.
pub const WAV_MAX_TOTAL_MB_RANGE: std::ops::RangeInclusive<i64> = 16..=16_777_216;
/// Default zone `channels`.
pub const DEFAULT_CHANNELS: u16 = 1;
/// Default zone `gain_db`.
pub const DEFAULT_GAIN_DB: f32 = 0.0;
/// Accepted zone `gain_db`.
pub const GAIN_DB_RANGE: std::ops::RangeInclusive<f64> = -60.0..=20.0;
/// Default zone `multicast_interface`: loopback, so that nothing leaves the
/// machine until an operator names the real interface.
pub const DEFAULT_MULTICAST_INTERFACE: std::net::Ipv4Addr = std::net::Ipv4Addr::LOCALHOST;
/// Default zone `multicast_ttl`.
pub const DEFAULT_MULTICAST_TTL: u32 = 1;
/// Default zone `dscp` (EF, expedited forwarding).
pub const DEFAULT_DSCP: u8 = 46;
/// Default schedule `priority`.
pub const DEFAULT_PRIORITY: Priority = Priority::PROGRAM;
/// The reserved target name meaning every zone.
pub const ALL_ZONES: &str = "all";

/// The whole file. `load.rs` checks the top-level keys against this struct's
/// fields and deserializes each section separately.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[daemon]`. Optional: every key has a default.
    pub daemon: Option<DaemonTable>,
    /// `[[zones]]`, one table per zone. At least one is required.
    pub zones: Option<Vec<ZoneTable>>,
    /// `[groups]`: `name = ["zone or group", ...]`. Default: no groups.
    pub groups: Option<toml::Table>,
    /// `[[schedules]]`. Default: none (the daemon then only plays
    /// announcements).
    pub schedules: Option<Vec<ScheduleTable>>,
    /// `[announcements]`: chimes, alert tone, repeats, text to speech.
    /// Optional: every key has a default.
    pub announcements: Option<AnnouncementsTable>,
    /// `[preemption]`: what each priority level does while a higher one
    /// holds its zone. Optional: every key has a default.
    pub preemption: Option<PreemptionTable>,
    /// `[quiet_hours]`. Default: none.
    pub quiet_hours: Option<QuietHoursTable>,
    /// `[loudness]`: loudness normalisation and dead-air detection.
    /// Optional: every key has a default.
    pub loudness: Option<LoudnessTable>,
    /// `[alerts]`: hazard warnings, with `[[alerts.feeds]]` and
    /// `[[alerts.playbooks]]`. Default: none.
    pub alerts: Option<AlertsTable>,
    /// `[[volcanoes]]`: volcanoes whose level an operator sets. Default:
    /// none.
    pub volcanoes: Option<Vec<VolcanoTable>>,
    /// `[web]`: the web console. Default: none (no web server).
    pub web: Option<WebTable>,
    /// `[site]`: this kiosk's name in the regency. Default: none.
    pub site: Option<SiteTable>,
    /// `[mqtt]`: the regency's broker. Default: none (no other kiosks).
    pub mqtt: Option<MqttTable>,
}

/// Default `[[alerts.feeds]] poll_s`.
pub const DEFAULT_POLL_S: i64 = 60;
/// The shortest `poll_s` against a real host (HAZARDS.md: about once a
/// minute; BMKG allows 60 requests a minute per address).
pub const MIN_POLL_S: i64 = 30;
/// Accepted `poll_s` (below [`MIN_POLL_S`] only for a loopback test feed).
pub const POLL_S_RANGE: std::ops::RangeInclusive<i64> = 1..=86_400;
/// Accepted playbook `repeat_every_s` (0: once).
pub const REPEAT_EVERY_S_RANGE: std::ops::RangeInclusive<i64> = 0..=86_400;
/// The shortest repeat that is not 0: a message is longer than this.
pub const MIN_REPEAT_EVERY_S: i64 = 10;
/// Default playbook `priority`.
pub const DEFAULT_ALERT_PRIORITY: Priority = Priority::EMERGENCY;
/// Accepted volcano ring radius, km.
pub const RING_KM_RANGE: std::ops::RangeInclusive<f64> = 0.1..=200.0;

/// `[alerts]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsTable {
    /// `"confirm"` (default), `"auto"` or `"off"`.
    pub mode: Option<Spanned<String>>,
    /// `[[alerts.feeds]]`: read one table at a time by the loader.
    pub feeds: Option<toml::Value>,
    /// `[[alerts.playbooks]]`: read one table at a time by the loader.
    pub playbooks: Option<toml::Value>,
}

/// One `[[alerts.feeds]]`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedTable {
    /// Unique, of a-z, 0-9, `_`, `-`. Required.
    pub name: Spanned<String>,
    /// `"cap-rss"`, `"cap"` or `"inatews"`. Required.
    pub kind: Spanned<String>,
    /// `https://...` (`http://` only to a loopback address). Required.
    pub url: Spanned<String>,
    /// Seconds between polls, at least 30 against a real host. Default 60.
    pub poll_s: Option<Spanned<i64>>,
}

/// One `[[alerts.playbooks]]`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaybookTable {
    /// Unique, non-empty. Required.
    pub name: Spanned<String>,
    /// What starts it. Required.
    pub when: Spanned<WhenTable>,
    /// A template with `{headline}` and the like, spoken by text to speech.
    /// One of `text` and `file` is required.
    pub text: Option<Spanned<String>>,
    /// A media file relative to the config's folder.
    pub file: Option<Spanned<String>>,
    /// `"matched"` (default) or a list of zones, groups or `"all"`.
    pub zones: Option<Spanned<toml::Value>>,
    /// Default `"emergency"`.
    pub priority: Option<Spanned<Priority>>,
    /// Seconds between plays until the alert expires or is cancelled,
    /// 0 (once, the default) or 10..=86400.
    pub repeat_every_s: Option<Spanned<i64>>,
    /// `"confirm"` or `"auto"`. Default: `[alerts] mode`.
    pub mode: Option<Spanned<String>>,
}

/// A playbook's `when`: one of `event` (with `severity`), `feed` (with
/// `level`) or `volcano` (with `level`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhenTable {
    pub event: Option<Spanned<String>>,
    pub severity: Option<Spanned<Vec<Spanned<String>>>>,
    pub feed: Option<Spanned<String>>,
    pub volcano: Option<Spanned<String>>,
    /// A tsunami level name (with `feed`) or a volcano level 2..=4.
    pub level: Option<Spanned<toml::Value>>,
}

/// One `[[volcanoes]]`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolcanoTable {
    /// Of a-z, 0-9, `_`, `-`: what `corong volcano NAME LEVEL` names.
    pub name: Spanned<String>,
    /// `[latitude, longitude]` of the crater. Required.
    pub location: Spanned<Vec<f64>>,
    /// `{ 2 = 2.0, 3 = 5.0, 4 = 10.0 }`: level -> radius, km. Required.
    pub rings_km: Spanned<toml::Table>,
}

/// Default `[web] session_hours`: a working day and a half.
pub const DEFAULT_SESSION_HOURS: u64 = 12;
/// Accepted `[web] session_hours`: an hour to a month.
pub const SESSION_HOURS_RANGE: std::ops::RangeInclusive<i64> = 1..=720;

/// `[web]`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebTable {
    /// `ADDR:PORT` to listen on. Required.
    pub listen: Spanned<String>,
    /// PEM certificate chain; with `tls_key`, HTTPS.
    pub tls_cert: Option<Spanned<String>>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<Spanned<String>>,
    /// How long a login lasts, hours, 1..=720. Default 12.
    pub session_hours: Option<Spanned<i64>>,
    /// Serve `/metrics` on a non-loopback listen too. Default false.
    pub metrics_public: Option<bool>,
}

/// `[site]`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteTable {
    /// This kiosk's name: its topics and its broker account. Required.
    pub name: Spanned<String>,
}

/// Default `[mqtt] keep_alive_s`: the broker declares a kiosk dead after
/// 1.5 times this, so a killed kiosk shows offline within 15 s.
pub const DEFAULT_KEEP_ALIVE_S: i64 = 10;
/// Accepted `[mqtt] keep_alive_s`: at most 20, so that 1.5 times it stays
/// within the 30 s the regency is promised.
pub const KEEP_ALIVE_S_RANGE: std::ops::RangeInclusive<i64> = 1..=20;

/// `[mqtt]`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttTable {
    /// `mqtt://HOST[:PORT]` or `mqtts://HOST[:PORT]`. Required.
    pub url: Spanned<String>,
    /// Every topic starts with it, e.g. `corong/blitar`. Required.
    pub topic_prefix: Spanned<String>,
    /// The broker account. Default: none (anonymous).
    pub username: Option<Spanned<String>>,
    /// A file holding the account's password (its first line).
    pub password_file: Option<Spanned<String>>,
    /// PEM CA certificates to trust for `mqtts://` besides the system's.
    pub ca_file: Option<Spanned<String>>,
    /// MQTT keep-alive, seconds, 1..=20. Default 10.
    pub keep_alive_s: Option<Spanned<i64>>,
}

/// Default `[loudness] target_lufs`, LUFS.
pub const DEFAULT_TARGET_LUFS: f64 = -16.0;
/// Default `[loudness] true_peak_dbtp`: the ceiling, dBTP.
pub const DEFAULT_CEILING_DBTP: f64 = -1.0;
/// Default `[loudness] max_gain_db`: the most gain a quiet file gets, dB.
pub const DEFAULT_MAX_GAIN_DB: f64 = 20.0;
/// Accepted `[loudness] target_lufs` and zone `loudness_target_lufs`.
pub const TARGET_LUFS_RANGE: std::ops::RangeInclusive<f64> = -40.0..=-5.0;
/// Accepted `[loudness] true_peak_dbtp`.
pub const TRUE_PEAK_RANGE: std::ops::RangeInclusive<f64> = -20.0..=0.0;
/// Accepted `[loudness] max_gain_db`.
pub const MAX_GAIN_RANGE: std::ops::RangeInclusive<f64> = 0.0..=40.0;

/// `[loudness]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoudnessTable {
    /// Bring every item to the target loudness. Default true.
    pub normalize: Option<bool>,
    /// Target integrated loudness, LUFS, -40..=-5. Default -16.
    pub target_lufs: Option<Spanned<f64>>,
    /// True-peak ceiling, dBTP, -20..=0. Default -1.
    pub true_peak_dbtp: Option<Spanned<f64>>,
    /// Most gain a quiet file gets, dB, 0..=40. Default 20.
    pub max_gain_db: Option<Spanned<f64>>,
    /// Seconds of silence (below -60 dBFS) after which an item is skipped
    /// as dead air, 0.5..=3600; 0 turns detection off. Default 10.
    pub dead_air_s: Option<Spanned<f64>>,
}

/// Default `[announcements] repeat_interval_s`.
pub const DEFAULT_REPEAT_INTERVAL_S: u64 = 60;
/// Default `[announcements] tts_voice`: Indonesian.
pub const DEFAULT_TTS_VOICE: &str = "id";

/// `[announcements]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnouncementsTable {
    /// The chime before an announcement, a media file relative to the
    /// config's folder. Default: the chime corong synthesizes itself.
    pub chime: Option<Spanned<String>>,
    /// Play the chime after the announcement too. Default false.
    pub chime_after: Option<bool>,
    /// Seconds between plays of `--repeat N` when `--interval` is not given.
    /// 0..=86400. Default 60.
    pub repeat_interval_s: Option<Spanned<i64>>,
    /// The emergency alert signal, a media file. Default: the alert tone
    /// corong synthesizes (alternating 800/1000 Hz, 4 s).
    pub alert: Option<Spanned<String>>,
    /// espeak-ng voice for `corong say` and `emergency --text`. Default "id".
    pub tts_voice: Option<Spanned<String>>,
    /// `[announcements.chimes.LEVEL]`: the chimes of one priority level,
    /// overriding `chime` and `chime_after` for it. Default: none.
    pub chimes: Option<ChimesTable>,
}

/// `[announcements.chimes]`: one table per named priority level below
/// `emergency` (an emergency plays its alert signal instead). A numbered
/// priority follows the nearest named level at or below it.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChimesTable {
    pub background: Option<LevelChimesTable>,
    pub program: Option<LevelChimesTable>,
    pub announcement: Option<LevelChimesTable>,
    pub live: Option<LevelChimesTable>,
}

/// The chimes of one priority level: each `"default"` (the
/// `[announcements] chime`, or corong's own), `"none"`, or a media file
/// relative to the config's folder. Unset: as `chime` / `chime_after` say.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelChimesTable {
    pub before: Option<Spanned<String>>,
    pub after: Option<Spanned<String>>,
}

/// `[preemption]`: `duck`, `pause` or `cancel` per priority level. A
/// numbered priority follows the nearest named level at or below it.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreemptionTable {
    /// Default `"duck"`: background music dips under announcements.
    pub background: Option<Spanned<String>>,
    /// Default `"pause"`: a programme resumes where it stopped.
    pub program: Option<Spanned<String>>,
    /// Default `"pause"`.
    pub announcement: Option<Spanned<String>>,
    /// Default `"pause"`.
    pub live: Option<Spanned<String>>,
    /// How far a ducked job is lowered, dB, -60..=0. Default -20.
    pub duck_db: Option<Spanned<f64>>,
}

/// `[daemon]`: process-wide settings.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonTable {
    /// IANA time zone that schedules are read in. Default `"Asia/Jakarta"`.
    pub timezone: Option<Spanned<String>>,
    /// Unix socket for operator commands, relative to the config file's
    /// folder. Default `"run/corong.sock"`.
    pub control_socket: Option<Spanned<String>>,
    /// Folder for the queue, the as-run log and caches, relative to the
    /// config file's folder. Default `"state"`.
    pub state_dir: Option<Spanned<String>>,
    /// Engine sample rate in Hz, 8000..=192000. Default 48000.
    pub sample_rate: Option<Spanned<i64>>,
    /// Packet time in ms, 5..=100; must be a whole number of frames at
    /// `sample_rate` and at 8000 Hz. Default 20.
    pub packet_ms: Option<Spanned<i64>>,
    /// The longest one media item may play, in seconds, 1..=86400: the
    /// decoder stops there (with a warning naming the file), so a bogus
    /// header or an endless stream can't hold a zone. Default 21600 (6 h).
    pub max_item_s: Option<Spanned<i64>>,
    /// Group that owns the control socket (mode 0660): its members are the
    /// operators. Default: the daemon's own group.
    pub control_group: Option<Spanned<String>>,
    /// Seconds after which a receiver that sent RTCP reports and went quiet
    /// turns its zone `degraded`, 0..=86400 (0: never). Default 30.
    pub receiver_timeout_s: Option<Spanned<i64>>,
    /// Hold schedules until the kernel says the system clock is
    /// synchronized (by NTP, chrony, systemd-timesyncd). Default false.
    pub wait_for_clock_sync: Option<bool>,
    /// Days the as-run log keeps its rows, 0..=36500 (0: forever). Rows of
    /// items that started longer ago are deleted at start and once a day,
    /// and the deletion is itself a row. Default 365.
    pub asrun_keep_days: Option<Spanned<i64>>,
    /// Days `state_dir/uploads/` keeps a file after its last use (files
    /// sent over the socket or uploaded through the console, recorded
    /// pages), 1..=3650. Default 30.
    pub uploads_keep_days: Option<Spanned<i64>>,
}

/// One `[[zones]]` table.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneTable {
    /// Unique name of `a-z`, `0-9`, `_`, `-`. Required; `all` is reserved.
    pub name: Spanned<String>,
    /// RTP destinations, `"IP:port"` (IPv4, `[IPv6]:port`, unicast or
    /// multicast). Default: none. A zone needs `rtp`, `wav` or both.
    pub rtp: Option<Spanned<Vec<Spanned<String>>>>,
    /// `"l16"`, `"pcmu"`, `"g722"` or `"opus"`. Default `"l16"`.
    pub codec: Option<Spanned<String>>,
    /// 1 or 2; `pcmu` and `g722` require 1 (`opus` sends stereo with 2).
    /// Default 1.
    pub channels: Option<Spanned<i64>>,
    /// Gain in dB, -60..=20. Default 0.
    pub gain_db: Option<Spanned<f64>>,
    /// IPv4 address of the interface multicast leaves by. Default
    /// `"127.0.0.1"`.
    pub multicast_interface: Option<Spanned<String>>,
    /// Multicast TTL, 0..=255. Default 1.
    pub multicast_ttl: Option<Spanned<i64>>,
    /// DSCP code point, 0..=63. Default 46 (EF).
    pub dscp: Option<Spanned<i64>>,
    /// Opus bitrate in kbit/s, 6..=510, for `codec = "opus"`. Default 32.
    pub opus_kbps: Option<Spanned<i64>>,
    /// Recorder output: a WAV file of what the zone plays, relative to the
    /// config file's folder. Default: none.
    pub wav: Option<Spanned<String>>,
    /// When the recorder starts a new file: `"daily"` (`STEM-YYYY-MM-DD.wav`
    /// beside `wav`, the day in `[daemon] timezone`), `"hourly"`
    /// (`STEM-YYYY-MM-DDTHH.wav`) or `"none"` (always the `wav` path
    /// itself). Default `"daily"`.
    pub wav_rotate: Option<Spanned<String>>,
    /// Recordings of this zone older than this many days are deleted,
    /// 0..=3650 (0: no bound by age). Default 7.
    pub wav_keep_days: Option<Spanned<i64>>,
    /// The oldest recordings of this zone are deleted while all of them
    /// together take more than this many MiB, 0 or 16..=16777216 (0: no
    /// bound by size). The file being written is never deleted. Default
    /// 2048.
    pub wav_max_total_mb: Option<Spanned<i64>>,
    /// This zone's loudness target, LUFS, -40..=-5. Default: `[loudness]
    /// target_lufs`.
    pub loudness_target_lufs: Option<Spanned<f64>>,
    /// The kiosk's own sound card (cargo feature `local-audio`): `true` for
    /// the default ALSA device, or the name of one (`"hw:0,0"`, as `aplay -L`
    /// lists them). Default: none.
    pub local: Option<Spanned<LocalKey>>,
    /// `[latitude, longitude]` (WGS84) of the zone, for hazard alerts.
    /// Default: none.
    pub location: Option<Spanned<Vec<f64>>>,
    /// District names and region codes the zone covers (CAP geocodes and
    /// area names, InaTEWS districts). Default: none.
    pub areas: Option<Spanned<Vec<Spanned<String>>>>,
    /// `true`: CAP alerts of status `Exercise` (drills) may play here.
    /// Default: false (a drill plays nowhere).
    pub drill: Option<Spanned<bool>>,
    /// An Icecast source: `{ url, user, password_file, format, bitrate_kbps }`.
    /// Default: none.
    pub icecast: Option<Spanned<IcecastTable>>,
}

/// A zone's `icecast` table: where its audio goes for listeners' phones.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcecastTable {
    /// `http://HOST:PORT/MOUNT` (only to a loopback host: no TLS yet).
    /// Required.
    pub url: Spanned<String>,
    /// The source user. Default `"source"` (Icecast's own).
    pub user: Option<Spanned<String>>,
    /// A file holding the source password, relative to the config's
    /// folder. Required.
    pub password_file: Spanned<String>,
    /// `"opus"` (Ogg Opus, the default) or `"mp3"` (64 kbit/s a channel).
    pub format: Option<Spanned<String>>,
    /// The stream's bitrate, kbit/s: Opus 6..=510, MP3 one of LAME's
    /// bitrates for the zone's rate. Default: Opus 48, MP3 64 a channel.
    pub bitrate_kbps: Option<Spanned<i64>>,
}

/// Default `icecast.user`.
pub const DEFAULT_ICECAST_USER: &str = "source";

/// The value of a zone's `local` key: `true`/`false`, or a device name.
#[derive(Debug, Clone, PartialEq)]
pub enum LocalKey {
    On(bool),
    Device(String),
}

impl<'de> Deserialize<'de> for LocalKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LocalKey, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LocalKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, or the name of an ALSA device such as \"default\" or \"hw:0,0\"")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LocalKey, E> {
                Ok(LocalKey::On(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LocalKey, E> {
                Ok(LocalKey::Device(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One `[[schedules]]` table.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleTable {
    /// Unique, non-empty name. Required.
    pub name: Spanned<String>,
    /// Six cron fields, `sec min hour day-of-month month day-of-week`, read
    /// in `[daemon] timezone`. Required.
    pub cron: Spanned<String>,
    /// Playlist name: `playlists/NAME.m3u` or `playlists/NAME.m3u8` beside
    /// the config file. Required unless `text` is given (one of the two).
    pub playlist: Option<Spanned<String>>,
    /// Text to speak instead of a playlist (a time signal, say), rendered
    /// with espeak-ng in `[announcements] tts_voice`. Up to 4096 bytes.
    pub text: Option<Spanned<String>>,
    /// Zone names, group names or `"all"`. Required, at least one.
    pub zones: Spanned<Vec<Spanned<String>>>,
    /// Priority name or number 0..=255. Default `"program"` (50).
    pub priority: Option<Spanned<Priority>>,
    /// Play the items in random order. Default false.
    pub shuffle: Option<bool>,
    /// Repeat the playlist until this local time, `"HH:MM"` or
    /// `"HH:MM:SS"` (a TOML local time like `07:30:00` works too).
    /// Default: play it once.
    pub loop_until: Option<Spanned<toml::Value>>,
    /// What to do with a fire time missed while the daemon was down:
    /// `"skip"` or `"catch-up"` (play it at start if it is at most
    /// `grace_s` old). Default `"skip"`.
    pub missed: Option<Spanned<String>>,
    /// Seconds a missed fire may be late and still be caught up, 1..=86400.
    /// Default 300.
    pub grace_s: Option<Spanned<i64>>,
    /// Dates (`"YYYY-MM-DD"`, local) on which the schedule does not fire.
    pub except_dates: Option<Vec<Spanned<String>>>,
    /// A file of such dates, one per line (`#` comments), relative to the
    /// config's folder: national holidays, say.
    pub except_file: Option<Spanned<String>>,
    /// First local date the schedule fires on (`"YYYY-MM-DD"`). Default: no
    /// limit.
    pub active_from: Option<Spanned<String>>,
    /// Last local date the schedule fires on. Default: no limit.
    pub active_until: Option<Spanned<String>>,
}

/// `[quiet_hours]`: a daily stretch of local time when nothing below
/// `emergency` plays.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursTable {
    /// Start, `"HH:MM"` (local). Required.
    pub from: Spanned<String>,
    /// End, `"HH:MM"` (local); earlier than `from` means the next morning.
    /// Required.
    pub to: Spanned<String>,
}

/// Default schedule `grace_s`.
pub const DEFAULT_GRACE_S: i64 = 300;

/// The field names a derived `Deserialize` struct accepts, in declaration
/// order. Read from the derive itself, so it never falls out of step with
/// the struct.
pub fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldProbe(&mut fields));
    fields
}

/// A deserializer that only records the `fields` a struct asks for.
struct FieldProbe<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("field probe"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("field probe"))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_come_from_the_derive() {
        assert_eq!(
            field_names::<ConfigFile>(),
            [
                "daemon",
                "zones",
                "groups",
                "schedules",
                "announcements",
                "preemption",
                "quiet_hours",
                "loudness",
                "alerts",
                "volcanoes",
                "web",
                "site",
                "mqtt"
            ]
        );
        assert!(field_names::<ZoneTable>().contains(&"multicast_interface"));
        assert_eq!(field_names::<ScheduleTable>().len(), 14);
    }
}
