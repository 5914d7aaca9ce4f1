//! The command line as a newcomer meets it: every argument explains
//! itself, every `--help` says where the docs are, `receive` offers no
//! option it ignores, the daemon listens where `--socket` says, and the
//! completions and the man page come from the binary.

mod common;

use std::fs;
use std::process::Stdio;
use std::time::Duration;

use clap::Parser;
use common::station::{corong, Daemon, Station};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = corong().args(args).output().expect("run corong");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every argument of every command, and every command, has a help line: a
/// new blank one fails here.
#[test]
fn every_argument_and_command_has_help() {
    fn walk(cmd: &clap::Command, path: &str, blank: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            if help.trim().is_empty() {
                blank.push(format!("{path}: {}", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            let path = format!("{path} {}", sub.get_name());
            if sub
                .get_about()
                .is_none_or(|a| a.to_string().trim().is_empty())
            {
                blank.push(format!("{path}: the command itself"));
            }
            walk(sub, &path, blank);
        }
    }
    let mut cmd = corong::cli::command();
    cmd.build();
    let mut blank = Vec::new();
    walk(&cmd, "corong", &mut blank);
    assert!(blank.is_empty(), "no help text:\n{}", blank.join("\n"));
}

/// `corong --help` and each command's `--help` end with where the docs are.
#[test]
fn every_help_ends_with_where_the_docs_are() {
    let mut commands = vec![String::new()];
    commands.extend(
        corong::cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string()),
    );
    for name in commands {
        for flag in ["-h", "--help"] {
            let args: Vec<&str> = [name.as_str(), flag]
                .into_iter()
                .filter(|a| !a.is_empty())
                .collect();
            let (code, out, err) = run(&args);
            assert_eq!(code, 0, "corong {args:?}: {err}");
            let last = out.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
            assert!(
                last.starts_with("Docs: ") && last.contains("man corong"),
                "corong {args:?} ends with `{last}`"
            );
        }
    }
}

/// `receive` reads no config and talks to no daemon: its help offers
/// neither option, and given after `receive` they are refused.
#[test]
fn receive_offers_no_config_or_socket() {
    let (code, out, _) = run(&["receive", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--listen"), "{out}");
    assert!(!out.contains("--socket"), "{out}");
    assert!(!out.contains("--config"), "{out}");
    let (code, _, err) = run(&[
        "receive",
        "--listen",
        "127.0.0.1:5004",
        "--wav",
        "x.wav",
        "--socket",
        "/tmp/x.sock",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--socket"), "{err}");
}

/// The command lines that worked with global options still parse, with the
/// options before or after the command's name.
#[test]
fn config_and_socket_work_before_and_after_the_command() {
    for argv in [
        &["corong", "--config", "x.toml", "status"][..],
        &["corong", "status", "--config", "x.toml"],
        &[
            "corong", "--socket", "s.sock", "schedule", "--config", "c.toml", "--next", "1",
        ],
        &[
            "corong", "announce", "a.wav", "--socket", "s.sock", "--zones", "pasar",
        ],
        &["corong", "--config", "x.toml", "check"],
        &["corong", "check", "--config", "x.toml"],
        &[
            "corong", "daemon", "--config", "x.toml", "--socket", "s.sock",
        ],
        &["corong", "--socket", "s.sock", "emergency", "--stop"],
        &["corong", "zones", "--sdp", "pasar", "--config", "x.toml"],
    ] {
        if let Err(e) = corong::cli::Cli::try_parse_from(argv) {
            panic!("{argv:?}: {e}");
        }
    }
}

/// `corong emergency` alone says what it needs: a FILE, --text or --stop.
#[test]
fn emergency_without_arguments_names_all_three_ways() {
    let (code, out, err) = run(&["emergency"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    for needle in ["FILE", "--text", "--stop"] {
        assert!(err.contains(needle), "no `{needle}` in: {err}");
    }
}

/// `announce --help` no longer offers a priority the daemon refuses.
#[test]
fn announce_help_keeps_emergency_for_the_emergency_command() {
    let (_, out, _) = run(&["announce", "--help"]);
    let line = out
        .lines()
        .skip_while(|l| !l.contains("--priority"))
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(line.contains("reserved for `corong emergency`"), "{line}");
    assert!(line.contains("0..=249"), "{line}");
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    let (code, bash, err) = run(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    assert!(bash.contains("emergency"), "{bash}");
    assert!(bash.contains("complete "), "not a bash completion script");
    for shell in ["zsh", "fish"] {
        let (code, out, err) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains("emergency"), "{shell}: {out}");
    }
    let (code, _, err) = run(&["completions", "tcsh"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn manpage_is_roff_with_every_command() {
    let (code, page, err) = run(&["manpage"]);
    assert_eq!(code, 0, "{err}");
    assert!(page.starts_with(".TH corong 1"), "{}", &page[..80]);
    for sub in corong::cli::command().get_subcommands() {
        let heading = format!(".SH \"CORONG {}\"", sub.get_name().to_uppercase());
        assert!(page.contains(&heading), "no section {heading}");
    }
    assert!(page.contains("emergency"));
    assert!(page.contains("/usr/share/doc/corong"), "where the docs are");
    // One page: no references to per-command pages that are not installed.
    assert!(!page.contains("corong\\-daemon(1)"));
}

/// Start `corong daemon` on the station's config with `extra` arguments and
/// environment, and wait until it is up.
fn start(st: &Station, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
    let log = st.path("daemon.log");
    let child = corong()
        .arg("daemon")
        .arg("--config")
        .arg(st.path("config.toml"))
        .args(extra)
        .env_remove("CORONG_SOCKET")
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .expect("start corong daemon");
    let d = Daemon { child, log };
    d.wait_log("corong daemon started", Duration::from_secs(10));
    d
}

/// `corong daemon --socket PATH` listens at PATH, not at the config's
/// `control_socket`, and clients reach it there.
#[test]
fn the_daemon_listens_where_socket_says() {
    let st = Station::new();
    st.config("[[zones]]\nname = \"arsip\"\nwav = \"rec.wav\"\n");
    let other = st.path("elsewhere.sock");
    let d = start(&st, &["--socket", other.to_str().unwrap()], &[]);
    assert!(other.exists(), "no socket at {}", other.display());
    assert!(!st.socket().exists(), "the config's socket was used");
    let out = corong()
        .args(["--socket", other.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A reload compares the file with the file: the override is no change
    // of [daemon] settings.
    let out = corong()
        .args(["reload", "--socket", other.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reload: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(d.stop().success());
}

/// `CORONG_SOCKET` does the same when `--socket` is not given.
#[test]
fn the_daemon_listens_where_corong_socket_says() {
    let st = Station::new();
    st.config("[[zones]]\nname = \"arsip\"\nwav = \"rec.wav\"\n");
    let other = st.path("from-env.sock");
    let d = start(&st, &[], &[("CORONG_SOCKET", other.to_str().unwrap())]);
    assert!(other.exists(), "no socket at {}", other.display());
    assert!(!st.socket().exists(), "the config's socket was used");
    let out = corong()
        .env("CORONG_SOCKET", &other)
        .arg("status")
        .current_dir(st.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(d);
}
