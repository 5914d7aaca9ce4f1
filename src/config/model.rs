//! The resolved configuration: what the daemon runs on.
//!
//! Every path here is absolute (relative paths in the file are resolved
//! against the config file's folder), every group is expanded into zone
//! names, and every value has been validated.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;

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
}

impl Config {
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
}

impl Daemon {
    /// Frames (samples per channel) in one packet at the engine rate.
    pub fn frames_per_packet(&self) -> usize {
        (self.sample_rate as usize * self.packet_ms as usize) / 1000
    }

    pub fn packet_time(&self) -> Duration {
        Duration::from_millis(self.packet_ms as u64)
    }
}

/// RTP payload formats a zone can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// Linear 16-bit PCM, network byte order, at the engine rate (PT 96).
    L16,
    /// G.711 mu-law, 8000 Hz mono (PT 0).
    Pcmu,
}

impl Codec {
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::L16 => 96,
            Codec::Pcmu => 0,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::L16 => "l16",
            Codec::Pcmu => "pcmu",
        }
    }
}

/// One speaker zone: where its audio goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub name: String,
    /// Audio channels the zone plays: 1 (default) or 2. PCMU is always 1.
    pub channels: u16,
    /// Gain applied to everything the zone plays, in dB. Default 0.
    pub gain_db: f32,
    /// RTP output, if the zone has `rtp = [...]`.
    pub rtp: Option<RtpOutput>,
    /// Recorder output, if the zone has `wav = "..."`: a WAV of what it plays.
    pub wav: Option<PathBuf>,
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
}

/// How a schedule plays its playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub name: String,
    /// The cron expression as written (6 fields: sec min hour dom month dow).
    pub cron: String,
    /// The playlist's name as written.
    pub playlist: String,
    /// The playlist file: `playlists/NAME.m3u` (or `.m3u8`) beside the config.
    pub playlist_path: PathBuf,
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
/// `emergency` plays: schedules do not fire and announcements are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub from: NaiveTime,
    /// Earlier than `from`: the stretch runs past midnight.
    pub to: NaiveTime,
}

impl QuietHours {
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
