//! The command line: argument parsing (clap derive) and each command's body.
//!
//! Arguments are parsed and validated first, then turned into the things that
//! do the work. Every command returns an exit code; errors are one line on
//! stderr.
//!
//! - `mod.rs`: the arguments and dispatch.
//! - `check.rs`: `corong check`.
//! - `backup.rs`: `corong backup`, a copy of the state database.
//! - `info.rs`: `corong zones` and `corong schedule`, answered from the config.
//! - `client.rs`: the commands that talk to a running daemon.

mod backup;
mod check;
mod client;
mod info;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, Config};
use crate::control::protocol::{Delivery, Request};
use crate::priority::Priority;
use client::Target;

/// corong: public-address broadcast controller.
#[derive(Debug, Parser)]
#[command(name = "corong", version, about, propagate_version = true)]
pub struct Cli {
    /// Config file. Default: ./config.toml, then /etc/corong/config.toml.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// The daemon's control socket. Default: $CORONG_SOCKET, then the
    /// config's `control_socket`.
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// How, where and when an announcement plays (`announce` and `say`).
#[derive(Debug, Args)]
pub struct DeliveryArgs {
    /// Zones and groups, comma separated; `all` is every zone.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    zones: Vec<String>,
    /// background, program, announcement, live, emergency, or 0..=255.
    #[arg(long, default_value = "announcement")]
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
    Daemon,
    /// Validate the config, every playlist and every media file.
    Check,
    /// Copy the state database (queue, as-run log) to DEST, a file or a
    /// folder; safe while the daemon runs.
    Backup {
        /// Where to write the copy (a folder gets `corong.db` inside).
        dest: PathBuf,
    },
    /// Queue an announcement; prints its id.
    Announce {
        /// Media files, played in order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        delivery: DeliveryArgs,
    },
    /// A spoken announcement (text to speech, Indonesian by default).
    Say {
        text: String,
        /// espeak-ng voice (default: the config's, `id`).
        #[arg(long)]
        voice: Option<String>,
        #[command(flatten)]
        delivery: DeliveryArgs,
    },
    /// Highest priority on all zones (or those named): the alert signal,
    /// then the message, repeated until `corong emergency --stop`.
    Emergency {
        /// The message to play after the alert signal.
        #[arg(conflicts_with_all = ["text", "stop"], required_unless_present_any = ["text", "stop"])]
        file: Option<PathBuf>,
        /// Speak this text instead of a file.
        #[arg(long, conflicts_with = "stop")]
        text: Option<String>,
        /// Stop the emergency.
        #[arg(long)]
        stop: bool,
        #[command(flatten)]
        zones: ZonesArgs,
    },
    /// Per zone: what plays now, at what priority, since when.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Pending announcements.
    Queue {
        #[arg(long)]
        json: bool,
    },
    /// Cancel a queued or playing announcement.
    Cancel {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Skip the item playing now.
    Skip {
        #[command(flatten)]
        zones: ZonesArgs,
    },
    /// Silence zones (everything playing or waiting on them ends).
    Stop {
        #[command(flatten)]
        zones: ZonesArgs,
    },
    /// List zones, endpoints and health, or print a zone's SDP.
    Zones {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Print the SDP a receiver needs for this zone.
        #[arg(long, value_name = "ZONE")]
        sdp: Option<String>,
    },
    /// The next fire times of every schedule, in local time.
    Schedule {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// How many fire times per schedule.
        #[arg(long, value_name = "N", default_value_t = 5)]
        next: usize,
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
        #[arg(long)]
        json: bool,
    },
    /// The pole-side receiver: play a zone's stream in step with the sender.
    Receive(crate::receive::ReceiveArgs),
    /// Ask the daemon to re-read its config.
    Reload {
        #[arg(long)]
        json: bool,
    },
}

/// Parse the process arguments and run the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let socket = cli.socket.as_deref();
    let cfg = cli.config.as_deref();
    let target = |json: bool| Target {
        socket,
        config: cfg,
        json,
    };
    match cli.command {
        Command::Daemon => crate::daemon::main(config_path(cfg)),
        Command::Check => check::run(&config_path(cfg)),
        Command::Backup { dest } => with_config(cfg, |c| backup::run(c, &dest)),
        Command::Announce { files, delivery } => {
            let files = match client::absolute(&files) {
                Ok(f) => f,
                Err(code) => return code,
            };
            let req = Request::Announce {
                files,
                delivery: delivery.delivery(),
            };
            send(&target(delivery.json), req)
        }
        Command::Say {
            text,
            voice,
            delivery,
        } => {
            let req = Request::Say {
                text,
                voice,
                delivery: delivery.delivery(),
            };
            send(&target(delivery.json), req)
        }
        Command::Emergency {
            file,
            text,
            stop,
            zones,
        } => {
            let file = match file.map(|f| client::absolute(&[f])).transpose() {
                Ok(f) => f.and_then(|mut v| v.pop()),
                Err(code) => return code,
            };
            let req = Request::Emergency {
                file,
                text,
                zones: zones.zones,
                stop,
            };
            send(&target(zones.json), req)
        }
        Command::Status { json } => send(&target(json), Request::Status),
        Command::Queue { json } => send(&target(json), Request::Queue),
        Command::Cancel { id, json } => send(&target(json), Request::Cancel { id }),
        Command::Skip { zones } => send(&target(zones.json), Request::Skip { zones: zones.zones }),
        Command::Stop { zones } => send(&target(zones.json), Request::Stop { zones: zones.zones }),
        Command::Zones { json, sdp } => match sdp {
            // An SDP depends on the config only: it works with or without a
            // running daemon (to set up a receiver before the daemon runs).
            Some(zone) => with_config(cfg, |c| info::zones(c, json, Some(&zone))),
            None => client::ask_or_config(&target(json), Request::Zones, || {
                with_config(cfg, |c| info::zones(c, json, None))
            }),
        },
        Command::Schedule { json, next } => {
            client::ask_or_config(&target(json), Request::Schedule { next }, || {
                with_config(cfg, |c| info::schedule(c, json, next))
            })
        }
        Command::Log {
            since,
            zone,
            limit,
            json,
        } => send(&target(json), Request::Log { since, zone, limit }),
        Command::Reload { json } => send(&target(json), Request::Reload),
        Command::Receive(args) => crate::receive::main(args),
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
