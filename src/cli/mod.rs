//! The command line: argument parsing (clap derive) and each command's body.
//!
//! Arguments are parsed and validated first, then turned into the things that
//! do the work. Every command returns an exit code; errors are one line on
//! stderr.
//!
//! - `mod.rs`: the arguments and dispatch.
//! - `check.rs`: `corong check`.
//! - `alerts.rs`: `corong alerts test`, a dry run of a warning document.
//! - `backup.rs`: `corong backup`, a copy of the state database.
//! - `info.rs`: `corong zones` and `corong schedule`, answered from the config.
//! - `client.rs`: the commands that talk to a running daemon.
//! - `socket.rs`: which control socket they talk to (`--socket`,
//!   `$CORONG_SOCKET`, the config's `control_socket`).
//! - `extras.rs`: `corong completions` and `corong manpage`, made from the
//!   same clap definition as the parser.

mod alerts;
mod backup;
mod check;
mod client;
mod extras;
mod info;
mod order_files;
mod page;
mod page_input;
mod page_live;
#[cfg(feature = "local-audio")]
mod page_mic;
mod page_rtp;
mod socket;
mod user;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgGroup, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{self, Config};
use crate::control::protocol::{Delivery, Request};
use crate::priority::Priority;
use client::Target;

/// Where to find the docs: the last lines of every `--help`.
pub const DOCS: &str = "Docs: /usr/share/doc/corong or docs/ in the source; `man corong`.";

/// corong: public-address broadcast controller.
#[derive(Debug, Parser)]
#[command(name = "corong", version, about, propagate_version = true)]
pub struct Cli {
    // Not `global`: `receive` reads no config and talks to no daemon, and a
    // global option would be offered in its help. Each command that uses
    // them takes them again after its name, so both `corong --config X
    // status` and `corong status --config X` work.
    #[command(flatten)]
    pub place: Place,

    #[command(subcommand)]
    pub command: Command,
}

/// `--config` and `--socket`: where the config and the daemon are.
#[derive(Debug, Clone, Default, Args)]
pub struct Place {
    /// Config file. Default: ./config.toml, then /etc/corong/config.toml.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// The daemon's control socket. Default: $CORONG_SOCKET, then the
    /// config's `control_socket`.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

impl Place {
    /// This command's own `--config`/`--socket`, else the ones given before
    /// the command's name.
    fn or(self, outer: &Place) -> Place {
        Place {
            config: self.config.or_else(|| outer.config.clone()),
            socket: self.socket.or_else(|| outer.socket.clone()),
        }
    }
}

/// `corong daemon`'s `--config` and `--socket`: the socket is where it
/// listens.
#[derive(Debug, Clone, Default, Args)]
pub struct DaemonPlace {
    /// Config file. Default: ./config.toml, then /etc/corong/config.toml.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Listen on this control socket instead of the config's
    /// `control_socket`. Default: $CORONG_SOCKET, then the config's.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

/// `corong check`'s `--config` (and a `--socket` it has no use for).
#[derive(Debug, Clone, Default, Args)]
pub struct CheckPlace {
    /// Config file. Default: ./config.toml, then /etc/corong/config.toml.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Not used by `check` (it talks to no daemon); accepted so that a
    /// command line shared with the client commands still works.
    #[arg(long, value_name = "PATH", hide = true)]
    pub socket: Option<PathBuf>,
}

/// The parser with what the derive cannot say: every `--help` ends with
/// where the docs are. `main`, the completions and the man page all use it.
pub fn command() -> clap::Command {
    let mut cmd = Cli::command().after_help(DOCS);
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |c| c.after_help(DOCS));
    }
    cmd
}

/// How, where and when an announcement plays (`announce` and `say`).
#[derive(Debug, Args)]
pub struct DeliveryArgs {
    /// Zones and groups, comma separated; `all` is every zone.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    zones: Vec<String>,
    /// background, program, announcement, live, or 0..=249. (250 and above,
    /// `emergency`, is reserved for `corong emergency`.)
    #[arg(long, value_name = "P", default_value = "announcement")]
    priority: Priority,
    /// No chime before the announcement.
    #[arg(long)]
    no_chime: bool,
    /// When to play: HH:MM[:SS] (today, or tomorrow if past) or
    /// "YYYY-MM-DD HH:MM[:SS]", in the daemon's time zone.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Play it N times in all.
    #[arg(long, value_name = "N", default_value_t = 1)]
    repeat: u32,
    /// Seconds between repeats (default: the config's).
    #[arg(long, value_name = "SECONDS")]
    interval: Option<u64>,
    /// Show progress until it has played on every zone; exit 0 only if it
    /// did.
    #[arg(long)]
    wait: bool,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

impl DeliveryArgs {
    fn delivery(&self) -> Delivery {
        Delivery {
            zones: self.zones.clone(),
            priority: Some(self.priority),
            chime: !self.no_chime,
            at: self.at.clone(),
            repeat: self.repeat,
            interval_s: self.interval,
            wait: self.wait,
        }
    }
}

/// `--sites`: send the request to other kiosks through the regency's
/// broker instead of playing it here (see docs/regency.md).
#[derive(Debug, Args)]
pub struct SitesArg {
    /// Kiosks, comma separated, or `all`; each plays it on its own zones.
    #[arg(long, value_delimiter = ',', value_name = "all|NAME,..")]
    sites: Option<Vec<String>>,
}

impl SitesArg {
    /// `req` as it is, or as an order to the named kiosks.
    fn wrap(self, req: Request) -> Request {
        match self.sites {
            Some(sites) => Request::Order {
                sites,
                request: Box::new(req),
                files: Vec::new(),
            },
            None => req,
        }
    }
}

/// `--zones` (default every zone) and `--json`.
#[derive(Debug, Args)]
pub struct ZonesArgs {
    /// Zones and groups, comma separated; `all` is every zone.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    zones: Vec<String>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the broadcast daemon.
    Daemon {
        #[command(flatten)]
        place: DaemonPlace,
    },
    /// Validate the config, every playlist and every media file.
    Check {
        /// Warm the daemon's loudness cache: create the state store if it
        /// is not there, measure every file on all cores (at low priority),
        /// and say how much was measured.
        #[arg(long)]
        measure: bool,
        #[command(flatten)]
        place: CheckPlace,
    },
    /// Copy the state database (queue, as-run log) to DEST, a file or a
    /// folder; safe while the daemon runs.
    Backup {
        /// Where to write the copy (a folder gets `corong.db` inside).
        dest: PathBuf,
        #[command(flatten)]
        place: CheckPlace,
    },
    /// The web console's accounts (see docs/web.md).
    User {
        #[command(subcommand)]
        cmd: user::UserCommand,
        #[command(flatten)]
        place: CheckPlace,
    },
    /// Queue an announcement; prints its id.
    Announce {
        /// Media files, played in order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        delivery: DeliveryArgs,
        #[command(flatten)]
        sites: SitesArg,
        #[command(flatten)]
        place: Place,
    },
    /// A spoken announcement (text to speech, Indonesian by default).
    Say {
        /// What to say, in one argument (quote it).
        text: String,
        /// espeak-ng voice (default: the config's, `id`).
        #[arg(long)]
        voice: Option<String>,
        #[command(flatten)]
        delivery: DeliveryArgs,
        #[command(flatten)]
        sites: SitesArg,
        #[command(flatten)]
        place: Place,
    },
    /// Highest priority on all zones (or those named): the alert signal,
    /// then the message, repeated until `corong emergency --stop`.
    // One of FILE, --text, --stop: clap names all three when none is given.
    #[command(group(ArgGroup::new("what").required(true).args(["file", "text", "stop"])))]
    Emergency {
        /// The message to play after the alert signal.
        file: Option<PathBuf>,
        /// Speak this text instead of a file.
        #[arg(long)]
        text: Option<String>,
        /// Stop the emergency.
        #[arg(long)]
        stop: bool,
        #[command(flatten)]
        zones: ZonesArgs,
        #[command(flatten)]
        sites: SitesArg,
        #[command(flatten)]
        place: Place,
    },
    /// Every kiosk of the regency (`[mqtt]`): online, or offline since
    /// when, and what plays.
    Sites {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        place: Place,
    },
    /// Per zone: what plays now, at what priority, since when.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        place: Place,
    },
    /// Pending announcements.
    Queue {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        place: Place,
    },
    /// Speak to the zones: from standard input (WAV, or raw s16le with
    /// --rate), recorded and then queued with `--mode record`.
    Page {
        #[command(flatten)]
        args: page::PageArgs,
        #[command(flatten)]
        place: Place,
    },
    /// Cancel a queued or playing announcement.
    Cancel {
        /// The announcement's id, as `announce` printed it and `queue` lists
        /// it.
        id: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        place: Place,
    },
    /// Skip the item playing now.
    Skip {
        #[command(flatten)]
        zones: ZonesArgs,
        #[command(flatten)]
        place: Place,
    },
    /// Silence zones (everything playing or waiting on them ends).
    Stop {
        #[command(flatten)]
        zones: ZonesArgs,
        #[command(flatten)]
        place: Place,
    },
    /// List zones, endpoints and health, or print a zone's SDP.
    Zones {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Print the SDP a receiver needs for this zone.
        #[arg(long, value_name = "ZONE")]
        sdp: Option<String>,
        #[command(flatten)]
        place: Place,
    },
    /// The next fire times of every schedule, in local time, and which are
    /// paused. `schedule pause|resume NAME` stops or restarts a schedule's
    /// fires.
    Schedule {
        #[command(subcommand)]
        action: Option<ScheduleAction>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// How many fire times per schedule.
        #[arg(long, value_name = "N", default_value_t = 5)]
        next: usize,
        #[command(flatten)]
        place: Place,
    },
    /// The as-run log: what played where, from when to when, how it ended.
    Log {
        /// From when: HH:MM, YYYY-MM-DD or "YYYY-MM-DD HH:MM" (default: the
        /// last 24 hours).
        #[arg(long, value_name = "T")]
        since: Option<String>,
        /// Only this zone.
        #[arg(long, value_name = "Z")]
        zone: Option<String>,
        /// At most this many rows (the newest).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        place: Place,
    },
    /// The pole-side receiver: play a zone's stream in step with the sender.
    Receive(crate::receive::ReceiveArgs),
    /// Ask the daemon to re-read its config.
    Reload {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        place: Place,
    },
    /// Hazard alerts received: id, source, event, level, zones, playbook,
    /// state. `alerts confirm|dismiss ID` decides on a pending one; `alerts
    /// test FILE` says what a document would start, starting nothing.
    Alerts {
        #[command(subcommand)]
        action: Option<AlertsAction>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        place: Place,
    },
    /// Set a volcano's alert level (1 Normal, 2 Waspada, 3 Siaga, 4 Awas):
    /// starts that level's playbook, replaces the lower level's, and level
    /// 1 stops it.
    Volcano {
        /// The volcano's name in `[[volcanoes]]`.
        name: String,
        /// 1..=4, or normal, waspada, siaga, awas.
        level: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        place: Place,
    },
    /// Print a shell completion script for bash, zsh or fish on stdout.
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: extras::Shell,
    },
    /// Print the man page, corong(1), on stdout (roff).
    Manpage,
}

/// `corong schedule pause|resume NAME`.
#[derive(Debug, Subcommand)]
pub enum ScheduleAction {
    /// Stop a schedule firing until resumed: its fires are skipped (logged,
    /// and in the as-run log as skipped, "paused by USER"). A run playing
    /// now plays on. Kept across restarts and reloads.
    Pause {
        /// The schedule's name in the config (`[[schedules]] name`).
        name: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        place: Place,
    },
    /// Let a paused schedule fire again: its next fire time plays.
    Resume {
        /// The schedule's name, as `corong schedule` lists it.
        name: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        place: Place,
    },
}

/// `corong alerts ...`.
#[derive(Debug, Subcommand)]
pub enum AlertsAction {
    /// Put a pending alert on air.
    Confirm {
        /// The alert's number, as `corong alerts` lists it.
        id: u64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        place: Place,
    },
    /// Decide a pending alert does not go on air.
    Dismiss {
        /// The alert's number, as `corong alerts` lists it.
        id: u64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        place: Place,
    },
    /// Read a CAP 1.2 or InaTEWS document and print it, the zones it
    /// covers, the playbook it would start on which zones and what it would
    /// say. Starts nothing; needs no daemon.
    Test {
        /// The document.
        file: PathBuf,
        /// Match as if it came from this feed (default: the config's only
        /// feed of the document's kind).
        #[arg(long, value_name = "NAME")]
        feed: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        place: CheckPlace,
    },
}

/// Parse the process arguments and run the command.
pub fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches_mut(&mut command().get_matches()) {
        Ok(c) => c,
        Err(e) => e.format(&mut command()).exit(),
    };
    let outer = cli.place;
    match cli.command {
        Command::Daemon { place } => {
            let config = place.config.or(outer.config);
            // The contract: --socket, else $CORONG_SOCKET, else the config's.
            let socket = place.socket.or(outer.socket).or_else(|| {
                std::env::var_os(socket::SOCKET_ENV)
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
            });
            crate::daemon::main(config_path(config.as_deref()), socket)
        }
        Command::Check { measure, place } => {
            let config = place.config.or(outer.config);
            check::run(&config_path(config.as_deref()), measure)
        }
        Command::Backup { dest, place } => {
            let config = place.config.or(outer.config);
            with_config(config.as_deref(), |c| backup::run(c, &dest))
        }
        Command::User { cmd, place } => {
            let config = place.config.or(outer.config);
            with_config(config.as_deref(), |c| user::run(c, cmd))
        }
        Command::Announce {
            files,
            delivery,
            sites,
            place,
        } => {
            let files = match client::absolute(&files) {
                Ok(f) => f,
                Err(code) => return code,
            };
            let req = sites.wrap(Request::Announce {
                files,
                delivery: delivery.delivery(),
            });
            let place = place.or(&outer);
            let target = target(&place, delivery.json);
            match order_files::by_content(&target, req) {
                Ok(req) => send(&target, req),
                Err(code) => code,
            }
        }
        Command::Say {
            text,
            voice,
            delivery,
            sites,
            place,
        } => {
            let req = sites.wrap(Request::Say {
                text,
                voice,
                delivery: delivery.delivery(),
            });
            send(&target(&place.or(&outer), delivery.json), req)
        }
        Command::Emergency {
            file,
            text,
            stop,
            zones,
            sites,
            place,
        } => {
            let file = match file.map(|f| client::absolute(&[f])).transpose() {
                Ok(f) => f.and_then(|mut v| v.pop()),
                Err(code) => return code,
            };
            let req = sites.wrap(Request::Emergency {
                file,
                text,
                zones: zones.zones,
                stop,
            });
            let place = place.or(&outer);
            let target = target(&place, zones.json);
            match order_files::by_content(&target, req) {
                Ok(req) => send(&target, req),
                Err(code) => code,
            }
        }
        Command::Sites { json, place } => send(&target(&place.or(&outer), json), Request::Sites),
        Command::Status { json, place } => send(&target(&place.or(&outer), json), Request::Status),
        Command::Queue { json, place } => send(&target(&place.or(&outer), json), Request::Queue),
        Command::Page { args, place } => {
            let json = args.json();
            page::run(&target(&place.or(&outer), json), args)
        }
        Command::Cancel { id, json, place } => send(
            &target(&place.or(&outer), json),
            Request::Cancel {
                id: crate::ids::JobId(id),
            },
        ),
        Command::Skip { zones, place } => send(
            &target(&place.or(&outer), zones.json),
            Request::Skip { zones: zones.zones },
        ),
        Command::Stop { zones, place } => send(
            &target(&place.or(&outer), zones.json),
            Request::Stop { zones: zones.zones },
        ),
        Command::Zones { json, sdp, place } => {
            let place = place.or(&outer);
            let cfg = place.config.as_deref();
            match sdp {
                // An SDP depends on the config only: it works with or without a
                // running daemon (to set up a receiver before the daemon runs).
                Some(zone) => with_config(cfg, |c| info::zones(c, json, Some(&zone))),
                None => client::ask_or_config(&target(&place, json), Request::Zones, || {
                    with_config(cfg, |c| info::zones(c, json, None))
                }),
            }
        }
        Command::Schedule {
            action: Some(action),
            json: outer_json,
            place: outer_place,
            ..
        } => {
            let outer = outer_place.or(&outer);
            let (request, json, place) = match action {
                ScheduleAction::Pause { name, json, place } => {
                    (Request::SchedulePause { name }, json, place)
                }
                ScheduleAction::Resume { name, json, place } => {
                    (Request::ScheduleResume { name }, json, place)
                }
            };
            send(&target(&place.or(&outer), json || outer_json), request)
        }
        Command::Schedule {
            action: None,
            json,
            next,
            place,
        } => {
            let place = place.or(&outer);
            let cfg = place.config.as_deref();
            client::ask_or_config(&target(&place, json), Request::Schedule { next }, || {
                with_config(cfg, |c| info::schedule(c, json, next))
            })
        }
        Command::Log {
            since,
            zone,
            limit,
            json,
            place,
        } => send(
            &target(&place.or(&outer), json),
            Request::Log { since, zone, limit },
        ),
        Command::Reload { json, place } => send(&target(&place.or(&outer), json), Request::Reload),
        Command::Receive(args) => {
            // Given before `receive` they parse (they are the top level's),
            // but the receiver has no use for them: say so rather than
            // pretend.
            if outer.config.is_some() || outer.socket.is_some() {
                eprintln!(
                    "corong: receive: --config and --socket are not used by the receiver; ignored"
                );
            }
            crate::receive::main(args)
        }
        Command::Alerts {
            action,
            json: outer_json,
            place: alerts_place,
        } => {
            let outer = alerts_place.or(&outer);
            match action {
                None => send(&target(&outer, outer_json), Request::Alerts),
                Some(AlertsAction::Confirm { id, json, place }) => send(
                    &target(&place.or(&outer), json || outer_json),
                    Request::AlertConfirm { id },
                ),
                Some(AlertsAction::Dismiss { id, json, place }) => send(
                    &target(&place.or(&outer), json || outer_json),
                    Request::AlertDismiss { id },
                ),
                Some(AlertsAction::Test {
                    file,
                    feed,
                    json,
                    place,
                }) => {
                    let config = place.config.or(outer.config);
                    with_config(config.as_deref(), |c| {
                        alerts::test(c, &file, feed.as_deref(), json || outer_json)
                    })
                }
            }
        }
        Command::Volcano {
            name,
            level,
            json,
            place,
        } => {
            let Some(level) = crate::hazard::VolcanoLevel::parse(&level) else {
                eprintln!("corong: volcano level `{level}`: expected 1..=4 or normal, waspada, siaga, awas");
                return ExitCode::from(2);
            };
            send(
                &target(&place.or(&outer), json),
                Request::Volcano {
                    name,
                    level: level.number(),
                },
            )
        }
        Command::Completions { shell } => extras::completions(shell),
        Command::Manpage => extras::manpage(),
    }
}

/// A client command's way to the daemon.
fn target(place: &Place, json: bool) -> Target<'_> {
    Target {
        socket: place.socket.as_deref(),
        config: place.config.as_deref(),
        json,
    }
}

/// Check a request as the daemon will, then send it.
fn send(target: &Target<'_>, req: Request) -> ExitCode {
    if let Err(e) = req.validate() {
        if target.json {
            client::print_error_json(
                crate::control::protocol::ErrorCode::BadRequest,
                &e.to_string(),
            );
        }
        eprintln!("corong: {e}");
        return ExitCode::from(2);
    }
    client::run(target, req)
}

/// The config file to use: `--config`, else `./config.toml` when it exists,
/// else `/etc/corong/config.toml`.
pub fn config_path(given: Option<&Path>) -> PathBuf {
    if let Some(p) = given {
        return p.to_path_buf();
    }
    let local = PathBuf::from("config.toml");
    if local.exists() {
        return local;
    }
    PathBuf::from("/etc/corong/config.toml")
}

/// Load the config (printing its diagnostics and failing on errors), then
/// run `f` on it.
fn with_config(given: Option<&Path>, f: impl FnOnce(&Config) -> ExitCode) -> ExitCode {
    match load_config(&config_path(given)) {
        Some(c) => f(&c),
        None => ExitCode::from(2),
    }
}

/// Load a config, printing every diagnostic to stderr. `None` when it has
/// errors.
pub fn load_config(path: &Path) -> Option<Config> {
    match config::load(path) {
        Ok(c) => Some(c),
        Err(diags) => {
            for d in &diags.0 {
                eprintln!("{d}");
            }
            None
        }
    }
}
