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
//! - [`config`]: the ground floor: the TOML schema, loading with spans,
//!   validation. It holds parsed values (cron schedules, loudness targets,
//!   priorities) and imports only the leaf modules below; everything else
//!   reads it (`tests/layers.rs` checks this).
//! - Leaves, importing nothing above them: [`priority`] (job priorities and
//!   their names), [`suggest`] ("did you mean" for names an operator
//!   typed), [`cron`] (the cron dialect, parsed once at load, and when an
//!   expression fires across clock changes), [`limits`] (bounds that more
//!   than one layer enforces), [`ids`] (the job and zone ids every layer
//!   names them by), [`hazard`] (CAP severities, tsunami and volcano
//!   levels, and the geometry of zones and warning areas).
//! - [`playlist`]: M3U/M3U8 playlists.
//! - [`alerts`]: hazard warnings above the config: a bounded XML tree
//!   (`xml.rs`: size, depth and count caps, no DTDs or entities), the CAP
//!   1.2, InaTEWS and RSS readers (`cap.rs`, `inatews.rs`, `rss.rs`),
//!   which playbook a warning starts on which zones (`matching.rs`, pure),
//!   the alerts' lifecycle with the time passed in (`inbox.rs`), and a
//!   feed's poller over HTTP(S) on its own thread (`feed.rs`, ureq with
//!   rustls). The daemon runs them in `daemon/alerts.rs`. See
//!   `docs/alerts.md`.
//! - [`media`]: decode (symphonia), resample (rubato), channel mixing, and the
//!   decoder workers (`prefetch/`) that fill the voices' rings ahead of
//!   playback, one decoder per job and group of like zones whose chunks
//!   every zone's ring shares by reference (each item at its
//!   loudness-normalised gain, faded in and out, dead air skipped), and
//!   loudness measurement (`loudness.rs`, ebur128) on a pool of
//!   low-priority threads (`measure.rs`).
//! - [`engine`]: the one OS thread that paces every zone against monotonic
//!   deadlines (`clock.rs`) and mixes each zone's voices (`mixer.rs`); a
//!   voice is the engine's end of a ring of shared audio chunks
//!   (`voice.rs`).
//! - [`ring`]: the contract between the audio threads, neutral ground that
//!   both sides depend on: the voice ring a decoder worker fills and the
//!   engine reads (`ring/audio.rs`), and the doorbell that wakes a thread
//!   sleeping until there is work (`ring/doorbell.rs`).
//! - [`rtp`]: the RTP wire, one module for the sender, the SDP, the pole
//!   receiver and the daemon's RTCP reader: the codec type with its payload
//!   type, clock and packet layout (`codec.rs`), the encoders (`encode.rs`,
//!   `l16.rs`, G.711 in `pcmu.rs`, G.722's encoder and decoder in
//!   `g722.rs`, Opus over the system's libopus in `opus.rs`), the RTP
//!   header (`header.rs`), RTCP and NTP time (`rtcp.rs`). A leaf: `config`
//!   holds its [`rtp::Codec`].
//! - [`output`]: a zone's outputs built from its config (`build.rs`) with
//!   the typed endpoint list every reader names them by (`endpoint.rs`);
//!   the RTP sender (`rtp.rs`, each packet to all of a zone's poles in one
//!   `sendmmsg`: `fanout.rs`), SDP (`sdp.rs`), the Icecast source (Ogg
//!   Opus or MP3 over an HTTP PUT from its own thread: `icecast.rs`,
//!   `icecast/source.rs`, the formats in `icecast/encoder.rs`, the Ogg
//!   pages in `icecast/ogg.rs`, LAME in `icecast/mp3.rs`, the title in
//!   `icecast/title.rs` and, for MP3, `icecast/metadata.rs`), the WAV recorder (`wav.rs`;
//!   its files' naming and pruning in `wav/files.rs`, the writer thread in
//!   `wav/writer.rs`), and with the cargo feature `local-audio` the sound
//!   card (`local.rs`, rodio).
//! - [`schedule`]: the runner that fires each schedule's times once, in
//!   the configured time zone, across clock jumps (`runner.rs`); the next
//!   fire times for `corong schedule` (`upcoming.rs`); waiting for the
//!   clock to be synchronized (`sync.rs`).
//! - [`store`]: the SQLite state store: announcement queue, as-run log,
//!   loudness cache, and beside it on connections of their own the web
//!   accounts (`accounts.rs`), the hazard alerts' inbox (`alert_book.rs`)
//!   the regency's orders (`orders.rs`) and the paused schedules (`pauses.rs`); durable before a client gets its answer (the daemon's
//!   commits are made durable by the store's syncer thread, `durable.rs`,
//!   and answers wait for it, the loop does not); checkpointed at a clean
//!   stop; `corong backup` copies it online.
//! - [`control`]: the control socket: protocol (`protocol/`: version and
//!   bounds in `envelope.rs`, `request.rs`, `reply.rs`, and the response
//!   line in `response.rs`), server (daemon side), client (CLI side), human
//!   rendering of replies, a zone's `zones` entry from its config
//!   (`zones.rs`: one JSON shape, daemon running or not), and the bytes of
//!   files an operator sends because the daemon's user cannot read them
//!   (`upload.rs`), and the frames of a live page's audio that follow its
//!   request on the same connection (`live.rs`).
//! - [`web`]: the web console (`[web]`), beside the control socket and
//!   like it a way into the daemon's loop: axum on the control plane,
//!   TLS with rustls (`listen.rs`), accounts and sessions (`auth.rs`, kept
//!   by `store/accounts.rs`), the Origin check and security headers
//!   (`guard.rs`), the JSON API and server-sent events (`api.rs`), the
//!   bodies it parses (`body.rs`, fuzzed), announce with its uploads,
//!   queue, cancel and skip (`jobs.rs`, `upload.rs`), the as-run log with
//!   its CSV and the schedules (`report.rs`), the pages with their
//!   embedded assets (`pages.rs`, `sections.rs`, `assets/`) and
//!   `/metrics` (`metrics.rs`). See `docs/web.md`.
//! - [`sites`]: the regency (`[site]`, `[mqtt]`): this kiosk joined to
//!   the others through an MQTT broker (rumqttc on the control plane),
//!   beside the control socket and the web console a way into the daemon's
//!   loop: the wire and topics with their bounded parser (`message.rs`),
//!   the client with its Last Will, reconnects, state out and orders sent
//!   (`link.rs`), orders carried out at most once and never stale
//!   (`carry.rs`, ids kept by `store/orders.rs`), and every kiosk's
//!   presence for `corong sites` (`table.rs`). See `docs/regency.md`.
//! - [`daemon`]: the running kiosk. Every job enters through the job
//!   ledger (`daemon/jobs/`), which decides and returns effects; the
//!   station (`daemon/station.rs`: zones, start-up, reload) is the shell
//!   that carries them out on the engine, the decoders and the timers
//!   (`daemon/effects.rs`). Operators' requests
//!   (`requests.rs`, with their slow work prepared beside the loop), the
//!   read-only replies (`report.rs`), schedules' fires and catch-up
//!   (`fires.rs`), `--at`/`--since` times (`when.rs`); systemd's ready and
//!   watchdog (`notify.rs`); the receivers that report back
//!   (`receivers.rs`); hazard feeds and the alerts' inbox (`alerts.rs`);
//!   live pages: which zones each holds (`page_book.rs`), the job and its
//!   voices (`page_live.rs`) and the OS thread per page that reads the
//!   speaker's frames into them (`page_feed.rs`) with the lead it keeps
//!   ahead of the engine, grown at underruns and given back
//!   (`page_margin.rs`); places on each zone's
//!   mixer, emergencies first (`slots.rs`); as-run pruning
//!   (`retention.rs`). See
//!   `docs/architecture.md` for the road a job takes and where to add a
//!   trigger, an output, a codec or a page.
//! - [`logging`]: tracing to the journal or to stderr.
//! - [`receive`]: `corong receive`, the pole-side receiver: jitter buffer,
//!   the decoders that keep state across packets (G.722, Opus with its
//!   FEC; `decode.rs`), playout in step with the sender's clock, receiver
//!   reports (the wire itself is [`rtp`]'s).
//! - [`cli`]: the command line (`corong daemon|check|zones|schedule|...`);
//!   it finds the control socket itself (`cli/socket.rs`). `corong page`
//!   reads every source on the client side (`page.rs`; the inputs in
//!   `page_input.rs`, RTP in `page_rtp.rs`, the microphone in
//!   `page_mic.rs`) and streams it live (`page_live.rs`) or uploads the
//!   recording.
//!
//! Two worlds: tokio runs the control plane (scheduler, control socket,
//! signals); audio runs on plain OS threads. tokio never paces audio.

pub mod alerts;
pub mod cli;
pub mod config;
pub mod control;
pub mod cron;
pub mod daemon;
pub mod engine;
pub mod hazard;
pub mod ids;
pub mod limits;
pub mod logging;
pub mod media;
pub mod output;
pub mod playlist;
pub mod priority;
pub mod receive;
pub mod ring;
pub mod rtp;
pub mod schedule;
pub mod sites;
pub mod store;
pub mod suggest;
pub mod web;
