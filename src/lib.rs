//! corong: a public-address broadcast controller.
//!
//! A daemon on a kiosk PC streams scheduled playlists and operators'
//! announcements to speaker zones over RTP; a receiver plays them on the
//! poles. See `README.md` for the tour and `docs/` for configuration and
//! operation.
//!
//! # Layout
//!
//! Data takes one road: an event (a schedule fires, an operator asks) becomes
//! a job; the engine gives each zone's mixer its voices; every packet time the
//! mixer plays the highest-priority voice of each zone and hands the packet to
//! the zone's outputs.
//!
//! - [`config`]: the TOML schema, loading with spans, validation.
//! - [`playlist`]: M3U/M3U8 playlists.
//! - [`priority`]: job priorities and their names.
//! - [`suggest`]: "did you mean" for names an operator typed.
//! - [`media`]: decode (symphonia), resample (rubato), channel mixing, and the
//!   decoder workers (`prefetch/`) that fill the voices' rings ahead of
//!   playback, one decoder per job and group of like zones whose chunks
//!   every zone's ring shares by reference (each item at its
//!   loudness-normalised gain, faded in and out, dead air skipped), and
//!   loudness measurement (`loudness.rs`, ebur128).
//! - [`engine`]: the one OS thread that paces every zone against monotonic
//!   deadlines (`clock.rs`) and mixes each zone's voices (`mixer.rs`); a
//!   voice is the engine's end of a ring of shared audio chunks
//!   (`voice.rs`).
//! - [`ring`]: the contract between the audio threads, neutral ground that
//!   both sides depend on: the voice ring a decoder worker fills and the
//!   engine reads (`ring/audio.rs`), and the doorbell that wakes a thread
//!   sleeping until there is work (`ring/doorbell.rs`).
//! - [`output`]: RTP/RTCP (`rtp.rs`), SDP (`sdp.rs`), the WAV recorder
//!   (`wav.rs`), G.711 (`pcmu.rs`), and with the cargo feature
//!   `local-audio` the sound card (`local.rs`, rodio).
//! - [`schedule`]: cron schedules in the configured time zone; the runner
//!   that fires each time once across clock jumps (`runner.rs`); waiting
//!   for the clock to be synchronized (`sync.rs`).
//! - [`store`]: the SQLite state store: announcement queue, as-run log,
//!   loudness cache; durable before a client gets its answer; checkpointed
//!   at a clean stop; `corong backup` copies it online.
//! - [`control`]: the control socket: protocol, server (daemon side), client
//!   (CLI side), human rendering of replies, and the bytes of files an
//!   operator sends because the daemon's user cannot read them
//!   (`upload.rs`).
//! - [`daemon`]: wires it together: config -> engine -> scheduler; tells
//!   systemd when it is ready and alive (`daemon/notify.rs`); lists the
//!   receivers that report back (`daemon/receivers.rs`); keeps every
//!   accepted job within the places each zone's mixer has, emergencies
//!   first (`daemon/slots.rs`); prunes the as-run log
//!   (`daemon/retention.rs`).
//! - [`logging`]: tracing to the journal or to stderr.
//! - [`receive`]: `corong receive`, the pole-side receiver: jitter buffer,
//!   playout in step with the sender's clock, receiver reports.
//! - [`cli`]: the command line (`corong daemon|check|zones|schedule|...`).
//!
//! Two worlds: tokio runs the control plane (scheduler, control socket,
//! signals); audio runs on plain OS threads. tokio never paces audio.

pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod engine;
pub mod logging;
pub mod media;
pub mod output;
pub mod playlist;
pub mod priority;
pub mod receive;
pub mod ring;
pub mod schedule;
pub mod store;
pub mod suggest;
