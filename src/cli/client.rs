//! The operator commands that talk to a running daemon over its control
//! socket: `announce`, `say`, `emergency`, `status`, `queue`, `cancel`,
//! `skip`, `stop`, `log`, `reload`, and `zones` / `schedule` when a daemon
//! answers.
//!
//! With no daemon running, each says so in one line and exits non-zero
//! within a second (the client's connect timeout).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono_tz::Tz;

use crate::control::client::{self, Client, ClientError};
use crate::control::protocol::{ErrorCode, Reply, Request};
use crate::control::render;

/// Where the client finds the daemon and how it prints.
pub struct Target<'a> {
    pub socket: Option<&'a Path>,
    pub config: Option<&'a Path>,
    pub json: bool,
}

impl Target<'_> {
    /// The time zone to print times in: the config's (read leniently, as
    /// the socket), else UTC.
    fn timezone(&self) -> Tz {
        let path = super::config_path(self.config);
        super::socket::peek_daemon_keys(&path)
            .timezone
            .and_then(|tz| tz.parse().ok())
            .unwrap_or(chrono_tz::UTC)
    }

    pub(super) fn connect(&self) -> Result<Client, ExitCode> {
        let path = super::socket::socket_path(self.socket, &super::config_path(self.config))
            .map_err(|e| {
                if self.json {
                    print_error_json(
                        ErrorCode::Unavailable,
                        e.to_string().trim_start_matches("corong: "),
                    );
                }
                eprintln!("{e}");
                ExitCode::from(3)
            })?;
        Client::connect(&path).map_err(|e| fail_as(self, &e))
    }
}

/// Say what went wrong (with `--json`, also the error object on stdout,
/// as docs/protocol.md promises) and give the exit status.
pub(super) fn fail_as(target: &Target<'_>, e: &ClientError) -> ExitCode {
    if target.json {
        print_error_json(e.code(), &e.message());
    }
    eprintln!("{e}");
    ExitCode::from(e.exit_code().clamp(1, 255) as u8)
}

/// `{"ok":false,"code":...,"error":...}` on stdout, the shape of the
/// protocol's error line.
pub fn print_error_json(code: ErrorCode, message: &str) {
    let value = serde_json::json!({"ok": false, "code": code.as_str(), "error": message});
    println!("{}", serde_json::to_string_pretty(&value).expect("json"));
}

/// Send `req` and print the reply (human or JSON).
pub fn run(target: &Target<'_>, req: Request) -> ExitCode {
    run_once(target, req, true)
}

/// [`run`]; `may_upload`: when the daemon cannot read a file the request
/// names, send the files' content and try once more.
fn run_once(target: &Target<'_>, req: Request, may_upload: bool) -> ExitCode {
    let mut client = match target.connect() {
        Ok(c) => c,
        Err(code) => return code,
    };
    if req.streams() {
        return run_streaming(target, &mut client, &req, may_upload);
    }
    let mut result = client.call(&req);
    // An emergency does not give up on a daemon too busy to take it: the
    // socket serves emergencies first, so a second try gets through.
    if matches!(req, Request::Emergency { .. }) {
        for _ in 0..5 {
            let busy = matches!(
                &result,
                Err(ClientError::Refused {
                    code: ErrorCode::Unavailable,
                    ..
                })
            );
            if !busy {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            result = match target.connect() {
                Ok(mut c) => c.call(&req),
                Err(code) => return code,
            };
        }
    }
    match result {
        Ok(reply) => {
            print_reply(target, &reply);
            ExitCode::SUCCESS
        }
        Err(e) if may_upload && is_unreadable(&e) => match with_uploads(target, req) {
            Ok(req) => run_once(target, req, false),
            Err(code) => code,
        },
        Err(e) => fail_as(target, &e),
    }
}

fn is_unreadable(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Refused {
            code: ErrorCode::Unreadable,
            ..
        }
    )
}

/// `req` with each file it names replaced by the daemon's copy of it, sent
/// over the socket: for files the daemon's user cannot read.
fn with_uploads(target: &Target<'_>, req: Request) -> Result<Request, ExitCode> {
    let mut send = |f: PathBuf| -> Result<PathBuf, ExitCode> {
        let mut client = target.connect()?;
        eprintln!(
            "corong: the daemon cannot read {}; sending it over the socket",
            f.display()
        );
        client
            .upload(&f)
            .map(|r| r.path)
            .map_err(|e| fail_as(target, &e))
    };
    req.try_map_files(&mut send)
}

/// `--wait`: progress until the job has played everywhere; exit 0 only if
/// it did.
fn run_streaming(
    target: &Target<'_>,
    client: &mut Client,
    req: &Request,
    may_upload: bool,
) -> ExitCode {
    client.set_stream_timeout(None);
    let tty = std::io::stdout().is_terminal() && !target.json;
    let mut printer = render::ProgressPrinter::new(std::io::stdout(), tty);
    let result = client.call_stream(req, |p| {
        if target.json {
            if let Ok(line) = serde_json::to_string(p) {
                println!("{line}");
            }
        } else {
            let _ = printer.update(p);
        }
    });
    let _ = printer.finish();
    match result {
        Ok(Reply::Finished(p)) => {
            if target.json {
                print_json(&Reply::Finished(p.clone()));
            } else {
                println!("{}", render::progress_line(&p, 20));
            }
            if p.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Ok(other) => {
            print_reply(target, &other);
            ExitCode::SUCCESS
        }
        Err(e) if may_upload && is_unreadable(&e) => match with_uploads(target, req.clone()) {
            Ok(req) => run_once(target, req, false),
            Err(code) => code,
        },
        Err(e) => fail_as(target, &e),
    }
}

pub(super) fn print_json(reply: &Reply) {
    println!(
        "{}",
        serde_json::to_string_pretty(reply).expect("replies serialize")
    );
}

fn print_reply(target: &Target<'_>, reply: &Reply) {
    if target.json {
        print_json(reply);
        return;
    }
    match reply {
        Reply::Announced(a) => {
            println!("{}", a.id);
            if let Some(w) = &a.warning {
                eprintln!("corong: warning: {w}");
            }
            if a.on_air {
                eprintln!("job {} on air now in {}", a.id, a.zones.join(", "));
                return;
            }
            let when = a
                .not_before
                .as_deref()
                .map(|t| format!(" at {}", render::local_time(t, target.timezone())))
                .unwrap_or_default();
            eprintln!("queued job {} for {}{when}", a.id, a.zones.join(", "));
        }
        Reply::Finished(p) => println!("{}", render::progress_line(p, 20)),
        Reply::Status(s) => print!("{}", render::status(s, target.timezone())),
        Reply::Queue(q) => print!("{}", render::queue(q, target.timezone())),
        Reply::Zones(z) => print!("{}", render::zones(z, target.timezone())),
        Reply::Schedule(s) => print!("{}", render::schedule(s, target.timezone())),
        Reply::Log(l) => print!("{}", render::log(l, target.timezone())),
        Reply::Done(d) => println!("{}", d.message),
        Reply::Uploaded(u) => println!("{}", u.path.display()),
        Reply::Alerts(a) => print!("{}", render::alerts(a, target.timezone())),
        Reply::Sites(s) => print!("{}", render::sites(s, target.timezone())),
        Reply::Ordered(o) => print!("{}", render::ordered(o)),
    }
}

/// Files as the daemon needs them: absolute, resolved against this
/// process's working directory.
pub fn absolute(files: &[PathBuf]) -> Result<Vec<PathBuf>, ExitCode> {
    client::absolute_files(files).map_err(|e| {
        eprintln!("corong: {e}");
        ExitCode::from(2)
    })
}

/// `zones` / `schedule`: ask the daemon (health, live state); when none
/// answers, say so and answer from the config, exiting 3.
pub fn ask_or_config(
    target: &Target<'_>,
    req: Request,
    from_config: impl FnOnce() -> ExitCode,
) -> ExitCode {
    let path = match super::socket::socket_path(target.socket, &super::config_path(target.config)) {
        Ok(p) => p,
        Err(_) => return from_config(),
    };
    match Client::connect(&path) {
        Ok(mut c) => match c.call(&req) {
            Ok(reply) => {
                print_reply(target, &reply);
                ExitCode::SUCCESS
            }
            Err(e) => fail_as(target, &e),
        },
        Err(e @ ClientError::NotRunning { .. }) => {
            eprintln!("{e}; answering from the config");
            let _ = from_config();
            ExitCode::from(3)
        }
        Err(e) => fail_as(target, &e),
    }
}
